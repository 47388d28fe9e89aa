//! Planning from what changed: a running engine (the controller) that knows what changed since
//! its last sync (which ShopSets, which new Shops) plans only that, in time proportional to the
//! change, and gets exactly the plan [`crate::ops::plan::plan_tiers`] would make.
//!
//! What it builds on ([`Warm`], kept in [`Repos`] after each sync): per tier, the commit the
//! engine last wrote or found unchanged and the inputs recorded there. It plans from them only
//! when every condition holds, checked on each sync, and otherwise plans everything:
//! - the last plan was quiet ([`crate::SyncPlan::quiet`]: no problem, nothing waiting for time
//!   or for Argo CD), and the resources have no error;
//! - the same Tiers, as many ShopSets, as many Shops but the new ones, the same Migrations;
//! - each tier's branch is still at the commit the engine knows, a rendering of its own, and
//!   what the tier's recorded inputs hold of the world is still true: the Tier's spec, the app
//!   commit, every configuration document read again at the tier's branch, every failure
//!   domain, the preview;
//! - each changed ShopSet was in its tier before and only settings that change its own
//!   rendering changed (not its tier, configuration, failure domain, namespace or shop
//!   settings), it is not migrating, and none of its Deployments is released by canary;
//! - each named Shop is either new, neither pinned nor isolated, and the rule finds it a
//!   ShopSet (on the loads the last plan left, [`shopset_render::assignment::assign_new`]), or
//!   newly pinned to another ShopSet of its tier that may take it (the move's first step, warm;
//!   the plan is then not quiet, and the move's next steps, which wait for Argo CD, are planned
//!   whole), in a tier synced now, with no freeze window open and no mass-move stop.
//!
//! The caller's part of the contract ([`Changed`]): it names every ShopSet and every Shop
//! created or whose spec changed since the last sync through the same [`Repos`], and nothing
//! else changed but statuses (a Shop or ShopSet deleted, a Configuration changed: plan
//! everything).
//! In debug builds every plan made here is compared with the full plan (`sync` does it), so
//! the tests check the contract on every sync.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use shopset_crds::ShopSetSpec;
use shopset_render::TierInputs;
use shopset_render::inputs::AssignedShop;

use super::plan::{self, Content, SyncPlan, TierPlan};
use crate::repos::Repos;
use crate::resources::Resources;

/// What changed since the last sync, as a watch saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// ShopSets whose spec changed.
    pub shop_sets: BTreeSet<String>,
    /// Shops created, or whose spec changed.
    pub shops: BTreeSet<String>,
}

/// What the last sync leaves for the next one to build on.
#[derive(Debug, Clone, Default)]
pub struct Warm {
    /// Per tier: the branch's commit and the inputs it records.
    tiers: BTreeMap<String, (String, Arc<TierInputs>)>,
    /// The Tiers there were.
    tier_names: BTreeSet<String>,
    /// How many ShopSets and Shops there were.
    counts: (usize, usize),
    /// The Migrations there were, and their statuses as planned.
    migrations: BTreeMap<String, shopset_crds::MigrationSpec>,
    statuses: BTreeMap<String, shopset_crds::MigrationStatus>,
    /// Every ShopSet's load, as the last plan left it.
    loads: BTreeMap<String, u64>,
    /// ShopSets named as changed whose tier was not planned then: planned with the next
    /// change to their tier.
    pending: BTreeSet<String>,
}

impl Warm {
    /// Whether the last sync planned `tier` and knows its branch's commit.
    #[must_use]
    pub fn knows(&self, tier: &str) -> bool {
        self.tiers.contains_key(tier)
    }
}

/// What a plan leaves that the next one builds on.
#[derive(Debug, Clone, Default)]
pub struct PlanState {
    /// [`SyncPlan::quiet`].
    pub quiet: bool,
    /// [`SyncPlan::migrations`].
    pub migrations: BTreeMap<String, shopset_crds::MigrationStatus>,
    /// [`SyncPlan::loads`].
    pub loads: BTreeMap<String, u64>,
}

