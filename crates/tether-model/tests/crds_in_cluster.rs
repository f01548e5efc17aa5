//! The generated CRDs install into a real kube-apiserver (from the testenv), and every example
//! Application, AppProject and ApplicationSet (using every option, every sync option included) is
//! created and read back unchanged: the API server's structural-schema pruning would drop any field
//! the CRDs do not describe, so this also checks the schemas against the types.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("tether-test").force();
    for crd in tether_model::crd::all() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .expect("the CRD is accepted");
    }
    for crd in tether_model::crd::all() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        let mut established = false;
        for _ in 0..100 {
            let live = crds.get(&name).await.expect("CRD readable");
            established = live
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(established, "{name} becomes Established");
    }
}

#[tokio::test]
async fn crds_install_and_examples_read_back_unchanged() {
    let ns = tether_testenv::namespace().await;
    let client = ns.client();
    install_crds(&client).await;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/argocd");
    let mut created = 0;
    let mut saw_every_sync_option = false;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut doc: serde_json::Value = serde::Deserialize::deserialize(doc).expect("YAML");
            doc["metadata"]["namespace"] = ns.name().into();
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", &kind);
            let plural = format!("{}s", kind.to_lowercase());
            let api: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                ns.name(),
                &ApiResource::from_gvk_with_plural(&gvk, &plural),
            );
            let object: DynamicObject =
                serde_json::from_value(doc.clone()).expect("a Kubernetes object");
            let name = object.metadata.name.clone().expect("named");
            api.create(&PostParams::default(), &object)
                .await
                .unwrap_or_else(|e| panic!("{}: {kind} {name} is accepted: {e}", file.display()));
            let back =
                serde_json::to_value(api.get(&name).await.expect("read back")).expect("JSON");
            for field in ["spec", "operation", "status"] {
                // As in Argo CD, only ApplicationSet has a status subresource, so its status is not
                // stored on create.
                if kind == "ApplicationSet" && field == "status" {
                    continue;
                }
                assert_eq!(
                    back.get(field),
                    doc.get(field),
                    "{}: {kind} {name}: {field} read back changed",
                    file.display()
                );
            }
            if kind == "Application" {
                let app: tether_model::Application =
                    serde_json::from_value(back).expect("reads back as the typed model");
                let options = app
                    .spec
                    .sync_policy
                    .map(|p| p.sync_options)
                    .unwrap_or_default();
                let keys: Vec<&str> = options
                    .iter()
                    .filter_map(|o| o.split_once('=').map(|(k, _)| k))
                    .collect();
                saw_every_sync_option |= tether_model::annotations::SYNC_OPTION_VALUES
                    .iter()
                    .all(|(k, _)| keys.contains(k));
            }
            created += 1;
        }
    }
    assert!(
        created >= 9,
        "every example document was created ({created})"
    );
    assert!(
        saw_every_sync_option,
        "an Application using every sync option was created and read back"
    );
}
