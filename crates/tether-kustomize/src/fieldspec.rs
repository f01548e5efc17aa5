//! Field specs (a gvk selector, a slash path, and whether to create missing fields) and the
//! default transformer configuration: which fields each transformer touches, per kind. The
//! tables reproduce the behaviour of kustomize's built-in configuration.

use crate::resid::Gvk;
use crate::types::{FieldSpecDef, TransformerConfigDef};
use serde_json::{Map, Value};

/// One path segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Seg {
    pub name: String,
    /// Written `name[]`: the field is a list.
    pub seq: bool,
}

/// A field spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub gvk: Gvk,
    pub path: String,
    pub segs: Vec<Seg>,
    pub create: bool,
}

/// Splits a slash path, honouring `\/` escapes.
pub fn split_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_suffix("[]") {
            Some(n) => Seg {
                name: n.to_string(),
                seq: true,
            },
            None => Seg {
                name: s,
                seq: false,
            },
        })
        .collect()
}

impl FieldSpec {
    pub fn new(kind: &str, group: &str, version: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            gvk: Gvk {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
            },
            path: path.into(),
            segs: split_path(path),
            create,
        }
    }

    pub fn from_def(d: &FieldSpecDef) -> Self {
        FieldSpec::new(
            d.kind.as_deref().unwrap_or(""),
            d.group.as_deref().unwrap_or(""),
            d.version.as_deref().unwrap_or(""),
            &d.path,
            d.create.unwrap_or(false),
        )
    }

    /// Visits every node at this spec's path in `obj`, creating missing fields when the spec
    /// says so (`leaf` gives the kind of node to create at the end).
    pub fn apply(
        &self,
        obj: &mut Value,
        leaf: Leaf,
        f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
    ) -> Result<(), String> {
        walk(obj, &self.segs, self.create, leaf, f)
    }
}

/// What to create at the end of a path.
#[derive(Debug, Clone, Copy)]
pub enum Leaf {
    Map,
    Scalar,
    /// Never create.
    None,
}

fn walk(
    node: &mut Value,
    segs: &[Seg],
    create: bool,
    leaf: Leaf,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let Some((seg, rest)) = segs.split_first() else {
        return f(node);
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for it in items {
                walk(it, segs, create, leaf, f)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            if !m.contains_key(&seg.name) {
                // kustomize never creates a missing list (`name[]`), only maps and leaves.
                if !create || seg.seq {
                    return Ok(());
                }
                let v = if rest.is_empty() {
                    match leaf {
                        Leaf::Map => Value::Object(Map::new()),
                        Leaf::Scalar => Value::String(String::new()),
                        Leaf::None => return Ok(()),
                    }
                } else if seg.seq {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                };
                m.insert(seg.name.clone(), v);
            }
            let child = m.get_mut(&seg.name).expect("present or just inserted");
            if child.is_null() && create && rest.is_empty() && matches!(leaf, Leaf::Map) {
                *child = Value::Object(Map::new());
            }
            walk(child, rest, create, leaf, f)
        }
        _ => Err(format!(
            "expected sequence or mapping node at `{}`",
            seg.name
        )),
    }
}

/// Field specs for every transformer.
#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub var_reference: Vec<FieldSpec>,
    /// Referral target gvk and the fields that refer to it.
    pub name_reference: Vec<(Gvk, Vec<FieldSpec>)>,
}

fn merge_specs(into: &mut Vec<FieldSpec>, more: impl IntoIterator<Item = FieldSpec>) {
    for fs in more {
        if !into.iter().any(|x| x.gvk == fs.gvk && x.path == fs.path) {
            into.push(fs);
        }
    }
}

