package argocd_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/config/argocd"
	"github.com/policyherald/policy-herald/internal/conditions"
)

// TestConfigMapIsCurrent fails when argocd-cm.yaml is not what `make argocd-health` writes
// from health.lua, and checks that Argo CD finds the script under the key of every kind.
func TestConfigMapIsCurrent(t *testing.T) {
	b, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(argocd.ConfigMap()) {
		t.Fatal("config/argocd/argocd-cm.yaml is stale: run `make argocd-health`")
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" || cm.Namespace != "argocd" {
		t.Errorf("the snippet is %s %s/%s, not ConfigMap argocd/argocd-cm", cm.Kind, cm.Namespace, cm.Name)
	}
	if len(cm.Data) != len(argocd.Kinds) {
		t.Errorf("the snippet has %d keys, want one per kind (%d)", len(cm.Data), len(argocd.Kinds))
	}
	for _, kind := range argocd.Kinds {
		key := "resource.customizations.health.reporting.policyherald.io_" + kind
		if got, ok := cm.Data[key]; !ok {
			t.Errorf("no key %s", key)
		} else if got != argocd.HealthLua {
			t.Errorf("the Lua under %s differs from health.lua", key)
		}
	}
}

// TestKindsAreEveryKind fails when a kind is added to the API without the health check.
func TestKindsAreEveryKind(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for kind := range s.KnownTypes(v1alpha1.GroupVersion) {
		if _, err := s.New(v1alpha1.GroupVersion.WithKind(kind)); err == nil && !strings.HasSuffix(kind, "List") {
			if _, isCond := mustNew(t, s, kind).(conditions.Object); isCond {
				kinds = append(kinds, kind)
			}
		}
	}
	slices.Sort(kinds)
	want := slices.Sorted(slices.Values(argocd.Kinds))
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds of %s: %v, the health check is installed for %v", v1alpha1.GroupVersion, kinds, want)
	}
	if v1alpha1.GroupVersion.Group != argocd.Group {
		t.Errorf("group %s, the health check says %s", v1alpha1.GroupVersion.Group, argocd.Group)
	}
}

func mustNew(t *testing.T, s *runtime.Scheme, kind string) runtime.Object {
	t.Helper()
	o, err := s.New(v1alpha1.GroupVersion.WithKind(kind))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// state brings a fresh object (generation 1, no status) into a state, with the condition
// functions the controllers use.
type state struct {
	name    string
	apply   func(o conditions.Object)
	argo    string
	kstatus status.Status
	// message is part of what health.lua must say.
	message string
}

func bump(o conditions.Object) { o.SetGeneration(o.GetGeneration() + 1) }

func setConds(conds ...metav1.Condition) func(o conditions.Object) {
	return func(o conditions.Object) {
		o.SetObservedGeneration(o.GetGeneration())
		for _, c := range conds {
			c.ObservedGeneration = o.GetGeneration()
			*o.GetConditions() = append(*o.GetConditions(), c)
		}
	}
}

func cond(typ string, st metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: "m", LastTransitionTime: metav1.Now()}
}

var (
	secretNotFound = conditions.Stalled(v1alpha1.ReasonSecretNotFound, `Secret "hook" not found in namespace "team-a"`)
	invalidSpec    = conditions.Stalled(v1alpha1.ReasonInvalidSpec, "spec.filter.namespaceSelector: invalid")
	starting       = conditions.Progressing(v1alpha1.ReasonStarting, "waiting for the delivery engine to list the reports")
	failing        = conditions.Transient(v1alpha1.ReasonDeliveryFailing, "delivery attempts keep failing")
	notStarted     = conditions.Transient(v1alpha1.ReasonDeliveryNotStarted, "delivery could not start: boom")
	paused         = conditions.Transient(v1alpha1.ReasonDeliveryPaused, "sending is paused")
)

