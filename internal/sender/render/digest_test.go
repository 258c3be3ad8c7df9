package render

import (
	"fmt"
	"testing"
	"time"
)

func TestDigestWording(t *testing.T) {
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, time.UTC) }
	cest := time.FixedZone("CEST", 2*3600)
	for _, c := range []struct{ got, want string }{
		{DigestTitle([]GroupValue{{"policy", "require-labels"}, {"namespace", "shop"}}, 37, at(7, 10, 0), at(7, 10, 15)), "Digest: policy require-labels, namespace shop — 37 results since 10:00 UTC"},
		{DigestTitle(nil, 1, time.Time{}, time.Time{}), "Digest — 1 result"},
		{DigestTitle([]GroupValue{{"severity", "high"}}, 2, at(6, 23, 50), at(7, 0, 5)), "Digest: severity high — 2 results since 6 Dec 23:50 UTC"},
		{SinceLine(time.Date(2026, 12, 7, 12, 0, 0, 0, cest), at(7, 10, 30)), "since 10:00 UTC"},
		{SummaryTitle(412, []Count{{"fail", 300}, {"warn", 112}}, 9), "412 more results: 300 fail, 112 warn in 9 namespaces"},
		{SummaryTitle(1, []Count{{"fail", 1}}, 1), "1 more result: 1 fail in 1 namespace"},
		{SummaryNote(at(7, 10, 0), at(7, 10, 5)), "Found since 10:00 UTC and held back by this destination's rate limit."},
		{CountsLine([]Count{{"high", 2}, {"", 3}}), "2 high, 3 not set"},
		{fmt.Sprint(DigestCounts([]Count{{"fail", 3}}, []Count{{"low", 3}}, 2)), "[{Status 3 fail} {Severity 3 low} {Namespaces 2}]"},
		{fmt.Sprint(DigestCounts([]Count{{"fail", 3}}, nil, 1)), "[{Status 3 fail}]"},
		{MoreLine(0) + "|" + MoreLine(1) + "|" + MoreLine(12), "|and 1 more result|and 12 more results"},
		{LinkLabel(&ResultDocument{Policy: "p", Resource: &DocumentResource{Kind: "Pod", Namespace: "ns", Name: "x"}}), "Open Pod ns/x in the console"},
		{LinkLabel(&ResultDocument{Policy: "p"}), "Open policy p in the console"},
		{LinkLabel(&ResultDocument{Policy: "p", Resource: &DocumentResource{Kind: "Pod"}}), "Open policy p in the console"},
		{MarkdownURL("https://h/a b(c)|<d>\\"), "https://h/a%20b%28c%29%7C%3Cd%3E%5C"},
	} {
		if c.got != c.want {
			t.Errorf("got  %q\nwant %q", c.got, c.want)
		}
	}
	item := ItemOf(&ResultDocument{Policy: "p", Rule: "r", Status: "fail", Severity: "high", Resource: &DocumentResource{Kind: "Pod", Namespace: "ns", Name: "x\ny"}})
	if item != (Item{Title: "FAIL · p / r", Detail: "Pod ns/x y · high"}) {
		t.Errorf("item %+v", item)
	}
}
