{{- define "mylib.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .ctx.Release.Name }}-{{ .name }}
  labels:
    chart: {{ .ctx.Chart.Name }}
data:
  libDefault: {{ .ctx.Values.mylib.libDefault | quote }}
{{- end -}}
