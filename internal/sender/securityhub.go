package sender

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

const (
	// securityHubMaxBatch is BatchImportFindings' limit of findings per request.
	securityHubMaxBatch = 100
	asffSchemaVersion   = "2018-10-08"
	// asffType is the finding type (namespace/category) of every finding.
	asffType              = "Software and Configuration Checks/Kubernetes Policies"
	asffMaxTitle          = 256
	asffMaxDescription    = 1024
	asffMaxID             = 512
	asffMaxOther          = 50 // entries of Resources[].Details.Other and of ProductFields
	asffMaxOtherKey       = 128
	asffMaxOtherValue     = 1024
	securityHubDefaultOrg = "Policy Herald"
	// securityHubVersion is ProviderVersion in every finding's ProductFields.
	securityHubVersion = "v1alpha1"
)

// securityHub imports one finding per result with BatchImportFindings, in the AWS Security
// Finding Format, into the account's default product (the account's own findings).
//
// Id is <namespace>/<name of the target or channel>/<result ID>: a result's finding is updated
// in place by a retry or a re-import, never duplicated. With synchronize the sender is a
// Resolver: a result that leaves the cluster or passes is imported again with RecordState
// ARCHIVED, the provider's way to say a finding no longer applies (Security Hub then keeps it
// out of the active findings; Workflow is the customer's, changed with BatchUpdateFindings, and
// is left alone). Description is the result's message (messageTemplate is not rendered).
// Settings: accountID (required), region, endpoint, productName, companyName, synchronize.
type securityHub struct {
	*awsTarget
	client    *securityhub.Client
	account   string
	product   string // the ProductArn
	name      string // ProviderName
	company   string
	idPrefix  string
	partition string
}

// securityHubResolver is a securityHub with synchronize: only it implements Resolver.
type securityHubResolver struct{ *securityHub }

func init() {
	register(newSecurityHub, descriptor.AWS(v1alpha1.DestinationSecurityHub, "accountID", "productName", "companyName", "synchronize"))
}

func newSecurityHub(cfg Config) (Sender, error) {
	inline := *cfg.Destination.SecurityHub
	account := inline.AccountID
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return nil, fmt.Errorf("securityHub accountID must be a 12-digit AWS account ID")
	}
	t, err := newAWSTarget(context.Background(), cfg, inline.AWSSettings, func(region string) string {
		return "securityhub." + region + ".amazonaws.com"
	})
	if err != nil {
		return nil, err
	}
	name := orDefault(inline.ProductName, securityHubDefaultOrg)
	company := orDefault(inline.CompanyName, securityHubDefaultOrg)
	partition := awsPartition(t.aws.Region)
	s := &securityHub{
		awsTarget: t,
		client:    securityhub.NewFromConfig(t.aws, func(o *securityhub.Options) { o.BaseEndpoint = t.baseEndpoint() }),
		account:   account,
		product:   fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", partition, t.aws.Region, account, account),
		name:      render.CutUnits(name, asffMaxOtherValue),
		company:   render.CutUnits(company, asffMaxOtherValue),
		idPrefix:  cfg.Name + "/",
		partition: partition,
	}
	if inline.Synchronize {
		return &securityHubResolver{s}, nil
	}
	return s, nil
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// awsPartition is the ARN partition of region.
func awsPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

// MaxBatch is BatchImportFindings' limit.
func (s *securityHub) MaxBatch() int { return securityHubMaxBatch }

// Send imports the batch's findings as ACTIVE.
func (s *securityHub) Send(ctx context.Context, b Batch) error {
	return s.importFindings(ctx, b, shtypes.RecordStateActive)
}

// Resolve imports the batch's findings again as ARCHIVED.
func (s *securityHubResolver) Resolve(ctx context.Context, b Batch) error {
	return s.importFindings(ctx, b, shtypes.RecordStateArchived)
}

