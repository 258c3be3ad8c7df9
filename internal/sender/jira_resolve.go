package sender

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Resolve comments on and transitions the issues of each result, in order, and stops at the
// first failure, whose Error says in Sent how many results were done before it. An issue already
// in a Done status is left as it is; a result without an issue (deleted, or never opened) has
// nothing to resolve. An issue without the transition is a permanent error naming the
// transitions it has.
func (j *jiraResolver) Resolve(ctx context.Context, b Batch) error {
	return b.eachInOrder(func(r *report.Result) error { return j.resolveOne(ctx, b.Report, r, b.CustomFields) })
}

func (j *jiraResolver) resolveOne(ctx context.Context, rep ReportRef, r *report.Result, custom map[string]string) error {
	id := r.ID()
	issues, err := j.search(ctx, id)
	if err != nil {
		return err
	}
	if len(issues) == 0 {
		if key := j.remembered(id); key != "" {
			issues = []jiraIssue{{Key: key}} // created moments ago: not searchable yet
		}
	}
	doc := NewResultDocument(rep, r, custom)
	for i := range issues {
		if issues[i].done() {
			continue
		}
		if err := j.resolveIssue(ctx, issues[i].Key, &doc); err != nil {
			return err
		}
	}
	j.forget(id)
	return nil
}

// jiraTransitions is the answer of GET transitions.
type jiraTransitions struct {
	Transitions []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"transitions"`
}

func (j *jiraResolver) resolveIssue(ctx context.Context, key string, d *ResultDocument) error {
	var ts jiraTransitions
	if err := j.call(ctx, "reading the transitions of "+key, http.MethodGet, j.issuePath(key, "transitions"), nil, &ts); err != nil {
		return err
	}
	id := ""
	names := make([]string, 0, len(ts.Transitions))
	for _, t := range ts.Transitions {
		if strings.EqualFold(strings.TrimSpace(t.Name), strings.TrimSpace(j.transition)) && t.ID != "" {
			id = t.ID
			break
		}
		names = append(names, collapsed(t.Name))
	}
	if id == "" {
		avail := "none"
		if len(names) > 0 {
			avail = strings.Join(names, ", ")
		}
		return &Error{Reason: fmt.Sprintf("jira: issue %s has no transition named %q in its current status (available: %s): set resolveTransition to one of them",
			key, collapsed(j.transition), render.CutBytes(avail, 200))}
	}
	if !j.wasCommented(key) {
		comment := j.render([]jiraSection{{lines: []jiraLine{{value: jiraResolveText(d)}}}})
		if err := j.call(ctx, "commenting on "+key, http.MethodPost, j.issuePath(key, "comment"), map[string]any{"body": comment}, nil); err != nil {
			return err
		}
		j.setCommented(key, true)
	}
	body := map[string]any{"transition": map[string]string{"id": id}}
	if err := j.call(ctx, "transitioning "+key, http.MethodPost, j.issuePath(key, "transitions"), body, nil); err != nil {
		return err
	}
	j.setCommented(key, false)
	return nil
}

// jiraResolveText is the comment of a resolved result.
func jiraResolveText(d *ResultDocument) string {
	what := render.JoinNonEmpty("/", d.Policy, d.Rule)
	if res := d.Resource; res != nil {
		what += " on " + render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name))
	}
	return render.CutUnits(collapsed("Resolved by Policy Herald: the result "+what+" no longer fails; it passed, or its resource or report left the cluster."), jiraMaxText)
}

func (j *jiraResolver) wasCommented(key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commented[key]
}

func (j *jiraResolver) setCommented(key string, on bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !on {
		delete(j.commented, key)
		return
	}
	if len(j.commented) >= jiraMaxCreated {
		clear(j.commented)
	}
	j.commented[key] = true
}
