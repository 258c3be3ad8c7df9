// Package health answers the console's delivery health page (issue 19): every
// NotificationTarget, TargetChannel, EmailReportSchedule, MetricsProfile and BlockReportPolicy
// a person may `get`, as Kubernetes RBAC decides it, with its Ready condition and delivery
// counts. Objects are read from the console's informer cache, never from the API server per
// request; what a person may get is asked with SubjectAccessReviews, broadest question first.
// DeliveredTo tells which of the targets and channels a person may get deliver given results,
// as the operator decides it (package routing).
package health

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/console/access"
)

// Getter says whether a person may get an object: *access.Authorizer, whose answers are
// remembered for its TTL. name "" asks about every object of the namespace, namespace "" too
// about every namespace.
type Getter interface {
	MayGet(ctx context.Context, u access.User, group, resource, namespace, name string) (bool, error)
}

// Answer is the health page: the objects a person may get, by kind, namespace and name.
type Answer struct {
	Objects []Object `json:"objects"`
	// Warnings say which questions the API server could not answer; those objects are left out.
	Warnings []string `json:"warnings,omitempty"`
}

// Lister lists the objects people may get. It is safe for concurrent use.
type Lister struct {
	reader client.Reader
	authz  Getter
	// routing and routes answer DeliveredTo (see WithRouting); routes is nil without it.
	routing Routing
	routes  *routeCache
}

// New returns a Lister reading objects with reader (the manager's cache client).
func New(reader client.Reader, authz Getter) *Lister { return &Lister{reader: reader, authz: authz} }

// listTimeout bounds the wait for a kind's informer: the first List of a kind starts it and
// waits for it to sync, which never happens if the console may not list the kind.
const listTimeout = 10 * time.Second

// list lists k's objects from the cache, waiting at most listTimeout.
func (l *Lister) list(ctx context.Context, k kind) ([]Object, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	return k.list(ctx, l.reader)
}

// inFlight bounds the reviews of one call that run at once.
const inFlight = 8

// List returns every object u may get. Per kind it asks first whether u may get every object
// (one review), else per namespace holding objects, and only in namespaces refused about each
// object: a viewer of everything costs five reviews per TTL, a team's viewer one per namespace.
func (l *Lister) List(ctx context.Context, u access.User) (*Answer, error) {
	a := &Answer{Objects: []Object{}}
	for _, k := range kinds {
		objs, err := l.list(ctx, k)
		if apimeta.IsNoMatchError(err) {
			continue // its CRD is not installed: no object of the kind
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", k.name, err)
		}
		allowed, warnings := l.allowed(ctx, u, k.resource, objs)
		a.Objects = append(a.Objects, allowed...)
		a.Warnings = append(a.Warnings, warnings...)
	}
	slices.SortStableFunc(a.Objects, func(x, y Object) int {
		return cmp.Or(cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
	return a, nil
}

func kindRank(k string) int { return slices.IndexFunc(kinds, func(x kind) bool { return x.name == k }) }

// allowed returns the objs u may get, and a warning per question that failed.
func (l *Lister) allowed(ctx context.Context, u access.User, resource string, objs []Object) ([]Object, []string) {
	if len(objs) == 0 {
		return nil, nil
	}
	g := v1alpha1.GroupVersion.Group
	var warnings []string
	all, err := l.authz.MayGet(ctx, u, g, resource, "", "")
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("could not ask whether you may get every %s: %v", resource, err))
	}
	if all {
		return objs, warnings
	}
	var namespaces []string
	for _, o := range objs {
		namespaces = append(namespaces, o.Namespace)
	}
	slices.Sort(namespaces)
	namespaces = slices.Compact(namespaces)
	nsOK, nsErr := l.ask(len(namespaces), func(i int) (bool, error) {
		return l.authz.MayGet(ctx, u, g, resource, namespaces[i], "")
	})
	var out []Object
	var left []Object // in namespaces refused as a whole
	for _, o := range objs {
		if i, _ := slices.BinarySearch(namespaces, o.Namespace); nsOK[i] {
			out = append(out, o)
		} else {
			left = append(left, o)
		}
	}
	objOK, objErr := l.ask(len(left), func(i int) (bool, error) {
		return l.authz.MayGet(ctx, u, g, resource, left[i].Namespace, left[i].Name)
	})
	for i, o := range left {
		if objOK[i] {
			out = append(out, o)
		}
	}
	if n := nsErr + objErr; n > 0 {
		warnings = append(warnings, fmt.Sprintf("could not ask whether you may get %d of the %s; they are left out", n, resource))
	}
	return out, warnings
}

// ask answers n questions with at most inFlight at once; it returns the answers and how many
// failed (counted as refused).
func (l *Lister) ask(n int, q func(i int) (bool, error)) ([]bool, int) {
	ok := make([]bool, n)
	var failed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(inFlight, n) {
		wg.Go(func() {
			for i := range work {
				yes, err := q(i)
				mu.Lock()
				ok[i] = yes
				if err != nil {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return ok, failed
}
