package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"

	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// description is the CSV's long description (markdown).
const description = `Policy Herald tells platform teams, right away and in the right place, that a policy engine
found a problem in their cluster.

Policy engines (Kyverno, Trivy, Falco, kube-bench, ...) write their findings as
` + "`PolicyReport`/`ClusterPolicyReport`" + ` (wgpolicyk8s.io) or ` + "`Report`/`ClusterReport`" + ` (openreports.io).
Policy Herald watches them in every namespace and delivers each new result to chat, log,
alerting, ticketing and storage destinations.

* **NotificationTarget**: a destination (Slack, webhook, ...) with its filters and credentials.
* **TargetChannel**: a team's own channel on a shared NotificationTarget, limited to its namespaces.
* **EmailReportSchedule**: a summary or violations report mailed on a schedule, run as a CronJob.
* **MetricsProfile**: the labels, filters and series cap of the Prometheus result metrics.
* **BlockReportPolicy**: Kyverno's blocked admissions (Events) written as PolicyReport results.

Each team configures its own objects in its own namespace.
`

// conditionsDescriptor marks a status field as a list of Kubernetes conditions.
const conditionsDescriptor = "urn:alm:descriptor:io.kubernetes.conditions"

// ownedCRDs describes every served version of crds for the CSV, from their openAPI schemas.
func ownedCRDs(crds []apiextensionsv1.CustomResourceDefinition) ([]v1alpha1.CRDDescription, error) {
	var owned []v1alpha1.CRDDescription
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("CRD %s version %s has no openAPI schema", crd.Name, v.Name)
			}
			root := v.Schema.OpenAPIV3Schema
			d := v1alpha1.CRDDescription{
				Name:        crd.Name,
				Version:     v.Name,
				Kind:        crd.Spec.Names.Kind,
				DisplayName: humanize(crd.Spec.Names.Kind),
				Description: summary(root.Description),
				Resources:   createdResources[crd.Spec.Names.Kind],
			}
			if spec, ok := root.Properties["spec"]; ok {
				for _, name := range sortedKeys(spec.Properties) {
					p := spec.Properties[name]
					d.SpecDescriptors = append(d.SpecDescriptors, v1alpha1.SpecDescriptor{
						Path:         name,
						DisplayName:  humanize(name),
						Description:  summary(p.Description),
						XDescriptors: specXDescriptors(p),
					})
				}
			}
			if status, ok := root.Properties["status"]; ok {
				for _, name := range sortedKeys(status.Properties) {
					p := status.Properties[name]
					sd := v1alpha1.StatusDescriptor{
						Path:        name,
						DisplayName: humanize(name),
						Description: summary(p.Description),
					}
					if name == "conditions" {
						sd.XDescriptors = []string{conditionsDescriptor}
					}
					d.StatusDescriptors = append(d.StatusDescriptors, sd)
				}
			}
			owned = append(owned, d)
		}
	}
	return owned, nil
}

// specXDescriptors picks the console's form widget for the simple field types.
func specXDescriptors(p apiextensionsv1.JSONSchemaProps) []string {
	const ui = "urn:alm:descriptor:com.tectonic.ui:"
	switch {
	case p.Type == "boolean":
		return []string{ui + "booleanSwitch"}
	case p.Type == "integer" || p.Type == "number":
		return []string{ui + "number"}
	case p.Type == "string" && len(p.Enum) > 0:
		var out []string
		for _, e := range p.Enum {
			s := strings.Trim(string(e.Raw), `"`)
			out = append(out, ui+"select:"+s)
		}
		return out
	}
	return nil
}

// summary is the first paragraph of a schema description, on one line.
func summary(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), " ")
}

// acronyms are written in capitals in display names.
var acronyms = map[string]string{
	"url": "URL", "urls": "URLs", "smtp": "SMTP", "tls": "TLS", "id": "ID", "ids": "IDs",
	"api": "API", "http": "HTTP", "https": "HTTPS", "ssl": "SSL", "gcs": "GCS", "ca": "CA", "cidrs": "CIDRs",
}

// humanize turns a camelCase field or a kind into words: minimumSeverity → Minimum Severity,
// EmailReportSchedule → Email Report Schedule.
func humanize(s string) string {
	var words []string
	var cur []rune
	rs := []rune(s)
	for i, r := range rs {
		// A word starts at an upper-case letter after a lower-case one or a digit, or at the
		// last upper-case letter of a run followed by a lower-case one (HTTPServer → HTTP Server).
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
			words = append(words, string(cur))
			cur = nil
		}
		cur = append(cur, r)
	}
	words = append(words, string(cur))
	for i, w := range words {
		if a, ok := acronyms[strings.ToLower(w)]; ok {
			words[i] = a
			continue
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// icon is Policy Herald's icon: a shield with a speech bubble (a herald announcing findings).
const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
<path d="M32 4 8 13v17c0 15 10 25 24 30 14-5 24-15 24-30V13z" fill="#2d5fa8"/>
<path d="M32 9 13 16v14c0 12 8 20 19 25 11-5 19-13 19-25V16z" fill="#fff"/>
<rect x="20" y="20" width="24" height="15" rx="3" fill="#f2a93b"/>
<path d="M26 35v7l7-7z" fill="#f2a93b"/>
<circle cx="26" cy="27.5" r="2" fill="#fff"/><circle cx="32" cy="27.5" r="2" fill="#fff"/><circle cx="38" cy="27.5" r="2" fill="#fff"/>
</svg>
`

func iconBase64() string { return base64.StdEncoding.EncodeToString([]byte(icon)) }

// createdResources are the objects the operator makes for each kind, which OLM's console lists
// under the object. Grow it with the kinds.
var createdResources = map[string][]v1alpha1.APIResourceReference{
	// The CronJob that sends the report and its Jobs, in the operator's namespace.
	"EmailReportSchedule": {{Name: "cronjobs", Kind: "CronJob", Version: "v1"}, {Name: "jobs", Kind: "Job", Version: "v1"}},
	// The ledger of delivered results, owned by its target or channel.
	"NotificationTarget": {{Name: "configmaps", Kind: "ConfigMap", Version: "v1"}},
	"TargetChannel":      {{Name: "configmaps", Kind: "ConfigMap", Version: "v1"}},
}
