package blockreports

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// Labels on the generated reports.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedBy           = "policy-herald"
	LabelPolicy         = "reporting.policyherald.io/block-report-policy"
	PropertyEvent       = "eventName"
	PropertyPolicyKind  = "policyKind"
	PropertyResultCount = "count"
)

// ReportName is the name of the reports one BlockReportPolicy writes.
func ReportName(policyNamespace, policyName string) string {
	return "policy-herald-blocked-" + hash(policyNamespace + "/" + policyName)[:10]
}

// PolicyLabelValue identifies a BlockReportPolicy in a label value (names may be 253 long).
func PolicyLabelValue(policyNamespace, policyName string) string {
	return hash(policyNamespace + "/" + policyName)[:16]
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ResultID is the stable identity of one blocked request: the same request repeated (the
// Event's count going up) keeps it.
func ResultID(b Blocked) string {
	return hash(b.UID + "\x00" + b.PolicyNamespace + "/" + b.Policy + "\x00" + b.Rule + "\x00" +
		b.Resource.Kind + "/" + b.Resource.Namespace + "/" + b.Resource.Name)[:32]
}

// Options shape the results of one BlockReportPolicy.
type Options struct {
	Source    string
	Max       int
	Retention time.Duration
	Now       time.Time
}

// Result is the report result of one blocked request.
func Result(b Blocked, source string) wgpolicy.PolicyReportResult {
	policy := b.Policy
	if b.PolicyNamespace != "" {
		policy = b.PolicyNamespace + "/" + b.Policy
	}
	return wgpolicy.PolicyReportResult{
		Source:    source,
		Policy:    policy,
		Rule:      b.Rule,
		Result:    "fail",
		Category:  b.Category,
		Severity:  wgpolicy.PolicySeverity(b.Severity),
		Message:   b.Message,
		Timestamp: metav1.Timestamp{Seconds: b.Time.Unix()},
		Resources: []corev1.ObjectReference{b.Resource},
		Properties: map[string]string{
			"resultID":         ResultID(b),
			PropertyEvent:      b.EventName,
			PropertyPolicyKind: b.PolicyKind,
		},
	}
}

// Merge adds blocked requests to a report's results: a request already there gets the newer
// time, message and event name; results older than the retention go, and the oldest go
// first when there are more than Max. It returns the results, newest last, and how many
// results it added.
func Merge(existing []wgpolicy.PolicyReportResult, blocked []Blocked, o Options) ([]wgpolicy.PolicyReportResult, int) {
	byID := make(map[string]int, len(existing))
	out := make([]wgpolicy.PolicyReportResult, 0, len(existing)+len(blocked))
	for _, r := range existing {
		id := r.Properties["resultID"]
		if i, ok := byID[id]; ok && id != "" {
			if r.Timestamp.Seconds > out[i].Timestamp.Seconds {
				out[i] = r
			}
			continue
		}
		byID[id] = len(out)
		out = append(out, r)
	}
	added := 0
	for _, b := range blocked {
		r := Result(b, o.Source)
		id := r.Properties["resultID"]
		if i, ok := byID[id]; ok {
			if r.Timestamp.Seconds >= out[i].Timestamp.Seconds {
				out[i] = r
			}
			continue
		}
		byID[id] = len(out)
		out = append(out, r)
		added++
	}
	if o.Retention > 0 {
		cut := o.Now.Add(-o.Retention).Unix()
		kept := out[:0]
		for _, r := range out {
			if r.Timestamp.Seconds >= cut {
				kept = append(kept, r)
			}
		}
		out = kept
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.Seconds < out[j].Timestamp.Seconds })
	if o.Max > 0 && len(out) > o.Max {
		out = out[len(out)-o.Max:]
	}
	return out, added
}

// Summary counts the results per outcome.
func Summary(results []wgpolicy.PolicyReportResult) wgpolicy.PolicyReportSummary {
	var s wgpolicy.PolicyReportSummary
	for _, r := range results {
		switch r.Result {
		case "pass":
			s.Pass++
		case "fail":
			s.Fail++
		case "warn":
			s.Warn++
		case "error":
			s.Error++
		case "skip":
			s.Skip++
		}
	}
	return s
}

// Annotations Kyverno policies carry for their reports.
const (
	AnnotationCategory = "policies.kyverno.io/category"
	AnnotationSeverity = "policies.kyverno.io/severity"
)

// Policy is what a result takes from its Kyverno policy: its annotations and its rules'
// messages by rule name.
type Policy struct {
	Annotations  map[string]string
	RuleMessages map[string]string
}

// PolicyReader returns a policy; ok=false when it cannot be read (not found, its kind not
// installed, not allowed).
type PolicyReader func(apiVersion, kind, namespace, name string) (p Policy, ok bool)

// RuleMessages returns the validate messages of a classic Kyverno policy's rules (spec.rules[]
// name and validate.message), by rule name.
func RuleMessages(spec map[string]any) map[string]string {
	out := map[string]string{}
	rules, _ := spec["rules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		name, _ := rule["name"].(string)
		validate, _ := rule["validate"].(map[string]any)
		if msg, _ := validate["message"].(string); name != "" && msg != "" {
			out[name] = msg
		}
	}
	return out
}

// Annotate fills in the category and severity of blocked from their policies' annotations,
// and the message from the rule's own when it reads as it is: one with variables ({{ ... }})
// says less than the Event, where Kyverno resolved them. Each policy is read once.
func Annotate(blocked []Blocked, get PolicyReader) {
	type key struct{ apiVersion, kind, ns, name string }
	seen := map[key]Policy{}
	for i := range blocked {
		b := &blocked[i]
		if b.PolicyKind == "" || b.PolicyAPIVersion == "" {
			continue
		}
		k := key{b.PolicyAPIVersion, b.PolicyKind, b.PolicyNamespace, b.Policy}
		p, ok := seen[k]
		if !ok {
			p, _ = get(k.apiVersion, k.kind, k.ns, k.name)
			seen[k] = p
		}
		a := p.Annotations
		if msg := p.RuleMessages[b.Rule]; msg != "" && !strings.Contains(msg, "{{") {
			b.Message = msg
		}
		b.Category, b.Severity = a[AnnotationCategory], ""
		switch s := strings.ToLower(a[AnnotationSeverity]); s {
		case "critical", "high", "medium", "low", "info":
			b.Severity = s
		}
	}
}