impl TransformerConfig {
    /// Adds a configuration file's specs.
    pub fn merge_def(&mut self, d: &TransformerConfigDef) {
        let conv = |v: &Vec<FieldSpecDef>| v.iter().map(FieldSpec::from_def).collect::<Vec<_>>();
        merge_specs(&mut self.name_prefix, conv(&d.name_prefix));
        merge_specs(&mut self.name_suffix, conv(&d.name_suffix));
        merge_specs(&mut self.namespace, conv(&d.namespace));
        merge_specs(&mut self.common_labels, conv(&d.common_labels));
        merge_specs(&mut self.template_labels, conv(&d.template_labels));
        merge_specs(&mut self.common_annotations, conv(&d.common_annotations));
        merge_specs(&mut self.images, conv(&d.images));
        merge_specs(&mut self.replicas, conv(&d.replicas));
        merge_specs(&mut self.var_reference, conv(&d.var_reference));
        for nr in &d.name_reference {
            let gvk = Gvk {
                group: nr.group.clone().unwrap_or_default(),
                version: nr.version.clone().unwrap_or_default(),
                kind: nr.kind.clone().unwrap_or_default(),
            };
            let specs = conv(&nr.field_specs);
            match self.name_reference.iter_mut().find(|(g, _)| *g == gvk) {
                Some((_, v)) => merge_specs(v, specs),
                None => self.name_reference.push((gvk, specs)),
            }
        }
    }

    /// Merges another configuration (used when a child's configurations reach the parent).
    pub fn merge(&mut self, o: &TransformerConfig) {
        merge_specs(&mut self.name_prefix, o.name_prefix.clone());
        merge_specs(&mut self.name_suffix, o.name_suffix.clone());
        merge_specs(&mut self.namespace, o.namespace.clone());
        merge_specs(&mut self.common_labels, o.common_labels.clone());
        merge_specs(&mut self.template_labels, o.template_labels.clone());
        merge_specs(&mut self.common_annotations, o.common_annotations.clone());
        merge_specs(&mut self.images, o.images.clone());
        merge_specs(&mut self.replicas, o.replicas.clone());
        merge_specs(&mut self.var_reference, o.var_reference.clone());
        for (gvk, specs) in &o.name_reference {
            match self.name_reference.iter_mut().find(|(g, _)| g == gvk) {
                Some((_, v)) => merge_specs(v, specs.clone()),
                None => self.name_reference.push((gvk.clone(), specs.clone())),
            }
        }
    }

    /// kustomize's built-in configuration.
    pub fn builtin() -> Self {
        let t = |rows: &[(&str, &str, &str, &str, bool)]| {
            rows.iter()
                .map(|(k, g, v, p, c)| FieldSpec::new(k, g, v, p, *c))
                .collect::<Vec<_>>()
        };
        let template = t(METADATA_LABELS);
        let mut common = t(COMMON_LABELS_SELECTORS);
        common.append(&mut template.clone());
        let name_reference = NAME_REFERENCE
            .iter()
            .map(|(k, g, v, rows)| {
                (
                    Gvk {
                        group: (*g).into(),
                        version: (*v).into(),
                        kind: (*k).into(),
                    },
                    t(rows),
                )
            })
            .collect();
        TransformerConfig {
            name_prefix: t(&[("", "", "", "metadata/name", false)]),
            name_suffix: t(&[("", "", "", "metadata/name", false)]),
            namespace: t(NAMESPACE),
            common_labels: common,
            template_labels: template,
            common_annotations: t(COMMON_ANNOTATIONS),
            images: t(IMAGES),
            replicas: t(REPLICAS),
            var_reference: t(&VAR_REFERENCE),
            name_reference,
        }
    }
}

type Row = (&'static str, &'static str, &'static str, &'static str, bool);

