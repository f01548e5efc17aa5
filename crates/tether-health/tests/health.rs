//! tether-health against realistic objects: every built-in rule (fixtures in `builtin/`), Lua checks in
//! Argo CD's layout (`lua/pass`, `lua/fail`), overrides from argocd-cm, and app-level aggregation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_health::{
    HealthChecker, HealthStatusCode, LuaLimits, LuaOverrides, LuaScript, ManagedResource, testing,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn code(s: &str) -> HealthStatusCode {
    serde_json::from_value(json!(s)).expect("a health status name")
}

/// Every document of `builtin/*.yaml` is `{expect: {status, message}, object}`.
#[test]
fn builtin_rules_match_argo_cd() {
    let checker = HealthChecker::new(LuaOverrides::new());
    let mut seen_kinds = std::collections::BTreeSet::new();
    let mut cases = 0;
    let mut entries: Vec<_> = std::fs::read_dir(fixtures().join("builtin"))
        .expect("builtin fixtures")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        for (i, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc: Value = serde::Deserialize::deserialize(doc).expect("valid YAML");
            let object = &doc["object"];
            let expected_status = code(doc["expect"]["status"].as_str().expect("expect.status"));
            let expected_message = doc["expect"]["message"].as_str().map(String::from);
            let got = checker.check(object).unwrap_or_else(|| {
                panic!("{}#{i}: no health for {}", path.display(), object["kind"])
            });
            assert_eq!(
                (got.status, got.message.clone()),
                (expected_status, expected_message),
                "{} document {i} ({})",
                path.display(),
                object["metadata"]["name"]
            );
            seen_kinds.insert(object["kind"].as_str().expect("kind").to_string());
            cases += 1;
        }
    }
    let required = [
        "APIService",
        "CronJob",
        "DaemonSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "PersistentVolumeClaim",
        "Pod",
        "ReplicaSet",
        "Service",
        "StatefulSet",
    ];
    for kind in required {
        assert!(seen_kinds.contains(kind), "no fixture for {kind}");
    }
    assert!(cases >= 60, "only {cases} built-in cases");
}

#[test]
fn kinds_without_a_check_have_no_health() {
    let checker = HealthChecker::default();
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}});
    assert_eq!(checker.check(&cm), None);
    assert!(!checker.has_check("", "ConfigMap"));
    assert!(checker.has_check("apps", "Deployment"));
}

#[test]
fn an_object_being_deleted_is_progressing() {
    let checker = HealthChecker::default();
    let mut pvc = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "deletionTimestamp": "2026-11-27T01:00:00Z", "finalizers": ["kubernetes.io/pvc-protection"]},
        "status": {"phase": "Bound"}
    });
    let h = checker.check(&pvc).expect("health");
    assert_eq!(
        (h.status, h.message.as_deref()),
        (HealthStatusCode::Progressing, Some("Pending deletion"))
    );
    // Even a kind without a check.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "deletionTimestamp": "2026-11-27T01:00:00Z"}});
    assert_eq!(
        checker.check(&cm).map(|h| h.status),
        Some(HealthStatusCode::Progressing)
    );
    // A running hook keeps its finalizer while deleted: judged on its status.
    pvc["metadata"]["finalizers"] = json!(["argocd.argoproj.io/hook-finalizer"]);
    assert_eq!(
        checker.check(&pvc).map(|h| h.status),
        Some(HealthStatusCode::Healthy)
    );
}

fn certificate(ready: &str) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "tls"},
        "status": {"conditions": [{"type": "Ready", "status": ready, "message": "m"}]}
    })
}

#[test]
fn lua_checks_from_a_directory_in_argo_layout() {
    let mut overrides = LuaOverrides::new();
    overrides
        .add_library_dir(&fixtures().join("lua/pass"))
        .expect("library loads");
    let checker = HealthChecker::new(overrides);
    assert!(checker.has_check("cert-manager.io", "Certificate"));
    assert_eq!(
        checker.check(&certificate("True")).map(|h| h.status),
        Some(HealthStatusCode::Healthy)
    );
    assert_eq!(
        checker.check(&certificate("False")).map(|h| h.status),
        Some(HealthStatusCode::Degraded)
    );
}

