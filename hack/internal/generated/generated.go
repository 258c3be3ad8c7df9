// Package generated holds what the staleness tests of hack's generators share: the version the
// Makefile passes them and reading a generated tree to compare with a fresh one.
package generated

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// MakefileVersion is the VERSION the Makefile at root passes to the generators
// (make bundle, make helm-chart).
func MakefileVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^VERSION \?= (\S+)\s*$`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("the Makefile sets no `VERSION ?= ...`")
	}
	return string(m[1]), nil
}

// ReadTree reads every file under dir, keyed by its slash-separated path relative to dir.
func ReadTree(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	return files, err
}
