package email

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// Rendered is a rendered report.
type Rendered struct {
	Subject string
	HTML    string
	Text    string
	// Results is the number of results the report covers (a violations report: its fail, warn
	// and error results).
	Results int
	// Listed is the number of rows listed; less than the rows there are when the report is capped.
	Listed int
	// Capped says that some rows were summed up as "and N more".
	Capped bool
}

// Render renders items as the report opts.Type asks for. Items need not be sorted.
func Render(opts Options, items []Item) (*Rendered, error) {
	if opts.Type != Summary && opts.Type != Violations {
		return nil, fmt.Errorf("unknown report type %q: want summary or violations", opts.Type)
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	if opts.MaxGroupRows <= 0 {
		opts.MaxGroupRows = DefaultMaxGroupRows
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Sources == nil {
		opts.Sources = itemNames(items)
	}
	data := collect(opts.Type, opts.Sources, items)
	for {
		v := data.view(opts)
		html, err := renderHTML(v)
		if err != nil {
			return nil, err
		}
		text := renderText(v)
		if len(html)+len(text) <= opts.MaxBytes || opts.MaxRows <= 1 {
			return &Rendered{Subject: v.Subject, HTML: html, Text: text, Results: v.Total, Listed: v.Listed, Capped: v.Omitted > 0}, nil
		}
		// Too big: list fewer rows. Each halving at least halves the rows, so this ends.
		opts.MaxRows /= 2
		opts.MaxGroupRows = min(opts.MaxGroupRows, opts.MaxRows)
	}
}

// data is the results of a report, grouped: source → group (namespace or cluster) → results.
type data struct {
	typ     Type
	totals  Counts
	sources map[string]*sourceData
}

type sourceData struct {
	totals  Counts
	cluster *groupData // nil when the source has no result of a cluster report
	ns      map[string]*groupData
}

type groupData struct {
	counts Counts
	items  []Item // violations only
}

func collect(typ Type, names *report.SourceNames, items []Item) *data {
	d := &data{typ: typ, sources: map[string]*sourceData{}}
	for _, it := range items {
		if typ == Violations && !IsViolation(it.Result.Status) {
			continue
		}
		d.totals.Add(it.Result.Status)
		src := sourceOf(names, it.Result)
		s := d.sources[src]
		if s == nil {
			s = &sourceData{ns: map[string]*groupData{}}
			d.sources[src] = s
		}
		s.totals.Add(it.Result.Status)
		ns, cluster := groupKey(it)
		var g *groupData
		if cluster {
			if s.cluster == nil {
				s.cluster = &groupData{}
			}
			g = s.cluster
		} else {
			if g = s.ns[ns]; g == nil {
				g = &groupData{}
				s.ns[ns] = g
			}
		}
		g.counts.Add(it.Result.Status)
		if typ == Violations {
			g.items = append(g.items, it)
		}
	}
	for _, s := range d.sources {
		if s.cluster != nil {
			sortItems(s.cluster.items)
		}
		for _, g := range s.ns {
			sortItems(g.items)
		}
	}
	return d
}

// sortItems orders the results of a group: highest priority first, then highest severity,
// then by policy, rule, resource and message.
func sortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int {
		x, y := a.Result, b.Result
		if c := cmp.Compare(report.PriorityRank(y.Priority()), report.PriorityRank(x.Priority())); c != 0 {
			return c
		}
		if c := cmp.Compare(report.SeverityRank(y.Severity), report.SeverityRank(x.Severity)); c != 0 {
			return c
		}
		if c := compareFold(x.Policy, y.Policy); c != 0 {
			return c
		}
		if c := compareFold(x.Rule, y.Rule); c != 0 {
			return c
		}
		if c := compareResource(x.Resource, y.Resource); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Message, y.Message); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Status, y.Status); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Report.Key(), b.Report.Key()); c != 0 {
			return c
		}
		return cmp.Compare(x.Hash, y.Hash)
	})
}

func compareResource(a, b *report.Resource) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if c := compareFold(a.Kind, b.Kind); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.APIVersion, b.APIVersion)
}

// view is what the templates show.
type view struct {
	Violations bool
	Title      string // "Violations report"
	Subject    string
	Cluster    string
	Generated  string
	Scope      string
	Schedule   string
	Totals     Counts
	Total      int
	// ShowNone shows the "no status" column: some result has no status.
	ShowNone bool
	// TileWidth is the width of each totals tile, so they share the row equally.
	TileWidth string
	Sources   []sourceView
	// Listed and Omitted count the rows listed and summed up, in the whole report.
	Listed, Omitted int
	// MaxRows and MaxGroupRows are the caps applied.
	MaxRows, MaxGroupRows int
}

type sourceView struct {
	Name   string
	Totals Counts
	// Summary: the counts of the source's cluster reports (nil: none) and one row per namespace.
	Cluster    *Counts
	Namespaces []nsRow
	// MoreNamespaces and MoreCounts sum up the namespaces not listed.
	MoreNamespaces int
	MoreCounts     Counts
	// Violations: one group per namespace (cluster reports first).
	Groups []groupView
}

type nsRow struct {
	Namespace string
	Counts    Counts
	URL       string // the namespace's page; "" without a console URL
}

