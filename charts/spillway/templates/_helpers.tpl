{{/* Chart name, overridable. */}}
{{- define "spillway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, or release-chart when the release name does not contain the chart name. */}}
{{- define "spillway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spillway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The controller's selector. `app.kubernetes.io/component: controller` is the original spillway
chart's too: a Deployment's selector is immutable, so `helm upgrade` over a release of it works
only while the selectors are equal.
*/}}
{{- define "spillway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Labels of every object but the controller's component, which callers add. */}}
{{- define "spillway.commonLabels" -}}
helm.sh/chart: {{ include "spillway.chart" . }}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spillway
{{- end }}

{{- define "spillway.labels" -}}
{{ include "spillway.commonLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "spillway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spillway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spillway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Namespace of the leader Lease; the leases Role lives there. */}}
{{- define "spillway.leaseNamespace" -}}
{{- default .Release.Namespace .Values.controller.leaderElectNamespace }}
{{- end }}

{{/* The port of a host:port bind address (":8080" -> 8080). */}}
{{- define "spillway.portOf" -}}
{{- splitList ":" . | last | int }}
{{- end }}

{{/*
A probe of the daemon: the path and port are the chart's (the daemon serves them), the timing is
the value's. The original chart's values carried `httpGet` too; it is accepted and replaced.
Usage: include "spillway.probe" (list "/healthz" .Values.livenessProbe)
*/}}
{{- define "spillway.probe" -}}
{{- $path := index . 0 }}
{{- $timing := omit (index . 1) "httpGet" }}
httpGet:
  path: {{ $path }}
  port: health
{{- with $timing }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* A restricted pod security context, shared by the controller and the hook Job. */}}
{{- define "spillway.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
