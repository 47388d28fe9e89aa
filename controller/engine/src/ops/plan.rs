//! Planning a sync: from the resources and the repositories, the exact inputs and tree of every
//! tier branch, what changed, and what went wrong. Reads git; writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use shopset_crds::{ConfigLayer, TierSpec};
use shopset_render::inputs::{ConfigSourceAt, PlacedShopSet, ResolvedConfiguration};
use shopset_render::placement::{self, PlacementRequest};
use shopset_render::{TierInputs, Tree, layout};

use crate::repos::Repos;
use crate::resources::Resources;

/// What a sync will do to one tier branch.
#[derive(Debug, Clone)]
pub struct TierPlan {
    /// The Tier.
    pub tier: String,
    /// Its branch.
    pub branch: String,
    /// The system repository.
    pub system_url: String,
    /// The branch tip the plan was made on (`None`: the branch does not exist yet).
    pub previous_tip: Option<String>,
    /// The inputs recorded at that tip.
    pub previous: Option<TierInputs>,
    /// The new inputs.
    pub inputs: TierInputs,
    /// The new tree.
    pub tree: Tree,
    /// What changed for people.
    pub summary: Summary,
}

/// What changed on a branch, for the commit message and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// ShopSets added.
    pub added: Vec<String>,
    /// ShopSets whose rendering changed.
    pub changed: Vec<String>,
    /// ShopSets removed.
    pub removed: Vec<String>,
    /// ShopSets kept at their last rendered version because their input is invalid now.
    pub kept: Vec<String>,
    /// The base gitlink before (when it moved).
    pub base_from: Option<String>,
    /// The base gitlink after.
    pub base_to: String,
}

/// Everything a sync would do.
#[derive(Debug, Default)]
pub struct SyncPlan {
    /// One entry per tier that could be planned.
    pub tiers: Vec<TierPlan>,
    /// Problems, each naming what it is about. A plan with problems still covers everything
    /// that could be planned.
    pub problems: Vec<String>,
}

struct Previous {
    tip: Option<String>,
    inputs: Option<TierInputs>,
}

/// Plans a sync of every Tier in `resources`.
#[must_use]
pub fn plan_sync(resources: &Resources, repos: &mut Repos) -> SyncPlan {
    let mut plan = SyncPlan::default();
    plan.problems
        .extend(resources.errors.iter().map(ToString::to_string));

    // 1. What every tier branch holds now.
    let mut previous = BTreeMap::new();
    for (tier, sourced) in &resources.tiers {
        let branch = sourced.spec.branch_or(tier).to_owned();
        match read_previous(repos, &sourced.spec.system.url, &branch) {
            Ok(p) => {
                previous.insert(tier.clone(), p);
            }
            Err(e) => plan
                .problems
                .push(format!("Tier {tier:?}: system repository: {e}")),
        }
    }

    // 2. Placement, over every tier at once (capacity is shared).
    let mut requests = BTreeMap::new();
    for (name, s) in &resources.shop_sets {
        let earlier = resources
            .recorded_placements
            .get(name)
            .cloned()
            .or_else(|| {
                previous.values().find_map(|p| {
                    p.inputs
                        .as_ref()
                        .and_then(|i| i.shop_sets.get(name))
                        .map(|s| s.failure_domain.clone())
                })
            });
        requests.insert(
            name.clone(),
            PlacementRequest {
                explicit: s.spec.failure_domain.clone(),
                previous: earlier,
            },
        );
    }
    let domains = resources
        .failure_domains
        .iter()
        .map(|(k, v)| (k.clone(), v.spec.clone()))
        .collect();
    let placements = placement::place(&requests, &domains);

    for (name, s) in &resources.shop_sets {
        if !resources.tiers.contains_key(&s.spec.tier) {
            plan.problems.push(format!(
                "{}: ShopSet {name:?}: spec.tier: Tier {:?} does not exist",
                s.file, s.spec.tier
            ));
        }
    }

    // 3. Each tier.
    for (tier, sourced) in &resources.tiers {
        let Some(prev) = previous.remove(tier) else {
            continue;
        };
        match plan_tier(resources, repos, tier, &sourced.spec, prev, &placements) {
            Ok((tier_plan, problems)) => {
                plan.problems.extend(problems);
                plan.tiers.push(tier_plan);
            }
            Err(problem) => plan.problems.push(problem),
        }
    }
    plan
}

