{{- define "shared.name" -}}from-beta{{- end -}}
{{- define "sub.only" -}}sub-beta{{- end -}}
{{- define "deep.name" -}}deep-from-beta{{- end -}}
