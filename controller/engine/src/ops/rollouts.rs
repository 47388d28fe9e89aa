//! Leaving canary release takes two commits (DESIGN; argo-rollouts#3855: a Deployment whose
//! Rollout is removed stays at zero replicas). When a ShopSet's settings stop releasing a
//! Deployment by canary, the first commit keeps its Rollout (scaling nothing down any more) and
//! lets Argo CD scale the Deployment back to its count; the Rollout goes in a later commit,
//! once Argo CD reported every Application of the ShopSet Synced at the tier's tip (the first
//! commit or after) and Healthy, so the Deployment is Available. Which workloads are between
//! the two is recorded in the tier branch (`rolloutsLeaving`), so a person running `shopctl
//! sync` twice gets the same commits.

use std::collections::BTreeSet;

use shopset_render::inputs::TierInputs;

use crate::resources::Resources;

/// Sets each ShopSet's `rollouts_leaving` in `inputs` from what the tier's tip recorded
/// (`previous`, committed as `tip`) and what Argo CD reports. Returns `<shopset> (<workload>,
/// ...)` for each ShopSet with workloads leaving, for the plan's summary.
pub(crate) fn advance(
    resources: &Resources,
    previous: Option<&TierInputs>,
    tip: Option<&str>,
    inputs: &mut TierInputs,
) -> Vec<String> {
    let mut waiting = Vec::new();
    let Some(previous) = previous else {
        return waiting;
    };
    let names: Vec<String> = inputs.shop_sets.keys().cloned().collect();
    for name in names {
        let Some(old) = previous.shop_sets.get(&name) else {
            continue;
        };
        let was = shopset_render::progressive_workloads(previous, &name);
        if was.is_empty() && old.rollouts_leaving.is_empty() {
            continue;
        }
        let now = shopset_render::progressive_workloads(inputs, &name);
        // Argo CD applied the tip, where these workloads were already leaving, and the
        // ShopSet is Healthy: their Deployments are Available again.
        let scaled_back = tip.is_some_and(|tip| {
            old.sides(&name).iter().all(|side| {
                resources.applications.get(&side.name).is_some_and(|a| {
                    a.sync.as_deref() == Some("Synced")
                        && a.revision.as_deref() == Some(tip)
                        && a.health.as_deref() == Some("Healthy")
                })
            })
        });
        let mut leaving: BTreeSet<String> = was.difference(&now).cloned().collect();
        if !scaled_back {
            leaving.extend(old.rollouts_leaving.difference(&now).cloned());
        }
        if !leaving.is_empty() {
            let names: Vec<&str> = leaving.iter().map(String::as_str).collect();
            waiting.push(format!("{name} ({})", names.join(", ")));
        }
        if let Some(placed) = inputs.shop_sets.get_mut(&name)
            && placed.rollouts_leaving != leaving
        {
            std::sync::Arc::make_mut(placed).rollouts_leaving = leaving;
        }
    }
    waiting
}
