//! The migration step of planning (DESIGN: migration): which phase each ShopSet of each
//! Migration is in after this sync. The tier branches are the record: a ShopSet's phase is in
//! its entry of `.shopset/inputs.yaml` (`migrating`), so the controller and a person with
//! `shopctl migrate step` read the same state and make the same commit. Reads nothing but
//! what it is given; writes nothing.
//!
//! One phase a sync, each only when the one before has taken effect (Argo CD reports the side
//! it concerns Synced at the tier branch's tip): *Dual* (the new side rendered, in standby),
//! *Verified*, *Traffic* (a share of the requests, through the routing table), *Handover*
//! (the singletons hand over), *Switched* (the new side active, the old in standby), then the
//! old side's files go and the ShopSet's recorded failure domain is the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use shopset_crds::migration::APPROVED_STEP_ANNOTATION;
use shopset_crds::{MigratingShopSet, MigrationSpec, MigrationStatus, SidePhase, Singletons};
use shopset_render::TierInputs;
use shopset_render::inputs::Migrating;
use shopset_render::layout;

use crate::ops::shops::MoveGates;
use crate::problem::Problem;
use crate::resources::Resources;

/// What the migrations do this sync.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MigrationPlan {
    /// The ShopSets migrating after this sync, with their phase.
    pub states: BTreeMap<String, Migrating>,
    /// The ShopSets a migration brought to their failure domain before, as recorded:
    /// ShopSet → (failure domain, Migration).
    pub moved: BTreeMap<String, (String, String)>,
    /// The ShopSets whose migration ends this sync, by moving: ShopSet → (failure domain,
    /// Migration).
    pub done: BTreeMap<String, (String, String)>,
    /// Each Migration's status.
    pub statuses: BTreeMap<String, MigrationStatus>,
    /// What stops a Migration or one of its ShopSets.
    pub problems: Vec<Problem>,
}

/// A ShopSet as its tier branch records it.
struct Recorded<'a> {
    tier: &'a str,
    failure_domain: &'a str,
    migrating: Option<&'a Migrating>,
    migrated_by: Option<&'a str>,
    serves_shops: bool,
}

impl Recorded<'_> {
    /// The name of the side on its recorded failure domain.
    fn old_side(&self, name: &str) -> String {
        if self.migrated_by.is_some() {
            layout::side_name(name, self.failure_domain)
        } else {
            name.to_owned()
        }
    }
}

/// Plans every Migration. `rendered` are the tier branches' recorded inputs; `placements`
/// where each ShopSet is placed before this sync; `gates` the tips and the clock.
#[must_use]
pub fn plan(
    resources: &Resources,
    rendered: &BTreeMap<String, Arc<TierInputs>>,
    placements: &BTreeMap<&str, &str>,
    gates: &MoveGates,
) -> MigrationPlan {
    let mut out = MigrationPlan::default();
    let mut recorded: BTreeMap<&str, Recorded<'_>> = BTreeMap::new();
    for (tier, inputs) in rendered {
        let serving: BTreeSet<&str> = inputs
            .shops
            .values()
            .flat_map(|row| row.shop_sets())
            .collect();
        for (name, placed) in &inputs.shop_sets {
            if let Some((domain, migration)) = placed
                .migrated_by
                .as_ref()
                .map(|m| (placed.failure_domain.clone(), m.clone()))
            {
                out.moved.insert(name.clone(), (domain, migration));
            }
            recorded.insert(
                name,
                Recorded {
                    tier,
                    failure_domain: &placed.failure_domain,
                    migrating: placed.migrating.as_ref(),
                    migrated_by: placed.migrated_by.as_deref(),
                    serves_shops: serving.contains(name.as_str()),
                },
            );
        }
    }
    // A recorded phase of a Migration that is gone stays as it is: nothing moves without one.
    for (name, r) in &recorded {
        if let Some(m) = r.migrating {
            out.states.insert((*name).to_owned(), m.clone());
            if !resources.migrations.contains_key(&m.migration) {
                out.problems.push(Problem::of(
                    "ShopSet",
                    name,
                    "migrating.migration",
                    format!(
                        "recorded in phase {:?} of Migration {:?}, which does not exist: it \
                         stays there until the Migration is back (set spec.abort to walk it \
                         back)",
                        m.phase, m.migration
                    ),
                ));
            }
        }
    }
    let ranks = tier_ranks(resources);
    let steps = Gates {
        resources,
        gates,
        recorded: &recorded,
    };
    for (name, migration) in &resources.migrations {
        let (status, problems) = plan_one(
            name,
            &migration.spec,
            resources,
            &steps,
            placements,
            &ranks,
            &mut out,
        );
        out.problems
            .extend(problems.into_iter().map(|p| p.in_file(&migration.file)));
        out.statuses.insert(name.clone(), status);
    }
    out
}