/// Keeps what a sync left: `written` has, per tier planned, the branch's commit after the
/// sync (`None`: not written, so unknown) and the inputs it records. Tiers not planned this
/// time keep what they had when `changed` named what changed and no new Shop (their ShopSets
/// named are kept for later); otherwise they are forgotten.
pub fn remember(
    repos: &mut Repos,
    resources: &Resources,
    plan: PlanState,
    written: Vec<(String, Option<String>, Arc<TierInputs>)>,
    changed: Option<&Changed>,
) {
    let before = repos.warm.take().unwrap_or_default();
    if !plan.quiet {
        return;
    }
    let planned: BTreeSet<&str> = written.iter().map(|(t, _, _)| t.as_str()).collect();
    let mut warm = Warm {
        tier_names: resources.tiers.keys().cloned().collect(),
        counts: (resources.shop_sets.len(), resources.shops.len()),
        migrations: resources
            .migrations
            .iter()
            .map(|(k, v)| (k.clone(), v.spec.clone()))
            .collect(),
        statuses: plan.migrations,
        loads: plan.loads,
        ..Warm::default()
    };
    // A new shop assigned to a tier not planned now is in none of the kept records.
    if let Some(changed) = changed.filter(|c| c.shops.is_empty()) {
        // Unplanned tiers stay as they were, with the ShopSets changed in them to do.
        for (tier, entry) in before.tiers {
            if !planned.contains(tier.as_str()) {
                warm.tiers.insert(tier, entry);
            }
        }
        warm.pending = before
            .pending
            .into_iter()
            .chain(changed.shop_sets.iter().cloned())
            .filter(|n| {
                resources
                    .shop_sets
                    .get(n)
                    .is_some_and(|s| !planned.contains(s.spec.tier.as_str()))
            })
            .collect();
    }
    for (tier, commit, inputs) in written {
        if let Some(commit) = commit {
            warm.tiers.insert(tier, (commit, inputs));
        }
    }
    repos.warm = Some(warm);
}

/// What one tier's plan takes from the change.
#[derive(Default)]
struct TierChange<'a> {
    /// ShopSets whose spec changed.
    shop_sets: Vec<&'a str>,
    /// New shops' rows.
    rows: Vec<(String, Arc<AssignedShop>)>,
}

/// Plans the tiers in `only` (all when `None`) from the last sync and `changed`. `Err` says
/// why it cannot (then plan everything).
///
/// # Errors
/// Why this change cannot be planned from the last sync.
pub fn plan(
    resources: &Resources,
    repos: &mut Repos,
    only: Option<&BTreeSet<String>>,
    changed: &Changed,
) -> Result<SyncPlan, String> {
    let warm = repos.warm.clone().ok_or("no earlier sync to build on")?;
    if !resources.errors.is_empty()
        || resources.incomplete
        || !resources.invalid.is_empty()
        || !resources.duplicated.is_empty()
    {
        return Err("the resources have errors".into());
    }
    if !resources.tiers.keys().eq(warm.tier_names.iter()) {
        return Err("Tiers were added or removed".into());
    }
    if resources.shop_sets.len() != warm.counts.0 {
        return Err("ShopSets were added or removed".into());
    }
    if !resources
        .migrations
        .iter()
        .map(|(k, v)| (k, &v.spec))
        .eq(warm.migrations.iter())
    {
        return Err("Migrations changed".into());
    }
    let mut by_tier: BTreeMap<&str, TierChange<'_>> = BTreeMap::new();
    for name in changed.shop_sets.iter().chain(&warm.pending) {
        let s = resources
            .shop_sets
            .get(name)
            .ok_or_else(|| format!("ShopSet {name} was deleted"))?;
        by_tier
            .entry(&s.spec.tier)
            .or_default()
            .shop_sets
            .push(name);
    }
    let shops = shops_changed(resources, &warm, only, changed)?;
    for (tier, row) in shops.rows {
        by_tier.entry(tier).or_default().rows.push(row);
    }
    // A move under way waits for Argo CD: the plan is not quiet, and the next one is whole.
    let mut out = SyncPlan {
        migrations: warm.statuses.clone(),
        quiet: !shops.moving,
        loads: shops.loads,
        ..SyncPlan::default()
    };
    for (tier, sourced) in &resources.tiers {
        if only.is_some_and(|only| !only.contains(tier)) {
            continue;
        }
        let change = by_tier.remove(tier.as_str()).unwrap_or_default();
        out.tiers.push(plan_tier(
            resources,
            repos,
            &warm,
            tier,
            &sourced.spec,
            change,
        )?);
    }
    Ok(out)
}

