{{- define "fleet.tenants" -}}
{{- $tenants := list -}}
{{- range $i := until (int .Values.tenantCount) -}}
{{- $tenants = append $tenants (dict "name" (printf "%s-%03d" $.Values.tenantPrefix $i) "quota" $.Values.quota "index" $i) -}}
{{- end -}}
{{- range .Values.extraTenants -}}
{{- $tenants = append $tenants (dict "name" .name "quota" .quota "index" -1) -}}
{{- end -}}
{{- toJson (dict "items" $tenants) -}}
{{- end -}}

{{- define "fleet.labels" -}}
{{ include "common.labels.standard" (dict "customLabels" .root.Values.labels "context" .root) }}
fleet.example.com/tenant: {{ .tenant.name }}
{{- end -}}
