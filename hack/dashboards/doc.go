// Package dashboards holds the tests of the Grafana dashboards in config/grafana: every query
// parsed with Prometheus' PromQL parser and its metric and label names checked against the
// operator's exposition. It lives in hack/'s module because github.com/prometheus/prometheus
// would raise client_golang, OpenTelemetry and more in the operator's go.mod.
package dashboards