/// Every Migration's status as the next sync would leave it: the plan of a sync, written
/// nowhere (`shopctl migrate status`).
#[must_use]
pub fn statuses(
    resources: &Resources,
    repos: &mut crate::Repos,
) -> BTreeMap<String, MigrationStatus> {
    crate::ops::plan::plan_sync(resources, repos).migrations
}

/// Each tier's place in the promotion chain: 0 for a tier nothing promotes into.
fn tier_ranks(resources: &Resources) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for name in resources.tiers.keys() {
        let mut rank = 0;
        let mut at = name.as_str();
        while let Some(from) = resources
            .tiers
            .get(at)
            .and_then(|t| t.spec.promotes_from.as_deref())
        {
            rank += 1;
            at = from;
            if rank > resources.tiers.len() {
                break;
            }
        }
        out.insert(name.as_str(), rank);
    }
    out
}

/// What a phase waits for.
struct Gates<'a> {
    resources: &'a Resources,
    gates: &'a MoveGates,
    recorded: &'a BTreeMap<&'a str, Recorded<'a>>,
}

impl Gates<'_> {
    /// Argo CD reports the Application `app` Synced at the tip of `tier`'s branch (and, when
    /// `healthy`, Healthy).
    fn at_tip(&self, tier: &str, app: &str, healthy: bool) -> Result<(), String> {
        let Some((tip, _)) = self.gates.tips.get(tier) else {
            return Err(format!("tier {tier} to have a branch"));
        };
        let seen = self.resources.applications.get(app);
        let ok = seen.is_some_and(|a| {
            a.sync.as_deref() == Some("Synced")
                && a.revision.as_deref() == Some(tip)
                && (!healthy || a.health.as_deref() == Some("Healthy"))
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "Argo CD to report Application {app} Synced at {}{}",
                &tip[..tip.len().min(12)],
                if healthy { " and Healthy" } else { "" }
            ))
        }
    }

    /// Seconds since the tip of `tier`'s branch was committed.
    fn since_tip(&self, tier: &str) -> i64 {
        let committed = self.gates.tips.get(tier).map_or(0, |(_, time)| *time);
        self.gates.now.as_second().saturating_sub(committed)
    }

    /// Why nothing of `tier` may change now, if something holds it.
    fn tier_held(&self, tier: &str) -> Option<String> {
        let hold = self
            .resources
            .tier_annotations
            .get(tier)
            .and_then(|a| a.get(crate::ops::promote::HOLD_ANNOTATION));
        if let Some(reason) = hold {
            return Some(format!("tier {tier} is held ({reason})"));
        }
        let windows = self
            .resources
            .tiers
            .get(tier)
            .map(|t| t.spec.promotion.freeze_windows.as_slice())
            .unwrap_or_default();
        crate::ops::freeze::frozen(windows, self.gates.now)
            .map(|why| format!("tier {tier} is frozen ({why})"))
    }
}