var states = []state{
	{"created, no status yet", func(conditions.Object) {}, argocd.Progressing, status.CurrentStatus, "waiting for the Policy Herald controller"},
	{"ready", func(o conditions.Object) { conditions.MarkReady(o, "delivers") }, argocd.Healthy, status.CurrentStatus, "delivers"},
	{"suspended", func(o conditions.Object) { conditions.MarkSuspended(o, "suspended: valid") }, argocd.Healthy, status.CurrentStatus, "suspended: valid"},
	{"starting (Reconciling)", func(o conditions.Object) { conditions.MarkNotReady(o, starting) }, argocd.Progressing, status.InProgressStatus, "Starting: waiting"},
	{"SecretNotFound (Stalled)", func(o conditions.Object) { conditions.MarkNotReady(o, secretNotFound) }, argocd.Degraded, status.FailedStatus, "SecretNotFound: Secret"},
	{"InvalidSpec (Stalled)", func(o conditions.Object) { conditions.MarkNotReady(o, invalidSpec) }, argocd.Degraded, status.FailedStatus, "InvalidSpec: spec"},
	{"DeliveryFailing", func(o conditions.Object) { conditions.MarkNotReady(o, failing) }, argocd.Progressing, status.InProgressStatus, "DeliveryFailing: delivery"},
	{"DeliveryNotStarted", func(o conditions.Object) { conditions.MarkNotReady(o, notStarted) }, argocd.Progressing, status.InProgressStatus, "DeliveryNotStarted"},
	{"DeliveryPaused", func(o conditions.Object) { conditions.MarkNotReady(o, paused) }, argocd.Progressing, status.InProgressStatus, "DeliveryPaused"},
	{"ready, then the spec changed", func(o conditions.Object) { conditions.MarkReady(o, "delivers"); bump(o) }, argocd.Progressing, status.InProgressStatus, "generation 2 (the status describes generation 1)"},
	{"stalled, then the spec changed", func(o conditions.Object) { conditions.MarkNotReady(o, secretNotFound); bump(o) }, argocd.Progressing, status.InProgressStatus, ""},
	{"stalled, then fixed", func(o conditions.Object) {
		conditions.MarkNotReady(o, secretNotFound)
		conditions.MarkReady(o, "delivers")
	}, argocd.Healthy, status.CurrentStatus, "delivers"},
	{"stalled, then starting", func(o conditions.Object) {
		conditions.MarkNotReady(o, secretNotFound)
		conditions.MarkNotReady(o, starting)
	}, argocd.Progressing, status.InProgressStatus, "Starting"},
	{"failing, then stalled", func(o conditions.Object) {
		conditions.MarkNotReady(o, failing)
		conditions.MarkNotReady(o, secretNotFound)
	}, argocd.Degraded, status.FailedStatus, "SecretNotFound"},
	{"being deleted", func(o conditions.Object) {
		conditions.MarkReady(o, "delivers")
		o.SetDeletionTimestamp(&metav1.Time{Time: metav1.Now().Time})
	}, argocd.Progressing, status.TerminatingStatus, "deleted"},
	{"Ready Unknown", setConds(cond("Ready", metav1.ConditionUnknown, "Checking")), argocd.Progressing, status.InProgressStatus, ""},
	{"observedGeneration but no Ready", setConds(), argocd.Progressing, status.CurrentStatus, "report Ready"},
	{"Stalled listed before Reconciling", setConds(cond("Ready", metav1.ConditionFalse, "X"), cond("Stalled", metav1.ConditionTrue, "X"), cond("Reconciling", metav1.ConditionTrue, "X")), argocd.Degraded, status.FailedStatus, ""},
	{"Reconciling listed before Stalled", setConds(cond("Ready", metav1.ConditionFalse, "X"), cond("Reconciling", metav1.ConditionTrue, "X"), cond("Stalled", metav1.ConditionTrue, "X")), argocd.Progressing, status.InProgressStatus, ""},
	{"Stalled and Reconciling False, Ready True", setConds(cond("Stalled", metav1.ConditionFalse, "X"), cond("Reconciling", metav1.ConditionFalse, "X"), cond("Ready", metav1.ConditionTrue, "Ready")), argocd.Healthy, status.CurrentStatus, ""},
}

