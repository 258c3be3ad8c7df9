package render

import (
	"fmt"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// TestSeverityPalette: every severity has its own colours, and Slack's "#rrggbb" and Discord's
// integer are the same colour (they come from one table).
func TestSeverityPalette(t *testing.T) {
	sevs := []v1alpha1.Severity{v1alpha1.SeverityInfo, v1alpha1.SeverityLow, v1alpha1.SeverityMedium, v1alpha1.SeverityHigh, v1alpha1.SeverityCritical}
	heat, text := map[int]bool{}, map[string]bool{}
	for _, sev := range sevs {
		c, ok := SeverityPalette[sev]
		if !ok {
			t.Fatalf("%s has no colour", sev)
		}
		if heat[c.Heat] || text[c.Text] || c.Text == "" {
			t.Errorf("%s: colour %06x / %q used twice or empty", sev, c.Heat, c.Text)
		}
		heat[c.Heat], text[c.Text] = true, true
	}
	if len(SeverityPalette) != len(sevs) {
		t.Errorf("palette has %d entries, want %d", len(SeverityPalette), len(sevs))
	}
	for _, sev := range append(sevs, "", "bogus") {
		hex, n := SeverityHeatHex(sev), SeverityHeat(sev)
		var back int
		if _, err := fmt.Sscanf(hex, "#%06x", &back); err != nil || back != n {
			t.Errorf("%q: %s is not %06x", sev, hex, n)
		}
	}
	if SeverityHeat("") != noSeverityHeat || SeverityTextColor("") != "" || SeverityHeat("bogus") != noSeverityHeat {
		t.Errorf("no severity: heat %06x, text %q", SeverityHeat(""), SeverityTextColor(""))
	}
}
