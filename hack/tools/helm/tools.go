//go:build tools

// Package tools pins the helm CLI that the chart tests build and run.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