#[test]
fn lua_checks_from_argocd_cm_exact_wildcard_and_legacy_keys() {
    let exact = r#"return {status = "Suspended", message = "exact"}"#;
    let wildcard = r#"return {status = "Degraded", message = "wildcard " .. obj.kind}"#;
    let legacy = "cert-manager.io/Certificate:\n  health.lua: |\n    return {status = \"Progressing\", message = \"legacy\"}\n";
    let data = [
        (
            "resource.customizations.health.cert-manager.io_Certificate",
            exact,
        ),
        ("resource.customizations.health.*.crossplane.io_*", wildcard),
        ("resource.customizations", legacy),
        ("url", "https://argocd.example.com"),
    ];
    let checker = HealthChecker::new(LuaOverrides::from_config_map(data).expect("valid argocd-cm"));
    let h = checker.check(&certificate("True")).expect("health");
    assert_eq!(
        (h.status, h.message.as_deref()),
        (HealthStatusCode::Suspended, Some("exact"))
    );
    let provider = json!({"apiVersion": "pkg.crossplane.io/v1", "kind": "Provider", "metadata": {"name": "aws"}});
    let h = checker.check(&provider).expect("health");
    assert_eq!(
        (h.status, h.message.as_deref()),
        (HealthStatusCode::Degraded, Some("wildcard Provider"))
    );
    // The wildcard does not reach other groups; those keep their built-in rule or none.
    let other =
        json!({"apiVersion": "example.com/v1", "kind": "Provider", "metadata": {"name": "x"}});
    assert_eq!(checker.check(&other), None);

    // Legacy key alone.
    let checker = HealthChecker::new(
        LuaOverrides::from_config_map([("resource.customizations", legacy)]).expect("valid"),
    );
    assert_eq!(
        checker.check(&certificate("True")).and_then(|h| h.message),
        Some("legacy".to_string())
    );
}

#[test]
fn a_lua_override_replaces_the_builtin_rule() {
    let data = [(
        "resource.customizations.health.apps_Deployment",
        r#"return {status = "Suspended", message = "custom"}"#,
    )];
    let checker = HealthChecker::new(LuaOverrides::from_config_map(data).expect("valid"));
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
    assert_eq!(
        checker.check(&dep).map(|h| h.status),
        Some(HealthStatusCode::Suspended)
    );
}

#[test]
fn a_malformed_argocd_cm_key_names_the_key() {
    let err =
        LuaOverrides::from_config_map([("resource.customizations.health.a_b_c", "return nil")])
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("resource.customizations.health.a_b_c"),
        "{err}"
    );
}

fn run_fixture(kind: &str, limits: LuaLimits) -> (tether_health::HealthStatus, Duration) {
    let dir = fixtures().join("lua/fail/example.com").join(kind);
    let source = std::fs::read_to_string(dir.join("health.lua")).expect("script");
    let mut overrides = LuaOverrides::new();
    overrides.insert(
        format!("example.com/{kind}"),
        LuaScript::new(source, format!("{kind}/health.lua")),
    );
    let checker = HealthChecker::new(overrides).with_limits(limits);
    let obj = json!({"apiVersion": "example.com/v1", "kind": kind, "metadata": {"name": "sample"}, "spec": {"size": 1}});
    let start = Instant::now();
    let h = checker.check(&obj).expect("a Lua check gives a health");
    (h, start.elapsed())
}

#[test]
fn a_looping_lua_check_is_unknown_within_its_instruction_limit() {
    let (h, took) = run_fixture(
        "Looper",
        LuaLimits {
            max_instructions: 1_000_000,
            ..LuaLimits::default()
        },
    );
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(
        h.message
            .as_deref()
            .unwrap_or_default()
            .contains("instruction limit exceeded"),
        "{h:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_looping_lua_check_is_unknown_within_its_time_limit() {
    let limits = LuaLimits {
        max_instructions: u64::MAX,
        timeout: Duration::from_millis(200),
        ..LuaLimits::default()
    };
    let (h, took) = run_fixture("Looper", limits);
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(
        h.message
            .as_deref()
            .unwrap_or_default()
            .contains("time limit exceeded"),
        "{h:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn an_erroring_lua_check_is_unknown_with_the_error() {
    let (h, _) = run_fixture("Crasher", LuaLimits::default());
    assert_eq!(h.status, HealthStatusCode::Unknown);
    let message = h.message.unwrap_or_default();
    assert!(
        message.contains("Crasher/health.lua") && message.contains("index"),
        "{message}"
    );
}

#[test]
fn the_sandbox_has_no_os_execute() {
    let marker = Path::new("/tmp/tether-health-escaped");
    let _ = std::fs::remove_file(marker);
    let (h, _) = run_fixture("Escaper", LuaLimits::default());
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(h.message.unwrap_or_default().contains("execute"));
    assert!(!marker.exists(), "os.execute ran");
}

fn run_source(source: &str) -> tether_health::HealthStatus {
    let mut overrides = LuaOverrides::new();
    overrides.insert("example.com/Thing", LuaScript::new(source, "inline"));
    let checker = HealthChecker::new(overrides);
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"items": [1, null, 3]}});
    checker.check(&obj).expect("health")
}

