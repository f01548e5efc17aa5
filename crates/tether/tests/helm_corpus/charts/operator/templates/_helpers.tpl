{{- define "operator.image" -}}
{{- $img := deepCopy .Values.image -}}
{{- if not $img.tag }}{{ $_ := set $img "tag" .Chart.AppVersion }}{{ end -}}
{{ include "common.images.image" (dict "imageRoot" $img "global" .Values.global) }}
{{- end -}}
{{- define "operator.webhookService" -}}
{{ include "common.names.fullname" . }}-webhook
{{- end -}}
{{- define "operator.rules" -}}
- apiGroups: [db.example.com]
  resources: [databases, backups, restores]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [db.example.com]
  resources: [databases/status, backups/status, restores/status]
  verbs: [get, update, patch]
- apiGroups: [""]
  resources: [secrets, services, configmaps, persistentvolumeclaims]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: ["*"]
{{- if .Values.leaderElection }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
{{- end }}
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end -}}