/// `metadata/labels` everywhere, and pod template labels of the workload kinds.
const METADATA_LABELS: &[Row] = &[
    ("", "", "", "metadata/labels", true),
    (
        "ReplicationController",
        "",
        "v1",
        "spec/template/metadata/labels",
        true,
    ),
    ("Deployment", "", "", "spec/template/metadata/labels", true),
    ("ReplicaSet", "", "", "spec/template/metadata/labels", true),
    ("DaemonSet", "", "", "spec/template/metadata/labels", true),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/template/metadata/labels",
        true,
    ),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    ("Job", "batch", "", "spec/template/metadata/labels", true),
    (
        "CronJob",
        "batch",
        "",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    (
        "CronJob",
        "batch",
        "",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Selector fields that `commonLabels` (and `labels.includeSelectors`) also set.
const COMMON_LABELS_SELECTORS: &[Row] = &[
    ("Service", "", "v1", "spec/selector", true),
    ("ReplicationController", "", "v1", "spec/selector", true),
    ("Deployment", "", "", "spec/selector/matchLabels", true),
    (
        "Deployment",
        "apps",
        "",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "Deployment",
        "apps",
        "",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "Deployment",
        "apps",
        "",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "Deployment",
        "apps",
        "",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "Deployment",
        "apps",
        "",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    ("ReplicaSet", "", "", "spec/selector/matchLabels", true),
    ("DaemonSet", "", "", "spec/selector/matchLabels", true),
    ("StatefulSet", "apps", "", "spec/selector/matchLabels", true),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "StatefulSet",
        "apps",
        "",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    ("Job", "batch", "", "spec/selector/matchLabels", false),
    (
        "CronJob",
        "batch",
        "",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    (
        "PodDisruptionBudget",
        "policy",
        "",
        "spec/selector/matchLabels",
        false,
    ),
    (
        "NetworkPolicy",
        "networking.k8s.io",
        "",
        "spec/podSelector/matchLabels",
        false,
    ),
    (
        "NetworkPolicy",
        "networking.k8s.io",
        "",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    (
        "NetworkPolicy",
        "networking.k8s.io",
        "",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

const COMMON_ANNOTATIONS: &[Row] = &[
    ("", "", "", "metadata/annotations", true),
    (
        "ReplicationController",
        "",
        "v1",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "Deployment",
        "",
        "",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "ReplicaSet",
        "",
        "",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "DaemonSet",
        "",
        "",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "StatefulSet",
        "",
        "",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "Job",
        "batch",
        "",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "CronJob",
        "batch",
        "",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    (
        "CronJob",
        "batch",
        "",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// Namespace fields beyond `metadata/namespace` (handled by the transformer itself).
const NAMESPACE: &[Row] = &[
    ("Namespace", "", "", "metadata/name", true),
    (
        "APIService",
        "apiregistration.k8s.io",
        "",
        "spec/service/namespace",
        true,
    ),
    (
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        "",
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

const IMAGES: &[Row] = &[
    ("", "", "", "spec/containers[]/image", true),
    ("", "", "", "spec/initContainers[]/image", true),
    ("", "", "", "spec/template/spec/containers[]/image", true),
    (
        "",
        "",
        "",
        "spec/template/spec/initContainers[]/image",
        true,
    ),
];

const REPLICAS: &[Row] = &[
    ("Deployment", "", "", "spec/replicas", true),
    ("ReplicationController", "", "", "spec/replicas", true),
    ("ReplicaSet", "", "", "spec/replicas", true),
    ("StatefulSet", "", "", "spec/replicas", true),
];

macro_rules! pod_refs {
    ($($suffix:literal),* $(,)?) => {
        &[
            $(("Pod", "", "v1", concat!("spec/", $suffix), false),)*
            $(("PodTemplate", "", "", concat!("template/spec/", $suffix), false),)*
            $(("Deployment", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("ReplicaSet", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("DaemonSet", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("StatefulSet", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("Job", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("CronJob", "", "", concat!("spec/jobTemplate/spec/template/spec/", $suffix), false),)*
        ]
    };
}

const CM_POD_REFS: &[Row] = pod_refs!(
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
);

const CM_OTHER_REFS: &[Row] = &[
    ("Node", "", "", "spec/configSource/configMap", false),
    ("Role", "", "", "rules/resourceNames", false),
    ("ClusterRole", "", "", "rules/resourceNames", false),
    (
        "Ingress",
        "",
        "",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        false,
    ),
];

const SECRET_POD_REFS: &[Row] = pod_refs!(
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
);

const SECRET_OTHER_REFS: &[Row] = &[
    ("Ingress", "", "", "spec/tls/secretName", false),
    (
        "Ingress",
        "",
        "",
        "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        false,
    ),
    (
        "Ingress",
        "",
        "",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        false,
    ),
    (
        "Ingress",
        "",
        "",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        false,
    ),
    ("ServiceAccount", "", "", "imagePullSecrets/name", false),
    ("StorageClass", "", "", "parameters/secretName", false),
    ("StorageClass", "", "", "parameters/adminSecretName", false),
    ("StorageClass", "", "", "parameters/userSecretName", false),
    ("StorageClass", "", "", "parameters/secretRef", false),
    ("Role", "", "", "rules/resourceNames", false),
    ("ClusterRole", "", "", "rules/resourceNames", false),
    (
        "Service",
        "serving.knative.dev",
        "v1",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        false,
    ),
    (
        "PersistentVolume",
        "",
        "",
        "spec/azureFile/secretName",
        false,
    ),
];

const WORKLOADS_SA: &[Row] = &[
    (
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "",
        "subjects",
        false,
    ),
    (
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "",
        "subjects",
        false,
    ),
    ("Pod", "", "", "spec/serviceAccountName", false),
    (
        "StatefulSet",
        "",
        "",
        "spec/template/spec/serviceAccountName",
        false,
    ),
    (
        "Deployment",
        "",
        "",
        "spec/template/spec/serviceAccountName",
        false,
    ),
    (
        "ReplicationController",
        "",
        "",
        "spec/template/spec/serviceAccountName",
        false,
    ),
    (
        "CronJob",
        "",
        "",
        "spec/jobTemplate/spec/template/spec/serviceAccountName",
        false,
    ),
    (
        "Job",
        "",
        "",
        "spec/template/spec/serviceAccountName",
        false,
    ),
    (
        "DaemonSet",
        "",
        "",
        "spec/template/spec/serviceAccountName",
        false,
    ),
];

const PVC_REFS: &[Row] = &[
    (
        "Pod",
        "",
        "",
        "spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
    (
        "StatefulSet",
        "",
        "",
        "spec/template/spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
    (
        "Deployment",
        "",
        "",
        "spec/template/spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
    (
        "ReplicationController",
        "",
        "",
        "spec/template/spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
    (
        "CronJob",
        "",
        "",
        "spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
    (
        "Job",
        "",
        "",
        "spec/template/spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
    (
        "DaemonSet",
        "",
        "",
        "spec/template/spec/volumes/persistentVolumeClaim/claimName",
        false,
    ),
];

const PRIORITY_REFS: &[Row] = &[
    ("Pod", "", "", "spec/priorityClassName", false),
    (
        "StatefulSet",
        "",
        "",
        "spec/template/spec/priorityClassName",
        false,
    ),
    (
        "Deployment",
        "",
        "",
        "spec/template/spec/priorityClassName",
        false,
    ),
    (
        "ReplicationController",
        "",
        "",
        "spec/template/spec/priorityClassName",
        false,
    ),
    (
        "CronJob",
        "",
        "",
        "spec/jobTemplate/spec/template/spec/priorityClassName",
        false,
    ),
    ("Job", "", "", "spec/template/spec/priorityClassName", false),
    (
        "DaemonSet",
        "",
        "",
        "spec/template/spec/priorityClassName",
        false,
    ),
];

const HPA_TARGET: &[Row] = &[(
    "HorizontalPodAutoscaler",
    "",
    "",
    "spec/scaleTargetRef/name",
    false,
)];

const SERVICE_REFS: &[Row] = &[
    ("StatefulSet", "apps", "", "spec/serviceName", false),
    (
        "Ingress",
        "",
        "",
        "spec/rules/http/paths/backend/serviceName",
        false,
    ),
    ("Ingress", "", "", "spec/backend/serviceName", false),
    (
        "Ingress",
        "",
        "",
        "spec/rules/http/paths/backend/service/name",
        false,
    ),
    ("Ingress", "", "", "spec/defaultBackend/service/name", false),
    (
        "APIService",
        "apiregistration.k8s.io",
        "",
        "spec/service/name",
        false,
    ),
    (
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "",
        "webhooks/clientConfig/service",
        false,
    ),
    (
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "",
        "webhooks/clientConfig/service",
        false,
    ),
    ("HTTPRoute", "", "", "spec/rules/backendRefs/name", false),
];

type BackRef = (&'static str, &'static str, &'static str, &'static [Row]);

const fn concat_rows<const N: usize>(a: &'static [Row], b: &'static [Row]) -> [Row; N] {
    let mut out = [("", "", "", "", false); N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[i + j] = b[j];
        j += 1;
    }
    out
}

const CM_REFS: [Row; CM_POD_REFS.len() + CM_OTHER_REFS.len()] =
    concat_rows(CM_POD_REFS, CM_OTHER_REFS);
const SECRET_REFS: [Row; SECRET_POD_REFS.len() + SECRET_OTHER_REFS.len()] =
    concat_rows(SECRET_POD_REFS, SECRET_OTHER_REFS);

/// kustomize's name-reference table: referral target, then the fields that name it.
const NAME_REFERENCE: &[BackRef] = &[
    ("Deployment", "", "", HPA_TARGET),
    ("ReplicationController", "", "", HPA_TARGET),
    ("ReplicaSet", "", "", HPA_TARGET),
    ("StatefulSet", "", "", HPA_TARGET),
    ("ConfigMap", "", "v1", &CM_REFS),
    ("Secret", "", "v1", &SECRET_REFS),
    ("Service", "", "v1", SERVICE_REFS),
    (
        "Role",
        "rbac.authorization.k8s.io",
        "",
        &[(
            "RoleBinding",
            "rbac.authorization.k8s.io",
            "",
            "roleRef/name",
            false,
        )],
    ),
    (
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "",
        &[
            (
                "RoleBinding",
                "rbac.authorization.k8s.io",
                "",
                "roleRef/name",
                false,
            ),
            (
                "ClusterRoleBinding",
                "rbac.authorization.k8s.io",
                "",
                "roleRef/name",
                false,
            ),
        ],
    ),
    ("ServiceAccount", "", "v1", WORKLOADS_SA),
    ("PersistentVolumeClaim", "", "v1", PVC_REFS),
    (
        "PersistentVolume",
        "",
        "v1",
        &[
            ("PersistentVolumeClaim", "", "", "spec/volumeName", false),
            ("ClusterRole", "", "", "rules/resourceNames", false),
        ],
    ),
    (
        "StorageClass",
        "storage.k8s.io",
        "v1",
        &[
            ("PersistentVolume", "", "", "spec/storageClassName", false),
            (
                "PersistentVolumeClaim",
                "",
                "",
                "spec/storageClassName",
                false,
            ),
            (
                "StatefulSet",
                "",
                "",
                "spec/volumeClaimTemplates/spec/storageClassName",
                false,
            ),
        ],
    ),
    ("PriorityClass", "scheduling.k8s.io", "v1", PRIORITY_REFS),
    (
        "IngressClass",
        "networking.k8s.io/v1",
        "v1",
        &[("Ingress", "", "", "spec/ingressClassName", false)],
    ),
];

macro_rules! var_refs {
    ($($suffix:literal),* $(,)?) => {
        &[
            $(("CronJob", "", "", concat!("spec/jobTemplate/spec/template/spec/", $suffix), false),)*
            $(("DaemonSet", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("Deployment", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("Job", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("Pod", "", "", concat!("spec/", $suffix), false),)*
            $(("ReplicaSet", "", "", concat!("spec/template/spec/", $suffix), false),)*
            $(("StatefulSet", "", "", concat!("spec/template/spec/", $suffix), false),)*
        ]
    };
}

const VAR_REFERENCE_WORKLOADS: &[Row] = var_refs!(
    "containers/args",
    "containers/command",
    "containers/env/value",
    "containers/volumeMounts/mountPath",
    "initContainers/args",
    "initContainers/command",
    "initContainers/env/value",
    "initContainers/volumeMounts/mountPath",
);

const VAR_REFERENCE_OTHER: &[Row] = &[
    ("Ingress", "", "", "spec/rules/host", false),
    ("Ingress", "", "", "spec/tls/hosts", false),
    ("Ingress", "", "", "spec/tls/secretName", false),
    ("Service", "", "", "spec/ports/port", false),
    ("Service", "", "", "spec/ports/targetPort", false),
    ("", "", "", "metadata/labels", false),
    ("", "", "", "metadata/annotations", false),
];

/// Fields where legacy `$(VAR)` references are expanded.
const VAR_REFERENCE: [Row; VAR_REFERENCE_WORKLOADS.len() + VAR_REFERENCE_OTHER.len()] =
    concat_rows(VAR_REFERENCE_WORKLOADS, VAR_REFERENCE_OTHER);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_escaped() {
        let s = split_path("metadata/annotations/a.b\\/c");
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].name, "a.b/c");
        assert!(split_path("spec/containers[]/image")[1].seq);
    }
}
