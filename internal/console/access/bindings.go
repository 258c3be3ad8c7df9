package access

import (
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// Bindings is the opt-in index that spares SubjectAccessReviews (Options.Bindings): which
// namespaces hold a RoleBinding naming a person, by user, group or service account, as RBAC
// matches subjects. Under RBAC, a person who may not list a kind cluster-wide may list it in a
// namespace only through a RoleBinding there, whatever role it refers to (aggregated
// ClusterRoles included): the index reads subjects, never rules. So a Scope asks only about the
// namespaces where the person is bound; a review still decides each of them, and the index
// never grants. It needs list and watch on rolebindings, which the console's ServiceAccount
// lacks unless the admin grants it.
//
// Another authorizer (a webhook, ABAC) may grant what no RoleBinding shows. The index stops
// pruning for good, and the console asks about every namespace again, when it sees one: an
// answer that allows for a reason that is not RBAC's, or a namespace it pruned that a review
// allows (a person's first view in each TTL asks about one pruned namespace per kind anyway,
// the next one each time).
type Bindings struct {
	log       logr.Logger
	mu        sync.RWMutex
	where     map[string]map[string]int // subject → namespace → RoleBindings naming it there
	subjects  map[string][]string       // namespace/name of a RoleBinding → its subjects
	hasSynced func() bool
	off       atomic.Bool // contradicted: prune nothing
	probeMu   sync.Mutex
	// probes counts the probes per resource: one counter per kind, so that each kind's probe
	// visits every pruned namespace in turn (one shared by two kinds would skip half of them).
	probes map[string]uint64
}

// NewBindings returns an empty index; feed it with Watch. log says when it turns itself off.
func NewBindings(log logr.Logger) *Bindings {
	return &Bindings{log: log, where: map[string]map[string]int{}, subjects: map[string][]string{},
		probes: map[string]uint64{}, hasSynced: func() bool { return false }}
}

// Informer is the part of an informer of RoleBindings that Watch uses (controller-runtime's
// cache.Informer and client-go's SharedIndexInformer are ones).
type Informer interface {
	AddEventHandler(toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error)
}

// Watch keeps the index current from inf; until it has synced, nothing is pruned.
func (b *Bindings) Watch(inf Informer) error {
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { b.set(o) },
		UpdateFunc: func(_, o any) { b.set(o) },
		DeleteFunc: b.remove,
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.hasSynced = reg.HasSynced
	b.mu.Unlock()
	return nil
}

// TrimRoleBinding keeps of a RoleBinding what the index and an informer need (name,
// namespace, version, subjects): a transform for the informer's cache, which would otherwise
// hold every RoleBinding whole.
func TrimRoleBinding(o any) (any, error) {
	rb, ok := o.(*rbacv1.RoleBinding)
	if !ok {
		return o, nil
	}
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{
		Name: rb.Name, Namespace: rb.Namespace, UID: rb.UID, ResourceVersion: rb.ResourceVersion,
	}, Subjects: rb.Subjects}, nil
}

func (b *Bindings) set(o any) {
	rb, ok := o.(*rbacv1.RoleBinding)
	if !ok {
		return
	}
	subjects := make([]string, 0, len(rb.Subjects))
	for _, s := range rb.Subjects {
		if k, ok := subjectKey(s); ok {
			subjects = append(subjects, k)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drop(rb.Namespace, rb.Name)
	b.subjects[rb.Namespace+"/"+rb.Name] = subjects
	for _, k := range subjects {
		if b.where[k] == nil {
			b.where[k] = map[string]int{}
		}
		b.where[k][rb.Namespace]++
	}
}

func (b *Bindings) remove(o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if rb, ok := o.(*rbacv1.RoleBinding); ok {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.drop(rb.Namespace, rb.Name)
	}
}

// drop forgets the subjects of a RoleBinding; b.mu is held.
func (b *Bindings) drop(namespace, name string) {
	key := namespace + "/" + name
	for _, k := range b.subjects[key] {
		if b.where[k][namespace]--; b.where[k][namespace] <= 0 {
			delete(b.where[k], namespace)
		}
		if len(b.where[k]) == 0 {
			delete(b.where, k)
		}
	}
	delete(b.subjects, key)
}

// subjectKey names a subject the way RBAC matches it against a user: by user name (a service
// account is the user system:serviceaccount:<namespace>:<name>) or by group.
func subjectKey(s rbacv1.Subject) (string, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return "user\x00" + s.Name, true
	case rbacv1.GroupKind:
		return "group\x00" + s.Name, true
	case rbacv1.ServiceAccountKind:
		return "user\x00system:serviceaccount:" + s.Namespace + ":" + s.Name, true
	}
	return "", false
}

// boundIn returns the namespaces where a RoleBinding names u, or false when the index may not
// prune (not synced yet, or turned off).
func (b *Bindings) boundIn(u User) (map[string]bool, bool) {
	if b == nil || b.off.Load() {
		return nil, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.hasSynced() {
		return nil, false
	}
	out := map[string]bool{}
	keys := []string{"user\x00" + u.Name}
	for _, g := range u.Groups {
		keys = append(keys, "group\x00"+g)
	}
	for _, k := range keys {
		for ns := range b.where[k] {
			out[ns] = true
		}
	}
	return out, true
}

// probe picks which of resource's pruned namespaces to ask about anyway: the next one each time.
func (b *Bindings) probe(resource string, pruned []string) string {
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	b.probes[resource]++
	return pruned[b.probes[resource]%uint64(len(pruned))]
}

// contradicted turns pruning off for good: something other than RoleBindings grants.
func (b *Bindings) contradicted(why string) {
	if b != nil && b.off.CompareAndSwap(false, true) {
		b.log.Info("the RoleBinding index no longer prunes: another authorizer grants what no RoleBinding shows; every namespace is asked about again", "why", why)
	}
}

// Pruning says whether the index prunes now (synced, not contradicted).
func (b *Bindings) Pruning() bool {
	_, ok := b.boundIn(User{})
	return ok
}
