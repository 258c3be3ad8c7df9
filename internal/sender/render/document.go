package render

import v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

// ResultDocument is the JSON document of one result, as the webhook destination posts it.
type ResultDocument struct {
	ID       string                `json:"id"`
	Policy   string                `json:"policy"`
	Rule     string                `json:"rule"`
	Status   v1alpha1.ResultStatus `json:"status"`
	Severity v1alpha1.Severity     `json:"severity,omitempty"`
	Category string                `json:"category,omitempty"`
	Message  string                `json:"message"`
	Scored   bool                  `json:"scored"`
	Source   string                `json:"source"`
	// Timestamp is RFC 3339 in UTC, to the second; omitted when the producer gave none.
	Timestamp string            `json:"timestamp,omitempty"`
	Priority  v1alpha1.Priority `json:"priority"`
	Resource  *DocumentResource `json:"resource,omitempty"`
	Report    DocumentReport    `json:"report"`
	// Properties are the result's own properties.
	Properties map[string]string `json:"properties,omitempty"`
	// CustomFields are the target's customFields, kept apart from the result's properties.
	CustomFields map[string]string `json:"customFields,omitempty"`
}

// DocumentResource is the object a result is about.
type DocumentResource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// DocumentReport names the report a result is in.
type DocumentReport struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}
