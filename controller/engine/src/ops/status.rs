//! Flow 6: the status of every ShopSet and Tier, from what a sync did and what Argo CD reports.
//! Pure: no client, no git, no clock (the caller passes `now`).
//!
//! A ShopSet is Ready when it is Rendered, Committed (its rendering is in the commit at the tip
//! of its tier branch), Synced (Argo CD applied exactly that commit) and Healthy. A condition
//! keeps its `lastTransitionTime` while its status stays the same, so a resync that changes
//! nothing writes the same status.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use shopset_crds::conditions::types;
use shopset_crds::{Condition, ShopSetStatus, TierStatus};
use shopset_render::layout;

use crate::ops::sync::{TierOutcome, TierResult};
use crate::problem::Problem;
use crate::resources::Resources;

/// What Argo CD reports of one generated Application (`status.sync` and `status.health`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppObservation {
    /// `status.sync.status`: `Synced`, `OutOfSync` or `Unknown`.
    pub sync: Option<String>,
    /// `status.sync.revision`: the system commit Argo CD compared with.
    pub revision: Option<String>,
    /// `status.health.status`: `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`...
    pub health: Option<String>,
}

impl AppObservation {
    /// Reads an Application object (as JSON).
    #[must_use]
    pub fn from_application(app: &serde_json::Value) -> Self {
        let text = |pointer: &str| {
            app.pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            sync: text("/status/sync/status"),
            revision: text("/status/sync/revision"),
            health: text("/status/health/status"),
        }
    }
}

/// Condition reasons written by the controller (event reasons too): one list, in the crds.
pub use shopset_crds::conditions::reasons;

/// Whether a condition, as it is now, needs a person (its transition is a Warning event): a
/// condition that fails for a reason nobody but a person can fix, or a branch changed by hand.
#[must_use]
pub fn needs_a_person(c: &Condition) -> bool {
    const FAILED: [&str; 7] = [
        reasons::TIER_NOT_FOUND,
        reasons::INVALID_SPEC,
        reasons::NOT_RENDERED,
        reasons::KEPT,
        reasons::WRITE_FAILED,
        reasons::REMOVALS_BLOCKED,
        "Degraded",
    ];
    (c.status == "False" && FAILED.contains(&c.reason.as_str()))
        || (c.type_ == types::DRIFTED && c.status == "True")
        || (c.type_ == types::POOL_EXHAUSTED && c.status == "True")
}

/// The ShopSet an Argo CD Application document was generated for (its `shopset.dev/shopset`
/// label, else its name; for a side a migration added, its own name) and what Argo CD
/// reports of it; `None` for any other document.
#[must_use]
pub fn application(doc: &serde_json::Value) -> Option<(String, AppObservation)> {
    let text = |pointer: &str| doc.pointer(pointer).and_then(serde_json::Value::as_str);
    let top = |key: &str| doc.get(key).and_then(serde_json::Value::as_str);
    let argo = top("apiVersion").is_some_and(|v| v.starts_with("argoproj.io/"));
    if !argo || top("kind") != Some("Application") {
        return None;
    }
    // A side a migration added is known by its own name (`<shopset>--<domain>`).
    let key = if text("/metadata/labels/shopset.dev~1side").is_some() {
        text("/metadata/name")
    } else {
        text("/metadata/labels/shopset.dev~1shopset").or(text("/metadata/name"))
    }?;
    Some((key.to_owned(), AppObservation::from_application(doc)))
}

/// Inputs of a status computation, besides the resources.
#[derive(Debug, Default)]
pub struct Observed<'a> {
    /// The ShopSets' `metadata.generation`.
    pub generations: BTreeMap<String, i64>,
    /// The Tiers' `metadata.generation`.
    pub tier_generations: BTreeMap<String, i64>,
    /// Argo CD's view of each ShopSet's Application, by ShopSet name.
    pub applications: BTreeMap<String, AppObservation>,
    /// The statuses written last time, to keep transition times.
    pub previous_shop_sets: BTreeMap<String, &'a ShopSetStatus>,
    /// The Tier statuses written last time.
    pub previous_tiers: BTreeMap<String, &'a TierStatus>,
    /// The Shop statuses written last time.
    pub previous_shops: BTreeMap<String, &'a shopset_crds::ShopStatus>,
    /// Per tier, its branch's last commits, newest (the tip) first ([`histories`]): Argo CD
    /// at any of them from the one holding a ShopSet's rendering on runs that rendering.
    pub histories: BTreeMap<String, Vec<String>>,
}

/// How many commits of a tier branch [`histories`] reads.
pub const HISTORY: usize = 32;

