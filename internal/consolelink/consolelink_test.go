package consolelink

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for raw, want := range map[string]Base{
		"":                                  "",
		"https://herald.example.com":        "https://herald.example.com",
		"https://herald.example.com/":       "https://herald.example.com",
		"http://10.0.0.1:8090/herald/":      "http://10.0.0.1:8090/herald",
		"https://herald.example.com/a%20b/": "https://herald.example.com/a%20b",
	} {
		got, err := Parse(raw)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"herald.example.com", "/herald", "ftp://herald.example.com", "https://", "https://user:pw@herald.example.com", "ftp://user:pw@herald.example.com", "https://user:pw@herald.example.com/?q",
		"https://herald.example.com/?a=b", "https://herald.example.com/#x", "https://herald.example.com/?", "http://[::1", "javascript:alert(1)",
	} {
		if b, err := Parse(raw); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", raw, b)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("Parse(%q): the error shows the password: %v", raw, err)
		}
	}
	b, _ := Parse("https://herald.example.com/herald/")
	if got := b.Resource("team a", "Pod", "web-1"); got != "https://herald.example.com/herald/namespaces/team%20a/resources/Pod/web-1" {
		t.Errorf("Resource = %q", got)
	}
	if got := Base("").Policy("p"); got != "" {
		t.Errorf("no base: %q", got)
	}
}
