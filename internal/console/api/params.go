package api

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// paramError is a bad query parameter: a 400 naming it.
type paramError struct {
	param string
	err   error
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %s: %v", e.param, e.err) }

// params reads a request's query parameters, remembering which it used so that an unknown one
// is refused rather than silently ignored.
type params struct {
	v    url.Values
	used map[string]bool
	errs []error
}

func newParams(v url.Values) *params { return &params{v: v, used: map[string]bool{}} }

func (p *params) list(name string) []string {
	p.used[name] = true
	return p.v[name]
}

// one returns the parameter's value; it may be given once at most.
func (p *params) one(name string) string {
	vs := p.list(name)
	if len(vs) > 1 {
		p.fail(name, errors.New("given more than once"))
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (p *params) int(name string) int {
	s := p.one(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		p.fail(name, fmt.Errorf("%q is not a whole number", s))
	}
	return n
}

func (p *params) fail(name string, err error) { p.errs = append(p.errs, &paramError{name, err}) }

// done refuses parameters that were not read, and returns every error found.
func (p *params) done() error {
	for name := range p.v {
		if !p.used[name] {
			p.fail(name, errors.New("unknown parameter"))
		}
	}
	return errors.Join(p.errs...)
}

// query reads the filters of the results, the overview and the exports.
func (p *params) query() query.Query {
	return query.Query{
		Namespaces:   p.list("namespace"),
		Kinds:        p.list("kind"),
		Names:        p.list("name"),
		Policies:     p.list("policy"),
		Rules:        p.list("rule"),
		Categories:   p.list("category"),
		Sources:      p.list("source"),
		Severities:   convert[v1alpha1.Severity](p.list("severity")),
		Statuses:     convert[v1alpha1.ResultStatus](p.list("status")),
		ReportLabels: p.one("label"),
		Text:         p.one("q"),
		Scope:        query.Scope(p.one("scope")),
	}
}

// selection reads the query, sort and grouping of a results table.
func (p *params) selection() query.Selection {
	sel := query.Selection{Query: p.query(), Sort: query.Sort{By: query.SortField(p.one("sort"))}, GroupBy: query.GroupBy(p.one("groupBy"))}
	switch order := p.one("order"); order {
	case "", "asc":
	case "desc":
		sel.Sort.Desc = true
	default:
		p.fail("order", fmt.Errorf("%q is neither asc nor desc", order))
	}
	return sel
}

func (p *params) page() query.Page { return query.Page{Offset: p.int("offset"), Limit: p.int("limit")} }

func convert[T ~string](ss []string) []T {
	out := make([]T, len(ss))
	for i, s := range ss {
		out[i] = T(s)
	}
	return out
}

// engineParams names the parameter of each field the query engine's errors start with.
var engineParams = []struct{ prefix, param string }{
	{"namespaces:", "namespace"}, {"kinds:", "kind"}, {"names:", "name"}, {"policies:", "policy"},
	{"rules:", "rule"}, {"categories:", "category"}, {"sources:", "source"}, {"severities:", "severity"},
	{"statuses:", "status"}, {"reportLabels:", "label"}, {"scope:", "scope"}, {"sort:", "sort"},
	{"groupBy:", "groupBy"}, {"page offset", "offset"}, {"page limit", "limit"}, {"top", "top"},
}

// engineError turns an error of the query engine, which only refuses bad input, into the
// errors of the parameters it names, one per line of a joined error.
func engineError(err error) error {
	var errs []error
	for line := range strings.SplitSeq(err.Error(), "\n") {
		param := "query"
		for _, e := range engineParams {
			if strings.HasPrefix(line, e.prefix) {
				param = e.param
				break
			}
		}
		errs = append(errs, &paramError{param, errors.New(line)})
	}
	return errors.Join(errs...)
}

// paramNames returns the parameters err names, in order, each once.
func paramNames(err error) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var pe *paramError
		if errors.As(err, &pe) && !seen[pe.param] {
			seen[pe.param] = true
			out = append(out, pe.param)
		}
	}
	walk(err)
	return out
}