/// What the named Shops change: their rows, each with the tier of its ShopSet, the loads
/// after them, and whether a move started (the plan is then not quiet).
struct ShopChanges<'w> {
    rows: Vec<(&'w str, (String, Arc<AssignedShop>))>,
    loads: BTreeMap<String, u64>,
    moving: bool,
}

/// The named Shops' rows: a pin to another ShopSet of the same tier starts a move (its first
/// step, warm: the target lists the hosts); a new shop is assigned by the rule on the loads the
/// last plan left. As the full plan does it when every other shop stays: moves first, in name
/// order, then new shops.
fn shops_changed<'w>(
    resources: &Resources,
    warm: &'w Warm,
    only: Option<&BTreeSet<String>>,
    changed: &Changed,
) -> Result<ShopChanges<'w>, String> {
    let mut out = ShopChanges {
        rows: Vec::new(),
        loads: warm.loads.clone(),
        moving: false,
    };
    let added = changed
        .shops
        .iter()
        .filter(|n| !warm.tiers.values().any(|(_, i)| i.shops.contains_key(*n)))
        .count();
    if resources.shops.len() != warm.counts.1 + added {
        return Err("Shops were added or removed".into());
    }
    if changed.shops.is_empty() {
        return Ok(out);
    }
    if warm.tiers.len() != resources.tiers.len() {
        return Err("a tier's record is not known".into());
    }
    let tier_of = |shop_set: &str| {
        warm.tiers
            .iter()
            .find(|(_, (_, i))| i.shop_sets.contains_key(shop_set))
            .map(|(t, _)| t.as_str())
            .ok_or_else(|| format!("ShopSet {shop_set} is in no tier"))
    };
    let synced = |tier: &str, shop: &str| {
        if only.is_some_and(|only| !only.contains(tier)) {
            Err(format!("Shop {shop} is in tier {tier}, not synced now"))
        } else {
            Ok(())
        }
    };
    // The Applications of ShopSets a migration moved, for their health.
    let mut gates = super::shops::MoveGates::at(jiff::Timestamp::now());
    for (_, inputs) in warm.tiers.values() {
        for (name, placed) in &inputs.shop_sets {
            if placed.migrated_by.is_some() {
                gates
                    .applications
                    .insert(name.clone(), placed.home_name(name));
            }
        }
    }
    let candidates = super::shops::candidates(resources, &|_| false, &gates);
    let mut new = Vec::new();
    // Moves out of each ShopSet, for the mass-move stop.
    let mut leaving: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &changed.shops {
        let shop = resources
            .shops
            .get(name)
            .ok_or_else(|| format!("Shop {name} was deleted"))?;
        let spec = &shop.spec;
        if spec.isolate {
            return Err(format!("Shop {name} is isolated"));
        }
        let recorded = warm
            .tiers
            .iter()
            .find_map(|(t, (_, i))| Some((t.as_str(), i.shops.get(name)?)));
        let Some((tier, was)) = recorded else {
            if spec.shop_set.is_some() {
                return Err(format!("Shop {name} is new and pinned"));
            }
            new.push((
                name.as_str(),
                shopset_render::assignment::ShopRequest {
                    pool: &spec.pool,
                    weight: spec.weight,
                    pin: None,
                    isolate: false,
                    recorded: None,
                },
            ));
            continue;
        };
        // A move's first step, within the tier, out of a ShopSet that serves the shop alone.
        let Some(to) = spec.shop_set.as_deref().filter(|to| *to != was.shop_set) else {
            return Err(format!("Shop {name} changed, and not by a move"));
        };
        if was.warming.is_some() || was.draining.is_some() {
            return Err(format!("Shop {name} is moving already"));
        }
        if was.hosts != spec.hosts || was.weight != spec.weight {
            return Err(format!("Shop {name}: its hosts or weight changed"));
        }
        if tier_of(to)? != tier {
            return Err(format!("Shop {name} moves to another tier"));
        }
        synced(tier, name)?;
        let candidate = candidates
            .get(to)
            .ok_or_else(|| format!("ShopSet {to} is not a ShopSet"))?;
        let used = out.loads.get(to).copied().unwrap_or(0);
        shopset_render::assignment::may_take(name, spec.weight, to, candidate, used)
            .map_err(|e| format!("Shop {name}: {e}"))?;
        let windows = &resources.tiers[tier].spec.promotion.freeze_windows;
        if crate::ops::freeze::frozen(windows, gates.now).is_some() {
            return Err(format!("tier {tier} is frozen"));
        }
        let weight = u64::from(spec.weight);
        *out.loads.entry(was.shop_set.clone()).or_default() -= weight;
        *out.loads.entry(to.to_owned()).or_default() += weight;
        *leaving.entry(&was.shop_set).or_default() += 1;
        let row = AssignedShop {
            warming: Some(to.to_owned()),
            draining: None,
            ..(**was).clone()
        };
        out.moving = true;
        out.rows.push((tier, (name.clone(), Arc::new(row))));
    }
    for (from, count) in leaving {
        let tier = tier_of(from)?;
        let limits = resources.tiers[tier].spec.safety.max_shop_moves;
        if count > limits.count as usize {
            let served = warm.tiers[tier]
                .1
                .shops
                .values()
                .filter(|r| r.shop_set == from)
                .count();
            if count * 100 > served * limits.percent as usize {
                return Err(format!(
                    "the moves out of ShopSet {from} stop for confirmation"
                ));
            }
        }
    }
    let loads: BTreeMap<&str, u64> = out.loads.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let outcomes = shopset_render::assignment::assign_new(&new, &candidates, &loads);
    for (name, outcome) in outcomes {
        let (Some(assigned), None) = (&outcome.assigned, &outcome.problem) else {
            return Err(format!("Shop {name} finds no ShopSet"));
        };
        let tier = tier_of(assigned.shop_set)?;
        synced(tier, name)?;
        let spec = &resources.shops[name].spec;
        *out.loads.entry(assigned.shop_set.to_owned()).or_default() += u64::from(spec.weight);
        let row = AssignedShop {
            shop_set: assigned.shop_set.to_owned(),
            epoch: assigned.epoch,
            by: assigned.by,
            hosts: spec.hosts.clone(),
            weight: spec.weight,
            warming: None,
            draining: None,
        };
        out.rows.push((tier, (name.to_owned(), Arc::new(row))));
    }
    Ok(out)
}