/// The last [`HISTORY`] commits (first parents, newest first) of each result's tip, read from
/// the system repository's cache.
#[must_use]
pub fn histories(
    repos: &mut crate::Repos,
    results: &[TierResult],
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for result in results {
        let Some(tip) = tip_commit(&result.outcome) else {
            continue;
        };
        let Ok(Some(repo)) = repos.system(&result.plan.system_url, false) else {
            continue;
        };
        let mut commits = vec![tip.to_owned()];
        while commits.len() < HISTORY {
            match commits.last().map(|c| repo.parent(c)) {
                Some(Ok(Some(parent))) => commits.push(parent),
                _ => break,
            }
        }
        out.insert(result.plan.tier.clone(), commits);
    }
    out
}

/// The statuses a batch computes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Statuses {
    /// Per ShopSet.
    pub shop_sets: BTreeMap<String, ShopSetStatus>,
    /// Per Shop.
    pub shops: BTreeMap<String, shopset_crds::ShopStatus>,
    /// Per Tier.
    pub tiers: BTreeMap<String, TierStatus>,
    /// Per Migration.
    pub migrations: BTreeMap<String, shopset_crds::MigrationStatus>,
}

fn condition(kind: &str, ok: Option<bool>, reason: &str, message: String) -> Condition {
    Condition {
        type_: kind.to_owned(),
        status: match ok {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        }
        .to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

/// Sets transition times: kept from `previous` (the conditions written before, if any) when
/// the status did not change, else `now`.
fn stamp(
    conditions: &mut [Condition],
    previous: Option<&Vec<Condition>>,
    now: &Time,
    generation: Option<i64>,
) {
    for c in conditions {
        c.observed_generation = generation;
        c.last_transition_time = previous
            .into_iter()
            .flatten()
            .find(|p| p.type_ == c.type_ && p.status == c.status)
            .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
    }
}

/// A Migration's status as planned, with its conditions (Progressing, Stopped, Succeeded:
/// their reasons follow its phase, so each transition is an event) stamped against the
/// status written before.
#[must_use]
pub fn migration_status(
    mut status: shopset_crds::MigrationStatus,
    previous: Option<&shopset_crds::MigrationStatus>,
    now: &Time,
    generation: Option<i64>,
) -> shopset_crds::MigrationStatus {
    let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
    let summary = format!(
        "{phase}, step {}: {} of {} ShopSets moved, {} in flight{}",
        status.step.as_deref().unwrap_or("-"),
        status.moved,
        status.selected,
        status.in_flight,
        status
            .waiting
            .as_deref()
            .map_or_else(String::new, |w| format!("; waiting for {w}"))
    );
    let moving = matches!(phase.as_str(), "Progressing" | "Waiting" | "Aborting");
    status.conditions = vec![
        condition("Progressing", Some(moving), &phase, summary.clone()),
        condition(
            "Stopped",
            Some(phase == "Stopped"),
            if phase == "Stopped" {
                "Degraded"
            } else {
                "Running"
            },
            summary.clone(),
        ),
        condition(
            "Succeeded",
            Some(phase == "Succeeded"),
            if phase == "Succeeded" {
                "Moved"
            } else {
                &phase
            },
            summary,
        ),
    ];
    status.observed_generation = generation;
    stamp(
        &mut status.conditions,
        previous.map(|p| &p.conditions),
        now,
        generation,
    );
    status
}

fn is_true(conditions: &[Condition], kind: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == kind && c.status == "True")
}

/// Computes the status of every ShopSet and Tier that `results` covers.
#[must_use]
pub fn compute(
    resources: &Resources,
    results: &[TierResult],
    problems: &[Problem],
    observed: &Observed<'_>,
    now: &Time,
) -> Statuses {
    let mut out = Statuses::default();
    let by_tier: BTreeMap<&str, &TierResult> =
        results.iter().map(|r| (r.plan.tier.as_str(), r)).collect();
    let problems_all = problems;
    let problems = problems_by_shop_set(problems);

    let moved: BTreeMap<&str, Moved<'_>> = results
        .iter()
        .map(|r| (r.plan.tier.as_str(), Moved::of(r, observed)))
        .collect();
    for (name, sourced) in &resources.shop_sets {
        let tier = sourced.spec.tier.as_str();
        let (Some(result), Some(moved)) = (by_tier.get(tier), moved.get(tier)) else {
            continue;
        };
        let status = shop_set_status(name, result, moved, &problems, observed);
        out.shop_sets.insert(name.clone(), status);
    }
    // ShopSets of a Tier that does not exist: reported on themselves.
    for (name, sourced) in &resources.shop_sets {
        if resources.tiers.contains_key(&sourced.spec.tier) || results.is_empty() {
            continue;
        }
        let message = format!("spec.tier: Tier {:?} does not exist", sourced.spec.tier);
        out.shop_sets.insert(
            name.clone(),
            not_rendered(reasons::TIER_NOT_FOUND, &message),
        );
    }
    // Invalid ShopSets: reported on themselves, whatever their tier.
    for error in resources.errors.iter().filter(|e| e.kind == "ShopSet") {
        if resources.shop_sets.contains_key(&error.name) || error.name.is_empty() {
            continue;
        }
        let message = format!("{}: {}", error.field, error.message);
        out.shop_sets.insert(
            error.name.clone(),
            not_rendered(reasons::INVALID_SPEC, &message),
        );
    }
    for (name, status) in &mut out.shop_sets {
        let generation = observed.generations.get(name).copied();
        status.observed_generation = generation;
        let previous = observed.previous_shop_sets.get(name).map(|p| &p.conditions);
        stamp(&mut status.conditions, previous, now, generation);
    }

    out.shops = shop_statuses(resources, results, problems_all, observed, now);
    for result in results {
        let tier = &result.plan.tier;
        let mut status = tier_status(result, &out.shop_sets);
        let generation = observed.tier_generations.get(tier).copied();
        status.observed_generation = generation;
        let previous = observed.previous_tiers.get(tier).map(|p| &p.conditions);
        stamp(&mut status.conditions, previous, now, generation);
        out.tiers.insert(tier.clone(), status);
    }
    out
}

/// The status of every shop the results say something about: one whose row a synced tier
/// records (its ShopSet, tier, epoch, phase), and one that waits with a problem (Pending,
/// with the PoolExhausted condition when no ShopSet of its pool has room). A shop neither
/// recorded by a synced tier nor in trouble keeps the status it has.
fn shop_statuses(
    resources: &Resources,
    results: &[TierResult],
    problems: &[Problem],
    observed: &Observed<'_>,
    now: &Time,
) -> BTreeMap<String, shopset_crds::ShopStatus> {
    use shopset_crds::{ShopPhase, ShopStatus};
    let mut out = BTreeMap::new();
    if resources.shops.is_empty() {
        return out;
    }
    let rows = crate::ops::shops::recorded(results.iter().map(|r| &*r.plan.inputs));
    let mut trouble: BTreeMap<&str, &Problem> = BTreeMap::new();
    for p in problems {
        if let Some(name) = p.name_of("Shop") {
            trouble.entry(name).or_insert(p);
        }
    }
    // A shop with a problem and no row in these results is known to have no ShopSet only when
    // its pool is exhausted (that happens only to a shop never assigned) or every tier is here.
    let every_tier = resources
        .tiers
        .keys()
        .all(|t| results.iter().any(|r| r.plan.tier == *t));
    let tier_of = |shop_set: &str| {
        results
            .iter()
            .find(|r| r.plan.inputs.shop_sets.contains_key(shop_set))
            .map(|r| r.plan.tier.clone())
    };
    for name in resources.shops.keys() {
        let row = rows.get(name);
        let problem = trouble.get(name.as_str());
        let exhausted = problem.filter(|p| p.field.as_deref() == Some("spec.pool"));
        let first = match (row, problem) {
            (Some(row), _) => condition(
                types::ASSIGNED,
                Some(true),
                if row.phase() == ShopPhase::Assigned {
                    reasons::ASSIGNED
                } else {
                    reasons::MOVING
                },
                format!("served by ShopSet {} (epoch {})", row.shop_set, row.epoch),
            ),
            (None, Some(p)) if exhausted.is_some() || every_tier => condition(
                types::ASSIGNED,
                Some(false),
                if exhausted.is_some() {
                    reasons::POOL_EXHAUSTED
                } else {
                    reasons::MOVE_REFUSED
                },
                p.message.clone(),
            ),
            (None, _) => continue,
        };
        let mut conditions = vec![first];
        conditions.push(match exhausted {
            Some(p) => condition(
                types::POOL_EXHAUSTED,
                Some(true),
                reasons::POOL_EXHAUSTED,
                p.message.clone(),
            ),
            None => condition(
                types::POOL_EXHAUSTED,
                Some(false),
                reasons::ROOM_FOUND,
                String::new(),
            ),
        });
        if let (Some(_), Some(p)) = (row, problem.filter(|_| exhausted.is_none())) {
            conditions[0].message = format!("{}; {}", conditions[0].message, p.message);
        }
        let previous = observed.previous_shops.get(name).map(|p| &p.conditions);
        stamp(&mut conditions, previous, now, None);
        out.insert(
            name.clone(),
            ShopStatus {
                observed_generation: None,
                shop_set: row.map(|r| r.shop_set.clone()),
                tier: row.and_then(|r| tier_of(&r.shop_set)),
                epoch: row.map_or(0, |r| r.epoch),
                assigned_by: row.map(|r| r.by),
                phase: Some(row.map_or(ShopPhase::Pending, |r| r.phase())),
                conditions,
            },
        );
    }
    out
}

/// The status of a ShopSet that could not even be rendered: Rendered and Ready false.
fn not_rendered(reason: &str, message: &str) -> ShopSetStatus {
    ShopSetStatus {
        conditions: [types::RENDERED, types::READY]
            .iter()
            .map(|kind| condition(kind, Some(false), reason, message.to_owned()))
            .collect(),
        ..ShopSetStatus::default()
    }
}

/// The first problem about each ShopSet: an index, so a batch with thousands of problems stays
/// linear.
fn problems_by_shop_set(problems: &[Problem]) -> BTreeMap<&str, &Problem> {
    let mut out = BTreeMap::new();
    for p in problems {
        if let Some(name) = p.name_of("ShopSet") {
            out.entry(name).or_insert(p);
        }
    }
    out
}

fn tip_commit(outcome: &TierOutcome) -> Option<&str> {
    match outcome {
        TierOutcome::Committed { commit, .. } => Some(commit),
        TierOutcome::Unchanged { commit } => commit.as_deref(),
        _ => None,
    }
}

/// What a tier's result says of where each ShopSet's rendering is.
///
/// A ShopSet's status names the commit holding its current rendering: the one that last
/// changed it, not the tip, so a commit changing one ShopSet changes one status, not the
/// tier's. That commit is this result's when its commit changed the ShopSet (or moved the base,
/// which every ShopSet renders). Otherwise it is the one the stored status names, when the
/// stored statuses were computed on this result's tip or on the tip it committed over (no
/// commit of another writer since, which could have changed anything); else the tip.
struct Moved<'a> {
    /// The tip, when there is one.
    tip: Option<&'a str>,
    /// Every ShopSet's rendering is at the tip (a moved base, another writer's commit, no
    /// stored statuses to build on).
    all: bool,
    /// ShopSets this result's commit added or changed.
    names: std::collections::HashSet<&'a str>,
    /// The branch's last commits, newest first.
    history: &'a [String],
}