#[test]
fn the_sandbox_exposes_only_argo_cds_safe_functions() {
    for (source, must_fail) in [
        ("return io.open('/etc/passwd')", true),
        ("return load('return 1')", true),
        ("return loadstring('return 1')", true),
        ("return dofile('/etc/passwd')", true),
        ("return require('io')", true),
        ("return os.getenv('HOME')", true),
        ("return os.remove('/tmp/x')", true),
        (
            "local t = os.time(); local d = os.date('!%Y'); return {status = 'Healthy', message = type(t) .. d:sub(1, 0)}",
            false,
        ),
        (
            "local o = require('os'); return {status = 'Healthy', message = type(o.time())}",
            false,
        ),
        (
            "return {status = 'Healthy', message = string.upper('ok') .. math.floor(1.5) .. table.concat({'a'})}",
            false,
        ),
    ] {
        let h = run_source(source);
        if must_fail {
            assert_eq!(h.status, HealthStatusCode::Unknown, "{source}: {h:?}");
        } else {
            assert_eq!(h.status, HealthStatusCode::Healthy, "{source}: {h:?}");
        }
    }
}

#[test]
fn lua_results_follow_argo_cds_rules() {
    let h = run_source("return {status = 'Great'}");
    assert_eq!(
        (h.status, h.message.as_deref()),
        (
            HealthStatusCode::Unknown,
            Some("Lua returned an invalid health status")
        )
    );
    let h = run_source("return 'Healthy'");
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert_eq!(
        h.message.as_deref(),
        Some("expect table output from Lua script, not string")
    );
    // JSON null is nil in Lua; arrays are 1-based.
    let h = run_source(
        "return {status = 'Healthy', message = tostring(obj.spec.items[1]) .. tostring(obj.spec.items[2]) .. tostring(obj.spec.items[3])}",
    );
    assert_eq!(h.message.as_deref(), Some("1nil3"));
    let h = run_source("this is not lua");
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(
        h.message
            .unwrap_or_default()
            .contains("failed to load health script inline")
    );
}

#[test]
fn a_lua_check_cannot_exhaust_memory() {
    let h = run_source("local s = string.rep('x', 2^30); return {status = 'Healthy'}");
    assert_eq!(h.status, HealthStatusCode::Unknown, "{h:?}");
    assert!(h.message.unwrap_or_default().contains("memory"));
}

#[test]
fn health_tests_pass_for_the_pass_fixtures() {
    let report =
        testing::run_dir(&fixtures().join("lua/pass"), &LuaLimits::default()).expect("walkable");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.passed, 12);
    assert_eq!(report.summary(), "12 passed, 0 failed");
}

#[test]
fn health_tests_report_each_failing_case() {
    let limits = LuaLimits {
        max_instructions: 1_000_000,
        ..LuaLimits::default()
    };
    let report = testing::run_dir(&fixtures().join("lua/fail"), &limits).expect("walkable");
    assert_eq!(report.summary(), "1 passed, 5 failed");
    let lines: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    let find = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(find("Crasher") && find("attempt to index"), "{lines:#?}");
    assert!(find("Escaper") && find("execute"), "{lines:#?}");
    assert!(
        find("Looper") && find("instruction limit exceeded"),
        "{lines:#?}"
    );
    assert!(
        find("expected Degraded \"broken\", got Healthy \"always\""),
        "{lines:#?}"
    );
    assert!(find("absent.yaml") && find("cannot read"), "{lines:#?}");
}

fn obj(api_version: &str, kind: &str, name: &str, extra: Value) -> Value {
    let mut o = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "apps"}});
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    o
}

