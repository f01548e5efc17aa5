//! Parse and execute a large, real-world-style helper library: ~3,000 lines of `_helpers.tpl` defines with
//! heavy include / toYaml / nindent use, plus 20 manifest templates that call them.
//!
//! `cargo bench -p tether-gotmpl --bench helpers`. Set `TETHER_BENCH_DUMP=DIR` to also write the chart to
//! `DIR/bench` so that `helm template` can be timed on the same input (see docs/benchmarks.md).

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tether_gotmpl::{ExecOptions, Templates, Value};

const DEFINES: usize = 150;
const MANIFESTS: usize = 20;

fn helpers() -> String {
    let mut s = String::new();
    for i in 0..DEFINES {
        let _ = write!(
            s,
            r#"{{{{/*
Helper {i}: labels, names and a rendered block for component {i}.
*/}}}}
{{{{- define "bench.name.{i}" -}}}}
{{{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}}}-c{i}
{{{{- end }}}}

{{{{- define "bench.labels.{i}" -}}}}
helm.sh/chart: {{{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}}}
app.kubernetes.io/name: {{{{ include "bench.name.{i}" . }}}}
app.kubernetes.io/instance: {{{{ .Release.Name }}}}
{{{{- with .Values.commonLabels }}}}
{{{{ toYaml . }}}}
{{{{- end }}}}
{{{{- end }}}}

{{{{- define "bench.block.{i}" -}}}}
{{{{- $ctx := . -}}}}
metadata:
  name: {{{{ include "bench.name.{i}" $ctx | quote }}}}
  labels:
    {{{{- include "bench.labels.{i}" $ctx | nindent 4 }}}}
spec:
  replicas: {{{{ $ctx.Values.replicaCount | default 1 }}}}
  resources:
    {{{{- toYaml $ctx.Values.resources | nindent 4 }}}}
{{{{- end }}}}
"#
        );
    }
    s
}

fn manifest(i: usize) -> String {
    let a = (i * 7) % DEFINES;
    let b = (i * 13 + 5) % DEFINES;
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
{{{{ include "bench.block.{a}" . }}}}
  template:
    metadata:
      labels:
        {{{{- include "bench.labels.{b}" . | nindent 8 }}}}
    spec:
      containers:
      {{{{- range $i, $c := .Values.containers }}}}
      - name: {{{{ $c.name }}}}-{{{{ $i }}}}
        image: "{{{{ $c.image }}}}:{{{{ $c.tag | default "latest" }}}}"
        env:
          {{{{- range $k, $v := $c.env }}}}
          - name: {{{{ $k | upper }}}}
            value: {{{{ $v | quote }}}}
          {{{{- end }}}}
      {{{{- end }}}}
"#
    )
}

const VALUES: &str = r#"
replicaCount: 3
commonLabels: {team: platform, tier: backend}
resources:
  limits: {cpu: 500m, memory: 256Mi}
  requests: {cpu: 100m, memory: 128Mi}
containers:
- {name: app, image: registry.example.com/app, tag: "1.2.3", env: {LOG_LEVEL: info, PORT: "8080", MODE: prod}}
- {name: sidecar, image: registry.example.com/proxy, env: {UPSTREAM: localhost}}
"#;

fn files() -> Vec<(String, String)> {
    let mut v = vec![("bench/templates/_helpers.tpl".to_string(), helpers())];
    for i in 0..MANIFESTS {
        v.push((format!("bench/templates/m{i:02}.yaml"), manifest(i)));
    }
    v
}

fn data() -> Value {
    let values = Value::from_yaml_str(VALUES).expect("values parse");
    let m = |items: Vec<(&str, Value)>| {
        Value::map(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    };
    m(vec![
        ("Values", values),
        (
            "Release",
            m(vec![
                ("Name", "rel".into()),
                ("Namespace", "default".into()),
                ("Service", "Helm".into()),
            ]),
        ),
        (
            "Chart",
            m(vec![
                ("Name", "bench".into()),
                ("Version", "1.0.0+meta".into()),
            ]),
        ),
    ])
}

fn dump(files: &[(String, String)]) {
    let Ok(dir) = std::env::var("TETHER_BENCH_DUMP") else {
        return;
    };
    let root = std::path::Path::new(&dir);
    for (name, src) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        std::fs::write(p, src).expect("write template");
    }
    std::fs::write(
        root.join("bench/Chart.yaml"),
        "apiVersion: v2\nname: bench\nversion: 1.0.0+meta\n",
    )
    .expect("write");
    std::fs::write(root.join("bench/values.yaml"), VALUES).expect("write");
}

fn bench(c: &mut Criterion) {
    let files = files();
    dump(&files);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let lines: usize = files.iter().map(|(_, s)| s.lines().count()).sum();
    eprintln!("helper library: {} files, {lines} lines", files.len());

    let mut g = c.benchmark_group("gotmpl");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_library", |b| {
        b.iter(|| Templates::parse(black_box(&refs)).expect("parses"))
    });

    let set = Templates::parse(&refs).expect("parses");
    let data = data();
    let opts = ExecOptions::default();
    let names: Vec<String> = (0..MANIFESTS)
        .map(|i| format!("bench/templates/m{i:02}.yaml"))
        .collect();
    // Sanity: the output is the expected shape.
    let first = set.exec(&names[0], &data, &opts).expect("renders");
    assert!(first.contains("app.kubernetes.io/instance: rel"), "{first}");

    g.throughput(Throughput::Elements(MANIFESTS as u64));
    g.bench_function("exec_20_manifests", |b| {
        b.iter(|| {
            for n in &names {
                black_box(set.exec(n, &data, &opts).expect("renders"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
