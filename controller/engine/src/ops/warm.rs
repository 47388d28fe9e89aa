//! Planning from what changed: a running engine (the controller) that knows which ShopSets
//! changed since its last sync plans only those, in time proportional to the change, and gets
//! exactly the plan [`crate::ops::plan::plan_tiers`] would make.
//!
//! What it builds on ([`Warm`], kept in [`Repos`] after each sync): per tier, the commit the
//! engine last wrote or found unchanged and the inputs recorded there. It plans from them only
//! when every condition holds, checked on each sync, and otherwise plans everything:
//! - the last plan was quiet ([`crate::SyncPlan::quiet`]: no problem, nothing waiting for time
//!   or for Argo CD), and the resources have no error;
//! - the same Tiers, as many ShopSets and Shops, the same Migrations;
//! - each tier's branch is still at the commit the engine knows, a rendering of its own, and
//!   what the tier's recorded inputs hold of the world is still true: the Tier's spec, the app
//!   commit, every configuration document read again at the tier's branch, every failure
//!   domain, the preview;
//! - each changed ShopSet was in its tier before and only settings that change its own
//!   rendering changed (not its tier, configuration, failure domain, namespace or shop
//!   settings), it is not migrating, and none of its Deployments is released by canary.
//!
//! The caller's part of the contract: `changed` names every ShopSet whose spec changed since
//! the last sync through the same [`Repos`], and nothing else changed but statuses (a Shop or a
//! Configuration changed: plan everything). In debug builds every plan made here is compared
//! with the full plan (`sync` does it), so the tests check the contract on every sync.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use shopset_crds::ShopSetSpec;
use shopset_render::TierInputs;

use super::plan::{self, Content, SyncPlan, TierPlan};
use crate::repos::Repos;
use crate::resources::Resources;

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
    /// ShopSets named as changed whose tier was not planned then: planned with the next
    /// change to their tier.
    pending: BTreeSet<String>,
}

/// Keeps what a sync left: `written` has, per tier planned, the branch's commit after the
/// sync (`None`: not written, so unknown) and the inputs it records. Tiers not planned this
/// time keep what they had when `changed` named what changed (their ShopSets named are kept
/// for later); otherwise they are forgotten.
pub fn remember(
    repos: &mut Repos,
    resources: &Resources,
    plan_quiet: bool,
    migrations: &BTreeMap<String, shopset_crds::MigrationStatus>,
    written: Vec<(String, Option<String>, Arc<TierInputs>)>,
    changed: Option<&BTreeSet<String>>,
) {
    let before = repos.warm.take().unwrap_or_default();
    if !plan_quiet {
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
        statuses: migrations.clone(),
        ..Warm::default()
    };
    if let Some(changed) = changed {
        // Unplanned tiers stay as they were, with the ShopSets changed in them to do.
        for (tier, entry) in before.tiers {
            if !planned.contains(tier.as_str()) {
                warm.tiers.insert(tier, entry);
            }
        }
        warm.pending = before
            .pending
            .into_iter()
            .chain(changed.iter().cloned())
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

/// Plans the tiers in `only` (all when `None`) from the last sync and the ShopSets in
/// `changed`. `Err` says why it cannot (then plan everything).
///
/// # Errors
/// Why this change cannot be planned from the last sync.
pub fn plan(
    resources: &Resources,
    repos: &mut Repos,
    only: Option<&BTreeSet<String>>,
    changed: &BTreeSet<String>,
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
    if (resources.shop_sets.len(), resources.shops.len()) != warm.counts {
        return Err("ShopSets or Shops were added or removed".into());
    }
    if !resources
        .migrations
        .iter()
        .map(|(k, v)| (k, &v.spec))
        .eq(warm.migrations.iter())
    {
        return Err("Migrations changed".into());
    }
    let mut by_tier: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for name in changed.iter().chain(&warm.pending) {
        let s = resources
            .shop_sets
            .get(name)
            .ok_or_else(|| format!("ShopSet {name} was deleted"))?;
        by_tier.entry(&s.spec.tier).or_default().push(name);
    }
    let mut out = SyncPlan {
        migrations: warm.statuses.clone(),
        quiet: true,
        ..SyncPlan::default()
    };
    for (tier, sourced) in &resources.tiers {
        if only.is_some_and(|only| !only.contains(tier)) {
            continue;
        }
        let names = by_tier.remove(tier.as_str()).unwrap_or_default();
        out.tiers.push(plan_tier(
            resources,
            repos,
            &warm,
            tier,
            &sourced.spec,
            &names,
        )?);
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
    names: &[&str],
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
    let mut inputs = (**recorded).clone();
    for name in names {
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
    let mut rendered = BTreeMap::new();
    if !names.is_empty() {
        let catalog =
            plan::base_catalog(repos, tier, spec, &inputs.app_commit).map_err(|p| p.to_string())?;
        for name in names {
            let hosts = shopset_render::inputs::hosts_of(&inputs.shops, name);
            let files = shopset_render::render_shopset_with(&inputs, name, Some(&catalog), &hosts)
                .map_err(|e| format!("ShopSet {name} does not render: {e}"))?;
            rendered.insert((*name).to_owned(), files);
        }
    }
    let touched: BTreeSet<String> = names
        .iter()
        .map(|n| shopset_render::layout::shard(n))
        .collect();
    let none = BTreeSet::new();
    let common = shopset_render::render_common_with(
        &inputs,
        &shopset_render::Touched {
            application_shards: Some(&none),
            shop_shards: Some(&none),
            shop_set_shards: Some(&touched),
        },
    )
    .map_err(|e| e.to_string())?;
    let summary = plan::summarize(Some(recorded), &inputs, &rendered, Vec::new());
    let edits = plan::edits(recorded, &inputs, &[], common, rendered).map_err(|e| e.to_string())?;
    let inputs = if names.is_empty() {
        Arc::clone(recorded)
    } else {
        Arc::new(inputs)
    };
    Ok(TierPlan {
        tier: tier.to_owned(),
        branch,
        system_url: spec.system.url.clone(),
        previous_tip: prev.tip,
        previous: Some(Arc::clone(recorded)),
        inputs,
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
            panic!(
                "{}: the inputs differ from the full plan's (ShopSets {differ:?})",
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
