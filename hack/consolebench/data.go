package main

import (
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
)

// kyvernoReport is the tests' Kyverno-like report with every result about its own pod, as the
// store's benchmark makes it, so that bytes per result compare with the store's 240.
func kyvernoReport(i, results, namespaces int) *wgpolicyv1alpha2.PolicyReport {
	return reportgen.KyvernoReport(i, results, namespaces, 1)
}
