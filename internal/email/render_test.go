package email

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/email -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the rendered output (go test ./internal/email -update rewrites it after a deliberate change)", path)
	}
}

func sampleOptions(typ Type) Options {
	return Options{Type: typ, ClusterName: "prod-eu", Schedule: "policy-herald-system/daily-" + string(typ),
		Scope: "all namespaces and cluster reports", Now: fixedNow}
}

func TestGolden(t *testing.T) {
	for _, typ := range []Type{Summary, Violations} {
		t.Run(string(typ), func(t *testing.T) {
			r, err := Render(sampleOptions(typ), itemsOf(sampleReports(t)))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, string(typ)+".html", r.HTML)
			golden(t, string(typ)+".txt", r.Text)
			golden(t, string(typ)+".subject", r.Subject+"\n")
		})
	}
}

// TestGoldenWithConsoleLinks: with a console URL, the same reports link namespaces, resources
// and policies to the console's pages (TestGolden pins that they are unchanged without one).
func TestGoldenWithConsoleLinks(t *testing.T) {
	for _, typ := range []Type{Summary, Violations} {
		t.Run(string(typ), func(t *testing.T) {
			opts := sampleOptions(typ)
			opts.ConsoleURL = "https://herald.example.com/console"
			r, err := Render(opts, itemsOf(sampleReports(t)))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, string(typ)+"-links.html", r.HTML)
			golden(t, string(typ)+"-links.txt", r.Text)
			plain, _ := Render(sampleOptions(typ), itemsOf(sampleReports(t)))
			if r.Subject != plain.Subject {
				t.Errorf("subject %q, without links %q", r.Subject, plain.Subject)
			}
			for _, want := range map[Type][]string{
				Summary: {`<a href="https://herald.example.com/console/namespaces/team-a" style="color:#1d4ed8;text-decoration:underline;">team-a</a>`},
				Violations: {
					`<a href="https://herald.example.com/console/namespaces/team-a" style="color:#1d4ed8;text-decoration:underline;">Namespace team-a</a>`,
					`href="https://herald.example.com/console/policies/require-labels"`,
					`href="https://herald.example.com/console/namespaces/team-a/resources/Pod/nginx-7d9c"`,
				},
			}[typ] {
				if !strings.Contains(r.HTML, want) {
					t.Errorf("the HTML part has no %s", want)
				}
			}
			if n, m := strings.Count(r.HTML, "<a href="), strings.Count(r.Text, "https://herald.example.com/console/"); n == 0 || n != m {
				t.Errorf("%d links in the HTML part, %d addresses in the text part: want the same, some", n, m)
			}
		})
	}
}

func TestSubjectAndCounts(t *testing.T) {
	items := itemsOf(sampleReports(t))
	v, err := Render(sampleOptions(Violations), items)
	if err != nil {
		t.Fatal(err)
	}
	// Violations: team-a 2 fail + 1 warn + 1 error, team-b 1 fail, cluster 1 fail + 1 warn,
	// kube-bench 1 fail + 2 warn, falco 1 fail.
	if want := "[Policy Herald] Violations report – prod-eu – 11 results"; v.Subject != want {
		t.Errorf("subject %q, want %q", v.Subject, want)
	}
	if v.Results != 11 || v.Listed != 11 || v.Capped {
		t.Errorf("results %d listed %d capped %v", v.Results, v.Listed, v.Capped)
	}
	s, err := Render(sampleOptions(Summary), items)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Subject, "[Policy Herald] Summary report – prod-eu – ") {
		t.Errorf("subject %q", s.Subject)
	}
	noCluster := sampleOptions(Summary)
	noCluster.ClusterName = ""
	s2, _ := Render(noCluster, items[:1])
	if want := "[Policy Herald] Summary report – 1 result"; s2.Subject != want {
		t.Errorf("subject %q, want %q", s2.Subject, want)
	}
}

func TestHTMLIsSafeForMailClients(t *testing.T) {
	for _, typ := range []Type{Summary, Violations} {
		r, err := Render(sampleOptions(typ), itemsOf(sampleReports(t)))
		if err != nil {
			t.Fatal(err)
		}
		low := strings.ToLower(r.HTML)
		for _, bad := range []string{"<script", "<style", "<link", "<img", "src=", "url(", "@import", "javascript:", "class="} {
			if strings.Contains(low, bad) {
				t.Errorf("%s: HTML contains %q", typ, bad)
			}
		}
		if typ == Violations && !strings.Contains(r.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; failed") {
			t.Errorf("the message with HTML is not escaped")
		}
	}
}

func TestDeterministic(t *testing.T) {
	items := itemsOf(sampleReports(t))
	a, _ := Render(sampleOptions(Violations), items)
	// Reverse the input: the output must not change.
	rev := append([]Item(nil), items...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	b, _ := Render(sampleOptions(Violations), rev)
	if a.HTML != b.HTML || a.Text != b.Text {
		t.Error("output depends on the order of the results")
	}
}

func TestCapPerGroupAndOverall(t *testing.T) {
	reps := bigReports(10000, 20) // 500 results per namespace
	o := Options{Type: Violations, ClusterName: "big", Now: fixedNow}
	start := time.Now()
	r, err := Render(o, itemsOf(reps))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000 results: violations rendered in %v; html %d bytes, text %d bytes; listed %d of %d", took, len(r.HTML), len(r.Text), r.Listed, r.Results)
	if !r.Capped || r.Listed > DefaultMaxRows {
		t.Fatalf("listed %d, capped %v", r.Listed, r.Capped)
	}
	if len(r.HTML)+len(r.Text) > DefaultMaxBytes {
		t.Errorf("%d bytes, over the cap", len(r.HTML)+len(r.Text))
	}
	// 6,660 violations (2 fail, 1 warn, 1 error of every 6), 3 sources × 20 namespaces.
	if r.Results != 6660 {
		t.Errorf("results %d", r.Results)
	}
	more := regexp.MustCompile(`and ([0-9,]+) more \(`).FindAllStringSubmatch(r.HTML, -1)
	if len(more) == 0 {
		t.Fatal("no \"and N more\" in the HTML")
	}
	if !strings.Contains(r.HTML, "not listed: the report reached its limit of 500 results (fail ") {
		t.Error("a group past the overall cap does not say so")
	}
	if !strings.Contains(r.Text, "... and ") || !strings.Contains(r.Text, "more not listed") {
		t.Error("no \"and N more\" in the text")
	}
	if !strings.Contains(r.Subject, "6660 results") {
		t.Errorf("subject %q", r.Subject)
	}

	s, err := Render(Options{Type: Summary, Now: fixedNow, MaxGroupRows: 5}, itemsOf(reps))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.HTML, "and 15 more namespaces") || !strings.Contains(s.Text, "and 15 more namespaces") {
		t.Error("summary: no \"and 15 more namespaces\"")
	}
}

func TestCapBytes(t *testing.T) {
	reps := bigReports(3000, 3)
	r, err := Render(Options{Type: Violations, Now: fixedNow, MaxRows: 3000, MaxGroupRows: 3000, MaxBytes: 200 << 10}, itemsOf(reps))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.HTML) + len(r.Text); n > 200<<10 {
		t.Errorf("%d bytes, over the 200 KiB cap", n)
	}
	if !r.Capped {
		t.Error("not capped")
	}
}

func BenchmarkRender10k(b *testing.B) {
	items := itemsOf(bigReports(10000, 50))
	for _, typ := range []Type{Summary, Violations} {
		b.Run(string(typ), func(b *testing.B) {
			for b.Loop() {
				if _, err := Render(Options{Type: typ, Now: fixedNow}, items); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