impl<'a> Moved<'a> {
    fn of(result: &'a TierResult, observed: &'a Observed<'_>) -> Self {
        let plan = &result.plan;
        let tip = tip_commit(&result.outcome);
        let committed = matches!(result.outcome, TierOutcome::Committed { .. });
        let stored = observed
            .previous_tiers
            .get(&plan.tier)
            .and_then(|t| t.system_commit.as_deref());
        let built_on = match &result.outcome {
            TierOutcome::Committed { parent, .. } => parent.as_deref(),
            _ => tip,
        };
        let continuous = stored.is_some() && (stored == tip || stored == built_on);
        let names = if committed {
            plan.summary
                .added
                .iter()
                .chain(&plan.summary.changed)
                .map(String::as_str)
                .collect()
        } else {
            std::collections::HashSet::new()
        };
        Self {
            tip,
            all: !continuous || (committed && plan.summary.base_from.is_some()),
            names,
            // Read at another tip, it says nothing of this one.
            history: observed
                .histories
                .get(&plan.tier)
                .filter(|h| h.first().map(String::as_str) == tip)
                .map_or(&[], Vec::as_slice),
        }
    }

    /// The commit holding `name`'s rendering, given its stored status.
    fn commit(&self, name: &str, previous: Option<&'a ShopSetStatus>) -> Option<&'a str> {
        let tip = self.tip?;
        if self.all || self.names.contains(name) {
            return Some(tip);
        }
        let kept = previous
            .filter(|p| is_true(&p.conditions, types::COMMITTED))
            .and_then(|p| p.system_commit.as_deref());
        Some(kept.unwrap_or(tip))
    }

    /// Whether Argo CD at `revision` runs the rendering that `commit` holds: the revision is
    /// the tip, or `commit`, or a commit of the branch after it.
    fn runs(&self, revision: Option<&str>, commit: Option<&str>) -> bool {
        let (Some(revision), Some(commit)) = (revision, commit) else {
            return false;
        };
        if Some(revision) == self.tip || revision == commit {
            return true;
        }
        let at = |c: &str| self.history.iter().position(|h| h == c);
        match (at(revision), at(commit)) {
            (Some(r), Some(c)) => r <= c,
            // The ShopSet's commit is older than the history read: every commit in it is later.
            (Some(_), None) => true,
            _ => false,
        }
    }
}

fn shop_set_status<'a>(
    name: &str,
    result: &TierResult,
    moved: &Moved<'a>,
    problems: &BTreeMap<&str, &Problem>,
    observed: &Observed<'a>,
) -> ShopSetStatus {
    let plan = &result.plan;
    let placed = plan.inputs.shop_sets.get(name);
    let mut status = ShopSetStatus {
        failure_domain: placed.map(|p| p.failure_domain.clone()),
        branch: Some(plan.branch.clone()),
        path: placed.map(|p| layout::side_dir(name, &p.home_name(name))),
        ..ShopSetStatus::default()
    };
    let kept = plan.summary.kept.iter().any(|k| k == name);
    let problem = problems.get(name).copied();
    let rendered = match (placed, kept, problem) {
        (Some(p), false, _) => condition(
            types::RENDERED,
            Some(true),
            reasons::RENDERED,
            format!("rendered to {}", layout::side_dir(name, &p.home_name(name))),
        ),
        (Some(_), true, p) => condition(
            types::RENDERED,
            Some(false),
            reasons::KEPT,
            p.map_or_else(
                || "input invalid: last rendering kept".into(),
                ToString::to_string,
            ),
        ),
        (None, _, p) => condition(
            types::RENDERED,
            Some(false),
            reasons::NOT_RENDERED,
            p.map_or_else(|| "not rendered".into(), ToString::to_string),
        ),
    };
    let rendered_ok = rendered.status == "True";
    status.conditions.push(rendered);

    let commit = moved
        .commit(name, observed.previous_shop_sets.get(name).copied())
        .map(str::to_owned);
    let committed = match (&result.outcome, placed, &commit) {
        (_, None, _) => condition(
            types::COMMITTED,
            Some(false),
            reasons::NOT_RENDERED,
            "not in the tier branch".into(),
        ),
        (
            TierOutcome::Committed { .. } | TierOutcome::Unchanged { commit: Some(_) },
            _,
            Some(commit),
        ) => condition(
            types::COMMITTED,
            Some(true),
            reasons::COMMITTED,
            format!("in {commit} on {}", plan.branch),
        ),
        (TierOutcome::Blocked { reason }, _, _) => condition(
            types::COMMITTED,
            Some(false),
            reasons::REMOVALS_BLOCKED,
            reason.clone(),
        ),
        (TierOutcome::Failed { error }, _, _) => condition(
            types::COMMITTED,
            Some(false),
            reasons::WRITE_FAILED,
            error.to_string(),
        ),
        _ => condition(
            types::COMMITTED,
            None,
            reasons::PENDING,
            "not written yet".into(),
        ),
    };
    let committed_ok = committed.status == "True";
    status.conditions.push(committed);
    if committed_ok {
        status.system_commit.clone_from(&commit);
    }

    // The side on its recorded failure domain (named after it once a migration moved it).
    let app = observed
        .applications
        .get(&placed.map_or_else(|| name.to_owned(), |p| p.home_name(name)));
    status.sync = app.and_then(|a| a.sync.clone());
    status.health = app.and_then(|a| a.health.clone());
    let synced = match app {
        None => condition(
            types::SYNCED,
            Some(false),
            reasons::APP_MISSING,
            "Argo CD has no Application for it".into(),
        ),
        Some(a) if a.sync.as_deref() != Some("Synced") => condition(
            types::SYNCED,
            Some(false),
            a.sync.as_deref().unwrap_or("Unknown"),
            format!(
                "Argo CD reports {}",
                a.sync.as_deref().unwrap_or("no sync status")
            ),
        ),
        Some(a) if !moved.runs(a.revision.as_deref(), commit.as_deref()) => condition(
            types::SYNCED,
            Some(false),
            reasons::WRONG_REVISION,
            format!(
                "Argo CD synced {}, its rendering is in {}",
                a.revision.as_deref().unwrap_or("no revision"),
                commit.as_deref().unwrap_or("nothing yet")
            ),
        ),
        Some(_) => condition(
            types::SYNCED,
            Some(true),
            reasons::SYNCED,
            format!(
                "synced at {} or a later commit",
                commit.as_deref().unwrap_or_default()
            ),
        ),
    };
    let synced_ok = synced.status == "True";
    status.conditions.push(synced);
    let health = app.and_then(|a| a.health.as_deref()).unwrap_or("Missing");
    let healthy_ok = health == "Healthy";
    status.conditions.push(condition(
        types::HEALTHY,
        Some(healthy_ok),
        health,
        health_message(health),
    ));
    let ready = rendered_ok && committed_ok && synced_ok && healthy_ok;
    let waiting: Vec<&str> = status
        .conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| c.type_.as_str())
        .collect();
    status.conditions.push(condition(
        types::READY,
        Some(ready),
        if ready {
            reasons::READY
        } else {
            reasons::NOT_READY
        },
        if ready {
            "rendered, committed, synced and healthy".into()
        } else {
            format!("waiting for {}", waiting.join(", "))
        },
    ));
    status
}

