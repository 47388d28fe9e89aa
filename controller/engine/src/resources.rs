//! Reading shopset resources from YAML documents, with errors that name the file, the
//! resource, the field and what was expected. One bad document never hides the others.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;
use shopset_crds::{ConfigurationSpec, FailureDomainSpec, ShopSetSpec, TierSpec, names};
use shopset_render::yaml;

/// A resource that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {kind} {name:?}: {field}: {message}")]
pub struct InputError {
    /// The file (or other source) it came from.
    pub file: String,
    /// Its kind, or `document` when unknown.
    pub kind: String,
    /// Its name, or empty when unknown.
    pub name: String,
    /// The field path.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A resource and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    /// The file it was read from.
    pub file: String,
    /// Its spec.
    pub spec: T,
}

/// Every resource read, by kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Tiers.
    pub tiers: BTreeMap<String, Sourced<TierSpec>>,
    /// Configurations.
    pub configurations: BTreeMap<String, Sourced<ConfigurationSpec>>,
    /// Failure domains.
    pub failure_domains: BTreeMap<String, Sourced<FailureDomainSpec>>,
    /// ShopSets.
    pub shop_sets: BTreeMap<String, Sourced<ShopSetSpec>>,
    /// Tier annotations (holds, approvals, confirmations), by Tier.
    pub tier_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// Placements recorded in ShopSet status (`status.failureDomain`), by ShopSet.
    pub recorded_placements: BTreeMap<String, String>,
    /// Names of resources that were present but invalid, by kind: they are not "removed".
    pub invalid: BTreeMap<&'static str, Vec<String>>,
    /// True when some document could not even be identified (kind and name unknown): then no
    /// ShopSet may be treated as removed.
    pub incomplete: bool,
    /// What went wrong.
    pub errors: Vec<InputError>,
}

/// The four kinds.
pub const KINDS: [&str; 4] = ["Tier", "Configuration", "FailureDomain", "ShopSet"];

fn typed<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        let mut message = e.into_inner().to_string();
        if message.contains("expected a string") || message.contains("expected struct") {
            message.push_str(" (quote values that YAML would read as numbers or booleans)");
        }
        (field, message)
    })
}

impl Resources {
    /// Reads every document of a YAML text from `file`.
    pub fn add_text(&mut self, file: &str, text: &str) {
        match yaml::parse_documents(text) {
            Ok(docs) => {
                for doc in docs {
                    self.add_document(file, &doc);
                }
            }
            Err(e) => {
                self.incomplete = true;
                self.errors.push(InputError {
                    file: file.to_owned(),
                    kind: "document".into(),
                    name: String::new(),
                    field: "(YAML)".into(),
                    message: e.to_string(),
                });
            }
        }
    }

    /// Records a file that could not be read: the set is then incomplete.
    pub fn add_unreadable(&mut self, file: &str, message: &str) {
        self.incomplete = true;
        self.errors.push(InputError {
            file: file.to_owned(),
            kind: "document".into(),
            name: String::new(),
            field: "(file)".into(),
            message: message.to_owned(),
        });
    }

    /// Reads one object, already parsed (from the API server, for example); `file` says where
    /// it came from in errors.
    pub fn add_object(&mut self, file: &str, doc: &Value) {
        self.add_document(file, doc);
    }

