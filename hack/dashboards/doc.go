// Package dashboards holds the tests of the Grafana dashboards in config/grafana: every query
// parsed with Prometheus' PromQL parser, its metric and label names checked against the
// operator's exposition, and the results dashboard's panels evaluated by Prometheus' engine on
// the exposed series. It is a module of its own because github.com/prometheus/prometheus would
// raise client_golang, OpenTelemetry and more in the operator's go.mod and in hack/'s.
package dashboards
