package query

import v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

// StatusCounts counts results per status; None counts results without a (known) status.
type StatusCounts struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
	None  int `json:"none"`
}

func (c *StatusCounts) add(s v1alpha1.ResultStatus) {
	switch s {
	case v1alpha1.StatusPass:
		c.Pass++
	case v1alpha1.StatusFail:
		c.Fail++
	case v1alpha1.StatusWarn:
		c.Warn++
	case v1alpha1.StatusError:
		c.Error++
	case v1alpha1.StatusSkip:
		c.Skip++
	default:
		c.None++
	}
}

// Total is the number of results counted.
func (c StatusCounts) Total() int { return c.Pass + c.Fail + c.Warn + c.Error + c.Skip + c.None }

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
