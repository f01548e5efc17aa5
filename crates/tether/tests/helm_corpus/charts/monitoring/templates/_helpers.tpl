{{- define "monitoring.ruleLabels" -}}
{{- $labels := include "common.tplvalues.render" (dict "value" .Values.defaultRules.labels "context" .) | fromYaml -}}
{{- toYaml (merge $labels (dict "release" .Release.Name)) -}}
{{- end -}}
