package sender

import (
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// The colours the chat destinations show results in: one table for every sender, so that a
// severity looks the same wherever it arrives.

// severityColor is the colour of one severity: heat on the bar or side of a message (Slack's
// attachment colour, Discord's embed colour), text for the severity's own text (Google Chat's
// <font color>), a darker tone that stays readable on white.
type severityColor struct {
	heat int
	text string
}

// severityPalette is a heat scale from blue (info) through green, yellow and orange to red
// (critical).
var severityPalette = map[v1alpha1.Severity]severityColor{
	v1alpha1.SeverityInfo:     {heat: 0x68c2ff, text: "#1a73e8"},
	v1alpha1.SeverityLow:      {heat: 0x36a64f, text: "#1e8e3e"},
	v1alpha1.SeverityMedium:   {heat: 0xf2c744, text: "#e37400"},
	v1alpha1.SeverityHigh:     {heat: 0xf2711c, text: "#d93025"},
	v1alpha1.SeverityCritical: {heat: 0xd0021b, text: "#a50e0e"},
}

// noSeverityHeat is the heat colour of a result without a (known) severity: grey.
const noSeverityHeat = 0x9e9e9e

// severityHeat is the heat colour of sev, as the integer Discord takes.
func severityHeat(sev v1alpha1.Severity) int {
	if c, ok := severityPalette[sev]; ok {
		return c.heat
	}
	return noSeverityHeat
}

// severityHeatHex is the heat colour of sev as "#rrggbb", as Slack takes it.
func severityHeatHex(sev v1alpha1.Severity) string {
	return fmt.Sprintf("#%06x", severityHeat(sev))
}

// severityTextColor is the colour sev's text is shown in; "" for none.
func severityTextColor(sev v1alpha1.Severity) string { return severityPalette[sev].text }

// statusTextColor is the colour a status's text is shown in, in the tones of severityPalette;
// "" for none.
func statusTextColor(s v1alpha1.ResultStatus) string {
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
