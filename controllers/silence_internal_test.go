package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
)

func TestCheckSilences(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(name string, until time.Time) v1alpha1.Silence {
		return v1alpha1.Silence{Name: name, Until: metav1.NewTime(until)}
	}
	ok := []v1alpha1.Silence{at("past", now.Add(-time.Hour)), at("limit", now.Add(maxSilence))}
	if err := checkSilences(ok, now); err != nil {
		t.Errorf("an expired silence and one exactly 90 days ahead are refused: %v", err)
	}
	err := checkSilences(append(ok, at("beyond", now.Add(maxSilence+time.Second))), now)
	var p *conditions.Problem
	if !errors.As(err, &p) || p.Reason != v1alpha1.ReasonInvalidSpec || !strings.Contains(err.Error(), `silence "beyond": until 2026-05-30T12:00:01Z is more than 90 days ahead (at most 2026-05-30T12:00:00Z)`) {
		t.Errorf("err = %v, want InvalidSpec naming the silence beyond", err)
	}
}
