{{- define "meta-cni.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "meta-cni.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "meta-cni.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "meta-cni.etcdSecret" -}}
{{- if .Values.etcd.existingSecret -}}
{{- .Values.etcd.existingSecret -}}
{{- else if or .Values.etcd.tls.cert .Values.etcd.endpoints -}}
{{- printf "%s-etcd" (include "meta-cni.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "meta-cni.metricsName" -}}
{{- printf "%s-metrics" (include "meta-cni.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
