package access

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Scope is what one person may see of the reports: per installed report kind, the namespaces
// whose reports they may list (or all of them), and whether they may list the cluster-scoped
// kinds. It is per kind because RBAC is: list on policyreports in a namespace shows that
// namespace's PolicyReports, not its openreports.io Reports. A Scope is read-only once made.
type Scope struct {
	kinds map[string]*kindScope // every installed kind

	// Warnings say which questions the API server could not answer; each of those counts as
	// not allowed, so an error never shows a person more than RBAC lets them see.
	Warnings []string
}

type kindScope struct {
	api reportAPI
	// all: a namespaced kind may be listed in every namespace; a cluster-scoped kind may be listed.
	all        bool
	namespaces map[string]struct{} // namespaced kinds without all: where it may be listed
	failures   []failure
}

// failure is a question that got an error instead of an answer.
type failure struct {
	namespace string // "" for the cluster-wide question
	err       error
}

func newScope() *Scope { return &Scope{kinds: map[string]*kindScope{}} }

// Allows says whether the person may see a report of kind (the report model's Kind:
// PolicyReport, ClusterPolicyReport, Report or ClusterReport) in namespace ("" for the
// cluster-scoped kinds). It is a map lookup, cheap enough to ask for every report of a query.
func (s *Scope) Allows(kind, namespace string) bool {
	k := s.kinds[kind]
	switch {
	case k == nil:
		return false
	case !k.api.namespaced:
		return namespace == "" && k.all
	case namespace == "":
		return false
	case k.all:
		return true
	}
	_, ok := k.namespaces[namespace]
	return ok
}

// Namespaces returns where the person may see reports of a namespaced kind: all, or the
// namespaces listed (sorted), which are always among those that held reports when asked.
func (s *Scope) Namespaces(kind string) (all bool, namespaces []string) {
	k := s.kinds[kind]
	if k == nil || !k.api.namespaced {
		return false, nil
	}
	if k.all {
		return true, nil
	}
	return false, slices.Sorted(maps.Keys(k.namespaces))
}

// Empty says whether the person may see no report at all. A person who may list a kind
// everywhere is not empty, even while no report of that kind exists.
func (s *Scope) Empty() bool {
	for _, k := range s.kinds {
		if k.all || len(k.namespaces) > 0 {
			return false
		}
	}
	return true
}

// Reason says, for an empty scope, why the person sees nothing, in words for the person;
// "" when the scope is not empty.
func (s *Scope) Reason() string {
	if !s.Empty() {
		return ""
	}
	if len(s.kinds) == 0 {
		return "no report API (wgpolicyk8s.io or openreports.io) is installed"
	}
	var namespaced, cluster []string
	for _, kind := range kindOrder {
		if k := s.kinds[kind]; k != nil && k.api.namespaced {
			namespaced = append(namespaced, k.api.resource)
		} else if k != nil {
			cluster = append(cluster, k.api.resource)
		}
	}
	var why string
	switch {
	case len(cluster) == 0:
		why = fmt.Sprintf("you may not list %s in any namespace that holds reports", strings.Join(namespaced, " or "))
	case len(namespaced) == 0:
		why = fmt.Sprintf("you may not list %s", strings.Join(cluster, " or "))
	default:
		why = fmt.Sprintf("you may not list %s in any namespace that holds reports, nor %s",
			strings.Join(namespaced, " or "), strings.Join(cluster, " or "))
	}
	if len(s.Warnings) > 0 {
		why += "; " + strings.Join(s.Warnings, "; ")
	}
	return why
}

// warn turns the failures of every kind into Warnings, one per kind and question type, so an
// API server that fails 2,000 questions says so in two lines, not 2,000.
func (s *Scope) warn() {
	for _, kind := range kindOrder {
		k := s.kinds[kind]
		if k == nil {
			continue
		}
		var inNamespaces []failure
		for _, f := range k.failures {
			switch {
			case f.namespace != "":
				inNamespaces = append(inNamespaces, f)
			case k.api.namespaced:
				s.Warnings = append(s.Warnings, fmt.Sprintf("could not check whether you may list %s in all namespaces: %v", k.api.resource, f.err))
			default:
				s.Warnings = append(s.Warnings, fmt.Sprintf("could not check whether you may list %s: %v", k.api.resource, f.err))
			}
		}
		if len(inNamespaces) > 0 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("could not check whether you may list %s in %s: %v",
				k.api.resource, namespaceList(inNamespaces), inNamespaces[0].err))
		}
	}
}

// namespaceList names the first few namespaces of failures and counts the rest.
func namespaceList(fs []failure) string {
	const named = 3
	names := make([]string, 0, named)
	for _, f := range fs[:min(named, len(fs))] {
		names = append(names, f.namespace)
	}
	if len(fs) == 1 {
		return "namespace " + names[0]
	}
	list := strings.Join(names, ", ")
	if len(fs) > named {
		list += ", ..."
	}
	return fmt.Sprintf("%d namespaces (%s)", len(fs), list)
}
