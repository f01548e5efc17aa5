local h = import 'helpers.libsonnet';
function(prefix, ports) [
  h.cm(prefix + '-' + std.extVar('env'), { replicas: std.toString(std.extVar('replicas')) }),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: prefix }, spec: { ports: [{ port: p } for p in ports] } },
]
