package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// resultsAnswer is a results page with the Scope's warnings.
type resultsAnswer struct {
	*query.ResultPage
	Warnings []string `json:"warnings,omitempty"`
}

func (h *Handler) results(w http.ResponseWriter, r *http.Request, _ access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	sel, page := p.selection(), p.page()
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	res, err := h.engine.Results(s, sel, page)
	if err != nil {
		writeBadRequest(w, engineError(err))
		return
	}
	writeJSON(w, http.StatusOK, resultsAnswer{res, s.Warnings})
}

// overviewAnswer is an overview with the Scope's warnings.
type overviewAnswer struct {
	*query.Overview
	Warnings []string `json:"warnings,omitempty"`
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, _ access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	q, top := p.query(), p.int("top")
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	o, err := h.engine.Overview(s, q, top)
	if err != nil {
		writeBadRequest(w, engineError(err))
		return
	}
	writeJSON(w, http.StatusOK, overviewAnswer{o, s.Warnings})
}

// export streams the whole selection as CSV or JSON, as a file to save.
func (h *Handler) export(w http.ResponseWriter, r *http.Request, _ access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	sel := p.selection()
	format := p.one("format")
	write, contentType := h.engine.WriteJSON, "application/json"
	switch format {
	case "", "csv":
		format, write, contentType = "csv", h.engine.WriteCSV, "text/csv; charset=utf-8"
	case "json":
	default:
		p.fail("format", fmt.Errorf("%q is neither csv nor json", format))
	}
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	name := fmt.Sprintf("policy-results-%s.%s", time.Now().UTC().Format("20060102-150405"), format)
	out := &firstWrite{w: w, header: func() {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	}}
	if err := write(out, s, sel); err != nil {
		if !out.started {
			writeBadRequest(w, engineError(err))
			return
		}
		// The status is sent: cut the connection so the client sees a broken download, not a
		// short file.
		h.log.Error(err, "writing an export")
		panic(http.ErrAbortHandler)
	}
}

// firstWrite sets the headers of a download when its first byte is written, so that an error
// found before (a bad parameter) can still be answered as JSON.
type firstWrite struct {
	w       http.ResponseWriter
	header  func()
	started bool
}

func (f *firstWrite) Write(b []byte) (int, error) {
	if !f.started {
		f.started = true
		f.header()
	}
	return f.w.Write(b)
}

// accessAnswer is who the console thinks the person is and what they may see.
type accessAnswer struct {
	User struct {
		Name   string   `json:"name"`
		Groups []string `json:"groups"`
	} `json:"user"`
	// Namespaced says per namespaced report kind where its reports may be seen.
	Namespaced map[string]kindAccess `json:"namespaced"`
	// Cluster says per cluster-scoped report kind whether its reports may be seen.
	Cluster  map[string]bool `json:"cluster"`
	Empty    bool            `json:"empty"`
	Reason   string          `json:"reason,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
}

// kindAccess is where a namespaced kind may be seen: every namespace, or those listed.
type kindAccess struct {
	All        bool     `json:"all"`
	Namespaces []string `json:"namespaces"`
}

func (h *Handler) access(w http.ResponseWriter, r *http.Request, u access.User, s *access.Scope) {
	if err := newParams(r.URL.Query()).done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	var a accessAnswer
	a.User.Name, a.User.Groups = u.Name, u.Groups
	if a.User.Groups == nil {
		a.User.Groups = []string{}
	}
	a.Namespaced, a.Cluster = map[string]kindAccess{}, map[string]bool{}
	for _, kind := range reportKinds {
		if !access.Namespaced(kind) {
			a.Cluster[kind] = s.Allows(kind, "")
			continue
		}
		all, nss := s.Namespaces(kind)
		if nss == nil {
			nss = []string{}
		}
		a.Namespaced[kind] = kindAccess{All: all, Namespaces: nss}
	}
	a.Empty, a.Reason, a.Warnings = s.Empty(), s.Reason(), s.Warnings
	writeJSON(w, http.StatusOK, a)
}
