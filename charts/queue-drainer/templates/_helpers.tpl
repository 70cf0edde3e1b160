{{/*
The chart's name, or nameOverride.
*/}}
{{- define "queue-drainer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride; else the release
name if it contains the chart's name; else <release>-<chart>. Truncated to 63
characters (the DNS label limit of some Kubernetes name fields).
*/}}
{{- define "queue-drainer.fullname" -}}
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

{{/*
A name derived from the full name with a suffix, kept within 63 characters.
Call as: include "queue-drainer.suffixed" (list . "metrics")
*/}}
{{- define "queue-drainer.suffixed" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $full := include "queue-drainer.fullname" $root }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "queue-drainer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels of every object.
*/}}
{{- define "queue-drainer.labels" -}}
helm.sh/chart: {{ include "queue-drainer.chart" . }}
{{ include "queue-drainer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The labels that select the manager's pods (the Deployment, the metrics
Service, the PodDisruptionBudget and the NetworkPolicy).
*/}}
{{- define "queue-drainer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "queue-drainer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{/*
The manager's service account: serviceAccount.name, else the full name when
the chart creates it, else "default".
*/}}
{{- define "queue-drainer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "queue-drainer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The manager's image: repository:tag, the tag defaulting to the appVersion.
*/}}
{{- define "queue-drainer.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Whether to render the PodDisruptionBudget: podDisruptionBudget.enabled when
set (true or false), else on when there is more than one replica.
*/}}
{{- define "queue-drainer.pdbEnabled" -}}
{{- $enabled := .Values.podDisruptionBudget.enabled }}
{{- if kindIs "invalid" $enabled }}
{{- $enabled = gt (int .Values.replicas) 1 }}
{{- end }}
{{- if $enabled }}true{{ end }}
{{- end }}

{{/*
The manager's arguments: fixed ones, the values' flags, then extraArgs last
(for Go's flag package a later occurrence wins).
*/}}
{{- define "queue-drainer.args" -}}
- --leader-elect
- --health-probe-bind-address=:{{ int .Values.health.port }}
- --metrics-bind-address=:{{ int .Values.metrics.port }}
{{- with .Values.allowedRoleARNs }}
- {{ printf "--allowed-role-arns=%s" (join "," .) | quote }}
{{- end }}
- --max-concurrent-reconciles={{ int .Values.maxConcurrentReconciles }}
- --sqs-concurrency={{ int .Values.sqsConcurrency }}
- {{ printf "--status-refresh=%s" .Values.statusRefresh | quote }}
- {{ printf "--cloudwatch-period=%s" .Values.cloudWatchPeriod | quote }}
- {{ printf "--workers-pending-grace=%s" .Values.workersPendingGrace | quote }}
{{- with .Values.redriveImage }}
- {{ printf "--redrive-image=%s" . | quote }}
{{- end }}
{{- with .Values.consumerEnv }}
- {{ printf "--consumer-env=%s" (keys . | sortAlpha | join ",") | quote }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
