// Command bundle generates Policy Herald's OLM bundle (bundle/ and bundle.Dockerfile) from
// config/: it renders config/default the way `kubectl apply -k` does, turns the Deployment and
// the RBAC bound to its ServiceAccount into a ClusterServiceVersion, describes the owned CRDs
// from their openAPI schemas, takes alm-examples from config/samples, and writes everything
// sorted, so the same config always gives the same bytes.
//
//	bin/hack/bundle -version 0.1.0 [-image REGISTRY/policy-herald:TAG] [-out bundle]
//
// Run from the repository root. hack/ is a module of its own, so build it with
// `go build -C hack -o ../bin/hack/ ./bundle` (the make targets do).
//
// The Dockerfile is written next to the output directory (bundle.Dockerfile beside bundle/), so
// it builds with the parent of -out as its context.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	flag.StringVar(&o.version, "version", "", "the operator version (semver, without a leading v); the CSV is named policy-herald.v<version>")
	flag.StringVar(&o.image, "image", "", "the operator image; default the image config/default renders")
	flag.StringVar(&o.out, "out", "bundle", "the bundle directory; bundle.Dockerfile is written beside it")
	flag.StringVar(&o.config, "config", "config", "the kustomize config directory (default/ and samples/ under it)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "hack/bundle: unexpected arguments %v\n", flag.Args())
		os.Exit(2)
	}
	res, err := generate(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hack/bundle: %v\n", err)
		os.Exit(1)
	}
	for _, s := range res.skipped {
		fmt.Fprintf(os.Stderr, "hack/bundle: not in the bundle: %s\n", s)
	}
	fmt.Printf("wrote %d files into %s and %s\n", len(res.files), o.out, res.dockerfile)
}
