//! The root Application of a tier (app of apps), which has Argo CD apply `applications/` from
//! the tier branch. It is rendered into the branch as `bootstrap/<tier>.yaml`, which a person
//! applies once with `kubectl apply -f`; the controller in API mode applies the same object
//! after each sync that left the branch written, so the two cannot differ.

use serde_json::Value;

use crate::ops::sync::{TierOutcome, TierResult};

/// The root Application to apply after `result`: the one its branch holds once the sync is
/// done. After a commit, the new rendering's; when the branch kept its tip (unchanged, or not
/// written because of the removal stop or a failure), the one rendered at that tip; `None`
/// when there is no branch yet, or for a dry run.
#[must_use]
pub fn root_application(result: &TierResult) -> Option<Value> {
    let plan = &result.plan;
    let inputs = match &result.outcome {
        TierOutcome::Committed { .. } => &plan.inputs,
        TierOutcome::Unchanged { commit: Some(_) } => {
            plan.previous.as_ref().unwrap_or(&plan.inputs)
        }
        TierOutcome::Blocked { .. } | TierOutcome::Failed { .. } => plan.previous.as_ref()?,
        TierOutcome::Unchanged { commit: None } | TierOutcome::Planned => return None,
    };
    Some(shopset_render::argo::root_application(inputs))
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
    fn the_root_application_is_the_one_the_branch_holds() {
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
        let blocked = TierOutcome::Blocked {
            reason: "too many".into(),
        };
        assert!(
            root_application(&result(blocked.clone())).is_none(),
            "no branch yet: nothing to point at"
        );
        // A branch that keeps its tip keeps the root Application rendered at that tip.
        let mut kept = result(blocked);
        let mut at_tip = (*kept.plan.inputs).clone();
        at_tip.tier.spec.argocd.namespace = "argocd-old".into();
        kept.plan.previous = Some(Arc::new(at_tip));
        let app = root_application(&kept).expect("the branch exists");
        assert_eq!(app["metadata"]["namespace"], "argocd-old");
    }
}
