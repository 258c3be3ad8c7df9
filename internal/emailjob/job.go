package emailjob

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"strconv"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/email"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/secrets"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// pageSize is how many reports one List call returns, so a big cluster is read in pages.
const pageSize = 250

type job struct {
	env   Env
	flags *flags
	cfg   *rest.Config
	c     client.Client
	// secret (the SMTP password or Graph client secret) is set once read, so the outcome line
	// can be scrubbed of it.
	secret string
}

func (j *job) run(ctx context.Context) (string, error) {
	c, err := client.New(j.cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return "", fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	j.c = c
	var s v1alpha1.EmailReportSchedule
	key := types.NamespacedName{Namespace: j.flags.namespace, Name: j.flags.name}
	if err := c.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("EmailReportSchedule %s not found", key)
		}
		return "", fmt.Errorf("reading EmailReportSchedule %s: %w", key, err)
	}
	if s.Spec.Suspend {
		return "suspended: nothing sent", nil
	}
	typ := email.Type(s.Spec.ReportType)
	if typ != email.Summary && typ != email.Violations {
		return "", fmt.Errorf("spec.reportType %q must be summary or violations", s.Spec.ReportType)
	}
	for _, to := range s.Spec.Addresses() {
		if _, err := mail.ParseAddress(to); err != nil {
			return "", fmt.Errorf("recipient %q is not an e-mail address", to)
		}
	}
	if len(s.Spec.Recipients) == 0 {
		return "", fmt.Errorf("spec.recipients is empty")
	}
	settings, err := j.transport(ctx, &s)
	if err != nil {
		return "", err
	}
	match, err := compileFilter(typ, s.Spec.Filter)
	if err != nil {
		return "", fmt.Errorf("spec.filter is invalid: %w", err)
	}

	tenant := s.Namespace != j.flags.platformNamespace
	clusterReports := !tenant && (s.Spec.ClusterReports == nil || *s.Spec.ClusterReports)
	reps, err := j.listReports(ctx, s.Namespace, tenant, clusterReports)
	if err != nil {
		return "", err
	}
	nsLabels := j.namespaceLabels(ctx)
	var items []email.Item
	for _, r := range reps {
		if tenant && r.Namespace != s.Namespace {
			continue // never: the lists are of the tenant's namespace only; kept as a guard
		}
		for i := range r.Results {
			if match(r, &r.Results[i], nsLabels) {
				items = append(items, email.Item{Report: r, Result: &r.Results[i]})
			}
		}
	}
	scope := "all namespaces and cluster reports"
	switch {
	case tenant:
		scope = "namespace " + s.Namespace
	case !clusterReports:
		scope = "all namespaces"
	}
	rendered, err := email.Render(email.Options{
		Type: typ, ClusterName: s.Spec.ClusterName, Schedule: key.String(), Scope: scope, Now: j.env.Now(),
		ConsoleURL: j.flags.consoleURL,
		Sources:    report.SourceNamesOf(reps), // every result read names the sources, not only those listed
	}, items)
	if err != nil {
		return "", err
	}
	msg := &email.Message{
		From: settings.from, To: s.Spec.Recipients, Cc: s.Spec.CC, Bcc: s.Spec.BCC,
		Subject: rendered.Subject, HTML: rendered.HTML, Text: rendered.Text, Date: j.env.Now(),
		ExtraHeaders: map[string]string{
			"X-Policy-Herald-Schedule": key.String(),
			"Auto-Submitted":           "auto-generated",
		},
	}
	recipients := plural(len(msg.To)+len(msg.Cc)+len(msg.Bcc), "recipient")
	results := plural(rendered.Results, "result")
	if j.flags.dryRun {
		if err := j.writeDryRun(msg); err != nil {
			return "", err
		}
		return fmt.Sprintf("dry run: rendered %s report of %s for %s, nothing sent", typ, results, recipients), nil
	}
	if err := settings.send(ctx, msg); err != nil {
		return "", err
	}
	return fmt.Sprintf("sent %s report of %s to %s", typ, results, recipients), nil
}