// importFindings sends one BatchImportFindings request. Imports are upserts by Id, so a retry
// of findings already imported changes nothing: on per-finding failures (FailedFindings) the
// *Error counts in Sent the findings before the first failed one, and the pipeline's retry
// imports the rest again. The failure is retryable when every failed finding's code says
// "later" (throttling, internal errors); otherwise it is not, and the pipeline tries the
// results one by one, so the finding Security Hub refuses does not hold back the others.
func (s *securityHub) importFindings(ctx context.Context, b Batch, state shtypes.RecordState) error {
	if err := s.usable(); err != nil {
		return err
	}
	now := s.now().UTC().Format(time.RFC3339)
	findings := make([]shtypes.AwsSecurityFinding, len(b.Results))
	index := make(map[string]int, len(b.Results))
	for i := range b.Results {
		findings[i] = s.finding(b, &b.Results[i], state, now)
		index[*findings[i].Id] = i
	}
	out, err := s.client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: findings})
	if err != nil {
		return s.fail(http.MethodPost, err)
	}
	if len(out.FailedFindings) == 0 && aws.ToInt32(out.FailedCount) == 0 {
		return nil
	}
	first := len(findings)
	codes := map[string]int{}
	retryable := true
	for _, f := range out.FailedFindings {
		if i, ok := index[aws.ToString(f.Id)]; ok && i < first {
			first = i
		}
		code := aws.ToString(f.ErrorCode)
		codes[code]++
		if !apiErrorCodesRetryable[code] {
			retryable = false
		}
	}
	if first == len(findings) { // a failure count without findings named: assume the worst
		first = 0
	}
	list := make([]string, 0, len(codes))
	for c, n := range codes {
		list = append(list, fmt.Sprintf("%s x%d", c, n))
	}
	sort.Strings(list)
	msg := ""
	if len(out.FailedFindings) > 0 {
		msg = ": " + aws.ToString(out.FailedFindings[0].ErrorMessage)
	}
	return &Error{
		Reason: fmt.Sprintf("POST to %s: %d of %d findings refused (%s)%s", s.host, aws.ToInt32(out.FailedCount), len(findings),
			transport.Excerpt([]byte(strings.Join(list, ", ")), s.red), transport.Excerpt([]byte(msg), s.red)),
		Retryable: retryable,
		Sent:      first,
	}
}

// finding is the ASFF finding of r.
func (s *securityHub) finding(b Batch, r *report.Result, state shtypes.RecordState, now string) shtypes.AwsSecurityFinding {
	doc := NewResultDocument(b.Report, r, b.CustomFields)
	// CreatedAt is when the producer found the result: never after UpdatedAt, even when the
	// producer's clock is ahead.
	created := now
	if ts := r.Timestamp(); !ts.IsZero() && ts.Format(time.RFC3339) < now {
		created = ts.Format(time.RFC3339)
	}
	title := doc.Policy
	if doc.Rule != "" && doc.Rule != doc.Policy {
		title += ": " + doc.Rule
	}
	if res := doc.Resource; res != nil {
		title += " on " + resourceName(res)
	}
	desc := doc.Message
	if strings.TrimSpace(desc) == "" {
		desc = title
	}
	generator := doc.Policy
	if doc.Rule != "" {
		generator += "/" + doc.Rule
	}
	if doc.Source != "" {
		generator = doc.Source + "/" + generator
	}
	sev := asffSeverityOf(doc.Severity, doc.Status)
	return shtypes.AwsSecurityFinding{
		SchemaVersion: aws.String(asffSchemaVersion),
		Id:            aws.String(render.CutUnits(s.idPrefix+doc.ID, asffMaxID)),
		ProductArn:    aws.String(s.product),
		GeneratorId:   aws.String(render.CutUnits(generator, asffMaxID)),
		AwsAccountId:  aws.String(s.account),
		Types:         []string{asffType},
		CreatedAt:     aws.String(created),
		UpdatedAt:     aws.String(now),
		Severity:      sev,
		// The provider's own view of Severity and Types: Security Hub takes updates of both
		// from FindingProviderFields only, so a customer's changes to the top-level ones stay.
		FindingProviderFields: &shtypes.FindingProviderFields{
			Severity: &shtypes.FindingProviderSeverity{Label: sev.Label, Original: sev.Original},
			Types:    []string{asffType},
		},
		Title:       aws.String(render.CutUnits(title, asffMaxTitle)),
		Description: aws.String(render.CutUnits(desc, asffMaxDescription)),
		Resources:   []shtypes.Resource{asffResource(&doc, b.Report)},
		Compliance:  &shtypes.Compliance{Status: asffCompliance(doc.Status)},
		RecordState: state,
		ProductFields: boundedMap(map[string]string{
			"ProviderName":    s.name,
			"ProviderVersion": securityHubVersion,
			"CompanyName":     s.company,
		}, nil),
		ProductName: aws.String(render.CutUnits(s.name, asffMaxOtherKey)),
		CompanyName: aws.String(render.CutUnits(s.company, asffMaxOtherKey)),
	}
}

