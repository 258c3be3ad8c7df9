package query

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// policyException is the part of Kyverno's kyverno.io/v2 PolicyException the console writes:
// one policy's rule, for one resource.
type policyException struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Exceptions []exceptionRule `json:"exceptions"`
		Match      struct {
			Any []exceptionMatch `json:"any"`
		} `json:"match"`
	} `json:"spec"`
}

type exceptionRule struct {
	// PolicyName is the result's policy: "name", or "namespace/name" for a namespaced Policy,
	// as Kyverno writes both in its reports and reads them in exceptions.
	PolicyName string   `json:"policyName"`
	RuleNames  []string `json:"ruleNames"`
}

type exceptionMatch struct {
	Resources exceptionResources `json:"resources"`
}

type exceptionResources struct {
	Kinds      []string `json:"kinds"`
	Namespaces []string `json:"namespaces,omitempty"`
	Names      []string `json:"names"`
}

// PolicyException returns a Kyverno PolicyException manifest that exempts the resource of row
// from its rule, or "" when row is not a failing (fail, warn or error) Kyverno result about a
// resource. It is built as a value and marshalled, so no text of a report can change its
// structure.
func PolicyException(row Row) string {
	if !strings.EqualFold(row.Source, "kyverno") || row.Policy == "" || row.Rule == "" || row.Kind == "" || row.Name == "" ||
		!needsException[row.Status] {
		return ""
	}
	var pe policyException
	pe.APIVersion, pe.Kind = "kyverno.io/v2", "PolicyException"
	pe.Metadata.Name = exceptionName(row)
	pe.Metadata.Namespace = row.Namespace
	pe.Spec.Exceptions = []exceptionRule{{PolicyName: row.Policy, RuleNames: []string{row.Rule}}}
	res := exceptionResources{Kinds: []string{kyvernoKind(row.APIVersion, row.Kind)}, Names: []string{row.Name}}
	if row.Namespace != "" {
		res.Namespaces = []string{row.Namespace}
	}
	pe.Spec.Match.Any = []exceptionMatch{{Resources: res}}
	out, err := yaml.Marshal(pe)
	if err != nil {
		return "" // strings and lists cannot fail to marshal
	}
	return string(out)
}

// needsException are the statuses of results an exception would change.
var needsException = map[string]bool{"fail": true, "warn": true, "error": true}

// kyvernoKind writes a kind as Kyverno's match reads it: group/version/kind when the result
// gives its API version, so a Deployment is not confused with another group's kind.
func kyvernoKind(apiVersion, kind string) string {
	if apiVersion == "" {
		return kind
	}
	return apiVersion + "/" + kind
}

// exceptionName names the exception after its policy, rule and resource, as a valid object
// name (a DNS subdomain; '.' is replaced too, so no label ends in '-').
func exceptionName(row Row) string {
	policy := row.Policy
	if _, name, ok := strings.Cut(policy, "/"); ok {
		policy = name
	}
	var b strings.Builder
	for _, r := range strings.ToLower(policy + "-" + row.Rule + "-" + row.Name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > validation.DNS1123SubdomainMaxLength {
		name = name[:validation.DNS1123SubdomainMaxLength]
	}
	name = strings.Trim(name, "-")
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "exception" // nothing usable in the names; the person renames it
	}
	return name
}