/// Settings of a ShopSet that change only its own files: any other change plans everything.
fn own_settings_only(old: &ShopSetSpec, new: &ShopSetSpec) -> bool {
    let mut same = new.clone();
    same.overrides.clone_from(&old.overrides);
    same.maintenance = old.maintenance;
    same.suspend = old.suspend;
    same.workload_deletion = old.workload_deletion;
    &same == old
}

fn plan_tier(
    resources: &Resources,
    repos: &mut Repos,
    warm: &Warm,
    tier: &str,
    spec: &shopset_crds::TierSpec,
    change: TierChange<'_>,
) -> Result<TierPlan, String> {
    let (commit, recorded) = warm
        .tiers
        .get(tier)
        .ok_or_else(|| format!("tier {tier} was not planned before"))?;
    let branch = spec.branch_or(tier).to_owned();
    let prev = plan::read_previous(repos, &spec.system.url, &branch)?;
    if prev.tip.as_deref() != Some(commit.as_str()) || !prev.ours {
        return Err(format!("branch {branch} moved"));
    }
    let base_tree = prev.tree_id.clone().ok_or("no tree")?;
    // What the recorded inputs hold of the world is still true.
    if recorded.tier.spec != *spec || resources.previews.get(tier) != recorded.preview.as_ref() {
        return Err(format!("Tier {tier} changed"));
    }
    let app_commit = plan::app_commit(repos, tier, spec, &branch).map_err(|p| p.to_string())?;
    if app_commit != recorded.app_commit {
        return Err(format!("the app commit of {tier} moved"));
    }
    let config_branch = recorded
        .preview
        .as_ref()
        .map_or(branch.as_str(), |p| p.configuration_branch.as_str());
    for (name, was) in &recorded.configurations {
        let now = plan::resolve_config(resources, repos, name, config_branch)
            .map_err(|p| p.to_string())?;
        if now != *was {
            return Err(format!("Configuration {name} changed"));
        }
    }
    for (name, was) in &recorded.failure_domains {
        // A cordon is not recorded (it decides where new ShopSets go).
        let same = resources.failure_domains.get(name).is_some_and(|fd| {
            shopset_crds::FailureDomainSpec {
                cordoned: false,
                ..fd.spec.clone()
            } == *was
        });
        if !same {
            return Err(format!("FailureDomain {name} changed"));
        }
    }
    if change.shop_sets.is_empty() && change.rows.is_empty() {
        return Ok(TierPlan {
            tier: tier.to_owned(),
            branch,
            system_url: spec.system.url.clone(),
            previous_tip: prev.tip,
            previous: Some(Arc::clone(recorded)),
            inputs: Arc::clone(recorded),
            content: Content::Edits {
                base_tree,
                edits: shopset_git::TreeEdits::default(),
            },
            summary: plan::summarize(Some(recorded), recorded, &BTreeMap::new(), Vec::new()),
            restored: Vec::new(),
        });
    }
    let mut inputs = (**recorded).clone();
    for name in &change.shop_sets {
        let new = &resources.shop_sets[*name].spec;
        let old = inputs
            .shop_sets
            .get_mut(*name)
            .ok_or_else(|| format!("ShopSet {name} came to tier {tier}"))?;
        if !own_settings_only(&old.spec, new) {
            return Err(format!(
                "ShopSet {name}: more than its own settings changed"
            ));
        }
        if old.migrating.is_some() || !old.rollouts_leaving.is_empty() {
            return Err(format!(
                "ShopSet {name} is migrating or leaving canary release"
            ));
        }
        if !shopset_render::progressive_workloads(recorded, name).is_empty() {
            return Err(format!("ShopSet {name} releases by canary"));
        }
        Arc::make_mut(old).spec = new.clone();
    }
    // The ShopSets to render: those changed, and those a new shop's hosts join.
    let mut to_render: BTreeSet<&str> = change.shop_sets.iter().copied().collect();
    let mut shop_shards = BTreeSet::new();
    for (name, row) in &change.rows {
        shop_shards.insert(shopset_render::layout::shard(name));
        inputs.shops.insert(name.clone(), Arc::clone(row));
    }
    for (_, row) in &change.rows {
        to_render.extend(row.shop_sets());
    }
    let catalog =
        plan::base_catalog(repos, tier, spec, &inputs.app_commit).map_err(|p| p.to_string())?;
    let mut rendered = BTreeMap::new();
    for name in &to_render {
        let hosts = shopset_render::inputs::hosts_of(&inputs.shops, name);
        let files = shopset_render::render_shopset_with(&inputs, name, Some(&catalog), &hosts)
            .map_err(|e| format!("ShopSet {name} does not render: {e}"))?;
        rendered.insert((*name).to_owned(), files);
    }
    let touched: BTreeSet<String> = change
        .shop_sets
        .iter()
        .map(|n| shopset_render::layout::shard(n))
        .collect();
    // A record or routing table that goes from one file to shards is written whole.
    let same_layout = shopset_render::record::sharded(recorded)
        == shopset_render::record::sharded(&inputs)
        && shopset_render::routing::sharded(recorded) == shopset_render::routing::sharded(&inputs);
    let none = BTreeSet::new();
    let common = shopset_render::render_common_with(
        &inputs,
        &shopset_render::Touched {
            application_shards: Some(&none),
            shop_shards: same_layout.then_some(&shop_shards),
            shop_set_shards: Some(&touched),
        },
    )
    .map_err(|e| e.to_string())?;
    let summary = plan::summarize(Some(recorded), &inputs, &rendered, Vec::new());
    let edits = plan::edits(recorded, &inputs, &[], common, rendered).map_err(|e| e.to_string())?;
    Ok(TierPlan {
        tier: tier.to_owned(),
        branch,
        system_url: spec.system.url.clone(),
        previous_tip: prev.tip,
        previous: Some(Arc::clone(recorded)),
        inputs: Arc::new(inputs),
        content: Content::Edits { base_tree, edits },
        summary,
        restored: Vec::new(),
    })
}

