package ui

import (
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/health"
)

// healthData is the Delivery health page.
type healthData struct {
	A *health.Answer
}

// Failing counts the objects that are not Ready.
func (d *healthData) Failing() int {
	n := 0
	for _, o := range d.A.Objects {
		if o.Ready != "True" {
			n++
		}
	}
	return n
}

// healthPage is `/health`: every Policy Herald object the person may get, with Ready and
// its delivery counts.
func (h *Handler) healthPage(r *request) (*view, error) {
	if err := api.ReadNothing(r.URL.Query(), "fragment"); err != nil {
		return nil, &badRequest{err}
	}
	a, err := api.ListHealth(r.Context(), h.opts.Health, r.user)
	if err != nil {
		return nil, err
	}
	v := newView("Delivery health", &healthData{A: a})
	return v, nil
}
