//! CustomResourceDefinitions generated from the types, as `tether crds` prints them and
//! `manifests/crds/` holds them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceValidation,
    JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResourceExt;

use crate::{AppProject, Application, ApplicationSet};

/// The CRD of [`Application`], built with the same schemars settings as kube's derive uses.
pub fn application_crd() -> CustomResourceDefinition {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .with_transform(kube::core::schema::OptionalIntOrString)
        .into_generator();
    let mut schema = serde_json::to_value(generator.into_root_schema_for::<Application>())
        .expect("a schemars schema is JSON");
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert("metadata".into(), serde_json::json!({"type": "object"}));
    }
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("required".into(), serde_json::json!(["metadata", "spec"]));
    }
    let schema: JSONSchemaProps =
        serde_json::from_value(schema).expect("schemars output is a valid JSONSchemaProps");
    let column = |name: &str, path: &str, priority: Option<i32>| CustomResourceColumnDefinition {
        name: name.into(),
        type_: "string".into(),
        json_path: path.into(),
        priority,
        ..Default::default()
    };
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some("applications.argoproj.io".into()),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: crate::GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: "Application".into(),
                list_kind: Some("ApplicationList".into()),
                plural: "applications".into(),
                singular: Some("application".into()),
                short_names: Some(vec!["app".into(), "apps".into()]),
                ..Default::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: crate::VERSION.into(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(schema),
                }),
                additional_printer_columns: Some(vec![
                    column("Sync Status", ".status.sync.status", None),
                    column("Health Status", ".status.health.status", None),
                    column("Revision", ".status.sync.revision", Some(10)),
                    column("Project", ".spec.project", Some(10)),
                ]),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

/// The CRD of [`AppProject`]. As in Argo CD, it has no status subresource: status is written
/// together with the spec.
pub fn appproject_crd() -> CustomResourceDefinition {
    let mut crd = AppProject::crd();
    for version in &mut crd.spec.versions {
        version.subresources = None;
    }
    crd
}

/// The three CRDs, in the order `tether crds` prints them.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![application_crd(), appproject_crd(), ApplicationSet::crd()]
}

/// File names under `manifests/crds/`, in the order of [`all`].
pub const FILE_NAMES: [&str; 3] = [
    "application-crd.yaml",
    "appproject-crd.yaml",
    "applicationset-crd.yaml",
];

/// One CRD as a YAML document (no leading `---`).
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    serde_yaml::to_string(crd).expect("a CRD serialises to YAML")
}

/// All CRDs as one YAML stream, documents separated by `---`.
pub fn yaml_stream() -> String {
    all().iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}