fn read_previous(repos: &mut Repos, url: &str, branch: &str) -> Result<Previous, String> {
    let Some(repo) = repos.system(url, false).map_err(|e| e.to_string())? else {
        return Ok(Previous {
            tip: None,
            inputs: None,
        });
    };
    let tip = repo.remote_tip(branch).map_err(|e| e.to_string())?;
    let inputs = match &tip {
        Some(tip) => match repo
            .read_file(tip, layout::INPUTS)
            .map_err(|e| e.to_string())?
        {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Some(
                    shopset_render::parse_inputs(&text)
                        .map_err(|e| format!("branch {branch}: {}: {e}", layout::INPUTS))?,
                )
            }
            None => None,
        },
        None => None,
    };
    Ok(Previous { tip, inputs })
}

fn resolve_config(
    resources: &Resources,
    repos: &mut Repos,
    name: &str,
    branch: &str,
) -> Result<ResolvedConfiguration, String> {
    let Some(sourced) = resources.configurations.get(name) else {
        return Err(format!("configuration {name:?} does not exist"));
    };
    if let Some(document) = &sourced.spec.inline {
        return Ok(ResolvedConfiguration {
            source: None,
            document: document.clone(),
        });
    }
    let source = sourced
        .spec
        .source
        .as_ref()
        .expect("a loaded configuration has inline or source");
    let repo = repos.read(&source.url).map_err(|e| {
        format!(
            "{}: Configuration {name:?}: spec.source.url: {e}",
            sourced.file
        )
    })?;
    let commit = repo
        .remote_tip(branch)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "{}: Configuration {name:?}: spec.source: branch {branch:?} does not exist in {}",
                sourced.file, source.url
            )
        })?;
    let bytes = repo
        .read_file(&commit, &source.path)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: Configuration {name:?}: spec.source.path: {} does not exist at {branch} ({commit})", sourced.file, source.path))?;
    let where_ = format!("{}@{branch} ({commit})", source.path);
    let text = String::from_utf8(bytes).map_err(|_| format!("{where_}: expected UTF-8 text"))?;
    let value = shopset_render::yaml::parse(&text).map_err(|e| format!("{where_}: {e}"))?;
    let document: ConfigLayer = serde_path_to_error::deserialize(&value)
        .map_err(|e| format!("{where_}: {}: {}", e.path(), e.inner()))?;
    Ok(ResolvedConfiguration {
        source: Some(ConfigSourceAt {
            url: source.url.clone(),
            path: source.path.clone(),
            commit,
        }),
        document,
    })
}

