package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// templates holds one template set per page: the layout with the page's blocks.
type templates struct {
	pages map[string]*template.Template
}

var plainTemplate = template.Must(template.New("plain.html").Funcs(funcs).ParseFS(templateFiles, "templates/plain.html"))

// mustParse parses the embedded templates; they are part of the binary, so an error is a bug
// that every test finds.
func mustParse() *templates {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/widgets.html", "templates/detailwidgets.html"))
	t := &templates{pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		name := path.Base(n)
		switch name {
		case "layout.html", "widgets.html", "detailwidgets.html":
			continue
		case "plain.html":
			continue
		}
		t.pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, n))
	}
	return t
}

// render writes page name with v: the whole page, or only what its live region shows (its
// "content", or the notice of an error or an empty console) when the live updates ask for
// fragment=content. The template is executed straight into the response:
// nothing is buffered, and an error after the first byte can only be logged.
func (h *Handler) render(w http.ResponseWriter, status int, name, fragment string, v *view) {
	t := h.tmpl.pages[name]
	if t == nil {
		panic("ui: no template " + name)
	}
	block := "layout.html"
	switch {
	case fragment != "content":
	case v.Error != "" || v.Empty:
		block = "notice"
	default:
		block = "content"
	}
	pageHeaders(w)
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, block, v); err != nil {
		h.opts.Log.Error(err, "executing a template", "template", name)
	}
}

// plainPage is a page without the person's data: sign in, not found, errors.
func plainPage(w http.ResponseWriter, status int, title, msg string) {
	pageHeaders(w)
	w.WriteHeader(status)
	_ = plainTemplate.Execute(w, map[string]string{"Title": title, "Message": msg, "Assets": assetVersion})
}

func pageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
}

// assetVersion is a digest of the static files: their addresses carry it, so a browser may
// keep them for a year and still gets new ones with a new binary.
var assetVersion = func() string {
	sum := sha256.New()
	_ = fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(p)
		fmt.Fprintf(sum, "%s %d\n", p, len(b))
		sum.Write(b)
		return err
	})
	return hex.EncodeToString(sum.Sum(nil))[:12]
}()

// staticHandler serves the CSS and JavaScript.
func staticHandler() http.Handler {
	files := http.FileServerFS(staticFiles)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/"):
			http.NotFound(w, r) // no listing
			return
		case r.URL.Query().Get("v") == assetVersion:
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		default:
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}
