package sender

import (
	"time"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
)

// The document of a result (see render.ResultDocument): the webhook's body, and what templates
// and chat messages render.
type (
	ResultDocument   = render.ResultDocument
	DocumentResource = render.DocumentResource
	DocumentReport   = render.DocumentReport
)

// NewResultDocument returns the document of r, a result of rep. Its texts are plainText: no
// destination passes on the control characters a report may hold.
func NewResultDocument(rep ReportRef, r *report.Result, customFields map[string]string) ResultDocument {
	d := ResultDocument{
		ID:       r.ID(),
		Policy:   r.Policy,
		Rule:     r.Rule,
		Status:   r.Status,
		Severity: r.Severity,
		Category: r.Category,
		Message:  r.Message,
		Scored:   r.Scored,
		Source:   r.Source,
		Priority: r.Priority(),
		Report:   DocumentReport{Kind: rep.Kind, Namespace: rep.Namespace, Name: rep.Name},
	}
	if t := r.Timestamp(); !t.IsZero() {
		d.Timestamp = t.Format(time.RFC3339)
	}
	if res := r.Resource; res != nil && *res != (report.Resource{}) {
		d.Resource = &DocumentResource{
			APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name, UID: res.UID,
		}
	}
	if len(r.Properties) > 0 {
		d.Properties = r.Properties
	}
	if len(customFields) > 0 {
		d.CustomFields = customFields
	}
	return *render.MapDocument(&d, render.PlainText)
}
