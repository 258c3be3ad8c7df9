package report

import v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

// StatusCounts counts results per status. None counts results without a (known) status, as
// the Trivy adapter writes them. E-mail reports and the console count with it.
type StatusCounts struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
	None  int `json:"none"`
}

// Add counts one result of status s.
func (c *StatusCounts) Add(s v1alpha1.ResultStatus) {
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

// Plus returns the sum of c and o.
func (c StatusCounts) Plus(o StatusCounts) StatusCounts {
	return StatusCounts{c.Pass + o.Pass, c.Fail + o.Fail, c.Warn + o.Warn, c.Error + o.Error, c.Skip + o.Skip, c.None + o.None}
}

// Total is the number of results counted.
func (c StatusCounts) Total() int { return c.Pass + c.Fail + c.Warn + c.Error + c.Skip + c.None }

// Violations is the number of fail, warn and error results.
func (c StatusCounts) Violations() int { return c.Fail + c.Warn + c.Error }
