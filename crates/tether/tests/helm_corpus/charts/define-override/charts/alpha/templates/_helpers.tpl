{{- define "shared.name" -}}from-alpha{{- end -}}
{{- define "sub.only" -}}sub-alpha{{- end -}}
{{- define "deep.name" -}}deep-from-alpha{{- end -}}
