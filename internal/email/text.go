package email

import (
	"fmt"
	"strings"
)

// renderText writes the plain-text alternative: the same content as the HTML part, as lines a
// terminal or a text-only client shows well.
func renderText(v *view) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	title := "Policy Herald – " + v.Title
	if v.Cluster != "" {
		title += " – " + v.Cluster
	}
	line("%s", title)
	line("%s", strings.Repeat("=", len([]rune(title))))
	if v.Cluster != "" {
		line("Cluster:   %s", v.Cluster)
	}
	line("Generated: %s", v.Generated)
	if v.Scope != "" {
		line("Scope:     %s", v.Scope)
	}
	if v.Violations {
		line("Results:   %s (%s)", formatNumber(v.Total), countsText(v.Totals, true, false))
	} else {
		line("Results:   %s (%s)", formatNumber(v.Total), countsText(v.Totals, false, v.ShowNone))
	}
	if v.Omitted > 0 {
		line("")
		line("This report is long: it lists %s %s and sums up the other %s (at most %s per group and %s in all).",
			formatNumber(v.Listed), map[bool]string{true: "results", false: "namespace rows"}[v.Violations],
			formatNumber(v.Omitted), formatNumber(v.MaxGroupRows), formatNumber(v.MaxRows))
	}
	if len(v.Sources) == 0 {
		line("")
		if v.Violations {
			line("No fail, warn or error results: nothing to report.")
		} else {
			line("No results.")
		}
	}
	if !v.Violations && len(v.Sources) > 0 {
		line("")
		line("Per source")
		line("----------")
		t := newTable(v.ShowNone, "Source")
		for _, s := range v.Sources {
			t.add(s.Name, s.Totals)
		}
		t.write(&b)
	}
	for _, s := range v.Sources {
		line("")
		noun := "result"
		if v.Violations {
			noun = "violation"
		}
		if s.Totals.Total() != 1 {
			noun += "s"
		}
		head := fmt.Sprintf("%s (%s %s)", s.Name, formatNumber(s.Totals.Total()), noun)
		line("%s", head)
		line("%s", strings.Repeat("-", len([]rune(head))))
		if !v.Violations {
			if s.Cluster != nil {
				line("Cluster reports: %s", countsText(*s.Cluster, false, v.ShowNone))
			}
			if len(s.Namespaces) > 0 || s.MoreNamespaces > 0 {
				t := newTable(v.ShowNone, "Namespace")
				for _, r := range s.Namespaces {
					t.add(r.Namespace, r.Counts)
				}
				if s.MoreNamespaces > 0 {
					label := fmt.Sprintf("and %s more namespace", formatNumber(s.MoreNamespaces))
					if s.MoreNamespaces != 1 {
						label += "s"
					}
					t.add(label, s.MoreCounts)
				}
				t.write(&b)
				for _, r := range s.Namespaces {
					if r.URL != "" {
						line("  %s: %s", r.Namespace, r.URL)
					}
				}
			}
			continue
		}
		for _, g := range s.Groups {
			line("")
			line("  %s (%s)", g.Label, countsText(g.Counts, true, false))
			if g.URL != "" {
				line("  %s", g.URL)
			}
			for _, r := range g.Rows {
				sev := r.Severity
				if sev == "" {
					sev = "-"
				}
				line("  - %-5s %-8s %s", r.Status, sev, r.Resource)
				line("      policy: %s   rule: %s", orDash(r.Policy), orDash(r.Rule))
				if r.Message != "" {
					line("      %s", strings.ReplaceAll(strings.ReplaceAll(r.Message, "\r", ""), "\n", "\n      "))
				}
				if r.ResourceURL != "" {
					line("      resource page: %s", r.ResourceURL)
				}
				if r.PolicyURL != "" {
					line("      policy page:   %s", r.PolicyURL)
				}
			}
			switch {
			case g.More > 0 && len(g.Rows) > 0:
				line("  ... and %s more (%s)", formatNumber(g.More), countsText(g.MoreCounts, true, false))
			case g.More > 0:
				line("  ... %s not listed: the report reached its limit of %s results (%s)", formatNumber(g.More), formatNumber(v.MaxRows), countsText(g.MoreCounts, true, false))
			}
		}
	}
	line("")
	if v.Omitted > 0 {
		line("Listed %s of %s %s; and %s more not listed.", formatNumber(v.Listed), formatNumber(v.Listed+v.Omitted),
			map[bool]string{true: "results", false: "namespace rows"}[v.Violations], formatNumber(v.Omitted))
	}
	if v.Schedule != "" {
		line("Sent by Policy Herald for EmailReportSchedule %s.", v.Schedule)
	} else {
		line("Sent by Policy Herald.")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// countsText writes counts as "fail 3, warn 1, error 0"; violations leaves pass and skip out.
func countsText(c Counts, violations, none bool) string {
	parts := []string{}
	if !violations {
		parts = append(parts, "pass "+formatNumber(c.Pass))
	}
	parts = append(parts, "fail "+formatNumber(c.Fail), "warn "+formatNumber(c.Warn), "error "+formatNumber(c.Error))
	if !violations {
		parts = append(parts, "skip "+formatNumber(c.Skip))
		if none {
			parts = append(parts, "no status "+formatNumber(c.None))
		}
	}
	return strings.Join(parts, ", ")
}

// table is a text table of counts with aligned columns.
type table struct {
	head []string
	rows [][]string
}

func newTable(none bool, first string) *table {
	h := []string{first, "Pass", "Fail", "Warn", "Error", "Skip"}
	if none {
		h = append(h, "No status")
	}
	return &table{head: append(h, "Total")}
}

func (t *table) add(label string, c Counts) {
	r := []string{label, formatNumber(c.Pass), formatNumber(c.Fail), formatNumber(c.Warn), formatNumber(c.Error), formatNumber(c.Skip)}
	if len(t.head) == 8 {
		r = append(r, formatNumber(c.None))
	}
	t.rows = append(t.rows, append(r, formatNumber(c.Total())))
}

func (t *table) write(b *strings.Builder) {
	width := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range append([][]string{t.head}, t.rows...) {
		var l strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				l.WriteString(c + pad)
			} else {
				l.WriteString("  " + pad + c)
			}
		}
		b.WriteString("  " + strings.TrimRight(l.String(), " ") + "\n")
	}
}
