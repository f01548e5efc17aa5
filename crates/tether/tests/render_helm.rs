//! `tether render helm` errors and flags. Rendering itself is checked object for object against the real
//! helm by the corpus (`render_helm_corpus.rs`); here: bad input gives one clear message naming the chart,
//! file and line with nothing on stdout, and the flags reach the renderer. The quoted error texts are
//! helm v3.17.3's own (`helm template CHART` on the same inline charts).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tether(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run tether")
}

/// Writes a chart named `name` with the given files under `dir`.
fn chart(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("templates")).expect("mkdir");
    std::fs::write(
        root.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .expect("write");
    for (p, text) in files {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, text).expect("write");
    }
    root
}

/// Asserts a failure with nothing on stdout and `want` in the one-line message.
fn fails_with(out: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
}

#[test]
fn template_errors_name_chart_file_line_and_column() {
    let d = tempfile::tempdir().expect("tempdir");
    chart(
        d.path(),
        "execerr",
        &[("templates/cm.yaml", "a: 1\nb: {{ .Values.x.y.z }}\n")],
    );
    let out = tether(&["render", "helm", "execerr"], d.path());
    fails_with(
        &out,
        r#"template: execerr/templates/cm.yaml:2:13: executing "execerr/templates/cm.yaml" at <.Values.x.y.z>: nil pointer evaluating interface {}.y"#,
    );

    chart(
        d.path(),
        "parseerr",
        &[("templates/cm.yaml", "a: 1\nb: {{ .Values.x \n")],
    );
    let out = tether(&["render", "helm", "parseerr"], d.path());
    fails_with(
        &out,
        "parse error at (parseerr/templates/cm.yaml:3): unclosed action started at parseerr/templates/cm.yaml:2",
    );

    chart(
        d.path(),
        "req",
        &[(
            "templates/cm.yaml",
            "x: {{ required \"need .Values.foo\" .Values.foo }}\n",
        )],
    );
    let out = tether(&["render", "helm", "req"], d.path());
    fails_with(
        &out,
        "execution error at (req/templates/cm.yaml:1:6): need .Values.foo",
    );
    // The same chart renders once the value is given.
    let out = tether(&["render", "helm", "req", "--set", "foo=bar"], d.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "---\n# Source: req/templates/cm.yaml\nx: bar\n"
    );
}

#[test]
fn chart_and_dependency_errors() {
    let d = tempfile::tempdir().expect("tempdir");
    let c = chart(d.path(), "missing", &[]);
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: missing\nversion: 0.1.0\ndependencies:\n- name: dep\n  version: 1.0.0\n  repository: https://example.com\n",
    )
    .expect("write");
    fails_with(
        &tether(&["render", "helm", "missing"], d.path()),
        "found in Chart.yaml, but missing in charts/ directory: dep",
    );

    let c = chart(d.path(), "noversion", &[]);
    std::fs::write(c.join("Chart.yaml"), "apiVersion: v2\nname: noversion\n").expect("write");
    fails_with(
        &tether(&["render", "helm", "noversion"], d.path()),
        "validation: chart.metadata.version is required",
    );

    let c = chart(d.path(), "broken", &[]);
    std::fs::write(c.join("Chart.yaml"), "apiVersion: v2\nname: [x\n").expect("write");
    fails_with(
        &tether(&["render", "helm", "broken"], d.path()),
        "cannot load Chart.yaml: error converting YAML to JSON: yaml:",
    );

    let c = chart(d.path(), "lib", &[]);
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
    )
    .expect("write");
    fails_with(
        &tether(&["render", "helm", "lib"], d.path()),
        "library charts are not installable",
    );

    fails_with(&tether(&["render", "helm", "nope"], d.path()), "nope");
}

#[test]
fn values_errors() {
    let d = tempfile::tempdir().expect("tempdir");
    chart(
        d.path(),
        "schema",
        &[
            (
                "values.schema.json",
                r#"{"type":"object","properties":{"replicas":{"type":"integer"}},"required":["name"]}"#,
            ),
            ("values.yaml", "replicas: two\n"),
            ("templates/cm.yaml", "a: 1\n"),
        ],
    );
    let out = tether(&["render", "helm", "schema"], d.path());
    fails_with(
        &out,
        "values don't meet the specifications of the schema(s) in the following chart(s):\nschema:\n",
    );
    fails_with(&out, "- (root): name is required");
    fails_with(
        &out,
        "- replicas: Invalid type. Expected: integer, given: string",
    );

    chart(
        d.path(),
        "plain",
        &[("templates/cm.yaml", "a: {{ .Values.a }}\n")],
    );
    fails_with(
        &tether(&["render", "helm", "plain", "--set", "a"], d.path()),
        r#"failed parsing --set data: key "a" has no value"#,
    );
    fails_with(
        &tether(
            &["render", "helm", "plain", "--release-name", "Bad_Name"],
            d.path(),
        ),
        r#"release name "Bad_Name": invalid release name"#,
    );
    fails_with(
        &tether(&["render", "helm", "plain", "-f", "missing.yaml"], d.path()),
        "missing.yaml",
    );
}

#[test]
fn flags_reach_the_renderer() {
    let d = tempfile::tempdir().expect("tempdir");
    chart(
        d.path(),
        "flags",
        &[
            (
                "templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  api: {{ .Capabilities.APIVersions.Has \"example.com/v1\" | quote }}\n  lit: {{ .Values.lit | quote }}\n  file: {{ .Values.file | quote }}\n  str: {{ .Values.num | kindOf | quote }}\n  json: {{ .Values.j.k | kindOf | quote }}\n",
            ),
            (
                "templates/hook.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n",
            ),
            ("crds/crd.yaml", "# a CRD\n"),
            ("values.yaml", "j:\n  k: x\n"),
            ("values.txt", "from a file"),
        ],
    );
    let out = tether(
        &[
            "render",
            "helm",
            "flags",
            "--release-name",
            "rel",
            "-n",
            "ns",
            "--kube-version",
            "1.29",
            "--api-versions",
            "example.com/v1",
            "--set-literal",
            "lit=a,b=c",
            "--set-file",
            "file=flags/values.txt",
            "--set-string",
            "num=1",
            "--set-json",
            r#"j={"k":[1]}"#,
            "--include-crds",
            "--skip-tests",
        ],
        d.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "---\n# Source: flags/crds/crd.yaml\n# a CRD\n\n---\n# Source: flags/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel\n  namespace: ns\ndata:\n  kube: \"v1.29.0\"\n  api: \"true\"\n  lit: \"a,b=c\"\n  file: \"from a file\"\n  str: \"string\"\n  json: \"slice\"\n"
    );

    // Hooks come after the manifests; --no-hooks drops them; JSON output lists the objects.
    let out = tether(&["render", "helm", "flags"], d.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("---\n# Source: flags/templates/hook.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n"), "{text}");
    let out = tether(
        &["render", "helm", "flags", "--no-hooks", "-o", "json"],
        d.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["items"][0]["metadata"]["name"], "release-name");
    assert_eq!(v["items"][0]["metadata"]["namespace"], "default");

    // `tether render DIR` detects the chart.
    let out = tether(&["render", "flags", "--output", "json"], d.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
}