/// What Argo CD's health means for the ShopSet. Suspended and Degraded are how Argo CD reports
/// a paused and an aborted Rollout: either keeps the ShopSet (and its tier) from being promoted.
fn health_message(health: &str) -> String {
    match health {
        "Suspended" => "Argo CD reports Suspended: a Rollout is paused (a pause step without a \
                        duration waits for `kubectl argo rollouts promote`); not promotable until \
                        it is Healthy"
            .into(),
        "Degraded" => "Argo CD reports Degraded (a Rollout whose canary was aborted is Degraded \
                       until the stable version is released again); not promotable until it is \
                       Healthy"
            .into(),
        other => format!("Argo CD reports {other}"),
    }
}

fn count(n: usize) -> Option<i32> {
    Some(i32::try_from(n).unwrap_or(i32::MAX))
}

/// `Drifted`: whether the tip the sync found was a person's commit that changed generated
/// files, naming them (at most 10) and the commit that rendered them back.
fn drifted(result: &TierResult) -> Condition {
    let plan = &result.plan;
    if plan.restored.is_empty() {
        return condition(
            types::DRIFTED,
            Some(false),
            reasons::NOT_DRIFTED,
            format!("{} holds what its recorded inputs render to", plan.branch),
        );
    }
    let paths: Vec<&str> = plan
        .restored
        .iter()
        .take(10)
        .map(|d| d.path.as_str())
        .collect();
    let more = plan.restored.len() - paths.len();
    let restored = match &result.outcome {
        TierOutcome::Committed { commit, .. } => format!("; rendered back in {commit}"),
        _ => "; the next commit renders them back".to_owned(),
    };
    condition(
        types::DRIFTED,
        Some(true),
        reasons::CHANGED_BY_HAND,
        format!(
            "a commit on {} at {} changed {} generated file(s) by hand: {}{}{restored}",
            plan.branch,
            plan.previous_tip.as_deref().unwrap_or("-"),
            plan.restored.len(),
            paths.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
        ),
    )
}

