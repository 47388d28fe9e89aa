//! Types shared by several resources.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A git repository the product reads or writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepoRef {
    /// Clone URL: `https://`, `ssh://`, `git://`, `file://` or a local path. Never put credentials
    /// in it: use `secretRef`.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// Secret holding the credentials (`username`/`password`, or `sshPrivateKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// A reference to a Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::names::DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

/// The standard Kubernetes condition.
pub type Condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Schema of a free-form JSON object that the API server keeps as it is.
pub fn free_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema of a free-form JSON object, which may be absent.
pub fn optional_free_object(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    free_object(generator)
}
