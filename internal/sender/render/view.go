package render

import (
	"cmp"
	"sort"
	"strconv"
	"strings"
)

// What every chat message shows of a result, built once, so that the chat senders differ in
// their layout and escaping only.

// Pair is one entry of a map a message shows (a property, a custom field), in key order.
type Pair struct {
	Key, Value string
}

// View is one result as the chat destinations show it. Its texts are plain text (see
// NewResultDocument), not escaped for any destination yet.
type View struct {
	// Doc is the result's document, with the batch's custom fields.
	Doc ResultDocument
	// Title is "<policy> / <rule>", either alone, or "Policy result" without both.
	Title string
	// StatusTitle is "<STATUS> · <policy or Policy result> / <rule>" (the rule when set).
	StatusTitle string
	// Resource is "<Kind> <namespace>/<name>", "" for a result without a resource.
	Resource string
	// Properties and Custom are the result's properties and the target's custom fields, in key
	// order.
	Properties, Custom []Pair
}

// ViewOf is the view of the document d (escaped already or not: the view holds its texts
// as they are).
func ViewOf(d ResultDocument) View {
	v := View{
		Doc:         d,
		Title:       ResultTitle(d.Policy, d.Rule),
		StatusTitle: StatusTitle(&d),
		Properties:  SortedPairs(d.Properties),
		Custom:      SortedPairs(d.CustomFields),
	}
	if res := d.Resource; res != nil {
		v.Resource = ObjectLine(res.Kind, res.Namespace, res.Name)
	}
	return v
}

// ResultTitle is "<policy> / <rule>", either alone, or "Policy result" without both. policy and
// rule are cleaned by the caller.
func ResultTitle(policy, rule string) string {
	title := policy
	if rule != "" {
		if title == "" {
			title = rule
		} else {
			title += " / " + rule
		}
	}
	if title == "" {
		title = "Policy result"
	}
	return title
}

// StatusTitle is "<STATUS> · <policy> / <rule>": the policy is "Policy result" when empty, the
// rule and the status are left out when empty.
func StatusTitle(d *ResultDocument) string {
	title := cmp.Or(d.Policy, "Policy result")
	if d.Rule != "" {
		title += " / " + d.Rule
	}
	if s := strings.ToUpper(string(d.Status)); s != "" {
		title = s + " · " + title
	}
	return title
}

// Facts are the short facts of a result that chat messages show as labelled fields, Status
// first: Status, Severity, Category, Source, and the resource's Kind, Name and Namespace. Empty
// ones are kept: each destination shows or leaves them out its own way.
func Facts(d *ResultDocument) []Pair {
	var kind, name, namespace string
	if d.Resource != nil {
		kind, name, namespace = d.Resource.Kind, d.Resource.Name, d.Resource.Namespace
	}
	return []Pair{
		{"Status", string(d.Status)},
		{"Severity", string(d.Severity)},
		{"Category", d.Category},
		{"Source", d.Source},
		{"Kind", kind},
		{"Name", name},
		{"Namespace", namespace},
	}
}

// ObjectLine names an object: "Deployment test/nginx", "Namespace team-a".
func ObjectLine(kind, namespace, name string) string {
	if namespace != "" {
		name = namespace + "/" + name
	}
	return strings.TrimSpace(kind + " " + name)
}

// SortedKeys are the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SortedPairs are the entries of m in key order; nil for none.
func SortedPairs(m map[string]string) []Pair {
	if len(m) == 0 {
		return nil
	}
	out := make([]Pair, 0, len(m))
	for _, k := range SortedKeys(m) {
		out = append(out, Pair{Key: k, Value: m[k]})
	}
	return out
}

// Plural is "1 <one>" or "<n> <many>".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// NewResultsLine is "N new policy results" (1: "1 new policy result").
func NewResultsLine(n int) string { return Plural(n, "new policy result", "new policy results") }

// ResolvedLine is "✅ N policy results resolved" (1: "✅ 1 policy result resolved"): the first line
// of a resolved notice (notifyResolved).
func ResolvedLine(n int) string {
	return ResolvedMark + " " + Plural(n, "policy result resolved", "policy results resolved")
}

// ResolvedMark marks resolved notices.
const ResolvedMark = "✅"

// ResolvedNote says what n resolved results are, under the notice's first line.
func ResolvedNote(n int) string {
	if n == 1 {
		return "It passes now, or is gone from the cluster."
	}
	return "They pass now, or are gone from the cluster."
}

// PartLine names the results [start, end) of a batch of total results split into several
// messages: "New policy result 3 of 7", "New policy results 1–2 of 7".
func PartLine(start, end, total int) string {
	if end-start == 1 {
		return "New policy result " + strconv.Itoa(start+1) + " of " + strconv.Itoa(total)
	}
	return "New policy results " + strconv.Itoa(start+1) + "–" + strconv.Itoa(end) + " of " + strconv.Itoa(total)
}

// OneLine is PlainText(s) as one trimmed line: tabs and line breaks become spaces.
func OneLine(s string) string { return Clean(s, false) }

// Clean is PlainText(s), trimmed, with tabs, and outside multi-line text line breaks too,
// as spaces.
func Clean(s string, multiline bool) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' && !multiline {
			return ' '
		}
		return r
	}, PlainText(s))
	return strings.TrimSpace(s)
}
