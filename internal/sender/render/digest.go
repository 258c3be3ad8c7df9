package render

import (
	"strconv"
	"strings"
	"time"
)

// The wording of digests, rate-limit summaries and console links: one place for every chat
// destination, so that a digest reads the same in Slack as in Telegram; each sender only lays
// these texts out and escapes them its own way.

// GroupValue is one value a digest is grouped by ({Name: "policy", Value: "require-labels"}).
type GroupValue struct{ Name, Value string }

// Count is how many results have a value (a status, a severity).
type Count struct {
	Value string
	N     int
}

// DigestTitle is the first line of a digest: what its group is, how many results and since
// when: "Digest: policy require-labels, namespace shop — 37 results since 10:00 UTC".
func DigestTitle(group []GroupValue, total int, from, to time.Time) string {
	title := "Digest"
	if g := GroupLine(group); g != "" {
		title += ": " + g
	}
	title += " — " + Plural(total, "result", "results")
	if s := SinceLine(from, to); s != "" {
		title += " " + s
	}
	return title
}

// SummaryTitle is the first line of a rate limit's summary: "412 more results: 300 fail,
// 112 warn in 9 namespaces".
func SummaryTitle(total int, byStatus []Count, namespaces int) string {
	title := Plural(total, "more result", "more results")
	if c := CountsLine(byStatus); c != "" {
		title += ": " + c
	}
	if namespaces > 0 {
		title += " in " + Plural(namespaces, "namespace", "namespaces")
	}
	return title
}

// SummaryNote says why a summary came instead of the results: the destination's rate limit.
func SummaryNote(from, to time.Time) string {
	if s := SinceLine(from, to); s != "" {
		return "Found " + s + " and held back by this destination's rate limit."
	}
	return "Held back by this destination's rate limit."
}

// GroupLine names a digest's group: "policy require-labels, namespace shop"; "" for none.
func GroupLine(group []GroupValue) string {
	parts := make([]string, 0, len(group))
	for _, g := range group {
		parts = append(parts, JoinNonEmpty(" ", OneLine(g.Name), OneLine(g.Value)))
	}
	return JoinNonEmpty(", ", parts...)
}

// SinceLine is "since 10:00 UTC", with the date when from is not on to's day ("since 6 Dec
// 23:00 UTC"); "" without a start.
func SinceLine(from, to time.Time) string {
	if from.IsZero() {
		return ""
	}
	from, to = from.UTC(), to.UTC()
	layout := "15:04 UTC"
	if to.IsZero() || from.YearDay() != to.YearDay() || from.Year() != to.Year() {
		layout = "2 Jan 15:04 UTC"
	}
	return "since " + from.Format(layout)
}

// CountsLine is "300 fail, 112 warn"; a count without a value is "not set" (results without a
// severity); "" for none.
func CountsLine(counts []Count) string {
	parts := make([]string, 0, len(counts))
	for _, c := range counts {
		v := OneLine(c.Value)
		if v == "" {
			v = "not set"
		}
		parts = append(parts, strconv.Itoa(c.N)+" "+v)
	}
	return strings.Join(parts, ", ")
}

// DigestCounts are the labelled counts of a digest: Status, Severity and Namespaces, the empty
// ones left out, and Namespaces when there is only one (the results name it).
func DigestCounts(byStatus, bySeverity []Count, namespaces int) []Pair {
	var out []Pair
	if s := CountsLine(byStatus); s != "" {
		out = append(out, Pair{"Status", s})
	}
	if s := CountsLine(bySeverity); s != "" {
		out = append(out, Pair{"Severity", s})
	}
	if namespaces > 1 {
		out = append(out, Pair{"Namespaces", strconv.Itoa(namespaces)})
	}
	return out
}

// MoreLine is "and 12 more results" (1: "and 1 more result"); "" for none.
func MoreLine(n int) string {
	if n <= 0 {
		return ""
	}
	return "and " + Plural(n, "more result", "more results")
}

// Item is one result as a digest lists it: its title ("FAIL · require-labels / check-app"),
// which links to the console, and what it is about ("Deployment shop/nginx · high").
type Item struct {
	Title, Detail string
}

// ItemOf is the digest line of the document d.
func ItemOf(d *ResultDocument) Item {
	var resource string
	if res := d.Resource; res != nil {
		resource = ObjectLine(res.Kind, res.Namespace, res.Name)
	}
	return Item{
		Title:  OneLine(StatusTitle(d)),
		Detail: OneLine(JoinNonEmpty(" · ", resource, string(d.Severity))),
	}
}

// GroupLinkLabel is the text of the link to a digest's or summary's page in the console.
const GroupLinkLabel = "Open in the console"

// LinkLabel is the text of a result's link to the console: "Open Deployment shop/nginx in the
// console", or the policy's page for a result without a resource.
func LinkLabel(d *ResultDocument) string {
	if res := d.Resource; res != nil && res.Kind != "" && res.Name != "" {
		return "Open " + OneLine(ObjectLine(res.Kind, res.Namespace, res.Name)) + " in the console"
	}
	if p := OneLine(d.Policy); p != "" {
		return "Open policy " + p + " in the console"
	}
	return "Open in the console"
}

// MarkdownURL is u ready for a Markdown link's "(...)": the characters that would end it or
// break it (parentheses, spaces, backslashes, angle brackets) percent-encoded.
func MarkdownURL(u string) string { return markdownURL.Replace(u) }

var markdownURL = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", `\`, "%5C", "<", "%3C", ">", "%3E", "|", "%7C")
