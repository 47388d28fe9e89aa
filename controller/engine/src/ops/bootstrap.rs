//! The root Application of a tier (app of apps), which has Argo CD apply `applications/` from
//! the tier branch. It is rendered into the branch as `bootstrap/<tier>.yaml`, which a person
//! applies once with `kubectl apply -f`; the controller in API mode applies the same object
//! after each sync that left the branch written, so the two cannot differ.

use serde_json::Value;

use crate::ops::sync::{TierOutcome, TierResult};

/// The root Application to apply after `result`: the one its branch holds, when the branch
/// is written (committed now, or unchanged at an existing tip); `None` otherwise.
#[must_use]
pub fn root_application(result: &TierResult) -> Option<Value> {
    matches!(
        result.outcome,
        TierOutcome::Committed { .. } | TierOutcome::Unchanged { commit: Some(_) }
    )
    .then(|| shopset_render::argo::root_application(&result.plan.inputs))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ops::plan::{Content, Summary, TierPlan};

    fn result(outcome: TierOutcome) -> TierResult {
        let spec: shopset_crds::TierSpec = serde_json::from_value(serde_json::json!({
            "app": {"url": "/app.git"},
            "system": {"url": "/system.git"},
        }))
        .expect("a Tier spec");
        let inputs = shopset_render::TierInputs::new("prod".into(), spec, "a".repeat(40));
        TierResult {
            plan: TierPlan {
                tier: "prod".into(),
                branch: "prod".into(),
                system_url: "/system.git".into(),
                previous_tip: None,
                previous: None,
                inputs: Arc::new(inputs),
                content: Content::Full(shopset_render::Tree::default()),
                summary: Summary::default(),
                restored: Vec::new(),
            },
            outcome,
        }
    }

    #[test]
    fn only_a_written_branch_gets_its_root_application() {
        let committed = result(TierOutcome::Committed {
            parent: None,
            commit: "b".repeat(40),
        });
        let app = root_application(&committed).expect("applied after a commit");
        assert_eq!(app["metadata"]["name"], "shopset-prod");
        assert_eq!(app["spec"]["source"]["targetRevision"], "prod");
        assert_eq!(app["spec"]["source"]["repoURL"], "/system.git");
        assert!(root_application(&result(TierOutcome::Unchanged { commit: None })).is_none());
        assert!(root_application(&result(TierOutcome::Planned)).is_none());
        assert!(
            root_application(&result(TierOutcome::Blocked {
                reason: "too many".into()
            }))
            .is_none()
        );
    }
}