#[test]
fn app_health_is_the_worst_resource_with_argo_cds_exceptions() {
    let checker = HealthChecker::default();
    let healthy_pvc = obj(
        "v1",
        "PersistentVolumeClaim",
        "data",
        json!({"status": {"phase": "Bound"}}),
    );
    let pending_pvc = obj(
        "v1",
        "PersistentVolumeClaim",
        "cache",
        json!({"status": {"phase": "Pending"}}),
    );
    let lost_pvc = obj(
        "v1",
        "PersistentVolumeClaim",
        "old",
        json!({"status": {"phase": "Lost"}}),
    );
    let cm = obj("v1", "ConfigMap", "cfg", json!({}));
    let res = |group, kind, live| ManagedResource {
        group,
        kind,
        live,
        target: live,
    };

    let app = checker.app_health(
        &[
            res("", "PersistentVolumeClaim", Some(&healthy_pvc)),
            res("", "ConfigMap", Some(&cm)),
        ],
        None,
    );
    assert_eq!(app.status, HealthStatusCode::Healthy);
    assert_eq!(app.resources[1], None);

    let app = checker.app_health(
        &[
            res("", "PersistentVolumeClaim", Some(&healthy_pvc)),
            res("", "PersistentVolumeClaim", Some(&pending_pvc)),
        ],
        None,
    );
    assert_eq!(app.status, HealthStatusCode::Progressing);

    // A missing ConfigMap (no health check for its kind) does not make the app Missing ...
    let missing_cm = ManagedResource {
        group: "",
        kind: "ConfigMap",
        live: None,
        target: Some(&cm),
    };
    let app = checker.app_health(
        &[
            res("", "PersistentVolumeClaim", Some(&healthy_pvc)),
            missing_cm,
        ],
        None,
    );
    assert_eq!(app.status, HealthStatusCode::Healthy);
    assert_eq!(
        app.resources[1].as_ref().map(|h| h.status),
        Some(HealthStatusCode::Missing)
    );
    // ... a missing PVC does.
    let missing_pvc = ManagedResource {
        group: "",
        kind: "PersistentVolumeClaim",
        live: None,
        target: Some(&healthy_pvc),
    };
    assert_eq!(
        checker.app_health(&[missing_cm, missing_pvc], None).status,
        HealthStatusCode::Missing
    );

    // ignore-healthcheck and hooks are left out.
    let mut ignored = lost_pvc.clone();
    ignored["metadata"]["annotations"] = json!({"argocd.argoproj.io/ignore-healthcheck": "true"});
    let mut hook = lost_pvc.clone();
    hook["metadata"]["annotations"] = json!({"helm.sh/hook": "pre-install"});
    let app = checker.app_health(
        &[
            res("", "PersistentVolumeClaim", Some(&ignored)),
            res("", "PersistentVolumeClaim", Some(&hook)),
        ],
        None,
    );
    assert_eq!(app.status, HealthStatusCode::Healthy);
    // Without the annotation the Lost PVC degrades the app.
    assert_eq!(
        checker
            .app_health(&[res("", "PersistentVolumeClaim", Some(&lost_pvc))], None)
            .status,
        HealthStatusCode::Degraded
    );

    // Skip hooks in the desired state are left out even when missing.
    let mut skipped = healthy_pvc.clone();
    skipped["metadata"]["annotations"] = json!({"argocd.argoproj.io/hook": "Skip"});
    let skip = ManagedResource {
        group: "",
        kind: "PersistentVolumeClaim",
        live: None,
        target: Some(&skipped),
    };
    assert_eq!(
        checker.app_health(&[skip], None).status,
        HealthStatusCode::Healthy
    );
}

#[test]
fn child_applications_missing_or_unknown_do_not_count_nor_does_the_app_itself() {
    let data = [(
        "resource.customizations.health.argoproj.io_Application",
        "if obj.status == nil then return {status = 'Unknown'} end return {status = obj.status.health.status}",
    )];
    let checker = HealthChecker::new(LuaOverrides::from_config_map(data).expect("valid"));
    let unknown_child = obj("argoproj.io/v1alpha1", "Application", "child", json!({}));
    let degraded_child = obj(
        "argoproj.io/v1alpha1",
        "Application",
        "other",
        json!({"status": {"health": {"status": "Degraded"}}}),
    );
    let me = obj(
        "argoproj.io/v1alpha1",
        "Application",
        "root",
        json!({"status": {"health": {"status": "Degraded"}}}),
    );
    let res = |live| ManagedResource {
        group: "argoproj.io",
        kind: "Application",
        live: Some(live),
        target: Some(live),
    };
    assert_eq!(
        checker.app_health(&[res(&unknown_child)], None).status,
        HealthStatusCode::Healthy
    );
    assert_eq!(
        checker.app_health(&[res(&degraded_child)], None).status,
        HealthStatusCode::Degraded
    );
    assert_eq!(
        checker
            .app_health(&[res(&me)], Some(("apps", "root")))
            .status,
        HealthStatusCode::Healthy
    );
    assert_eq!(
        checker
            .app_health(&[res(&me)], Some(("apps", "other")))
            .status,
        HealthStatusCode::Degraded
    );
}
