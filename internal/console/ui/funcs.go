package ui

import (
	"html/template"
	"net/url"
	"strconv"
	"time"

	"github.com/policyherald/policy-herald/internal/console/query"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"num":        num,
	"link":       link,
	"statuses":   statusItems,
	"severities": severityItems,
	"bar":        bar,
	"when":       when,
	"isHTTP":     isHTTP,
	"orNone":     orNone,
	"chart":      chart,
	"set":        set,
	"plural":     plural,
	"title":      title,
	"groupKey":   groupKey,
}

// num writes n with thousands separators: 100,000 reads faster than 100000.
func num(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// link returns path with base's parameters changed by kv, pairs of name and value: the first
// pair of a name replaces base's values, later pairs of that name add to them, and a pair with
// an empty value removes the name. The page's parameters (offset, fragment) never carry over
// unless kv sets them.
func link(path string, base url.Values, kv ...string) string {
	v := url.Values{}
	for k, vs := range base {
		if k != "offset" && k != "fragment" {
			v[k] = vs
		}
	}
	set := map[string]bool{}
	for i := 0; i+1 < len(kv); i += 2 {
		k, val := kv[i], kv[i+1]
		switch {
		case val == "":
			v.Del(k)
		case set[k]:
			v.Add(k, val)
		default:
			v.Set(k, val)
		}
		set[k] = true
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// item is one count of a chart: a status or severity, its parameter value and its count.
type item struct {
	Label, Value string
	Count        int
}

// statusItems are c's counts, worst first.
func statusItems(c query.StatusCounts) []item {
	return []item{
		{"Fail", "fail", c.Fail}, {"Error", "error", c.Error}, {"Warn", "warn", c.Warn},
		{"Pass", "pass", c.Pass}, {"Skip", "skip", c.Skip}, {"No status", query.None, c.None},
	}
}

// severityItems are c's counts, most severe first.
func severityItems(c query.SeverityCounts) []item {
	return []item{
		{"Critical", "critical", c.Critical}, {"High", "high", c.High}, {"Medium", "medium", c.Medium},
		{"Low", "low", c.Low}, {"Info", "info", c.Info}, {"No severity", query.None, c.None},
	}
}

// segment is one item's part of a stacked bar of width barWidth (the SVG's viewBox), drawn
// with attributes, not style, so the strict CSP needs no inline style.
type segment struct {
	item
	X, Width string
}

const barWidth = 1000

// bar lays the non-zero items out along a bar.
func bar(items []item) []segment {
	total := 0
	for _, it := range items {
		total += it.Count
	}
	var out []segment
	x := 0.0
	for _, it := range items {
		if it.Count == 0 {
			continue
		}
		w := float64(barWidth) * float64(it.Count) / float64(total)
		out = append(out, segment{item: it, X: strconv.FormatFloat(x, 'f', 1, 64), Width: strconv.FormatFloat(w, 'f', 1, 64)})
		x += w
	}
	return out
}

// when writes a result's time; "" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// isHTTP says whether s is an http(s) URL: only those are shown as links.
func isHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// orNone shows an empty value as a dash.
func orNone(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// chartData is a chart of counts whose parts link to the results they count.
type chartData struct {
	Items    []item
	Segments []segment
	Base     url.Values
	Param    string // the parameter an item's value filters
	Label    string // what the chart shows, for screen readers
}

// chart lays items out for the "chart" template.
func chart(label string, items []item, base url.Values, param string) chartData {
	return chartData{Items: items, Segments: bar(items), Base: base, Param: param, Label: label}
}

// Link is the results of one item.
func (c chartData) Link(value string) string { return link("/results", c.Base, c.Param, value) }

// set returns a copy of base with name set to value.
func set(base url.Values, name, value string) url.Values {
	out := make(url.Values, len(base)+1)
	for k, vs := range base {
		out[k] = vs
	}
	out.Set(name, value)
	return out
}

// plural is noun for n things: "1 result", "2 results".
func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// title starts s with a capital letter (ASCII: the console's own words only).
func title(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// groupKey names a group; the group of results without the value says what they lack.
func groupKey(by query.GroupBy, key string) string {
	switch {
	case key != "":
		return key
	case by == query.GroupNamespace:
		return "(cluster-scoped)"
	}
	return "(none)"
}
