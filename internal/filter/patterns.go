package filter

import (
	"errors"
	"fmt"
)

// Patterns is a compiled list of patterns with this package's wildcards (`*` and `?`, see the
// package documentation); it matches a value that any of its patterns matches. It is exported
// so the console's queries mean by a wildcard exactly what a target's or channel's filter means.
type Patterns struct{ p *patterns }

// CompilePatterns compiles list; with fold, literals and globs match case-insensitively
// (strings.EqualFold). An empty pattern is an error naming its index in list.
func CompilePatterns(list []string, fold bool) (*Patterns, error) {
	var errs []error
	p := compilePatterns("", list, fold, func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Patterns{p: p}, nil
}

// Match reports whether s matches one of the patterns. It does not allocate.
func (p *Patterns) Match(s string) bool { return p.p.match(s) }
