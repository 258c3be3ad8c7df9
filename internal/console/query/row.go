package query

import (
	"time"

	"github.com/policyherald/policy-herald/internal/report"
)

// Row is one result as a results page, a resource page and the exports show it.
type Row struct {
	// ID is the result's identity (report.Result.ID), as destinations receive it.
	ID string `json:"id"`
	// Namespace is the namespace the result is about: its resource's, else its report's.
	Namespace  string `json:"namespace,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	Policy     string `json:"policy,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Status     string `json:"status,omitempty"`
	Severity   string `json:"severity,omitempty"`
	Category   string `json:"category,omitempty"`
	// Source is the source's name in the store (one spelling per source).
	Source  string `json:"source,omitempty"`
	Message string `json:"message,omitempty"`
	// Time is when the producer found the result, UTC; zero when it gave none.
	Time            time.Time `json:"time,omitzero"`
	ReportKind      string    `json:"reportKind"`
	ReportNamespace string    `json:"reportNamespace,omitempty"`
	ReportName      string    `json:"reportName"`
	// Owner is the object the result's report names as its owner, when the result names no
	// resource or another one: the Trivy adapter's results are about their report's owner.
	Owner *report.Resource `json:"owner,omitempty"`
	// Properties is the stored map, shared with the store and other rows: never modify it.
	Properties map[string]string `json:"properties,omitempty"`
}

// newRow describes res, a result of rep. Its strings and properties are the stored ones, not
// copies: stored results are never modified.
func newRow(rep *report.Report, res *report.Result, names *report.SourceNames) Row {
	row := Row{
		ID:        res.ID(),
		Namespace: rep.ResultNamespace(res),
		Policy:    res.Policy, Rule: res.Rule, Category: res.Category,
		Status: string(res.Status), Severity: string(res.Severity),
		Source:     names.Name(res.Source),
		Message:    res.Message,
		Time:       res.Timestamp(),
		ReportKind: rep.Kind, ReportNamespace: rep.Namespace, ReportName: rep.Name,
		Properties: res.Properties,
	}
	if r := res.Resource; r != nil {
		row.Kind, row.Name, row.APIVersion = r.Kind, r.Name, r.APIVersion
	}
	if o := rep.Owner; o != nil && o != res.Resource {
		row.Owner = o
	}
	return row
}
