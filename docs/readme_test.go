package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// section returns the lines of a README section, from its "## title" heading to the next one.
func section(t *testing.T, title string) []string {
	t.Helper()
	all := lines(t, filepath.Join("..", "README.md"))
	start := slices.Index(all, "## "+title)
	if start < 0 {
		t.Fatalf("README.md has no section %q", title)
	}
	end := slices.IndexFunc(all[start+1:], func(l string) bool { return strings.HasPrefix(l, "## ") })
	if end < 0 {
		return all[start+1:]
	}
	return all[start+1 : start+1+end]
}

// TestQuickStartGivesCIsCommand: CI runs exactly what the Quick start tells a newcomer to run
// (.ci/run says so), with the Go the module asks for.
func TestQuickStartGivesCIsCommand(t *testing.T) {
	quickStart := section(t, "Quick start")
	var commands []string
	inFence := false
	for _, l := range quickStart {
		if fence.MatchString(l) {
			inFence = !inFence
		} else if inFence {
			command, _, _ := strings.Cut(l, "#")
			commands = append(commands, strings.TrimSpace(command))
		}
	}
	ci := lines(t, filepath.Join("..", ".ci", "run"))
	last := ""
	for _, l := range ci {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			last = l
		}
	}
	if !slices.Contains(commands, last) {
		t.Errorf(".ci/run runs %q, which the README's Quick start does not give (it gives %q)", last, commands)
	}

	goMod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if text := strings.Join(quickStart, "\n"); !strings.Contains(text, "You need Go "+string(m[1])) {
		t.Errorf("the Quick start does not say the Go go.mod asks for (%s)", m[1])
	}
}

// TestEveryPageIsReadOn: every page under docs/ is listed under the README's "Read on" and
// starts with its title and one line saying what it covers.
func TestEveryPageIsReadOn(t *testing.T) {
	readOn := strings.Join(section(t, "Read on"), "\n")
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no pages under docs/")
	}
	for _, page := range pages {
		if !strings.Contains(readOn, "](docs/"+page+")") {
			t.Errorf("README.md's Read on does not list docs/%s", page)
		}
		l := lines(t, page)
		if len(l) < 4 || !strings.HasPrefix(l[0], "# ") || l[1] != "" || l[2] == "" || l[3] != "" {
			t.Errorf("docs/%s does not start with a title, then one line saying what it covers", page)
		}
	}
}

// TestLayoutNamesTheTree: the README's Layout names every folder at the top of the repository
// and every package under internal/ (by its path below internal/, in backquotes), so the
// section cannot fall behind the tree.
func TestLayoutNamesTheTree(t *testing.T) {
	layout := strings.Join(section(t, "Layout"), "\n")
	top, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if name := e.Name(); e.IsDir() && !strings.HasPrefix(name, ".") && name != "bin" {
			if !strings.Contains(layout, "`"+name+"/") {
				t.Errorf("README.md's Layout does not name the folder %s/", name)
			}
		}
	}
	root := filepath.Join("..", "internal")
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		goFiles, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if path == root || len(goFiles) == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if !strings.Contains(layout, "`"+filepath.ToSlash(rel)+"`") && !strings.Contains(layout, "`"+filepath.ToSlash(rel)+"/") {
			t.Errorf("README.md's Layout does not name the package internal/%s", filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
