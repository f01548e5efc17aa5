{{- define "service.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "service.labels" -}}
{{ include "common.labels.standard" . }}
app.kubernetes.io/component: {{ .Values.component | default .Chart.Name }}
app.kubernetes.io/part-of: platform
environment: {{ .Values.global.environment }}
{{- end -}}
{{- define "service.selector" -}}
{{ include "common.labels.matchLabels" . }}
app.kubernetes.io/component: {{ .Values.component | default .Chart.Name }}
{{- end -}}
