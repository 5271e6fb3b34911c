//go:build tools

// Package tools pins the prometheus-operator module whose CRDs
// (example/prometheus-operator-crd/) the chart tests install, so the
// ServiceMonitor and PrometheusRule the chart renders are validated by a real
// kube-apiserver against the operator's own schema. versionutil is imported
// only because it is the module's lightest package: without an import,
// go mod tidy would drop the requirement.
package tools

import _ "github.com/prometheus-operator/prometheus-operator/pkg/versionutil"