fn plan_tier(
    resources: &Resources,
    repos: &mut Repos,
    tier: &str,
    spec: &TierSpec,
    prev: Previous,
    placements: &BTreeMap<String, Result<String, placement::PlacementError>>,
) -> Result<(TierPlan, Vec<String>), String> {
    let branch = spec.branch_or(tier).to_owned();
    let app_commit = match &spec.pin {
        Some(pin) => pin.app_commit.clone(),
        None => {
            let repo = repos
                .read(&spec.app.url)
                .map_err(|e| format!("Tier {tier:?}: spec.app.url: {e}"))?;
            repo.remote_tip(&branch)
                .map_err(|e| format!("Tier {tier:?}: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "Tier {tier:?}: spec.app: branch {branch:?} does not exist in {}",
                        spec.app.url
                    )
                })?
        }
    };
    let mut inputs = TierInputs::new(tier.to_owned(), spec.clone(), app_commit);
    shopset_render::validate_tier(&inputs).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let mut failed: BTreeSet<String> = resources
        .invalid
        .get("ShopSet")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let mut broken_configs: BTreeSet<String> = resources
        .invalid
        .get("Configuration")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let broken_domains: BTreeSet<String> = resources
        .invalid
        .get("FailureDomain")
        .into_iter()
        .flatten()
        .cloned()
        .collect();

    // Candidate: the current resources of this tier.
    for (name, s) in resources
        .shop_sets
        .iter()
        .filter(|(_, s)| s.spec.tier == tier)
    {
        let domain = match &placements[name] {
            Ok(domain) => domain.clone(),
            Err(e) => {
                problems.push(format!(
                    "{}: ShopSet {name:?}: spec.failureDomain: {e}",
                    s.file
                ));
                failed.insert(name.clone());
                continue;
            }
        };
        let config = &s.spec.configuration;
        if !inputs.configurations.contains_key(config) && !broken_configs.contains(config) {
            match resolve_config(resources, repos, config, &branch) {
                Ok(resolved) => {
                    inputs.configurations.insert(config.clone(), resolved);
                }
                Err(e) => {
                    problems.push(format!("Tier {tier:?}: {e}"));
                    broken_configs.insert(config.clone());
                }
            }
        }
        if let Some(fd) = resources.failure_domains.get(&domain) {
            inputs
                .failure_domains
                .insert(domain.clone(), fd.spec.clone());
        }
        inputs.shop_sets.insert(
            name.clone(),
            PlacedShopSet {
                failure_domain: domain,
                spec: s.spec.clone(),
            },
        );
    }

    // Carry-over: a ShopSet rendered before whose input is invalid now keeps its last rendering.
    let previous_inputs = prev.inputs.as_ref();
    let mut kept = BTreeSet::new();
    let keep = |inputs: &mut TierInputs, name: &str| -> bool {
        let Some(old) = previous_inputs else {
            return false;
        };
        let Some(entry) = old.shop_sets.get(name) else {
            return false;
        };
        let config = &entry.spec.configuration;
        if (broken_configs.contains(config) || !inputs.configurations.contains_key(config))
            && let Some(doc) = old.configurations.get(config)
        {
            inputs.configurations.insert(config.clone(), doc.clone());
        }
        let domain = &entry.failure_domain;
        if (broken_domains.contains(domain) || !inputs.failure_domains.contains_key(domain))
            && let Some(fd) = old.failure_domains.get(domain)
        {
            inputs.failure_domains.insert(domain.clone(), fd.clone());
        }
        inputs.shop_sets.insert(name.to_owned(), entry.clone());
        true
    };
    if let Some(old) = previous_inputs {
        for name in old.shop_sets.keys() {
            if inputs.shop_sets.contains_key(name) {
                continue;
            }
            let moved_away = resources
                .shop_sets
                .get(name)
                .is_some_and(|s| s.spec.tier != tier);
            let unusable = failed.contains(name) || resources.incomplete;
            if !moved_away && unusable && keep(&mut inputs, name) {
                kept.insert(name.clone());
            }
        }
    }

    // Every ShopSet must render; one that does not is kept at its last version or left out.
    let names: Vec<String> = inputs.shop_sets.keys().cloned().collect();
    for name in names {
        let Err(e) = shopset_render::render_shopset(&inputs, &name) else {
            continue;
        };
        let file = resources
            .shop_sets
            .get(&name)
            .map_or("(recorded inputs)", |s| s.file.as_str());
        if !kept.contains(&name)
            && keep(&mut inputs, &name)
            && shopset_render::render_shopset(&inputs, &name).is_ok()
        {
            problems.push(format!("{file}: {e} (kept at its last rendered version)"));
            kept.insert(name);
        } else {
            problems.push(format!("{file}: {e} (not rendered)"));
            inputs.shop_sets.remove(&name);
            kept.remove(&name);
        }
    }

    // Only what the ShopSets use is recorded.
    let used_configs: BTreeSet<&String> = inputs
        .shop_sets
        .values()
        .map(|s| &s.spec.configuration)
        .collect();
    let used_domains: BTreeSet<&String> = inputs
        .shop_sets
        .values()
        .map(|s| &s.failure_domain)
        .collect();
    let configurations = std::mem::take(&mut inputs.configurations);
    inputs.configurations = configurations
        .into_iter()
        .filter(|(k, _)| used_configs.contains(k))
        .collect();
    let domains = std::mem::take(&mut inputs.failure_domains);
    inputs.failure_domains = domains
        .into_iter()
        .filter(|(k, _)| used_domains.contains(k))
        .collect();

    let tree = shopset_render::render_tier(&inputs).map_err(|e| e.to_string())?;
    let summary = summarize(prev.inputs.as_ref(), &inputs, kept.into_iter().collect());
    Ok((
        TierPlan {
            tier: tier.to_owned(),
            branch,
            system_url: spec.system.url.clone(),
            previous_tip: prev.tip,
            previous: prev.inputs,
            inputs,
            tree,
            summary,
        },
        problems,
    ))
}

/// Compares two renderings of a tier, ShopSet by ShopSet.
#[must_use]
pub fn summarize(previous: Option<&TierInputs>, inputs: &TierInputs, kept: Vec<String>) -> Summary {
    let mut summary = Summary {
        kept,
        base_to: inputs.app_commit.clone(),
        ..Summary::default()
    };
    let Some(previous) = previous else {
        summary.added = inputs.shop_sets.keys().cloned().collect();
        return summary;
    };
    if previous.app_commit != inputs.app_commit {
        summary.base_from = Some(previous.app_commit.clone());
    }
    for name in inputs.shop_sets.keys() {
        if !previous.shop_sets.contains_key(name) {
            summary.added.push(name.clone());
        } else if shopset_render::render_shopset(previous, name).ok()
            != shopset_render::render_shopset(inputs, name).ok()
        {
            summary.changed.push(name.clone());
        }
    }
    summary.removed = previous
        .shop_sets
        .keys()
        .filter(|n| !inputs.shop_sets.contains_key(*n))
        .cloned()
        .collect();
    summary
}