    fn add_document(&mut self, file: &str, doc: &Value) {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let fail = |this: &mut Self, field: &str, message: String, known: bool| {
            if known {
                let kind_static = KINDS
                    .iter()
                    .find(|k| **k == kind)
                    .copied()
                    .unwrap_or("document");
                this.invalid
                    .entry(kind_static)
                    .or_default()
                    .push(name.clone());
            } else {
                this.incomplete = true;
            }
            this.errors.push(InputError {
                file: file.to_owned(),
                kind: if kind.is_empty() {
                    "document".into()
                } else {
                    kind.clone()
                },
                name: name.clone(),
                field: field.to_owned(),
                message,
            });
        };
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version != shopset_crds::API_VERSION {
            // Other objects (a Namespace, a Secret) may sit beside ours: they are not ours to read.
            if api_version.starts_with(shopset_crds::GROUP) || KINDS.contains(&kind.as_str()) {
                fail(
                    self,
                    "apiVersion",
                    format!(
                        "expected {:?}, got {api_version:?}",
                        shopset_crds::API_VERSION
                    ),
                    false,
                );
            }
            return;
        }
        if !KINDS.contains(&kind.as_str()) {
            fail(
                self,
                "kind",
                format!("expected one of {KINDS:?}, got {kind:?}"),
                false,
            );
            return;
        }
        if let Err(message) = names::dns_label(&name) {
            fail(self, "metadata.name", message, name.is_empty());
            return;
        }
        let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
        let duplicate = |this: &Self| match kind.as_str() {
            "Tier" => this.tiers.get(&name).map(|s| s.file.clone()),
            "Configuration" => this.configurations.get(&name).map(|s| s.file.clone()),
            "FailureDomain" => this.failure_domains.get(&name).map(|s| s.file.clone()),
            _ => this.shop_sets.get(&name).map(|s| s.file.clone()),
        };
        if let Some(first) = duplicate(self) {
            fail(
                self,
                "metadata.name",
                format!("defined twice (first in {first})"),
                true,
            );
            return;
        }
        let result = match kind.as_str() {
            "Tier" => typed(&spec, "spec").map(|spec| {
                let annotations: BTreeMap<String, String> = doc
                    .pointer("/metadata/annotations")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                self.tier_annotations.insert(name.clone(), annotations);
                self.tiers.insert(
                    name.clone(),
                    Sourced {
                        file: file.to_owned(),
                        spec,
                    },
                );
            }),
            "Configuration" => typed::<ConfigurationSpec>(&spec, "spec").and_then(|spec| {
                if spec.inline.is_some() == spec.source.is_some() {
                    return Err(("spec".into(), "set exactly one of inline and source".into()));
                }
                self.configurations.insert(
                    name.clone(),
                    Sourced {
                        file: file.to_owned(),
                        spec,
                    },
                );
                Ok(())
            }),
            "FailureDomain" => typed::<FailureDomainSpec>(&spec, "spec").and_then(|spec| {
                if spec.destination.name.is_some() == spec.destination.server.is_some() {
                    return Err((
                        "spec.destination".into(),
                        "set exactly one of name and server".into(),
                    ));
                }
                self.failure_domains.insert(
                    name.clone(),
                    Sourced {
                        file: file.to_owned(),
                        spec,
                    },
                );
                Ok(())
            }),
            _ => typed::<ShopSetSpec>(&spec, "spec").map(|spec| {
                if let Some(fd) = doc.pointer("/status/failureDomain").and_then(Value::as_str) {
                    self.recorded_placements.insert(name.clone(), fd.to_owned());
                }
                self.shop_sets.insert(
                    name.clone(),
                    Sourced {
                        file: file.to_owned(),
                        spec,
                    },
                );
            }),
        };
        if let Err((field, message)) = result {
            fail(self, &field, message, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_resource_and_field() {
        let mut r = Resources::default();
        r.add_text(
            "a.yaml",
            "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: good}\nspec: {tier: t, configuration: c}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: bad}\nspec: {tier: t, configuration: c, maintenance: 3}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
        );
        assert!(r.shop_sets.contains_key("good"));
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        let e = &r.errors[0];
        assert_eq!(
            (
                e.file.as_str(),
                e.kind.as_str(),
                e.name.as_str(),
                e.field.as_str()
            ),
            ("a.yaml", "ShopSet", "bad", "spec.maintenance")
        );
        assert!(e.message.contains("expected a boolean"), "{}", e.message);
        assert_eq!(r.invalid["ShopSet"], vec!["bad".to_string()]);
        assert!(!r.incomplete);
    }

    #[test]
    fn unreadable_text_marks_the_set_incomplete() {
        let mut r = Resources::default();
        r.add_text("b.yaml", "a: [unclosed\n");
        assert!(r.incomplete);
        assert_eq!(r.errors[0].file, "b.yaml");
    }
}