/// The next state of a ShopSet in flight: `Ok(None)` when its migration ends (moved, or
/// walked back out), `Err(why)` when it waits.
fn next_phase(
    g: &Gates<'_>,
    spec: &MigrationSpec,
    name: &str,
    r: &Recorded<'_>,
    m: &Migrating,
) -> Result<Option<Migrating>, String> {
    let new_side = layout::side_name(name, &m.to);
    let old_side = r.old_side(name);
    let with = |phase: SidePhase, weight: Option<u32>| Migrating {
        phase,
        weight,
        ..m.clone()
    };
    if spec.abort {
        // Back one phase a commit, once the one before took effect on both sides.
        g.at_tip(r.tier, &old_side, false)?;
        g.at_tip(r.tier, &new_side, false)?;
        if m.phase == SidePhase::Handover && m.singletons == Singletons::AtMostOne {
            // Back from both in standby to the old side active: as forward, Jobs the new side
            // started get the handover time before the old side runs its own.
            handover_passed(g, spec, r.tier)?;
        }
        return Ok(match m.phase {
            SidePhase::Switched => Some(with(SidePhase::Handover, None)),
            SidePhase::Handover | SidePhase::Traffic => Some(with(SidePhase::Verified, None)),
            SidePhase::Verified | SidePhase::Dual => None,
        });
    }
    let weights = if r.serves_shops {
        spec.traffic_weights.as_slice()
    } else {
        &[]
    };
    match m.phase {
        SidePhase::Dual => {
            g.at_tip(r.tier, &new_side, true)?;
            Ok(Some(with(SidePhase::Verified, None)))
        }
        SidePhase::Verified | SidePhase::Traffic => {
            g.at_tip(r.tier, &new_side, true)?;
            let next = weights
                .iter()
                .find(|w| m.weight.is_none_or(|now| **w > now));
            Ok(Some(match next {
                Some(w) => with(SidePhase::Traffic, Some(*w)),
                None => with(SidePhase::Handover, None),
            }))
        }
        SidePhase::Handover => {
            if m.singletons == Singletons::AtMostOne {
                // The old side suspended its CronJobs at the handover's commit: once Argo CD
                // applied it, running Jobs get the handover time to finish.
                g.at_tip(r.tier, &old_side, true)?;
                handover_passed(g, spec, r.tier)?;
            }
            g.at_tip(r.tier, &new_side, true)?;
            Ok(Some(with(SidePhase::Switched, None)))
        }
        SidePhase::Switched => {
            // Never remove the old side before the new one is healthy.
            g.at_tip(r.tier, &new_side, true)?;
            Ok(None)
        }
    }
}

/// Whether the handover time has passed since the tip of `tier` (the commit that suspended
/// the side that ran the singletons).
fn handover_passed(g: &Gates<'_>, spec: &MigrationSpec, tier: &str) -> Result<(), String> {
    let wait = shopset_crds::names::duration_seconds(&spec.handover).unwrap_or(0);
    let waited = g.since_tip(tier);
    if waited < i64::try_from(wait).unwrap_or(i64::MAX) {
        return Err(format!(
            "the handover time ({}) for Jobs still running on the side that stopped: {waited}s \
             of it passed",
            spec.handover
        ));
    }
    Ok(())
}

