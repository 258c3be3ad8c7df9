package query

import (
	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// StatusCounts counts results per status (see report.StatusCounts).
type StatusCounts = report.StatusCounts

// SeverityCounts counts results per severity; None counts results without one.
type SeverityCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
	None     int `json:"none"`
}

func (c *SeverityCounts) add(s v1alpha1.Severity) {
	switch s {
	case v1alpha1.SeverityCritical:
		c.Critical++
	case v1alpha1.SeverityHigh:
		c.High++
	case v1alpha1.SeverityMedium:
		c.Medium++
	case v1alpha1.SeverityLow:
		c.Low++
	case v1alpha1.SeverityInfo:
		c.Info++
	default:
		c.None++
	}
}

// Total is the number of results counted.
func (c SeverityCounts) Total() int {
	return c.Critical + c.High + c.Medium + c.Low + c.Info + c.None
}