// TestHealthAgreesWithKstatus evaluates health.lua as Argo CD does and kstatus on every kind in
// every state, and checks both against the expected outcome and each other.
func TestHealthAgreesWithKstatus(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range argocd.Kinds {
		for _, st := range states {
			t.Run(kind+"/"+st.name, func(t *testing.T) {
				o := mustNew(t, s, kind).(conditions.Object)
				o.SetNamespace("team-a")
				o.SetName("x")
				o.SetGeneration(1)
				st.apply(o)
				m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
				if err != nil {
					t.Fatal(err)
				}
				u := &unstructured.Unstructured{Object: m}
				u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))

				v, err := argocd.Check(u)
				if err != nil {
					t.Fatal(err)
				}
				if v.Lua.Status != st.argo {
					t.Errorf("health.lua: %s (%s), want %s", v.Lua.Status, v.Lua.Message, st.argo)
				}
				if v.Kstatus.Status != st.kstatus {
					t.Errorf("kstatus: %s (%s), want %s", v.Kstatus.Status, v.Kstatus.Message, st.kstatus)
				}
				if v.Lua.Message == "" {
					t.Error("health.lua gave no message")
				}
				if !strings.Contains(v.Lua.Message, st.message) {
					t.Errorf("health.lua says %q, want it to say %q", v.Lua.Message, st.message)
				}
			})
		}
	}
}

// TestCheckCatchesDisagreement shows the comparison fails for a script that reads the status
// differently from kstatus.
func TestCheckCatchesDisagreement(t *testing.T) {
	o := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "x", Generation: 1}}
	conditions.MarkNotReady(o, secretNotFound)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("NotificationTarget"))
	if _, err := argocd.CheckWith(`return {status = "Healthy"}`, u); err == nil {
		t.Error("a script calling a stalled object Healthy agrees with kstatus")
	}
	// Argo CD's way out for objects the controller has not reported on does not cover a
	// reported one.
	if _, err := argocd.CheckWith(`return {status = "Progressing"}`, u); err == nil {
		t.Error("a script calling a stalled object Progressing agrees with kstatus")
	}
	if _, err := argocd.Check(u); err != nil {
		t.Error(err)
	}
}

// TestEvaluateLikeArgoCD pins the parts of Argo CD's Lua environment the script depends on.
func TestEvaluateLikeArgoCD(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"generation": int64(3)},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "A"}, map[string]any{"type": "B"}}, "ok": true, "ratio": 0.5, "none": nil},
	}
	for _, tc := range []struct {
		script, status, message string
		fails                   bool
	}{
		{script: `return {status = "Healthy", message = obj.status.conditions[1].type .. obj.status.conditions[2].type .. #obj.status.conditions}`, status: "Healthy", message: "AB2"},
		{script: `return {status = "Healthy", message = "g" .. obj.metadata.generation}`, status: "Healthy", message: "g3"},
		{script: `local n = 0; for _, c in ipairs(obj.status.conditions) do n = n + 1 end; return {status = "Degraded", message = tostring(n) .. tostring(obj.status.ok) .. tostring(obj.status.none)}`, status: "Degraded", message: "2truenil"},
		{script: `return {status = "Progressing"}`, status: "Progressing"},
		{script: `return {status = string.format("%s", "Healthy")}`, fails: true}, // no string library in Argo CD by default
		{script: `return "Healthy"`, fails: true},
		{script: `return {status = "Fine"}`, fails: true},
		{script: `return {status = "Healthy", message = 3}`, fails: true},
		{script: `while true do end`, fails: true},
	} {
		h, err := argocd.Evaluate(tc.script, obj)
		switch {
		case tc.fails && err == nil:
			t.Errorf("%s: no error, returned %+v", tc.script, h)
		case !tc.fails && err != nil:
			t.Errorf("%s: %v", tc.script, err)
		case !tc.fails && (h.Status != tc.status || h.Message != tc.message):
			t.Errorf("%s: %+v, want %s %q", tc.script, h, tc.status, tc.message)
		}
	}
}
