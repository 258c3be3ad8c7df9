package cli

import (
	"context"
	"encoding/json"
	"testing"
)

// TestSummaryGolden counts by status and source per namespace and for the cluster.
func TestSummaryGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"summary-all", []string{"-A"}},
		{"summary-namespace", []string{"-n", "team-b"}},
		{"summary-cluster", []string{"-A", "--cluster"}},
		{"summary-filtered-json", []string{"-A", "--cluster", "--source", "kyverno", "--result", "fail", "-o", "json"}},
		{"summary-csv", []string{"-A", "-o", "csv"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := herald(t, context.Background(), "admin", append([]string{"results", "summary"}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			golden(t, c.name, out)
		})
	}
}

// TestSummaryCountsEveryResult: the cluster's counts add up to the results created.
func TestSummaryCountsEveryResult(t *testing.T) {
	out, _, err := herald(t, context.Background(), "admin", "results", "summary", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []summaryRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range rows {
		if r.Statuses.Total() != r.Total {
			t.Errorf("%+v: the statuses do not add up to the total", r)
		}
		total += r.Total
	}
	if total != world.Total() {
		t.Errorf("summary counts %d results, want %d", total, world.Total())
	}
}