fn tier_status(result: &TierResult, shop_sets: &BTreeMap<String, ShopSetStatus>) -> TierStatus {
    let plan = &result.plan;
    let mine: Vec<&ShopSetStatus> = plan
        .inputs
        .shop_sets
        .keys()
        .filter_map(|n| shop_sets.get(n))
        .collect();
    let synced = mine
        .iter()
        .filter(|s| is_true(&s.conditions, types::SYNCED))
        .count();
    let healthy = mine
        .iter()
        .filter(|s| is_true(&s.conditions, types::HEALTHY))
        .count();
    let committed = match &result.outcome {
        TierOutcome::Committed { commit, .. }
        | TierOutcome::Unchanged {
            commit: Some(commit),
        } => condition(
            types::COMMITTED,
            Some(true),
            reasons::COMMITTED,
            format!("{} at {commit}", plan.branch),
        ),
        TierOutcome::Unchanged { commit: None } => condition(
            types::COMMITTED,
            Some(true),
            reasons::COMMITTED,
            "nothing to write".into(),
        ),
        TierOutcome::Blocked { reason } => condition(
            types::COMMITTED,
            Some(false),
            reasons::REMOVALS_BLOCKED,
            reason.clone(),
        ),
        TierOutcome::Failed { error } => condition(
            types::COMMITTED,
            Some(false),
            reasons::WRITE_FAILED,
            error.to_string(),
        ),
        TierOutcome::Planned => {
            condition(types::COMMITTED, None, reasons::PENDING, "dry run".into())
        }
    };
    let ready = committed.status == "True" && synced == mine.len() && healthy == mine.len();
    let drifted = drifted(result);
    let conditions = vec![
        drifted,
        committed,
        condition(
            types::READY,
            Some(ready),
            if ready {
                reasons::READY
            } else {
                reasons::NOT_READY
            },
            format!(
                "{} ShopSets: {synced} synced, {healthy} healthy",
                mine.len()
            ),
        ),
    ];
    TierStatus {
        app_commit: Some(plan.inputs.app_commit.clone()),
        system_commit: tip_commit(&result.outcome).map(str::to_owned),
        shop_sets: count(plan.inputs.shop_sets.len()),
        synced: count(synced),
        healthy: count(healthy),
        conditions,
        ..TierStatus::default()
    }
}

