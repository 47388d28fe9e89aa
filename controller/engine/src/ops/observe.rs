//! The statuses as the controller would write them now, computed from the tier branches and
//! from Argo CD's Applications: what `shopctl status` and `shopctl promote` use when they can
//! read the Applications, so that with the controller down they see what is deployed rather
//! than the last status the controller wrote. Writes nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::ops::plan::plan_tiers;
use crate::ops::status::{self, AppObservation, Observed, Statuses};
use crate::ops::sync::{TierOutcome, TierResult, inputs_unchanged};
use crate::ops::verdict;
use crate::repos::Repos;
use crate::resources::Resources;

/// Where the statuses a command used came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "from")]
pub enum StatusSource {
    /// Computed now from the branches and this many Argo CD Applications.
    Applications {
        /// How many Applications were read.
        count: usize,
    },
    /// The statuses the controller last wrote (they may be stale when it is down).
    Written,
}

impl std::fmt::Display for StatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Applications { count } => write!(
                f,
                "computed now from the tier branches and {count} Argo CD Applications"
            ),
            Self::Written => write!(f, "as the controller last wrote it"),
        }
    }
}

/// What a status computation reads besides the resources and the repositories: the
/// generations of the resources and Argo CD's Applications, gathered from documents (files
/// or objects listed from the API server).
#[derive(Debug, Default)]
pub struct Gathered {
    /// ShopSets' `metadata.generation` (1 when absent).
    pub generations: BTreeMap<String, i64>,
    /// Tiers' `metadata.generation` (1 when absent).
    pub tier_generations: BTreeMap<String, i64>,
    /// Argo CD's view of each generated Application, by ShopSet.
    pub applications: BTreeMap<String, AppObservation>,
    /// How many Application documents were seen.
    pub application_count: usize,
}

impl Gathered {
    /// Reads generations and Applications from documents; other documents are left alone.
    #[must_use]
    pub fn from_documents<'a>(docs: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut out = Self::default();
        for doc in docs {
            if let Some((shop_set, observation)) = status::application(doc) {
                out.applications.insert(shop_set, observation);
                out.application_count += 1;
                continue;
            }
            if doc.get("apiVersion").and_then(Value::as_str) != Some(shopset_crds::API_VERSION) {
                continue;
            }
            let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let generation = doc
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            match doc.get("kind").and_then(Value::as_str) {
                Some("ShopSet") => {
                    out.generations.insert(name.to_owned(), generation);
                }
                Some("Tier") => {
                    out.tier_generations.insert(name.to_owned(), generation);
                }
                _ => {}
            }
        }
        out
    }
}

/// The statuses of every ShopSet and Tier, as the controller's next batch would compute them
/// if it wrote nothing: each tier's branch tip is what Argo CD should run (a tier whose
/// resources changed since is `Pending`), Argo CD's Applications say what it runs, and the
/// promotion verdicts are recorded on the tiers promoted from. `previous` keeps transition
/// times (and so the soak time) where a condition did not change.
#[must_use]
pub fn observe(
    resources: &Resources,
    repos: &mut Repos,
    gathered: &Gathered,
    previous: &Statuses,
    now: &Time,
) -> Statuses {
    let planned = plan_tiers(resources, repos, None);
    let results: Vec<TierResult> = planned
        .tiers
        .into_iter()
        .map(|plan| {
            let outcome = if inputs_unchanged(&plan) {
                TierOutcome::Unchanged {
                    commit: plan.previous_tip.clone(),
                }
            } else {
                TierOutcome::Planned
            };
            TierResult { plan, outcome }
        })
        .collect();
    let observed = Observed {
        generations: gathered.generations.clone(),
        tier_generations: gathered.tier_generations.clone(),
        applications: gathered.applications.clone(),
        previous_shop_sets: previous
            .shop_sets
            .iter()
            .map(|(k, v)| (k.clone(), v))
            .collect(),
        previous_tiers: previous.tiers.iter().map(|(k, v)| (k.clone(), v)).collect(),
        previous_shops: previous.shops.iter().map(|(k, v)| (k.clone(), v)).collect(),
        histories: status::histories(repos, &results),
    };
    let mut computed = status::compute(resources, &results, &planned.problems, &observed, now);
    let mut current = previous.clone();
    current.shop_sets.extend(computed.shop_sets.clone());
    current.tiers.extend(computed.tiers.clone());
    for (to, tier) in &resources.tiers {
        let Some(from) = &tier.spec.promotes_from else {
            continue;
        };
        let v = verdict::verdict(resources, &current, repos, to, now.0);
        let status = computed
            .tiers
            .entry(from.clone())
            .or_insert_with(|| previous.tiers.get(from).cloned().unwrap_or_default());
        verdict::record(status, previous.tiers.get(from), &v, now);
    }
    computed
}