type groupView struct {
	Label   string // `Namespace "team-a"` or "Cluster reports"
	Cluster bool
	Counts  Counts
	Rows    []rowView
	More    int // results of the group not listed
	// MoreCounts counts the results not listed per status.
	MoreCounts Counts
	// URL is the namespace's page; "" for cluster reports and without a console URL.
	URL string
}

type rowView struct {
	Status   string // FAIL, WARN, ERROR
	Severity string // "" when none
	Resource string
	Policy   string
	Rule     string
	Message  string
	// ResourceURL and PolicyURL are the pages of the resource and the policy; "" when unknown
	// or without a console URL.
	ResourceURL, PolicyURL string
}

func (d *data) view(opts Options) *view {
	title := "Summary report"
	if d.typ == Violations {
		title = "Violations report"
	}
	total := d.totals.Total()
	noun := "results"
	if total == 1 {
		noun = "result"
	}
	subject := "[Policy Herald] " + title
	if opts.ClusterName != "" {
		subject += " – " + opts.ClusterName
	}
	subject += fmt.Sprintf(" – %d %s", total, noun)
	v := &view{
		Violations: d.typ == Violations,
		Title:      title,
		Subject:    subject,
		Cluster:    opts.ClusterName,
		Generated:  opts.Now.UTC().Format("2006-01-02 15:04 UTC"),
		Scope:      opts.Scope,
		Schedule:   opts.Schedule,
		Totals:     d.totals,
		Total:      total,
		ShowNone:   d.totals.None > 0,
		MaxRows:    opts.MaxRows, MaxGroupRows: opts.MaxGroupRows,
	}
	if opts.Now.IsZero() {
		v.Generated = time.Time{}.Format("2006-01-02 15:04 UTC")
	}
	tiles := 3
	if !v.Violations {
		tiles = 5
		if v.ShowNone {
			tiles = 6
		}
	}
	v.TileWidth = strconv.Itoa(100/tiles) + "%"
	budget := opts.MaxRows // rows left to list in the whole report
	for _, name := range sortedKeys(d.sources) {
		s := d.sources[name]
		sv := sourceView{Name: name, Totals: s.totals}
		if d.typ == Summary {
			if s.cluster != nil {
				c := s.cluster.counts
				sv.Cluster = &c
			}
			for i, ns := range sortedKeys(s.ns) {
				c := s.ns[ns].counts
				if i < opts.MaxGroupRows && budget > 0 {
					sv.Namespaces = append(sv.Namespaces, nsRow{Namespace: ns, Counts: c, URL: opts.ConsoleURL.Namespace(ns)})
					budget--
					v.Listed++
					continue
				}
				sv.MoreNamespaces++
				sv.MoreCounts = sv.MoreCounts.Plus(c)
				v.Omitted++
			}
		} else {
			groups := make([]*groupData, 0, len(s.ns)+1)
			labels := make([]string, 0, len(s.ns)+1)
			if s.cluster != nil {
				groups, labels = append(groups, s.cluster), append(labels, "")
			}
			for _, ns := range sortedKeys(s.ns) {
				groups, labels = append(groups, s.ns[ns]), append(labels, ns)
			}
			for i, g := range groups {
				gv := groupView{Counts: g.counts, Cluster: s.cluster != nil && i == 0}
				if gv.Cluster {
					gv.Label = "Cluster reports"
				} else {
					gv.Label = "Namespace " + labels[i]
					gv.URL = opts.ConsoleURL.Namespace(labels[i])
				}
				n := min(len(g.items), opts.MaxGroupRows, budget)
				for _, it := range g.items[:n] {
					gv.Rows = append(gv.Rows, row(it, gv.Cluster, opts.ConsoleURL))
				}
				budget -= n
				gv.More = len(g.items) - n
				for _, it := range g.items[n:] {
					gv.MoreCounts.Add(it.Result.Status)
				}
				v.Listed += n
				v.Omitted += gv.More
				sv.Groups = append(sv.Groups, gv)
			}
		}
		v.Sources = append(v.Sources, sv)
	}
	return v
}

func row(it Item, cluster bool, console consolelink.Base) rowView {
	res := it.Result
	r := rowView{
		Status:   statusLabel(string(res.Status)),
		Severity: string(res.Severity),
		Policy:   textcut.Cut(res.Policy, maxFieldRunes),
		Rule:     textcut.Cut(res.Rule, maxFieldRunes),
		Message:  textcut.Cut(res.Message, maxMessageRunes),
		Resource: "—",
	}
	if res.Policy != "" {
		r.PolicyURL = console.Policy(res.Policy)
	}
	if o := res.Resource; o != nil && (o.Kind != "" || o.Name != "") {
		// The namespace the result is about, as the console files it.
		r.ResourceURL = console.Resource(it.Report.ResultNamespace(res), o.Kind, o.Name)
		name := o.Name
		// In a namespace's group the namespace goes without saying, unless it is another one.
		if o.Namespace != "" && (cluster || o.Namespace != it.Report.ResultNamespace(res)) {
			name = o.Namespace + "/" + name
		}
		r.Resource = textcut.Cut(o.Kind+" "+name, 2*maxFieldRunes)
	}
	return r
}

func statusLabel(s string) string {
	switch s {
	case "fail":
		return "FAIL"
	case "warn":
		return "WARN"
	case "error":
		return "ERROR"
	case "pass":
		return "PASS"
	case "skip":
		return "SKIP"
	}
	return "NONE"
}