// resourceName is kind/namespace/name (kind/name for cluster-scoped objects).
func resourceName(r *DocumentResource) string {
	parts := []string{r.Kind}
	if r.Namespace != "" {
		parts = append(parts, r.Namespace)
	}
	return strings.Join(append(parts, r.Name), "/")
}

// asffResource is the result's resource as an ASFF Resource of type Other; a result without a
// resource names its report.
func asffResource(d *ResultDocument, rep ReportRef) shtypes.Resource {
	other := map[string]string{
		"Policy": d.Policy, "Rule": d.Rule, "Status": string(d.Status), "Source": d.Source,
		"Category": d.Category, "Report": strings.Trim(rep.Namespace+"/"+rep.Name, "/"), "ResultID": d.ID,
	}
	id := rep.Kind + "/" + strings.Trim(rep.Namespace+"/"+rep.Name, "/")
	if res := d.Resource; res != nil {
		id = resourceName(res)
		other["APIVersion"], other["Kind"], other["Namespace"], other["Name"], other["UID"] =
			res.APIVersion, res.Kind, res.Namespace, res.Name, res.UID
	}
	extra := make(map[string]string, len(d.Properties)+len(d.CustomFields))
	for k, v := range d.Properties {
		extra[k] = v
	}
	for k, v := range d.CustomFields {
		extra[k] = v
	}
	return shtypes.Resource{
		Type:    aws.String("Other"),
		Id:      aws.String(render.CutUnits(id, asffMaxID)),
		Details: &shtypes.ResourceDetails{Other: boundedMap(other, extra)},
	}
}

// boundedMap returns the non-empty entries of fixed, then of extra in key order, within ASFF's
// limits on a string map (entries, key and value lengths); fixed keys win.
func boundedMap(fixed, extra map[string]string) map[string]string {
	out := make(map[string]string, len(fixed)+len(extra))
	add := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := m[k]
			if _, dup := out[k]; dup || v == "" || k == "" || len(out) >= asffMaxOther {
				continue
			}
			out[render.CutUnits(k, asffMaxOtherKey)] = render.CutUnits(v, asffMaxOtherValue)
		}
	}
	add(fixed)
	add(extra)
	return out
}

func asffSeverityOf(sev v1alpha1.Severity, status v1alpha1.ResultStatus) *shtypes.Severity {
	s := &shtypes.Severity{Label: asffSeverity(sev, status)}
	if sev != "" {
		s.Original = aws.String(string(sev))
	}
	return s
}

// asffSeverity maps a result's severity to the ASFF label; without one, its status decides.
func asffSeverity(sev v1alpha1.Severity, status v1alpha1.ResultStatus) shtypes.SeverityLabel {
	switch strings.ToLower(string(sev)) {
	case "critical":
		return shtypes.SeverityLabelCritical
	case "high":
		return shtypes.SeverityLabelHigh
	case "medium":
		return shtypes.SeverityLabelMedium
	case "low":
		return shtypes.SeverityLabelLow
	case "info":
		return shtypes.SeverityLabelInformational
	}
	switch strings.ToLower(string(status)) {
	case "fail", "error":
		return shtypes.SeverityLabelMedium
	case "warn":
		return shtypes.SeverityLabelLow
	default:
		return shtypes.SeverityLabelInformational
	}
}

// asffCompliance maps a result's status: fail FAILED, warn WARNING, pass PASSED, and error and
// skip NOT_AVAILABLE (the check did not come to a verdict).
func asffCompliance(status v1alpha1.ResultStatus) shtypes.ComplianceStatus {
	switch strings.ToLower(string(status)) {
	case "fail":
		return shtypes.ComplianceStatusFailed
	case "warn":
		return shtypes.ComplianceStatusWarning
	case "pass":
		return shtypes.ComplianceStatusPassed
	default:
		return shtypes.ComplianceStatusNotAvailable
	}
}