// writeDryRun writes PATH, PATH.html and PATH.txt, or the text part to stdout without --output.
func (j *job) writeDryRun(msg *email.Message) error {
	if j.flags.output == "" {
		_, err := fmt.Fprint(j.env.Stdout, msg.Text)
		return err
	}
	eml, err := msg.Bytes()
	if err != nil {
		return err
	}
	for path, data := range map[string][]byte{
		j.flags.output:           eml,
		j.flags.output + ".html": []byte(msg.HTML),
		j.flags.output + ".txt":  []byte(msg.Text),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil { //nolint:gosec // a report, no secret
			return fmt.Errorf("writing the dry-run output: %w", err)
		}
	}
	return nil
}

// transport is how the run sends: SMTP or Microsoft Graph, whichever the schedule sets.
type transport struct {
	send func(context.Context, ...*email.Message) error
	// from is the sender, for the message (SMTP) or the preview (Graph sends as its user).
	from string
}

// transport merges the schedule's SMTP or Graph settings with their Secret and checks them as
// the controller does.
func (j *job) transport(ctx context.Context, s *v1alpha1.EmailReportSchedule) (*transport, error) {
	switch {
	case s.Spec.Graph != nil:
		return j.graph(ctx, s)
	case s.Spec.SMTP != nil:
		return j.smtp(ctx, s)
	}
	return nil, fmt.Errorf("spec has neither smtp nor graph")
}

// smtp merges the inline SMTP settings with their Secret (a key in the Secret wins; the
// password only comes from the Secret).
func (j *job) smtp(ctx context.Context, s *v1alpha1.EmailReportSchedule) (*transport, error) {
	spec := *s.Spec.SMTP
	var values secrets.Values
	secretName := ""
	if spec.SecretRef != nil {
		secretName = spec.SecretRef.Name
		v, err := secrets.Read(ctx, j.c, s.Namespace, secretName)
		if err != nil {
			return nil, err
		}
		values = v
	}
	smtp, from, err := email.Settings(spec, values, secretName)
	if err != nil {
		return nil, err
	}
	j.secret = smtp.Password
	tc, err := tlsconfig.Build(ctx, j.c, s.Namespace, spec.TLS)
	if err != nil {
		return nil, err
	}
	smtp.TLS = tc.Config
	return &transport{from: from, send: func(ctx context.Context, m ...*email.Message) error { return email.Send(ctx, smtp, m...) }}, nil
}

// graph reads the client secret of the Graph settings.
func (j *job) graph(ctx context.Context, s *v1alpha1.EmailReportSchedule) (*transport, error) {
	spec := *s.Spec.Graph
	values, err := secrets.Read(ctx, j.c, s.Namespace, spec.ClientSecretRef.Name)
	if err != nil {
		return nil, err
	}
	g, err := email.GraphSettings(spec, values)
	if err != nil {
		return nil, err
	}
	j.secret = g.ClientSecret
	g.Endpoints = j.env.Graph
	// Graph sends as the user; a preview shows it as the sender when it is an address (not an
	// object ID).
	from := email.DefaultDisplayName + " <graph-user@invalid>"
	if a, err := mail.ParseAddress(spec.User); err == nil {
		from = a.String()
	}
	return &transport{from: from, send: g.Send}, nil
}