/// Panics when a plan made from the change differs from the full plan of the same resources
/// (debug builds check every one): the same tiers, tips, inputs, summaries, problems and
/// Migration statuses, and trees that end the same.
///
/// # Panics
/// When they differ, naming what.
pub fn assert_same(warm: &SyncPlan, full: &SyncPlan) {
    assert_eq!(warm.problems, full.problems, "problems");
    assert_eq!(warm.migrations, full.migrations, "Migration statuses");
    assert_eq!(warm.quiet, full.quiet, "quiet");
    assert_eq!(warm.loads, full.loads, "loads");
    let tiers = |p: &SyncPlan| p.tiers.iter().map(|t| t.tier.clone()).collect::<Vec<_>>();
    assert_eq!(tiers(warm), tiers(full), "tiers planned");
    for (w, f) in warm.tiers.iter().zip(&full.tiers) {
        assert_eq!(w.previous_tip, f.previous_tip, "{}: tip", w.tier);
        if w.inputs != f.inputs {
            let differ: Vec<&String> = w
                .inputs
                .shop_sets
                .keys()
                .chain(f.inputs.shop_sets.keys())
                .filter(|n| w.inputs.shop_sets.get(*n) != f.inputs.shop_sets.get(*n))
                .collect();
            let shops: Vec<&String> = w
                .inputs
                .shops
                .keys()
                .chain(f.inputs.shops.keys())
                .filter(|n| w.inputs.shops.get(*n) != f.inputs.shops.get(*n))
                .collect();
            panic!(
                "{}: the inputs differ from the full plan's (ShopSets {differ:?}, shops \
                 {shops:?})",
                w.tier
            );
        }
        assert_eq!(w.summary, f.summary, "{}: summary", w.tier);
        assert_eq!(
            super::sync::inputs_unchanged(w),
            super::sync::inputs_unchanged(f),
            "{}: unchanged",
            w.tier
        );
        // The trees: both edit the same tree; every file either writes is what the full
        // rendering of the inputs holds.
        let (Content::Edits { edits: we, .. }, Content::Edits { edits: fe, .. }) =
            (&w.content, &f.content)
        else {
            panic!("{}: the full plan renders the whole tree", w.tier);
        };
        let whole = shopset_render::render_tier(&f.inputs).expect("the inputs render");
        for edits in [we, fe] {
            for (path, bytes) in &edits.upsert.files {
                assert_eq!(whole.files.get(path), Some(bytes), "{}: {path}", w.tier);
            }
            for (dir, sub) in &edits.replace_dirs {
                for (path, bytes) in &sub.files {
                    let path = format!("{dir}/{path}");
                    assert_eq!(whole.files.get(&path), Some(bytes), "{}: {path}", w.tier);
                }
            }
        }
        let mut removed: Vec<&String> = we.remove.iter().collect();
        let mut also: Vec<&String> = fe.remove.iter().collect();
        removed.sort();
        also.sort();
        assert_eq!(removed, also, "{}: removed paths", w.tier);
    }
}
