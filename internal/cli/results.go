package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

func newResultsCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "results",
		Short: "List and count policy results",
		Example: `  kubectl herald results list --result fail -n argo-cd
  kubectl herald results summary -A`,
	}
	cmd.AddCommand(newListCmd(o), newSummaryCmd(o))
	return cmd
}

// readFlags are the flags of every command that reads reports: which reports, which results.
type readFlags struct {
	allNamespaces                       bool
	selector                            string
	policies, rules, categories, kinds  []string
	names, sources, severities, results []string
}

func (f *readFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "read every namespace and the cluster reports")
	fs.StringVarP(&f.selector, "selector", "l", "", "report label selector, as kubectl's (app=kyverno,env in (prod))")
	fs.StringArrayVar(&f.policies, "policy", nil, "policy name; wildcards * and ?; repeat for any of several")
	fs.StringArrayVar(&f.rules, "rule", nil, "rule name; wildcards")
	fs.StringArrayVar(&f.categories, "category", nil, "category; wildcards")
	fs.StringArrayVar(&f.kinds, "kind", nil, "kind of the resource a result is about; wildcards")
	fs.StringArrayVar(&f.names, "name", nil, "name of the resource a result is about; wildcards")
	fs.StringArrayVar(&f.sources, "source", nil, "source (kyverno, trivy, ...), any letter case; wildcards")
	fs.StringArrayVar(&f.severities, "severity", nil, "critical, high, medium, low, info or none")
	fs.StringArrayVar(&f.results, "result", nil, "status: pass, fail, warn, error, skip or none")
}

// scope returns which reports to read: -A, else -n, else the kubeconfig's namespace.
func (f *readFlags) scope(o *Options) (scope, error) {
	sel, err := labels.Parse(f.selector)
	if err != nil {
		return scope{}, fmt.Errorf("--selector: %w", err)
	}
	if f.allNamespaces {
		return scope{all: true, selector: sel}, nil
	}
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return scope{}, fmt.Errorf("reading the namespace of the kubeconfig: %w", err)
	}
	return scope{namespace: ns, selector: sel}, nil
}

// query is the engine's query of the flags; the engine checks it.
func (f *readFlags) query() query.Query {
	q := query.Query{
		Policies: f.policies, Rules: f.rules, Categories: f.categories,
		Kinds: f.kinds, Names: f.names, Sources: f.sources,
	}
	for _, s := range f.severities {
		q.Severities = append(q.Severities, v1alpha1.Severity(strings.ToLower(s)))
	}
	for _, s := range f.results {
		q.Statuses = append(q.Statuses, v1alpha1.ResultStatus(strings.ToLower(s)))
	}
	return q
}

// reader reads the reports of a scope, kind by kind, page by page.
type reader struct {
	o     *Options
	cl    *cluster
	sc    scope
	kinds []reportKind
	names *report.SourceNames
	// versions are the resource versions each kind was listed at, for --watch.
	versions map[string]string
}

func (o *Options) newReader(f *readFlags) (*reader, error) {
	sc, err := f.scope(o)
	if err != nil {
		return nil, err
	}
	cl, err := o.connect()
	if err != nil {
		return nil, err
	}
	kinds, err := cl.kinds(sc)
	if err != nil {
		return nil, err
	}
	return &reader{o: o, cl: cl, sc: sc, kinds: kinds, names: report.NewSourceNames(), versions: map[string]string{}}, nil
}

// pages calls fn with every page of reports.
func (r *reader) pages(ctx context.Context, fn func(*source) error) error {
	for _, k := range r.kinds {
		rv, err := r.cl.listPages(ctx, k, r.sc, r.o.PageSize, func(reps []*report.Report) error {
			return fn(newSource(reps, r.names))
		})
		if err != nil {
			return err
		}
		r.versions[k.kind] = rv
	}
	return nil
}

// all reads every report into one source: what a sort, a grouping or a summary needs. Only the
// compact model is kept, never the raw objects.
func (r *reader) all(ctx context.Context) (*source, error) {
	all := &source{names: r.names}
	err := r.pages(ctx, func(s *source) error {
		all.reps = append(all.reps, s.reps...)
		return nil
	})
	return all, err
}
