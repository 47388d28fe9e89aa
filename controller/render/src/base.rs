//! What the app repository's base holds at the app commit, as far as a ShopSet's settings can
//! name it: the kinds and names of its objects. The engine reads it (git); this module only
//! holds it and checks settings against it, so a setting naming a workload the base lacks is
//! refused before it is committed rather than failing later in Argo CD.

use std::collections::BTreeSet;

use shopset_crds::ConfigBody;

use crate::error::RenderError;

/// Kinds whose replica count Kustomize's `replicas` field sets (Argo Rollouts' `Rollout`
/// included: its Kustomize configuration teaches Kustomize the field).
pub const SCALABLE_KINDS: [&str; 5] = [
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
    "Rollout",
];

/// The objects of a base: `(kind, name)` after every name prefix and suffix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseCatalog {
    /// Kind and final name of every object found.
    pub objects: BTreeSet<(String, String)>,
    /// False when the base uses something not read here (a remote resource, a component, a
    /// generator, a Helm chart): then nothing is refused for being absent.
    pub complete: bool,
}

impl BaseCatalog {
    /// Whether an object of one of `kinds` named `name` is in the base.
    #[must_use]
    pub fn has(&self, kinds: &[&str], name: &str) -> bool {
        self.objects
            .iter()
            .any(|(k, n)| n == name && kinds.contains(&k.as_str()))
    }
}

/// Checks a ShopSet's merged settings against its base: every `replicas` entry must name a
/// scalable workload the base has; a workload released by canary, a Deployment (and its
/// `hpa`, a HorizontalPodAutoscaler); a scheduled restart, a workload of its kind.
///
/// # Errors
/// The first setting naming something the base lacks, with its field.
pub fn check(shopset: &str, settings: &ConfigBody, base: &BaseCatalog) -> Result<(), RenderError> {
    if !base.complete {
        return Ok(());
    }
    for (name, count) in &settings.replicas {
        if count.is_some() && !base.has(&SCALABLE_KINDS, name) {
            let known: Vec<&str> = base
                .objects
                .iter()
                .filter(|(k, _)| SCALABLE_KINDS.contains(&k.as_str()))
                .map(|(_, n)| n.as_str())
                .collect();
            return Err(RenderError::shopset(
                shopset,
                format!("replicas.{name}"),
                format!(
                    "the base has no workload named {name:?}; expected one of [{}]",
                    known.join(", ")
                ),
            ));
        }
    }
    let missing = |field: String, kind: &str, name: &str| {
        let known: Vec<&str> = base
            .objects
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n.as_str())
            .collect();
        Err(RenderError::shopset(
            shopset,
            field,
            format!(
                "the base has no {kind} named {name:?}; expected one of [{}]",
                known.join(", ")
            ),
        ))
    };
    if let Some(p) = &settings.progressive_delivery {
        for (name, w) in &p.workloads {
            let Some(w) = w else { continue };
            if !base.has(&["Deployment"], name) {
                return missing(
                    format!("progressiveDelivery.workloads.{name}"),
                    "Deployment",
                    name,
                );
            }
            if let Some(hpa) = &w.hpa
                && !base.has(&["HorizontalPodAutoscaler"], hpa)
            {
                return missing(
                    format!("progressiveDelivery.workloads.{name}.hpa"),
                    "HorizontalPodAutoscaler",
                    hpa,
                );
            }
        }
    }
    for (name, r) in &settings.restarts {
        let Some(r) = r else { continue };
        let kind = r.kind.as_deref().unwrap_or("Deployment");
        if !base.has(&[kind], name) {
            return missing(format!("restarts.{name}"), kind, name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_must_name_a_workload_of_a_complete_base() {
        let mut base = BaseCatalog {
            objects: BTreeSet::from([
                ("Deployment".to_owned(), "web".to_owned()),
                ("Service".to_owned(), "db".to_owned()),
            ]),
            complete: true,
        };
        let mut settings = ConfigBody::default();
        settings.replicas.insert("web".into(), Some(3));
        assert!(check("s", &settings, &base).is_ok());
        settings.replicas.insert("db".into(), Some(1));
        let e = check("s", &settings, &base).expect_err("a Service has no replicas");
        assert!(e.to_string().contains("replicas.db"), "{e}");
        assert!(e.to_string().contains("[web]"), "{e}");
        base.complete = false;
        assert!(
            check("s", &settings, &base).is_ok(),
            "an unknown base refuses nothing"
        );
        settings.replicas.insert("db".into(), None);
        base.complete = true;
        assert!(
            check("s", &settings, &base).is_ok(),
            "a removed entry names nothing"
        );
    }

    #[test]
    fn canary_and_restarts_must_name_objects_of_the_right_kind() {
        let base = BaseCatalog {
            objects: BTreeSet::from([
                ("Deployment".to_owned(), "web".to_owned()),
                ("StatefulSet".to_owned(), "db".to_owned()),
                ("HorizontalPodAutoscaler".to_owned(), "web".to_owned()),
            ]),
            complete: true,
        };
        let refused = |value: serde_json::Value| {
            let settings: ConfigBody = serde_json::from_value(value).unwrap();
            check("s", &settings, &base).err().map(|e| e.to_string())
        };
        assert_eq!(
            refused(serde_json::json!({
                "progressiveDelivery": {"workloads": {"web": {"hpa": "web"}}},
                "restarts": {"db": {"schedule": "@daily", "kind": "StatefulSet"}},
            })),
            None
        );
        let e = refused(serde_json::json!({"progressiveDelivery": {"workloads": {"db": {}}}}))
            .expect("a StatefulSet is not released by canary");
        assert!(
            e.contains("progressiveDelivery.workloads.db") && e.contains("[web]"),
            "{e}"
        );
        let e = refused(
            serde_json::json!({"progressiveDelivery": {"workloads": {"web": {"hpa": "api"}}}}),
        )
        .expect("no such HPA");
        assert!(e.contains("progressiveDelivery.workloads.web.hpa"), "{e}");
        let e = refused(serde_json::json!({"restarts": {"db": {"schedule": "@daily"}}}))
            .expect("db is no Deployment");
        assert!(
            e.contains("restarts.db") && e.contains("no Deployment"),
            "{e}"
        );
    }
}
