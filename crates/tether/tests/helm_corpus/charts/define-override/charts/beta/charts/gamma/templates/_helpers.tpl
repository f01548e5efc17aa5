{{- define "deep.name" -}}deep-from-gamma{{- end -}}
{{- define "gamma.only" -}}gamma-only{{- end -}}