/// The transitions between two condition lists, as (type, reason, message) of each condition
/// whose status changed: the controller emits one event each.
#[must_use]
pub fn transitions<'a>(before: &[Condition], after: &'a [Condition]) -> Vec<&'a Condition> {
    after
        .iter()
        .filter(|c| {
            !before
                .iter()
                .any(|b| b.type_ == c.type_ && b.status == c.status && b.reason == c.reason)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The status and the promotion gate together, over every state Argo CD can report.

    use super::*;
    use crate::ops::plan::{Content, Summary, TierPlan};
    use crate::ops::promote::{GateInput, evaluate};
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    use shopset_render::inputs::PlacedShopSet;

    const APP: &str = "1111111111111111111111111111111111111111";
    const TIP: &str = "2222222222222222222222222222222222222222";

    fn world() -> (Resources, TierResult) {
        let spec: shopset_crds::TierSpec = serde_json::from_value(serde_json::json!({
            "app": { "url": "https://git.example/app.git" },
            "system": { "url": "https://git.example/system.git" },
        }))
        .expect("a Tier spec");
        let shop_set: shopset_crds::ShopSetSpec = serde_json::from_value(serde_json::json!({
            "tier": "tier-0", "configuration": "standard",
        }))
        .expect("a ShopSet spec");
        let mut resources = Resources::default();
        resources.tiers.insert(
            "tier-0".into(),
            crate::resources::Sourced {
                file: "r.yaml".into(),
                spec: spec.clone(),
            },
        );
        let mut inputs = shopset_render::TierInputs::new("tier-0".into(), spec, APP.into());
        for name in ["shop-a", "shop-b"] {
            inputs.shop_sets.insert(
                name.into(),
                PlacedShopSet::new("eu-1".into(), shop_set.clone()).into(),
            );
            resources.shop_sets.insert(
                name.into(),
                crate::resources::Sourced {
                    file: "r.yaml".into(),
                    spec: shop_set.clone(),
                },
            );
        }
        let plan = TierPlan {
            tier: "tier-0".into(),
            branch: "tier-0".into(),
            system_url: "https://git.example/system.git".into(),
            previous_tip: Some(TIP.into()),
            previous: None,
            inputs: inputs.into(),
            content: Content::Full(shopset_render::Tree::default()),
            summary: Summary::default(),
            restored: Vec::new(),
        };
        let result = TierResult {
            plan,
            outcome: TierOutcome::Unchanged {
                commit: Some(TIP.into()),
            },
        };
        (resources, result)
    }

    #[test]
    fn a_status_names_the_commit_that_last_changed_its_shop_set_and_moves_with_it_only() {
        const NEXT: &str = "3333333333333333333333333333333333333333";
        let (resources, result) = world();
        let now = Time(Timestamp::from_second(1_000).expect("time"));
        let healthy = |revision: &str| {
            ["shop-a", "shop-b"]
                .into_iter()
                .map(|n| (n.to_owned(), app("Synced", revision, "Healthy")))
                .collect::<BTreeMap<_, _>>()
        };
        // Nothing stored: both are at the tip.
        let observed = Observed {
            applications: healthy(TIP),
            histories: BTreeMap::from([("tier-0".to_owned(), vec![TIP.to_owned()])]),
            ..Observed::default()
        };
        let first = compute(
            &resources,
            std::slice::from_ref(&result),
            &[],
            &observed,
            &now,
        );
        for s in first.shop_sets.values() {
            assert_eq!(s.system_commit.as_deref(), Some(TIP));
            assert!(is_true(&s.conditions, types::READY), "{s:?}");
        }
        // A commit over the tip changes shop-a alone; Argo CD has not moved yet.
        let mut next = result.clone();
        next.plan.summary.changed = vec!["shop-a".into()];
        next.outcome = TierOutcome::Committed {
            parent: Some(TIP.into()),
            commit: NEXT.into(),
        };
        let history = vec![NEXT.to_owned(), TIP.to_owned()];
        let observed = Observed {
            applications: healthy(TIP),
            previous_shop_sets: first
                .shop_sets
                .iter()
                .map(|(k, v)| (k.clone(), v))
                .collect(),
            previous_tiers: first.tiers.iter().map(|(k, v)| (k.clone(), v)).collect(),
            histories: BTreeMap::from([("tier-0".to_owned(), history.clone())]),
            ..Observed::default()
        };
        let second = compute(
            &resources,
            std::slice::from_ref(&next),
            &[],
            &observed,
            &now,
        );
        let (a, b) = (&second.shop_sets["shop-a"], &second.shop_sets["shop-b"]);
        assert_eq!(a.system_commit.as_deref(), Some(NEXT));
        assert!(!is_true(&a.conditions, types::SYNCED), "{a:?}");
        assert_eq!(
            b, &first.shop_sets["shop-b"],
            "shop-b's status does not change"
        );
        assert_eq!(second.tiers["tier-0"].system_commit.as_deref(), Some(NEXT));
        // Argo CD moves every Application to the new tip: shop-b's status still does not change.
        let mut observed = observed;
        observed.applications = healthy(NEXT);
        observed.previous_shop_sets = second
            .shop_sets
            .iter()
            .map(|(k, v)| (k.clone(), v))
            .collect();
        observed.previous_tiers = second.tiers.iter().map(|(k, v)| (k.clone(), v)).collect();
        let third = compute(
            &resources,
            std::slice::from_ref(&next),
            &[],
            &observed,
            &now,
        );
        assert!(is_true(&third.shop_sets["shop-a"].conditions, types::READY));
        assert_eq!(third.shop_sets["shop-b"], first.shop_sets["shop-b"]);
        // Another writer's commit since the stored statuses (the tip is not what they were
        // computed on): nothing is known of what it changed, so every ShopSet is at the tip.
        let mut by_hand = result.clone();
        by_hand.plan.previous_tip = Some("4444444444444444444444444444444444444444".into());
        by_hand.outcome = TierOutcome::Unchanged {
            commit: Some("4444444444444444444444444444444444444444".into()),
        };
        let fourth = compute(
            &resources,
            std::slice::from_ref(&by_hand),
            &[],
            &observed,
            &now,
        );
        for s in fourth.shop_sets.values() {
            assert_eq!(
                s.system_commit.as_deref(),
                Some("4444444444444444444444444444444444444444")
            );
            assert!(
                !is_true(&s.conditions, types::SYNCED),
                "Argo CD is not known to run it: {s:?}"
            );
        }
        // Argo CD at a commit before the one holding shop-a's rendering is not synced.
        observed.applications = healthy(TIP);
        let fifth = compute(
            &resources,
            std::slice::from_ref(&next),
            &[],
            &observed,
            &now,
        );
        assert!(!is_true(
            &fifth.shop_sets["shop-a"].conditions,
            types::SYNCED
        ));
        assert!(is_true(
            &fifth.shop_sets["shop-b"].conditions,
            types::SYNCED
        ));
    }

    fn app(sync: &str, revision: &str, health: &str) -> AppObservation {
        AppObservation {
            sync: Some(sync.into()),
            revision: Some(revision.into()),
            health: Some(health.into()),
        }
    }

    /// The gate into tier-1 (soak 10 minutes) when `shop-a` is reported `a` and `shop-b` is
    /// healthy at the tip, with tier-0 Ready since `ready_since` ago (if it was Ready before).
    fn gate(a: Option<AppObservation>, ready_since: Option<i64>) -> Vec<String> {
        let (resources, result) = world();
        let now = Timestamp::constant(100_000, 0);
        let mut applications = BTreeMap::new();
        if let Some(a) = a {
            applications.insert("shop-a".to_owned(), a);
        }
        applications.insert("shop-b".to_owned(), app("Synced", TIP, "Healthy"));
        let before = ready_since.map(|ago| TierStatus {
            conditions: vec![Condition {
                type_: types::READY.into(),
                status: "True".into(),
                reason: reasons::READY.into(),
                message: String::new(),
                last_transition_time: Time(now - SignedDuration::from_secs(ago)),
                observed_generation: None,
            }],
            ..TierStatus::default()
        });
        let mut observed = Observed {
            applications,
            ..Observed::default()
        };
        if let Some(before) = &before {
            observed.previous_tiers.insert("tier-0".into(), before);
        }
        let statuses = compute(&resources, &[result], &[], &observed, &Time(now));
        let gate = evaluate(&GateInput {
            from: "tier-0",
            to: "tier-1",
            app_commit: APP,
            candidate: APP,
            from_tip: TIP,
            from_status: statuses.tiers.get("tier-0"),
            not_ready: Vec::new(),
            soak_seconds: 600,
            hold: None,
            frozen: None,
            config: false,
            approval_required: false,
            approved: None,
            now,
        });
        assert_eq!(gate.open, gate.reasons.is_empty());
        gate.reasons
    }

    #[test]
    fn the_gate_holds_only_when_every_application_is_synced_and_healthy_at_the_tip_long_enough() {
        let closed = [
            ("missing", None),
            ("out of sync", Some(app("OutOfSync", TIP, "Healthy"))),
            ("progressing", Some(app("Synced", TIP, "Progressing"))),
            ("degraded", Some(app("Synced", TIP, "Degraded"))),
            // Argo CD's health of a paused Rollout.
            ("suspended", Some(app("Synced", TIP, "Suspended"))),
            (
                "healthy at the wrong revision",
                Some(app(
                    "Synced",
                    "3333333333333333333333333333333333333333",
                    "Healthy",
                )),
            ),
        ];
        for (what, state) in closed {
            let reasons = gate(state, Some(3600));
            assert_eq!(reasons.len(), 1, "{what}: {reasons:?}");
            assert!(
                reasons[0].contains("is not synced and healthy"),
                "{what}: {reasons:?}"
            );
        }
        // Healthy at the tip, but only just now: the soak is not over.
        let reasons = gate(Some(app("Synced", TIP, "Healthy")), None);
        assert!(reasons[0].contains("0s of the 10m00s soak"), "{reasons:?}");
        let reasons = gate(Some(app("Synced", TIP, "Healthy")), Some(300));
        assert!(
            reasons[0].contains("5m00s of the 10m00s soak"),
            "{reasons:?}"
        );
        // Healthy at the tip for longer than the soak: open.
        assert_eq!(
            gate(Some(app("Synced", TIP, "Healthy")), Some(601)),
            Vec::<String>::new()
        );
    }
}
