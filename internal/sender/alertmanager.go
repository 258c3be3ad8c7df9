package sender

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/labelname"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// alertManager posts one alert per result to Alertmanager's v2 API (POST <url>/api/v2/alerts,
// a JSON array of postableAlert) and keeps it firing while the result is open: every post sets
// endsAt four resend intervals ahead, Refresh posts the open results again every interval, and
// Resolve posts them with endsAt = now. An alert's identity in Alertmanager is its label set, so
// the labels hold only what does not change while the result exists (see alertLabels).
//
// High availability: url and each of additionalURLs get every post, concurrently. A post counts
// as delivered when at least one Alertmanager accepted it; the others' failures are logged.
// Alertmanager replicates silences and the notification log but not alerts, so an instance that
// missed a post learns of the alert at the next refresh, and resolves an alert whose resolve it
// missed by itself when its endsAt passes, at most four intervals later. Only when no instance
// accepts the post is it an error: retryable when any instance's failure was.
type alertManager struct {
	targets  []*transport.Target
	name     string
	interval time.Duration
	tmpl     *render.Template
	now      func() time.Time
}

const (
	alertManagerMaxBatch        = 50
	alertManagerDefaultInterval = 5 * time.Minute
	// alertManagerLifetimes is how many intervals ahead endsAt is set.
	alertManagerLifetimes = 4
	alertManagerAlertName = "PolicyViolation"
	alertManagerPath      = "/api/v2/alerts"
	// Size bounds of one alert.
	amMaxLabelValue  = 1024
	amMaxSummary     = 512
	amMaxDescription = 4096
	amMaxProperties  = 16
	amMaxProperty    = 512
)

// amAlert is Alertmanager's postableAlert (api/v2/openapi.yaml).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func init() {
	register(newAlertManager, descriptor.Descriptor{Type: v1alpha1.DestinationAlertManager,
		Required: []string{"url"}, SecretKeys: []string{"url"},
		Endpoint: []string{"url", "additionalURLs"}, Credential: descriptor.HTTPCredentials, Other: []string{"resendInterval"}, Template: true})
}

