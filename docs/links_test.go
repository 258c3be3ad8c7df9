package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	// fence opens or closes a fenced code block; links inside one are code, not links.
	fence = regexp.MustCompile("^\\s*(```|~~~)")
	// codeSpan is inline code, whose brackets and parentheses are text.
	codeSpan = regexp.MustCompile("`[^`]*`")
	// link is a Markdown link or image: [text](target) or ![alt](target "title").
	link    = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// pages are the README and every page under docs/, the files whose links a reader follows.
func pages(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join("..", "README.md")}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRelativeLinksResolve follows every relative link of the README and docs/: its file must
// exist and, for a link into a Markdown page, its #fragment must name a heading of that page
// (as GitHub makes anchors).
func TestRelativeLinksResolve(t *testing.T) {
	files := pages(t)
	anchors := map[string]map[string]bool{}
	for _, file := range files {
		for _, l := range links(t, file) {
			n, target := l.line, l.to
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, fragment, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
			}
			if _, err := os.Stat(resolved); err != nil {
				t.Errorf("%s:%d: link %q: %v", file, n, target, err)
				continue
			}
			if fragment == "" || !strings.HasSuffix(resolved, ".md") {
				continue
			}
			if anchors[resolved] == nil {
				anchors[resolved] = headingAnchors(t, resolved)
			}
			if !anchors[resolved][fragment] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", file, n, target, resolved, fragment)
			}
		}
	}
}

type target struct {
	line int
	to   string
}

// links returns the targets of a file's links with their line numbers, leaving out code.
func links(t *testing.T, file string) []target {
	t.Helper()
	var found []target
	inFence := false
	for i, line := range lines(t, file) {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			found = append(found, target{i + 1, m[1]})
		}
	}
	return found
}

// headingAnchors returns the anchors GitHub gives a page's headings: lower case, spaces to
// hyphens, punctuation but hyphens and underscores dropped, repeats numbered -1, -2, ...
func headingAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range lines(t, file) {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		m := heading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
				return unicode.ToLower(r)
			}
			return -1
		}, m[1])
		if n := seen[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

func lines(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n")
}
