package render

import (
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// The colours the chat destinations show results in: one table for every sender, so that a
// severity looks the same wherever it arrives.

// SeverityColor is the colour of one severity: heat on the bar or side of a message (Slack's
// attachment colour, Discord's embed colour), text for the severity's own text (Google Chat's
// <font color>), a darker tone that stays readable on white.
type SeverityColor struct {
	Heat int
	Text string
}

// SeverityPalette is a heat scale from blue (info) through green, yellow and orange to red
// (critical).
var SeverityPalette = map[v1alpha1.Severity]SeverityColor{
	v1alpha1.SeverityInfo:     {Heat: 0x68c2ff, Text: "#1a73e8"},
	v1alpha1.SeverityLow:      {Heat: 0x36a64f, Text: "#1e8e3e"},
	v1alpha1.SeverityMedium:   {Heat: 0xf2c744, Text: "#e37400"},
	v1alpha1.SeverityHigh:     {Heat: 0xf2711c, Text: "#d93025"},
	v1alpha1.SeverityCritical: {Heat: 0xd0021b, Text: "#a50e0e"},
}

// noSeverityHeat is the heat colour of a result without a (known) severity: grey.
const noSeverityHeat = 0x9e9e9e

// SeverityHeat is the heat colour of sev, as the integer Discord takes.
func SeverityHeat(sev v1alpha1.Severity) int {
	if c, ok := SeverityPalette[sev]; ok {
		return c.Heat
	}
	return noSeverityHeat
}

// SeverityHeatHex is the heat colour of sev as "#rrggbb", as Slack takes it.
func SeverityHeatHex(sev v1alpha1.Severity) string {
	return fmt.Sprintf("#%06x", SeverityHeat(sev))
}

// SeverityTextColor is the colour sev's text is shown in; "" for none.
func SeverityTextColor(sev v1alpha1.Severity) string { return SeverityPalette[sev].Text }

// StatusTextColor is the colour a status's text is shown in, in the tones of SeverityPalette;
// "" for none.
func StatusTextColor(s v1alpha1.ResultStatus) string {
	switch s {
	case v1alpha1.StatusFail, v1alpha1.StatusError:
		return "#d93025"
	case v1alpha1.StatusWarn:
		return "#e37400"
	case v1alpha1.StatusPass:
		return "#1e8e3e"
	case v1alpha1.StatusSkip:
		return "#5f6368"
	}
	return ""
}
