package sender

import (
	"cmp"
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// What every chat message shows of a result, built once, so that the chat senders differ in
// their layout and escaping only.

// chatPair is one entry of a map a message shows (a property, a custom field), in key order.
type chatPair struct {
	key, value string
}

// chatView is one result as the chat destinations show it. Its texts are plain text (see
// NewResultDocument), not escaped for any destination yet.
type chatView struct {
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
	Properties, Custom []chatPair
}

// newChatView is the view of result i of b.
func newChatView(b *Batch, i int) chatView {
	return chatViewOf(NewResultDocument(b.Report, &b.Results[i], b.CustomFields))
}

// chatViewOf is the view of the document d (escaped already or not: the view holds its texts
// as they are).
func chatViewOf(d ResultDocument) chatView {
	v := chatView{
		Doc:         d,
		Title:       resultTitle(d.Policy, d.Rule),
		StatusTitle: statusTitle(&d),
		Properties:  sortedPairs(d.Properties),
		Custom:      sortedPairs(d.CustomFields),
	}
	if res := d.Resource; res != nil {
		v.Resource = objectLine(res.Kind, res.Namespace, res.Name)
	}
	return v
}

// resultTitle is "<policy> / <rule>", either alone, or "Policy result" without both. policy and
// rule are cleaned by the caller.
func resultTitle(policy, rule string) string {
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

// statusTitle is "<STATUS> · <policy> / <rule>": the policy is "Policy result" when empty, the
// rule and the status are left out when empty.
func statusTitle(d *ResultDocument) string {
	title := cmp.Or(d.Policy, "Policy result")
	if d.Rule != "" {
		title += " / " + d.Rule
	}
	if s := strings.ToUpper(string(d.Status)); s != "" {
		title = s + " · " + title
	}
	return title
}

// objectLine names an object: "Deployment test/nginx", "Namespace team-a".
func objectLine(kind, namespace, name string) string {
	if namespace != "" {
		name = namespace + "/" + name
	}
	return strings.TrimSpace(kind + " " + name)
}

// reportLine names a report: "PolicyReport team-a/cpol-require-labels".
func reportLine(rep ReportRef) string { return objectLine(rep.Kind, rep.Namespace, rep.Name) }

// sortedKeys are the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortedPairs are the entries of m in key order; nil for none.
func sortedPairs(m map[string]string) []chatPair {
	if len(m) == 0 {
		return nil
	}
	out := make([]chatPair, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, chatPair{key: k, value: m[k]})
	}
	return out
}

// plural is "1 <one>" or "<n> <many>".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// newResultsLine is "N new policy results" (1: "1 new policy result").
func newResultsLine(n int) string { return plural(n, "new policy result", "new policy results") }

// partLine names the results [start, end) of a batch of total results split into several
// messages: "New policy result 3 of 7", "New policy results 1–2 of 7".
func partLine(start, end, total int) string {
	if end-start == 1 {
		return "New policy result " + strconv.Itoa(start+1) + " of " + strconv.Itoa(total)
	}
	return "New policy results " + strconv.Itoa(start+1) + "–" + strconv.Itoa(end) + " of " + strconv.Itoa(total)
}

// oneLine is plainText(s) as one trimmed line: tabs and line breaks become spaces.
func oneLine(s string) string { return chatClean(s, false) }

// chatClean is plainText(s), trimmed, with tabs, and outside multi-line text line breaks too,
// as spaces.
func chatClean(s string, multiline bool) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' && !multiline {
			return ' '
		}
		return r
	}, plainText(s))
	return strings.TrimSpace(s)
}

// newChatTarget is what every chat webhook sender is built from: the HTTP target of its
// settings (see newHTTPTarget) and its messageTemplate, nil when none is set. Errors name the
// destination.
func newChatTarget(name string, cfg Config, s v1alpha1.HTTPSettings) (*transport.Target, *Template, error) {
	target, err := newHTTPTarget(name, cfg, s)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return target, tmpl, nil
}
