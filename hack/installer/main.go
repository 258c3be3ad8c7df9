// Command installer renders config/default into one YAML stream, the install.yaml a cluster
// admin applies with kubectl, with the operator image set to -image:
//
//	bin/hack/installer -image REGISTRY/policy-herald:TAG > dist/install.yaml
//
// Run from the repository root. hack/ is a module of its own, so build it with
// `go build -C hack -o ../bin/hack/ ./installer` (the make targets do).
//
// It is `kustomize build` of an overlay that only sets the image, done with the kustomize API
// so that nothing but Go modules is needed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// defaultImage is the image config/manager sets; the overlay renames it.
const defaultImage = "policy-herald:dev"

func main() {
	config := flag.String("config", "config/default", "Kustomization to render.")
	image := flag.String("image", defaultImage, "Operator image: NAME[:TAG] or NAME@DIGEST.")
	withoutCRDs := flag.Bool("without-crds", false, "Leave out the CustomResourceDefinitions (make undeploy).")
	crdsOnly := flag.Bool("crds-only", false, "Render the CustomResourceDefinitions only (make uninstall-crds).")
	flag.Parse()
	keep := func(kind string) bool { return true }
	switch {
	case *withoutCRDs && *crdsOnly:
		fmt.Fprintln(os.Stderr, "installer: -without-crds and -crds-only exclude each other")
		os.Exit(2)
	case *withoutCRDs:
		keep = func(kind string) bool { return kind != crdKind }
	case *crdsOnly:
		keep = func(kind string) bool { return kind == crdKind }
	}
	out, err := render(*config, *image, keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "installer:", err)
		os.Exit(1)
	}
	// make build-installer redirects this into dist/install.yaml: a short write must fail the
	// target rather than leave a truncated install behind.
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "installer: writing the rendered objects:", err)
		os.Exit(1)
	}
}

const crdKind = "CustomResourceDefinition"

// render builds the kustomization at dir with the operator image replaced by image, keeping the
// objects whose kind keep accepts.
func render(dir, image string, keep func(kind string) bool) ([]byte, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	name, tag, digest, err := splitImage(image)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "policy-herald-installer-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // a leftover temporary dir harms nothing
	base, err := filepath.Rel(tmp, abs)      // kustomize takes bases by relative path only
	if err != nil {
		return nil, err
	}
	overlay := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{base},
		Images:    []types.Image{{Name: strings.Split(defaultImage, ":")[0], NewName: name, NewTag: tag, Digest: digest}},
	}
	k, err := yaml.Marshal(overlay)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), k, 0o644); err != nil {
		return nil, err
	}
	// kubectl applies a file in order: the Namespace and CRDs must come before what needs them,
	// which kustomize's legacy order (the CLI's default, not the API's) ensures.
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), tmp)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	for _, r := range m.Resources() {
		if !keep(r.GetKind()) {
			if err := m.Remove(r.CurId()); err != nil {
				return nil, err
			}
		}
	}
	body, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	header := "# Policy Herald, rendered from config/default by `make build-installer` (hack/installer).\n" +
		"# Install: kubectl apply --server-side -f install.yaml\n"
	return append([]byte(header), body...), nil
}

// splitImage splits NAME[:TAG] or NAME@DIGEST; a colon before the last slash belongs to a
// registry's port, not to a tag.
func splitImage(image string) (name, tag, digest string, err error) {
	if image == "" {
		return "", "", "", fmt.Errorf("-image is empty")
	}
	if at := strings.Index(image, "@"); at >= 0 {
		return image[:at], "", image[at+1:], nil
	}
	if c := strings.LastIndex(image, ":"); c > strings.LastIndex(image, "/") {
		return image[:c], image[c+1:], "", nil
	}
	return image, "latest", "", nil
}
