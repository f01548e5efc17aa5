//! schemars helpers for fields Kubernetes must store as free-form objects.

/// Schema of a free-form object: kept as written (`x-kubernetes-preserve-unknown-fields`).
pub(crate) fn preserve_unknown(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