/// Plans one Migration: its ShopSets' next phases into `out`, and its status.
#[allow(clippy::too_many_lines)]
fn plan_one(
    migration: &str,
    spec: &MigrationSpec,
    resources: &Resources,
    g: &Gates<'_>,
    placements: &BTreeMap<&str, &str>,
    ranks: &BTreeMap<&str, usize>,
    out: &mut MigrationPlan,
) -> (MigrationStatus, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut status = MigrationStatus::default();
    let problem =
        |field: &str, message: String| Problem::of("Migration", migration, field, message);
    // `from` may be gone already (its ShopSets' records keep its spec); `to` must exist.
    if !resources.failure_domains.contains_key(&spec.to) {
        problems.push(problem(
            "spec.to",
            format!(
                "FailureDomain {:?} does not exist; expected one of the FailureDomains",
                spec.to
            ),
        ));
        status.phase = Some("Stopped".into());
        return (status, problems);
    }
    if let (Some(a), Some(b)) = (
        resources.failure_domains.get(&spec.from),
        resources.failure_domains.get(&spec.to),
    ) && a.spec.destination == b.spec.destination
    {
        problems.push(problem(
            "spec.to",
            format!(
                "FailureDomains {:?} and {:?} have the same Argo CD destination: the two sides \
                 of a ShopSet would own the same objects",
                spec.from, spec.to
            ),
        ));
        status.phase = Some("Stopped".into());
        return (status, problems);
    }
    // The selection: in flight, moved, and still to go, lowest tier first, then by name.
    let wanted_tier = |tier: &str| spec.tiers.is_empty() || spec.tiers.iter().any(|t| t == tier);
    let wanted_name = |n: &str| spec.shop_sets.is_empty() || spec.shop_sets.iter().any(|s| s == n);
    let mut in_flight: Vec<&str> = Vec::new();
    let mut moved = 0u32;
    let mut to_go: Vec<(usize, &str)> = Vec::new();
    for (name, r) in g.recorded {
        if r.migrating.is_some_and(|m| m.migration == migration) {
            in_flight.push(name);
        } else if r.migrated_by == Some(migration) && r.failure_domain == spec.to {
            moved += 1;
        }
    }
    for (name, s) in &resources.shop_sets {
        let on_from = placements.get(name.as_str()) == Some(&spec.from.as_str());
        let recorded = g.recorded.get(name.as_str());
        if !on_from
            || !wanted_tier(&s.spec.tier)
            || !wanted_name(name)
            || recorded.is_some_and(|r| r.migrating.is_some() || r.tier != s.spec.tier)
        {
            continue;
        }
        if recorded.is_none() {
            // Not rendered yet: nothing to move, it is simply placed (elsewhere, if `from` is
            // cordoned).
            continue;
        }
        if s.spec.failure_domain.as_deref() == Some(spec.from.as_str()) {
            problems.push(
                Problem::of(
                    "ShopSet",
                    name,
                    "spec.failureDomain",
                    format!(
                        "names {:?} explicitly, so Migration {migration:?} leaves it there: \
                         remove the field (or name {:?}) to move it",
                        spec.from, spec.to
                    ),
                )
                .in_file(&s.file)
                .as_warning(),
            );
            continue;
        }
        let side = layout::side_name(name, &spec.to);
        if !layout::side_name_fits(name, &spec.to) || resources.shop_sets.contains_key(&side) {
            problems.push(problem(
                "spec.to",
                format!(
                    "ShopSet {name:?} cannot migrate: its new side's Application name {side:?} {}",
                    if resources.shop_sets.contains_key(&side) {
                        "is another ShopSet's name"
                    } else {
                        "is longer than Argo CD's 63 characters"
                    }
                ),
            ));
            continue;
        }
        to_go.push((ranks.get(s.spec.tier.as_str()).copied().unwrap_or(0), name));
    }
    to_go.sort_unstable();
    // A Migration keeps taking what lands on `from`; with one the other way beside it, the two
    // would move ShopSets back and forth: neither starts one until one of them is deleted.
    let reverse: Vec<&String> = resources
        .migrations
        .iter()
        .filter(|(_, m)| m.spec.from == spec.to && m.spec.to == spec.from)
        .map(|(name, _)| name)
        .collect();
    let mut blocked = None;
    if let Some(other) = reverse.first()
        && !to_go.is_empty()
        && !spec.abort
    {
        let why = format!(
            "Migration {other:?} moves ShopSets the other way: delete the one that is done \
             (kubectl delete migration ...) before the other starts more"
        );
        problems.push(problem("spec.to", why.clone()).as_warning());
        blocked = Some(why);
        to_go.clear();
    }
    let total = moved + u32::try_from(in_flight.len() + to_go.len()).unwrap_or(u32::MAX);
    status.selected = total;
    let steps = spec.steps_or_default();
    let cumulative: Vec<u32> = steps
        .iter()
        .map(|s| (u64::from(s.percent) * u64::from(total)).div_ceil(100))
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .collect();

    // The ShopSets in flight, one phase each.
    let mut degraded = None;
    let mut lines = Vec::new();
    let mut still = 0u32;
    for name in &in_flight {
        let r = &g.recorded[name];
        let m = r.migrating.expect("in flight");
        let new_side = layout::side_name(name, &m.to);
        if let Some(a) = resources.applications.get(&new_side)
            && a.health.as_deref() == Some("Degraded")
            && degraded.is_none()
        {
            degraded = Some(format!(
                "ShopSet {name:?}: Argo CD reports its new side (Application {new_side}) Degraded"
            ));
        }
        let held = g.tier_held(r.tier);
        let stopped = spec.stop_on_degraded && degraded.is_some() && !spec.abort;
        let next = match (&held, stopped) {
            (Some(why), _) => Err(why.clone()),
            (None, true) => Err("the migration is stopped (a new side is Degraded)".into()),
            (None, false) => next_phase(g, spec, name, r, m),
        };
        match next {
            Ok(Some(state)) => {
                lines.push(line(name, r, &m.to, Some(state.phase), None));
                out.states.insert((*name).to_owned(), state);
                still += 1;
            }
            Ok(None) => {
                out.states.remove(*name);
                if !spec.abort {
                    out.done
                        .insert((*name).to_owned(), (m.to.clone(), migration.to_owned()));
                    moved += 1;
                }
            }
            Err(why) => {
                lines.push(line(name, r, &m.to, Some(m.phase), Some(why)));
                still += 1;
            }
        }
    }

    // New ShopSets, as far as the in-flight limit and the current step allow.
    let mut waiting = blocked;
    let started = moved + u32::try_from(in_flight.len()).unwrap_or(u32::MAX);
    let mut position = started;
    let mut in_flight_now = still;
    if spec.abort {
        waiting = Some("aborted: the ShopSets in flight walk back".to_owned());
    } else if let Some(why) = &degraded
        && spec.stop_on_degraded
    {
        problems.push(problem("status", format!("stopped: {why}")));
        waiting = Some(format!("stopped: {why}"));
    } else {
        for (_, name) in &to_go {
            if in_flight_now >= spec.max_in_flight {
                waiting = waiting.or(Some(format!(
                    "the in-flight limit ({}): a ShopSet starts when one finishes",
                    spec.max_in_flight
                )));
                break;
            }
            let Some(step) = cumulative.iter().position(|c| position < *c) else {
                break;
            };
            if let Err(why) = step_open(
                migration,
                spec,
                resources,
                g,
                &cumulative,
                step,
                moved,
                &to_go,
            ) {
                waiting = Some(why);
                break;
            }
            let r = &g.recorded[name];
            if let Some(why) = g.tier_held(r.tier) {
                waiting = Some(format!("ShopSet {name:?} waits: {why}"));
                break;
            }
            out.states.insert(
                (*name).to_owned(),
                Migrating {
                    migration: migration.to_owned(),
                    to: spec.to.clone(),
                    phase: SidePhase::Dual,
                    weight: None,
                    singletons: spec.singletons,
                    starting_deadline_seconds: spec.starting_deadline_seconds,
                },
            );
            lines.push(line(name, r, &spec.to, Some(SidePhase::Dual), None));
            in_flight_now += 1;
            position += 1;
        }
    }
    let current = cumulative
        .iter()
        .position(|c| moved < *c)
        .unwrap_or(steps.len().saturating_sub(1));
    status.step = Some(format!("{}/{}", current + 1, steps.len()));
    status.moved = moved;
    status.in_flight = in_flight_now;
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    status.shop_sets = lines;
    status.phase = Some(
        if spec.abort {
            if in_flight_now == 0 {
                "Aborted"
            } else {
                "Aborting"
            }
        } else if degraded.is_some() && spec.stop_on_degraded {
            "Stopped"
        } else if moved == total && in_flight_now == 0 {
            "Succeeded"
        } else if in_flight_now == 0 && waiting.is_some() {
            "Waiting"
        } else {
            "Progressing"
        }
        .to_owned(),
    );
    status.waiting = waiting;
    (status, problems)
}

