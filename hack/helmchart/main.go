// Command helmchart generates the Helm chart in dist/chart from config/default, so that kustomize
// stays the one source of the operator's objects and the chart only adds values:
//
//	bin/hack/helmchart -version 0.1.0
//
// Run from the repository root (make helm-chart does). CRDs go to crds/ as Helm expects; every
// other object becomes one template, the operator's Deployment with its values templated in.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	config := flag.String("config", "config/default", "Kustomization the chart is generated from.")
	out := flag.String("out", "dist/chart", "Directory the chart is written to (replaced).")
	version := flag.String("version", "0.1.0", "Chart version and appVersion.")
	flag.Parse()
	files, err := generate(*config, *version)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmchart:", err)
		os.Exit(1)
	}
	if err := write(*out, files); err != nil {
		fmt.Fprintln(os.Stderr, "helmchart:", err)
		os.Exit(1)
	}
}

// write replaces dir with files, so an object removed from config/ leaves no template behind.
func write(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
