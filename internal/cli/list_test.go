package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/policyherald/policy-herald/internal/console/query"
)

// TestListGolden runs results list with every flag against the real reports and compares the
// output with the golden files.
func TestListGolden(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"list-namespace", []string{"-n", "team-a"}},
		{"list-all-wide", []string{"-A", "-o", "wide"}},
		{"list-high", []string{"-A", "--severity", "high", "--severity", "critical"}},
		{"list-fail-medium", []string{"-A", "--result", "fail", "--severity", "medium"}},
		{"list-policy-rule", []string{"-A", "--policy", "require-*", "--rule", "rule-?"}},
		{"list-category", []string{"-n", "team-b", "--category", "lib*"}},
		{"list-source-kind-name", []string{"-A", "--source", "KYVERNO", "--kind", "Pod", "--name", "w*b"}},
		{"list-selector", []string{"-A", "-l", "policy.kubernetes.io/engine=falco-agent"}},
		{"list-sort", []string{"-A", "--sort=-severity", "--result", "fail"}},
		{"list-group-namespace", []string{"-A", "--group-by", "namespace"}},
		{"list-group-policy", []string{"-A", "--group-by", "policy", "-o", "json"}},
		{"list-group-category", []string{"-A", "--group-by", "category", "-o", "csv"}},
		{"list-group-source", []string{"-A", "--group-by", "source", "-o", "yaml"}},
		{"list-group-kind", []string{"-A", "--group-by", "kind"}},
		{"list-json", []string{"-n", "team-b", "-o", "json", "--source", "kyverno"}},
		{"list-yaml", []string{"-n", "team-a", "-o", "yaml", "--policy", "require-labels"}},
		{"list-csv", []string{"-n", "team-b", "-o", "csv"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := herald(t, ctx, "admin", append([]string{"results", "list"}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			golden(t, c.name, out)
		})
	}
}

// jsonRows runs results list -o json as user and decodes its rows.
func jsonRows(t *testing.T, user string, args ...string) []query.Row {
	t.Helper()
	out, stderr, err := herald(t, context.Background(), user, append([]string{"results", "list", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rows []query.Row
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rows
}

// TestListEveryResult checks the rows against the results the fixtures hold, whatever the
// page size: a page of one report gives the same rows as one page of all.
func TestListEveryResult(t *testing.T) {
	rows := jsonRows(t, "admin", "-A")
	if len(rows) != world.Total() {
		t.Fatalf("%d rows, want the %d results created", len(rows), world.Total())
	}
	perNS := map[string]int{}
	for _, r := range rows {
		perNS[r.ReportNamespace]++
	}
	for ns, n := range world.Results {
		if perNS[ns] != n {
			t.Errorf("reports in %q: %d rows, want %d", ns, perNS[ns], n)
		}
	}
	var out, paged strings.Builder
	for _, size := range []int64{1, DefaultPageSize} {
		o, _, err := heraldPaged(t, size, "results", "list", "-A", "-o", "csv")
		if err != nil {
			t.Fatal(err)
		}
		if size == 1 {
			paged.WriteString(o)
		} else {
			out.WriteString(o)
		}
	}
	if paged.String() != out.String() {
		t.Errorf("pages of one report print\n%s\nnot as one page\n%s", paged.String(), out.String())
	}
}

// TestListRBAC: alice may read reports in team-a only. She sees them, and asking for team-b
// or every namespace is a clear error naming the verb and the resource.
func TestListRBAC(t *testing.T) {
	rows := jsonRows(t, "alice", "-n", "team-a")
	if len(rows) != world.Results["team-a"] {
		t.Errorf("alice sees %d results in team-a, want %d", len(rows), world.Results["team-a"])
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "team-b"}, `no permission to list policyreports.wgpolicyk8s.io in namespace "team-b"`},
		{[]string{"-A"}, "no permission to list clusterpolicyreports.wgpolicyk8s.io cluster-wide"},
	} {
		out, _, err := herald(t, context.Background(), "alice", append([]string{"results", "list"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "alice") {
			t.Errorf("alice %v: %v; want an error saying %q and naming her", c.args, err, c.want)
		}
		if out != "" {
			t.Errorf("alice %v printed %q", c.args, out)
		}
	}
}

// TestListBadFlags: bad input is a clear error before the cluster is asked.
func TestListBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--result", "failed"}, `unknown status "failed"`},
		{[]string{"--severity", "urgent"}, `unknown severity "urgent"`},
		{[]string{"--sort", "colour"}, `unknown field "colour"`},
		{[]string{"--group-by", "rule"}, `unknown grouping "rule"`},
		{[]string{"-o", "xml"}, `unknown output format "xml"`},
		{[]string{"-l", "a in (b"}, "--selector"},
		{[]string{"--group-by", "policy", "--watch"}, "does not go with --group-by"},
	} {
		_, _, err := herald(t, context.Background(), "admin", append([]string{"results", "list"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error saying %q", c.args, err, c.want)
		}
	}
}
