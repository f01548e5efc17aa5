//! Argo CD `source.helm` renders compared with the helm corpus's expectations (produced by the real
//! helm v3.17 from the equivalent `helm template` flags, see crates/tether/tests/helm_corpus).

use std::collections::BTreeMap;
use std::path::PathBuf;

use tether_helm::Renderer;
use tether_helm::argo::{HelmSourceContext, render};
use tether_model::source::{ApplicationSourceHelm, HelmParameter};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tether/tests/helm_corpus")
}

fn ctx(chart: &str) -> HelmSourceContext {
    HelmSourceContext {
        chart_dir: corpus().join(chart),
        repo_root: corpus(),
        refs: BTreeMap::from([("vals".to_string(), corpus())]),
        app_name: "rel".into(),
        namespace: "default".into(),
        ..Default::default()
    }
}

fn expected(case: &str) -> String {
    std::fs::read_to_string(corpus().join(format!("expected/{case}.yaml")))
        .expect("expected output")
}

#[test]
fn value_files_relative_and_from_a_ref_source() {
    let c = ctx("charts/values-layering");
    let helm = ApplicationSourceHelm {
        value_files: vec![
            "../../cases/files/layer1.yaml".into(),
            "$vals/cases/files/layer2.yaml".into(),
            "missing.yaml".into(),
        ],
        ignore_missing_value_files: Some(true),
        ..Default::default()
    };
    let r = Renderer::load(&c.chart_dir).expect("load");
    let out = render(&r, &helm, &c).expect("render");
    assert_eq!(out.text, expected("values-layering"));
}

#[test]
fn parameters_with_commas_and_force_string() {
    let c = ctx("charts/set-forms");
    let r = Renderer::load(&c.chart_dir).expect("load");
    // Argo CD escapes commas in parameter values; `name=value,other=two` must therefore be two
    // parameters, as `--set name=value,other=two` is for helm.
    let p = |n: &str, v: &str, s: bool| HelmParameter {
        name: Some(n.into()),
        value: Some(v.into()),
        force_string: Some(s),
    };
    let helm = ApplicationSourceHelm {
        parameters: vec![
            p("name", "value", false),
            p("other", "two", false),
            p("existing.keep", "changed", false),
        ],
        ..Default::default()
    };
    assert_eq!(
        render(&r, &helm, &c).expect("render").text,
        expected("set-basic")
    );
    let helm = ApplicationSourceHelm {
        parameters: vec![
            p("int", "42", true),
            p("bool", "true", true),
            p("a.b", "null", true),
        ],
        ..Default::default()
    };
    assert_eq!(
        render(&r, &helm, &c).expect("render").text,
        expected("set-string")
    );
}

#[test]
fn crds_included_unless_skipped() {
    let c = ctx("charts/crds");
    let r = Renderer::load(&c.chart_dir).expect("load");
    let out = render(&r, &ApplicationSourceHelm::default(), &c).expect("render");
    assert_eq!(out.text, expected("crds-include"));
    let helm = ApplicationSourceHelm {
        skip_crds: Some(true),
        ..Default::default()
    };
    assert_eq!(
        render(&r, &helm, &c).expect("render").text,
        expected("crds-default")
    );
}

#[test]
fn escaping_value_files_are_rejected() {
    let c = ctx("charts/values-layering");
    let r = Renderer::load(&c.chart_dir).expect("load");
    for vf in ["../../../../Cargo.toml", "$vals/../../Cargo.toml"] {
        let helm = ApplicationSourceHelm {
            value_files: vec![vf.into()],
            ..Default::default()
        };
        let err = render(&r, &helm, &c).expect_err("outside the repository");
        assert!(err.to_string().contains("outside repository root"), "{err}");
    }
    let helm = ApplicationSourceHelm {
        value_files: vec!["missing.yaml".into()],
        ..Default::default()
    };
    let err = render(&r, &helm, &c).expect_err("missing value file");
    assert!(err.to_string().contains("missing.yaml"), "{err}");
}