/// Whether step `step` (0-based) may start a ShopSet: the ShopSets of the step before have
/// moved, its soak time has passed since, and it is approved when it asks to be.
#[allow(clippy::too_many_arguments)]
fn step_open(
    migration: &str,
    spec: &MigrationSpec,
    resources: &Resources,
    g: &Gates<'_>,
    cumulative: &[u32],
    step: usize,
    moved: u32,
    to_go: &[(usize, &str)],
) -> Result<(), String> {
    let steps = spec.steps_or_default();
    let number = step + 1;
    if step > 0 && moved < cumulative[step - 1] {
        return Err(format!(
            "step {number} starts when the {} ShopSets of step {step} have moved ({moved} have)",
            cumulative[step - 1]
        ));
    }
    if let Some(soak) = &steps[step].soak
        && step > 0
    {
        // The soak counts from the last commit of the tiers the migration touches.
        let seconds = shopset_crds::names::duration_seconds(soak).unwrap_or(0);
        let tiers: BTreeSet<&str> = g
            .recorded
            .iter()
            .filter(|(n, r)| r.migrated_by == Some(migration) || to_go.iter().any(|(_, t)| t == *n))
            .map(|(_, r)| r.tier)
            .collect();
        let waited = tiers
            .iter()
            .map(|t| g.since_tip(t))
            .min()
            .unwrap_or(i64::MAX);
        if waited < i64::try_from(seconds).unwrap_or(i64::MAX) {
            return Err(format!(
                "the soak time of step {number} ({soak}): {waited}s of it passed"
            ));
        }
    }
    if steps[step].approval {
        let approved = resources
            .migration_annotations
            .get(migration)
            .and_then(|a| a.get(APPROVED_STEP_ANNOTATION))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if approved.is_none_or(|a| a < number) {
            return Err(format!(
                "step {number} requires an approval (shopctl migrate approve {migration} {number})"
            ));
        }
    }
    Ok(())
}

fn line(
    name: &str,
    r: &Recorded<'_>,
    to: &str,
    phase: Option<SidePhase>,
    message: Option<String>,
) -> MigratingShopSet {
    MigratingShopSet {
        name: name.to_owned(),
        tier: r.tier.to_owned(),
        phase,
        applications: vec![r.old_side(name), layout::side_name(name, to)],
        message,
    }
}