func newAlertManager(cfg Config) (Sender, error) {
	inline := *cfg.Destination.AlertManager
	raw := inline.URL
	urls := []string{raw}
	seen := map[string]bool{raw: true}
	for _, u := range inline.AdditionalURLs {
		if !seen[u] {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	a := &alertManager{name: cfg.Name, interval: alertManagerDefaultInterval, now: time.Now}
	if cfg.now != nil {
		a.now = cfg.now
	}
	if ri := inline.ResendInterval; ri != nil && ri.Duration > 0 {
		a.interval = ri.Duration
	}
	for i, u := range urls {
		setting := "alertManager url"
		if i > 0 {
			setting = fmt.Sprintf("alertManager additionalURLs[%d]", i-1)
		}
		ep, err := alertManagerEndpoint(setting, u)
		if err != nil {
			return nil, err
		}
		// Each target's redactor knows every URL: an instance behind the same proxy may echo
		// another's.
		t, err := transport.NewTarget("alertManager", ep, cfg.httpClient(), inline.Headers, urls...)
		if err != nil {
			return nil, err
		}
		a.targets = append(a.targets, t)
	}
	tmpl, err := render.NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, fmt.Errorf("alertManager: %w", err)
	}
	a.tmpl = tmpl
	return a, nil
}

// alertManagerEndpoint is raw with /api/v2/alerts appended to its path (an Alertmanager may be
// served under a prefix); a URL that already ends with it is taken as is.
func alertManagerEndpoint(setting, raw string) (*transport.Endpoint, error) {
	ep, err := transport.ParseEndpoint(setting, raw)
	if err != nil {
		return nil, err
	}
	u := *ep.URL
	if p := strings.TrimSuffix(u.Path, "/"); strings.HasSuffix(p, alertManagerPath) {
		u.Path = p
	} else {
		u.Path = p + alertManagerPath
	}
	u.RawPath = ""
	return transport.EndpointOf(&u), nil
}

// MaxBatch is how many alerts go in one post.
func (a *alertManager) MaxBatch() int { return alertManagerMaxBatch }

// RefreshInterval is resendInterval: how often open results are posted again.
func (a *alertManager) RefreshInterval() time.Duration { return a.interval }

// Send posts the batch's alerts, firing until four intervals from now.
func (a *alertManager) Send(ctx context.Context, b Batch) error {
	now := a.now()
	return a.post(ctx, b, "firing", now, now.Add(alertManagerLifetimes*a.interval))
}

// Refresh posts the same alerts again, moving their endsAt forward.
func (a *alertManager) Refresh(ctx context.Context, b Batch) error { return a.Send(ctx, b) }

// Resolve posts the alerts with endsAt = now: Alertmanager resolves them and notifies the
// receivers that have send_resolved.
func (a *alertManager) Resolve(ctx context.Context, b Batch) error {
	now := a.now()
	return a.post(ctx, b, "resolved", now, now)
}

func (a *alertManager) post(ctx context.Context, b Batch, state string, now, endsAt time.Time) error {
	if len(b.Results) == 0 {
		return nil
	}
	alerts := make([]amAlert, len(b.Results))
	for i := range b.Results {
		alerts[i] = a.alert(b, i, now, endsAt)
	}
	body, err := transport.MarshalJSON(alerts)
	if err != nil {
		return &Error{Reason: fmt.Sprintf("encoding the alertManager alerts: %v", err)}
	}
	if len(a.targets) == 1 {
		return a.targets[0].PostJSON(ctx, body)
	}
	errs := make([]error, len(a.targets))
	var wg sync.WaitGroup
	for i, t := range a.targets {
		wg.Go(func() { errs[i] = t.PostJSON(ctx, body) })
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(failed) < len(errs):
		log := logr.FromContextOrDiscard(ctx).WithValues("target", a.name)
		for _, err := range failed {
			log.Error(err, "An Alertmanager did not accept the alerts; another did", "alerts", len(alerts), "state", state,
				"retryable", IsRetryable(err))
		}
		return nil
	}
	return allFailed(failed)
}

// allFailed is the error of a post that no Alertmanager accepted: retryable when a retry may
// succeed at any of them, with the shortest delay one asked for (none when one gave none).
func allFailed(errs []error) *Error {
	reasons := make([]string, len(errs))
	e := &Error{Cause: errors.Join(errs...)}
	minAfter, anyWithout := time.Duration(0), false
	for i, err := range errs {
		reasons[i] = err.Error()
		var se *Error
		if !errors.As(err, &se) {
			e.Retryable, anyWithout = true, true
			continue
		}
		if e.StatusCode == 0 {
			e.StatusCode = se.StatusCode
		}
		if !se.Retryable {
			continue
		}
		e.Retryable = true
		if se.RetryAfter <= 0 {
			anyWithout = true
		} else if minAfter == 0 || se.RetryAfter < minAfter {
			minAfter = se.RetryAfter
		}
	}
	if e.Retryable && !anyWithout {
		e.RetryAfter = minAfter
	}
	e.Reason = "no Alertmanager accepted the alerts: " + strings.Join(reasons, "; ")
	return e
}

// alert is the alert of result i of b. startsAt is the result's time, or now when it has none
// or a later one (Alertmanager refuses an alert that ends before it starts, and keeps the
// earliest startsAt it was told).
func (a *alertManager) alert(b Batch, i int, now, endsAt time.Time) amAlert {
	r := &b.Results[i]
	doc := NewResultDocument(b.Report, r, b.CustomFields)
	start := now
	if t := r.Timestamp(); !t.IsZero() && t.Before(now) {
		start = t
	}
	return amAlert{
		Labels:      alertLabels(&doc),
		Annotations: a.annotations(&doc),
		StartsAt:    start.UTC().Truncate(time.Millisecond),
		EndsAt:      endsAt.UTC().Truncate(time.Millisecond),
	}
}

// alertLabels are the alert's identity: the same for a result at every post. Empty values are
// left out (Alertmanager drops them too). customFields are labels under sanitised names,
// unless a built-in label has the name; of two that sanitise to the same name the first in
// sorted order wins. Changing customFields changes the identity: alerts posted before then
// are not resolved by a later Resolve, and end by themselves when their endsAt passes.
func alertLabels(d *ResultDocument) map[string]string {
	l := make(map[string]string, 16+len(d.CustomFields))
	set := func(k, v string) {
		if v != "" {
			l[k] = render.CutBytes(v, amMaxLabelValue)
		}
	}
	set("alertname", alertManagerAlertName)
	set("policy", d.Policy)
	set("rule", d.Rule)
	set("status", string(d.Status))
	set("severity", string(d.Severity))
	set("category", d.Category)
	set("source", d.Source)
	ns := d.Report.Namespace
	if res := d.Resource; res != nil {
		if res.Namespace != "" {
			ns = res.Namespace
		}
		set("kind", res.Kind)
		set("name", res.Name)
	}
	set("namespace", ns)
	set("report", d.Report.Name)
	set("result_id", d.ID)
	builtin := make(map[string]bool, len(l)+4)
	for k := range l {
		builtin[k] = true
	}
	for _, k := range []string{"rule", "severity", "category", "kind", "name", "namespace"} {
		builtin[k] = true // reserved even when this result leaves them out
	}
	for _, k := range render.SortedKeys(d.CustomFields) {
		name := labelName(k)
		if _, taken := l[name]; taken || builtin[name] || name == "" {
			continue
		}
		set(name, d.CustomFields[k])
	}
	return l
}

// annotations carry what may change without changing the alert: summary, description (the
// message, or messageTemplate), the resource, the report, and the result's properties under
// sanitised names (at most amMaxProperties, in sorted order, built-in names win).
func (a *alertManager) annotations(d *ResultDocument) map[string]string {
	an := map[string]string{}
	set := func(k, v string, max int) {
		if v = strings.TrimSpace(v); v != "" {
			an[k] = render.CutBytes(v, max)
		}
	}
	set("summary", alertSummary(d), amMaxSummary)
	desc := d.Message
	if a.tmpl != nil {
		bounded := boundDocument(*d, amMaxDescription, amMaxProperties, amMaxProperty)
		text, err := a.tmpl.Render(&bounded)
		if err != nil {
			set("template_error", err.Error(), amMaxProperty)
		} else if strings.TrimSpace(text) != "" {
			desc = text
		}
	}
	set("description", desc, amMaxDescription)
	if res := d.Resource; res != nil {
		set("resource", render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name)), amMaxProperty)
		set("resource_api_version", res.APIVersion, amMaxProperty)
		set("resource_uid", res.UID, amMaxProperty)
	}
	set("report", render.JoinNonEmpty(" ", d.Report.Kind, render.JoinNonEmpty("/", d.Report.Namespace, d.Report.Name)), amMaxProperty)
	set("timestamp", d.Timestamp, amMaxProperty)
	n := 0
	for _, k := range render.SortedKeys(d.Properties) {
		if n == amMaxProperties {
			break
		}
		name := labelName(k)
		if _, taken := an[name]; taken || name == "" || name == "description" || name == "summary" {
			continue
		}
		set(name, d.Properties[k], amMaxProperty)
		n++
	}
	return an
}

// alertSummary is one line: "<policy>/<rule>: <status> on <Kind> <namespace>/<name>".
func alertSummary(d *ResultDocument) string {
	s := render.JoinNonEmpty("/", d.Policy, d.Rule) + ": " + string(d.Status)
	if res := d.Resource; res != nil && (res.Kind != "" || res.Name != "") {
		s += " on " + render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name))
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// labelName makes k a label name of the classic form [a-zA-Z_][a-zA-Z0-9_]*, which every
// Alertmanager version accepts: other characters become "_", a leading digit gets a "_" before
// it, and a leading "__" (reserved for internal use) becomes one "_". "" stays "".
func labelName(k string) string {
	s := labelname.Classic(k)
	for strings.HasPrefix(s, "__") {
		s = s[1:]
	}
	if len(s) > 128 { // ASCII only by now
		s = s[:128]
	}
	return s
}

// DialHosts are every Alertmanager's host.
func (a *alertManager) DialHosts() ([]string, error) {
	var hosts []string
	for _, t := range a.targets {
		h, _ := t.DialHosts()
		hosts = append(hosts, h...)
	}
	return hosts, nil
}