// compileFilter returns the result filter of spec.filter, as for targets. A summary counts
// every status: when spec.filter.statuses.include is empty, pass and skip results are counted
// too (targets leave them out by default); an include list is taken as it is.
func compileFilter(typ email.Type, f *v1alpha1.ResultFilter) (func(*report.Report, *report.Result, filter.NamespaceLabels) bool, error) {
	base, err := filter.Compile(filter.Spec{Filter: f})
	if err != nil {
		return nil, err
	}
	if typ != email.Summary || (f != nil && f.Statuses != nil && len(f.Statuses.Include) > 0) {
		return base.Match, nil
	}
	// The default gate keeps fail, warn, error and results without status; add pass and skip,
	// with every other rule (and the status exclude list) the same.
	widened := v1alpha1.ResultFilter{}
	if f != nil {
		widened = *f.DeepCopy()
	}
	widened.Statuses = &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{v1alpha1.StatusPass, v1alpha1.StatusSkip}}
	if f != nil && f.Statuses != nil {
		widened.Statuses.Exclude = f.Statuses.Exclude
	}
	extra, err := filter.Compile(filter.Spec{Filter: &widened})
	if err != nil {
		return nil, err
	}
	return func(r *report.Report, res *report.Result, ns filter.NamespaceLabels) bool {
		return base.Match(r, res, ns) || extra.Match(r, res, ns)
	}, nil
}

// namespaceLabels reads namespaces' labels on demand, once each; a namespace that cannot be
// read is unknown (it does not match a namespace selector).
func (j *job) namespaceLabels(ctx context.Context) filter.NamespaceLabels {
	cache := map[string]labels.Set{}
	return func(ns string) (labels.Set, bool) {
		if l, ok := cache[ns]; ok {
			return l, l != nil
		}
		var n corev1.Namespace
		if err := j.c.Get(ctx, types.NamespacedName{Name: ns}, &n); err != nil {
			cache[ns] = nil
			return nil, false
		}
		cache[ns] = labels.Set(n.Labels)
		return cache[ns], true
	}
}

// listReports lists the reports of the four kinds whose API is installed: in namespace only
// for a tenant, everywhere otherwise; cluster reports only when clusterReports.
func (j *job) listReports(ctx context.Context, namespace string, tenant, clusterReports bool) ([]*report.Report, error) {
	var out []*report.Report
	var opts []client.ListOption
	if tenant {
		opts = append(opts, client.InNamespace(namespace))
	}
	err := listAll(ctx, j.c, &wgpolicyv1alpha2.PolicyReportList{}, opts, func(l *wgpolicyv1alpha2.PolicyReportList) {
		for i := range l.Items {
			out = append(out, report.FromPolicyReport(&l.Items[i]))
		}
	})
	if err != nil {
		return nil, err
	}
	err = listAll(ctx, j.c, &openreportsv1alpha1.ReportList{}, opts, func(l *openreportsv1alpha1.ReportList) {
		for i := range l.Items {
			out = append(out, report.FromReport(&l.Items[i]))
		}
	})
	if err != nil {
		return nil, err
	}
	if !clusterReports {
		return out, nil
	}
	err = listAll(ctx, j.c, &wgpolicyv1alpha2.ClusterPolicyReportList{}, nil, func(l *wgpolicyv1alpha2.ClusterPolicyReportList) {
		for i := range l.Items {
			out = append(out, report.FromClusterPolicyReport(&l.Items[i]))
		}
	})
	if err != nil {
		return nil, err
	}
	err = listAll(ctx, j.c, &openreportsv1alpha1.ClusterReportList{}, nil, func(l *openreportsv1alpha1.ClusterReportList) {
		for i := range l.Items {
			out = append(out, report.FromClusterReport(&l.Items[i]))
		}
	})
	return out, err
}

// listAll lists every page of a kind. A kind whose API is not installed is skipped.
func listAll[L client.ObjectList](ctx context.Context, c client.Client, list L, opts []client.ListOption, each func(L)) error {
	cont := ""
	for {
		o := append([]client.ListOption{client.Limit(pageSize)}, opts...)
		if cont != "" {
			o = append(o, client.Continue(cont))
		}
		if err := c.List(ctx, list, o...); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				return nil
			}
			gvk, _ := c.GroupVersionKindFor(list)
			return fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		each(list)
		if cont = list.GetContinue(); cont == "" {
			return nil
		}
	}
}

// plural writes "1 result", "2 results".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
