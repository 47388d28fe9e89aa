//! Planning a sync: from the resources and the repositories, the exact inputs and tree of every
//! tier branch, what changed, and what went wrong. Reads git; writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use shopset_crds::{ConfigLayer, TierSpec};
use shopset_git::TreeEdits;
use shopset_render::inputs::{ConfigSourceAt, PlacedShopSet, ResolvedConfiguration};
use shopset_render::placement::{self, PlacementRequest};
use shopset_render::{TierInputs, Tree, layout};

use crate::checks;
use crate::problem::{Problem, Subject};
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
    pub previous: Option<Arc<TierInputs>>,
    /// The new inputs.
    pub inputs: Arc<TierInputs>,
    /// What to write.
    pub content: Content,
    /// What changed for people.
    pub summary: Summary,
    /// The files a person changed by hand in the tip (a commit that is not a pure rendering
    /// of its recorded inputs), which this plan renders back: empty for our own tips.
    pub restored: Vec<crate::ops::verify::Drift>,
}

/// What a tier's new tree is made of.
#[derive(Debug, Clone)]
pub enum Content {
    /// The whole tree (no previous rendering to build on).
    Full(Tree),
    /// Edits to the previous tree (only the ShopSets whose inputs changed were rendered).
    Edits {
        /// The previous tree.
        base_tree: String,
        /// The edits.
        edits: TreeEdits,
    },
}

impl TierPlan {
    /// The whole tree, rendered from the inputs (what `Content` amounts to, by construction).
    ///
    /// # Errors
    /// Cannot happen for a plan that was made, unless the renderer changed in between.
    pub fn full_tree(&self) -> Result<Tree, shopset_render::RenderError> {
        shopset_render::render_tier(&self.inputs)
    }
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
    /// Shops whose row changed, each with what happened to it (`acme (new, general-1)`,
    /// `hot (warming general-3)`, ...), in name order.
    pub shops: Vec<String>,
    /// ShopSets whose migration moved a phase (`cart-1 (Dual, to eu-2)`, `cart-1 (moved to
    /// eu-2)`, ...), in name order.
    pub migrations: Vec<String>,
    /// The sides (overlay and Application names) of ShopSets still in the tier that this
    /// commit removes: a migration's old side, or the new side of one walked back. Counted by
    /// the mass-removal stop as ShopSets removed are.
    pub sides_removed: Vec<String>,
    /// ShopSets with Deployments leaving canary release, waiting for Argo CD before their
    /// Rollouts go ([`crate::ops::rollouts`]).
    pub rollouts_leaving: Vec<String>,
}

/// Everything a sync would do.
#[derive(Debug, Default)]
pub struct SyncPlan {
    /// One entry per tier that could be planned.
    pub tiers: Vec<TierPlan>,
    /// Problems, each naming what it is about. A plan with problems still covers everything
    /// that could be planned.
    pub problems: Vec<Problem>,
    /// Each Migration's status after this sync.
    pub migrations: BTreeMap<String, shopset_crds::MigrationStatus>,
    /// Nothing in this plan waits for time or for Argo CD, and nothing is wrong: no problem,
    /// no migration under way, every shop assigned and none moving, no Deployment leaving
    /// canary release. Only such a plan is built on by the next one
    /// ([`crate::ops::warm`]).
    pub quiet: bool,
    /// Every ShopSet's load (the weights of the shops it serves) after this plan.
    pub loads: BTreeMap<String, u64>,
}

/// A tier branch as it is before the plan.
#[derive(Clone)]
pub(super) struct Previous {
    pub(super) tip: Option<String>,
    pub(super) inputs: Option<Arc<TierInputs>>,
    /// The tip's tree.
    pub(super) tree_id: Option<String>,
    /// The tip is our own commit (its tree is a pure rendering of its inputs), not a person's.
    pub(super) ours: bool,
}

/// Plans a sync of every Tier in `resources`.
#[must_use]
pub fn plan_sync(resources: &Resources, repos: &mut Repos) -> SyncPlan {
    plan_tiers(resources, repos, None)
}

/// Plans a sync of the Tiers named in `only` (all of them when `None`). Placement still sees
/// every tier, because failure-domain capacity is shared.
#[must_use]
pub fn plan_tiers(
    resources: &Resources,
    repos: &mut Repos,
    only: Option<&BTreeSet<String>>,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    plan.problems
        .extend(resources.errors.iter().map(Problem::from));
    let findings = checks::tiers(resources);
    plan.problems.extend(findings.problems);
    // Tiers nothing may be written to (or moved to) this time.
    let mut unplannable = findings.excluded;

    // 1. What every tier branch holds now.
    let mut previous = BTreeMap::new();
    for (tier, sourced) in &resources.tiers {
        let branch = sourced.spec.branch_or(tier).to_owned();
        match read_previous(repos, &sourced.spec.system.url, &branch) {
            Ok(p) => {
                previous.insert(tier.clone(), p);
            }
            Err(e) => {
                plan.problems.push(Problem::about(
                    "Tier",
                    tier,
                    format!("system repository: {e}"),
                ));
                unplannable.insert(tier.clone());
            }
        }
    }

    // Shops: the rows recorded in the branches; the ShopSets of isolated shops join the
    // resources (as if a person had written them) before anything is placed.
    let recorded_shops =
        crate::ops::shops::recorded(previous.values().filter_map(|p| p.inputs.as_deref()));
    let isolated = with_isolated(resources, &previous, &recorded_shops, &mut plan.problems);
    let resources = &*isolated;

    // 2. Placement, over every tier at once (capacity is shared).
    // Where each ShopSet was placed: recorded on the resource, else in its tier's rendering
    // (or, when it moved tier, in another's). The ShopSets and every rendering are in name
    // order, so one merged walk finds them all without a lookup per ShopSet.
    let mut recorded: Vec<(&String, std::iter::Peekable<_>)> = previous
        .iter()
        .filter_map(|(tier, p)| Some((tier, p.inputs.as_deref()?.shop_sets.iter().peekable())))
        .collect();
    let mut requests = Vec::with_capacity(resources.shop_sets.len());
    for (name, s) in &resources.shop_sets {
        let mut own = None;
        let mut other = None;
        for (tier, entries) in &mut recorded {
            while entries.next_if(|(n, _)| *n < name).is_some() {}
            if let Some((_, entry)) = entries.next_if(|(n, _)| *n == name) {
                let domain = entry.failure_domain.as_str();
                if **tier == s.spec.tier {
                    own = Some(domain);
                } else {
                    other = other.or(Some(domain));
                }
            }
        }
        // The tier branch first (a migration changes it there), then the status, then
        // another tier's branch (the ShopSet changed tier).
        let earlier = own
            .or(resources.recorded_placements.get(name).map(String::as_str))
            .or(other);
        requests.push((
            name.as_str(),
            PlacementRequest {
                explicit: s.spec.failure_domain.as_deref(),
                previous: earlier,
            },
        ));
    }
    let domains = resources
        .failure_domains
        .iter()
        .map(|(k, v)| (k.clone(), v.spec.clone()))
        .collect();
    let placements = placement::place(&requests, &domains);

    // 3. What ShopSets claim together (namespaces on a destination, Application names).
    let placed: BTreeMap<&str, &str> = placements
        .iter()
        .filter_map(|(name, p)| Some((*name, *p.as_ref().ok()?)))
        .collect();
    let rendered: BTreeMap<String, Arc<TierInputs>> = previous
        .iter()
        .filter_map(|(tier, p)| Some((tier.clone(), Arc::clone(p.inputs.as_ref()?))))
        .collect();
    let refused = checks::shop_sets(resources, &placed, &rendered);
    // Shops: the rows recorded in the branches, and the rule for the others.
    let gates = move_gates(resources, repos, &previous, &recorded_shops);
    let unusable = |name: &str| {
        refused.contains_key(name)
            || resources.shop_sets.get(name).is_none_or(|s| {
                !resources.tiers.contains_key(&s.spec.tier) || unplannable.contains(&s.spec.tier)
            })
    };
    let shop_plan = crate::ops::shops::plan(resources, &recorded_shops, &unusable, &gates);
    plan.problems.extend(shop_plan.problems.iter().cloned());
    // Migrations: each ShopSet in one one phase further, when the one before took effect.
    let migrations = crate::ops::migrate::plan(resources, &rendered, &placed, &gates);
    plan.problems.extend(migrations.problems.iter().cloned());
    for (name, s) in &resources.shop_sets {
        let tier = &s.spec.tier;
        if !resources.tiers.contains_key(tier) && !resources.is_invalid("Tier", tier) {
            plan.problems.push(
                Problem::of(
                    "ShopSet",
                    name,
                    "spec.tier",
                    format!(
                        "Tier {tier:?} does not exist; expected one of the Tiers (the ShopSet \
                         stays where it was rendered)"
                    ),
                )
                .in_file(&s.file),
            );
        }
    }

    // 4. Each tier. A ShopSet moving to a tier that cannot be planned must not leave the tier
    // it is on, so when one tried, the tiers are planned again knowing that.
    loop {
        let mut tiers = Vec::new();
        let mut problems = Vec::new();
        let mut failed = BTreeSet::new();
        let ctx = TierContext {
            placements: &placements,
            refused: &refused,
            unplannable: &unplannable,
            shops: &shop_plan,
            migrations: &migrations,
        };
        for (tier, sourced) in &resources.tiers {
            if only.is_some_and(|only| !only.contains(tier)) || unplannable.contains(tier) {
                continue;
            }
            let Some(prev) = previous.get(tier) else {
                continue;
            };
            match plan_tier(resources, repos, tier, &sourced.spec, prev.clone(), &ctx) {
                Ok((tier_plan, found)) => {
                    problems.extend(found);
                    tiers.push(tier_plan);
                }
                Err(problem) => {
                    problems.push(problem);
                    failed.insert(tier.clone());
                }
            }
        }
        let stranded = |p: &TierPlan| {
            p.previous.as_ref().is_some_and(|old| {
                p.summary.removed.iter().any(|n| {
                    old.shop_sets.contains_key(n)
                        && resources
                            .shop_sets
                            .get(n)
                            .is_some_and(|s| failed.contains(&s.spec.tier))
                })
            })
        };
        if !tiers.iter().any(stranded) {
            plan.tiers = tiers;
            plan.problems.extend(problems);
            plan.quiet = plan.problems.is_empty()
                && migrations.states.is_empty()
                && migrations
                    .statuses
                    .values()
                    .all(|s| matches!(s.phase.as_deref(), Some("Succeeded" | "Aborted")))
                && shop_plan.waiting.is_empty()
                && shop_plan
                    .assigned
                    .values()
                    .all(|r| r.phase() == shopset_crds::ShopPhase::Assigned)
                && plan
                    .tiers
                    .iter()
                    .all(|t| t.summary.rollouts_leaving.is_empty());
            plan.migrations = migrations.statuses;
            plan.loads = shop_plan.loads;
            break;
        }
        unplannable.extend(failed);
    }
    plan
}

/// `resources`, with the ShopSets of isolated shops that no resource defines
/// ([`crate::ops::shops::isolated`]); borrowed as they are when there are none.
fn with_isolated<'a>(
    resources: &'a Resources,
    previous: &BTreeMap<String, Previous>,
    recorded: &shopset_render::inputs::ShopRows,
    problems: &mut Vec<Problem>,
) -> std::borrow::Cow<'a, Resources> {
    let rendered_spec = |name: &str| {
        previous
            .values()
            .find_map(|p| Some(p.inputs.as_deref()?.shop_sets.get(name)?.spec.clone()))
    };
    let (isolated, found) = crate::ops::shops::isolated(resources, recorded, &rendered_spec);
    problems.extend(found);
    if isolated.is_empty() {
        return std::borrow::Cow::Borrowed(resources);
    }
    let mut all = resources.clone();
    all.shop_sets.extend(isolated);
    std::borrow::Cow::Owned(all)
}

/// What the steps of the shops' moves wait for: the tips of the tiers (with their commit
/// times) and the clock. Read only when there are shops: no cost otherwise.
fn move_gates(
    resources: &Resources,
    repos: &mut Repos,
    previous: &BTreeMap<String, Previous>,
    recorded: &shopset_render::inputs::ShopRows,
) -> crate::ops::shops::MoveGates {
    let mut gates = crate::ops::shops::MoveGates::at(jiff::Timestamp::now());
    for p in previous.values() {
        for (name, placed) in p.inputs.iter().flat_map(|i| &i.shop_sets) {
            if placed.migrated_by.is_some() {
                gates
                    .applications
                    .insert(name.clone(), placed.home_name(name));
            }
        }
    }
    let migrating = || {
        previous.values().any(|p| {
            p.inputs
                .as_deref()
                .is_some_and(|i| i.shop_sets.values().any(|s| s.migrating.is_some()))
        })
    };
    if resources.shops.is_empty()
        && recorded.is_empty()
        && resources.migrations.is_empty()
        && !migrating()
    {
        return gates;
    }
    for (tier, p) in previous {
        let (Some(tip), Some(sourced)) = (&p.tip, resources.tiers.get(tier)) else {
            continue;
        };
        let time = repos
            .system(&sourced.spec.system.url, false)
            .ok()
            .flatten()
            .and_then(|repo| repo.commit_time(tip).ok());
        if let Some(time) = time {
            gates.tips.insert(tier.clone(), (tip.clone(), time));
        }
    }
    gates
}

/// What every tier's plan shares: placements and the ShopSets refused by the cross checks.
struct TierContext<'a> {
    placements: &'a placement::Placements<'a>,
    refused: &'a BTreeMap<String, Problem>,
    /// Tiers nothing is written to this time: a ShopSet moving to one stays where it is.
    unplannable: &'a BTreeSet<String>,
    /// Every shop's ShopSet.
    shops: &'a crate::ops::shops::ShopPlan,
    /// The migrations' phases.
    migrations: &'a crate::ops::migrate::MigrationPlan,
}

pub(super) fn read_previous(
    repos: &mut Repos,
    url: &str,
    branch: &str,
) -> Result<Previous, String> {
    let Some(repo) = repos.system(url, false).map_err(|e| e.to_string())? else {
        return Ok(Previous {
            tip: None,
            inputs: None,
            tree_id: None,
            ours: false,
        });
    };
    let Some(tip) = repo.remote_tip(branch).map_err(|e| e.to_string())? else {
        return Ok(Previous {
            tip: None,
            inputs: None,
            tree_id: None,
            ours: false,
        });
    };
    // A commit that says it is ours is believed only when its tree is what its recorded inputs
    // render to (checked once per commit): a person's commit that copied our message, or
    // amended our tree, is a person's commit.
    let message = repo.message(&tip).map_err(|e| e.to_string())?;
    let claims_ours = message.contains(&format!("\nShopset-Inputs: {}\n", layout::INPUTS));
    let tree_id = repo.tree_id(&tip).map_err(|e| e.to_string())?;
    let inputs = match repos.parsed_inputs(&tip) {
        Some(inputs) => Some(inputs),
        None => {
            let repo = repos
                .system(url, false)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{}: gone", shopset_git::redact_url(url)))?;
            match crate::repos::read_recorded(repo, &tip)
                .map_err(|e| format!("branch {branch}: {}: {e}", layout::INPUTS))?
            {
                Some(inputs) => {
                    let inputs = Arc::new(inputs);
                    repos.keep_inputs(&tip, Arc::clone(&inputs));
                    Some(inputs)
                }
                None => None,
            }
        }
    };
    let ours = claims_ours
        && inputs
            .as_ref()
            .is_some_and(|inputs| repos.is_rendering(url, &tip, &tree_id, inputs));
    if claims_ours && !ours {
        tracing::warn!(%branch, commit = %tip, "the tip says it is a rendering but its tree is not what its recorded inputs render to: rendering the whole tree again");
    }
    Ok(Previous {
        tip: Some(tip),
        inputs,
        tree_id: Some(tree_id),
        ours,
    })
}

pub(super) fn resolve_config(
    resources: &Resources,
    repos: &mut Repos,
    name: &str,
    branch: &str,
) -> Result<ResolvedConfiguration, Problem> {
    let Some(sourced) = resources.configurations.get(name) else {
        return Err(Problem::about("Configuration", name, "does not exist"));
    };
    let problem = |field: &str, message: String| {
        Problem::of("Configuration", name, field, message).in_file(&sourced.file)
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
    let repo = repos
        .read(&source.url)
        .map_err(|e| problem("spec.source.url", e.to_string()))?;
    let commit = repo
        .remote_tip(branch)
        .map_err(|e| problem("spec.source.url", e.to_string()))?
        .ok_or_else(|| {
            problem(
                "spec.source",
                format!("branch {branch:?} does not exist in {}", source.url),
            )
        })?;
    let at = |message: String| {
        problem(
            "spec.source.path",
            format!(
                "{} at {branch} ({commit}) of {}: {message}",
                source.path,
                shopset_git::redact_url(&source.url)
            ),
        )
    };
    let bytes = match repo.read_file(&commit, &source.path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(at("does not exist; expected a YAML file".into())),
        Err(_) => {
            return Err(at(
                "is not a regular file (a symlink or a directory: neither is followed); expected \
                 a YAML file"
                    .into(),
            ));
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| at("expected UTF-8 text".into()))?;
    let value = shopset_render::yaml::parse(&text).map_err(|e| at(e.to_string()))?;
    let document: ConfigLayer = serde_path_to_error::deserialize(&value)
        .map_err(|e| at(format!("{}: {}", e.path(), e.inner())))?;
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
    ctx: &TierContext<'_>,
) -> Result<(TierPlan, Vec<Problem>), Problem> {
    let branch = spec.branch_or(tier).to_owned();
    let of_tier = |e: shopset_render::RenderError| render_problem("Tier", tier, e);
    let app_commit = app_commit(repos, tier, spec, &branch)?;
    let mut inputs = TierInputs::new(tier.to_owned(), spec.clone(), app_commit);
    // A preview reads its configuration at the branch of the tier it previews.
    let preview = resources.previews.get(tier);
    inputs.preview = preview.cloned();
    shopset_render::validate_tier(&inputs).map_err(of_tier)?;
    let catalog = base_catalog(repos, tier, spec, &inputs.app_commit)?;
    let config_branch = preview.map_or(branch.as_str(), |p| p.configuration_branch.as_str());
    let mut gathered = gather(resources, repos, tier, config_branch, ctx, &mut inputs);
    let keeper = Keeper {
        previous: prev.inputs.as_deref(),
        broken_configs: &gathered.broken_configs,
        broken_domains: &gathered.broken_domains,
    };
    let mut kept = carry_over(
        resources,
        tier,
        ctx,
        &gathered.failed,
        &keeper,
        &mut inputs,
        &mut gathered.problems,
    );
    let rollouts_leaving = crate::ops::rollouts::advance(
        resources,
        prev.inputs.as_deref(),
        prev.tip.as_deref(),
        &mut inputs,
    );
    // Which ShopSets to render: every one when there is no trustworthy previous rendering
    // (no branch, a human commit at the tip, another tier spec); otherwise only those whose
    // inputs differ from the recorded ones. The others are, by construction, unchanged.
    let incremental_base = match (&prev.inputs, &prev.tree_id) {
        (Some(p), Some(tree_id)) if prev.ours && same_shopset_context(p, &inputs) => {
            Some((Arc::clone(p), tree_id.clone()))
        }
        _ => None,
    };
    // The shops its ShopSets serve or that move to or from them: the routing table's rows,
    // and the hosts each ShopSet's overlay lists. (A set of the tier's names: one hash per
    // row instead of a search of the tier's ShopSets.)
    let rows_of = |inputs: &TierInputs| {
        let names: std::collections::HashSet<&str> =
            inputs.shop_sets.keys().map(String::as_str).collect();
        let ours =
            |row: &shopset_render::inputs::AssignedShop| row.shop_sets().any(|s| names.contains(s));
        ctx.shops
            .assigned
            .iter()
            .filter(|(_, row)| ours(row))
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect::<shopset_render::inputs::ShopRows>()
    };
    inputs.shops = rows_of(&inputs);
    let before = inputs.shop_sets.len();
    let rendered = render_shop_sets(
        resources,
        &mut inputs,
        incremental_base.as_ref().map(|(p, _)| &**p),
        &catalog,
        &keeper,
        &mut kept,
        &mut gathered.problems,
    );
    keep_only_what_is_used(&mut inputs);
    // A ShopSet left out (it did not render) takes its shops' rows with it.
    if inputs.shop_sets.len() != before {
        inputs.shops = rows_of(&inputs);
    }
    // A shard's Application list names its ShopSets and nothing else: when editing, only the
    // lists of shards that gained or lost a ShopSet are rendered; the others stay as they are.
    let diff = incremental_base
        .as_ref()
        .map(|(previous, _)| added_and_removed(previous, &inputs));
    let touched: Option<BTreeSet<String>> = diff.as_ref().map(|(added, removed)| {
        let sides_changed = incremental_base.as_ref().into_iter().flat_map(|(p, _)| {
            rendered.keys().filter(|n| {
                let sides = |i: &TierInputs| i.shop_sets.get(*n).map(|s| s.sides(n));
                sides(p) != sides(&inputs)
            })
        });
        added
            .iter()
            .copied()
            .chain(removed.iter().copied())
            .chain(sides_changed)
            .map(|n| layout::shard(n))
            .collect()
    });
    // Of the files of shop rows (the record's shards, the routing table's), only those of the
    // shards with a row that changed are written again when editing.
    // A record or table that goes from one file to shards or back is written whole.
    let shop_shards = incremental_base
        .as_ref()
        .filter(|(previous, _)| {
            shopset_render::record::sharded(previous) == shopset_render::record::sharded(&inputs)
                && shopset_render::routing::sharded(previous)
                    == shopset_render::routing::sharded(&inputs)
        })
        .map(|(previous, _)| {
            shopset_render::record::changed_shards(&previous.shops, &inputs.shops)
        });
    // Of a record whose ShopSets are in shards, only the shards with an entry that changed.
    let shop_set_shards = incremental_base
        .as_ref()
        .filter(|(previous, _)| {
            shopset_render::record::shop_sets_sharded(previous)
                == shopset_render::record::shop_sets_sharded(&inputs)
        })
        .map(|(previous, _)| {
            shopset_render::record::changed_shards(&previous.shop_sets, &inputs.shop_sets)
        });
    let common = shopset_render::render_common_with(
        &inputs,
        &shopset_render::Touched {
            application_shards: touched.as_ref(),
            shop_shards: shop_shards.as_ref(),
            shop_set_shards: shop_set_shards.as_ref(),
        },
    )
    .map_err(of_tier)?;
    let mut summary = summarize(
        prev.inputs.as_deref(),
        &inputs,
        &rendered,
        kept.into_iter().collect(),
    );
    summary.rollouts_leaving = rollouts_leaving;
    let content = match (&incremental_base, diff) {
        (Some((previous, base_tree)), Some((_, removed))) => Content::Edits {
            base_tree: base_tree.clone(),
            edits: edits(previous, &inputs, &removed, common, rendered)
                .map_err(|e| of_tier(e.into()))?,
        },
        _ => {
            let mut tree = common;
            for files in rendered.into_values() {
                for (path, bytes) in files {
                    tree.insert(path, bytes).map_err(|e| of_tier(e.into()))?;
                }
            }
            Content::Full(tree)
        }
    };
    let restored = hand_changes(repos, tier, &spec.system.url, &prev);
    Ok((
        TierPlan {
            tier: tier.to_owned(),
            branch,
            system_url: spec.system.url.clone(),
            previous_tip: prev.tip,
            previous: prev.inputs,
            inputs: Arc::new(inputs),
            content,
            summary,
            restored,
        },
        gathered.problems,
    ))
}

/// The app commit a tier renders: its pin, else the tip of its app branch.
pub(super) fn app_commit(
    repos: &mut Repos,
    tier: &str,
    spec: &TierSpec,
    branch: &str,
) -> Result<String, Problem> {
    if let Some(pin) = &spec.pin {
        return Ok(pin.app_commit.clone());
    }
    let repo = repos
        .read(&spec.app.url)
        .map_err(|e| Problem::of("Tier", tier, "spec.app.url", e.to_string()))?;
    repo.remote_tip(branch)
        .map_err(|e| Problem::about("Tier", tier, e.to_string()))?
        .ok_or_else(|| {
            Problem::of(
                "Tier",
                tier,
                "spec.app",
                format!("branch {branch:?} does not exist in {}", spec.app.url),
            )
        })
}

/// The files of the base kustomization at `app_commit`, each problem named on the field that
/// chose it.
pub(super) fn base_catalog(
    repos: &mut Repos,
    tier: &str,
    spec: &TierSpec,
    app_commit: &str,
) -> Result<std::sync::Arc<shopset_render::base::BaseCatalog>, Problem> {
    repos
        .base_catalog(&spec.app.url, app_commit, &spec.app.path)
        .map_err(|e| {
            let field = match e {
                crate::base::BaseError::NoCommit { .. } if spec.pin.is_some() => {
                    "spec.pin.appCommit"
                }
                crate::base::BaseError::NoCommit { .. } | crate::base::BaseError::Fetch(_) => {
                    "spec.app"
                }
                crate::base::BaseError::NoKustomization { .. } => "spec.app.path",
            };
            Problem::of(
                "Tier",
                tier,
                field,
                format!(
                    "{e} ({}); expected the directory of the base kustomization",
                    shopset_git::redact_url(&spec.app.url)
                ),
            )
        })
}

/// What gathering a tier's ShopSets found besides them.
struct Gathered {
    problems: Vec<Problem>,
    /// ShopSets that cannot be rendered now (they keep their last rendering, if any).
    failed: BTreeSet<String>,
    /// Configurations that cannot be used now.
    broken_configs: BTreeSet<String>,
    /// FailureDomains that cannot be used now.
    broken_domains: BTreeSet<String>,
}

/// The names of the resources of `kind` that could not be read.
fn invalid(resources: &Resources, kind: &str) -> BTreeSet<String> {
    resources
        .invalid
        .get(kind)
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

/// The candidate ShopSets of `tier` (the current resources), placed, with the configurations
/// and failure domains they use, into `inputs`; each one that cannot be used is a problem.
fn gather(
    resources: &Resources,
    repos: &mut Repos,
    tier: &str,
    branch: &str,
    ctx: &TierContext<'_>,
    inputs: &mut TierInputs,
) -> Gathered {
    let mut g = Gathered {
        problems: Vec::new(),
        failed: invalid(resources, "ShopSet"),
        broken_configs: invalid(resources, "Configuration"),
        broken_domains: invalid(resources, "FailureDomain"),
    };
    // Gathered in name order and built into the map at once (cheaper than one insertion each).
    let mut candidates = Vec::new();
    // The placements are of every ShopSet, in the same (name) order: walk them together.
    for ((name, s), (placed, placement)) in resources.shop_sets.iter().zip(ctx.placements.iter()) {
        debug_assert_eq!(name, placed, "placements follow the ShopSets");
        if s.spec.tier != tier {
            continue;
        }
        if let Some(why) = ctx.refused.get(name) {
            g.problems.push(why.clone());
            g.failed.insert(name.clone());
            continue;
        }
        let domain = match placement {
            Ok(domain) => *domain,
            Err(e) => {
                g.problems.push(
                    Problem::of("ShopSet", name, "spec.failureDomain", e.to_string())
                        .in_file(&s.file),
                );
                g.failed.insert(name.clone());
                continue;
            }
        };
        let config = &s.spec.configuration;
        if !resources.configurations.contains_key(config) {
            let why = if resources.is_invalid("Configuration", config) {
                "is invalid (see its error)"
            } else {
                "does not exist"
            };
            g.problems.push(
                Problem::of(
                    "ShopSet",
                    name,
                    "spec.configuration",
                    format!(
                        "Configuration {config:?} {why}; expected one of the Configurations (the \
                         ShopSet keeps its last rendering, if any)"
                    ),
                )
                .in_file(&s.file),
            );
            g.failed.insert(name.clone());
            continue;
        }
        if !inputs.configurations.contains_key(config) && !g.broken_configs.contains(config) {
            match resolve_config(resources, repos, config, branch) {
                Ok(resolved) => {
                    inputs.configurations.insert(config.clone(), resolved);
                }
                Err(e) => {
                    g.problems
                        .push(e.and(&format!(" (needed by Tier {tier:?})")));
                    g.broken_configs.insert(config.clone());
                }
            }
        }
        if g.broken_configs.contains(config) {
            // It exists but cannot be used now (its error is reported once, above): the
            // ShopSet keeps its last rendering.
            g.problems.push(
                Problem::of(
                    "ShopSet",
                    name,
                    "spec.configuration",
                    format!(
                        "Configuration {config:?} cannot be used (see its error); kept at its \
                         last rendered version"
                    ),
                )
                .in_file(&s.file),
            );
            g.failed.insert(name.clone());
            continue;
        }
        // A migration that ends this sync (or ended before) places it on its new domain.
        let done = ctx.migrations.done.get(name);
        let domain = done.map_or(domain, |(to, _)| to.as_str());
        // The Migration that brought it is kept while it stays there.
        let migrated_by = done
            .or_else(|| ctx.migrations.moved.get(name).filter(|(d, _)| d == domain))
            .map(|(_, by)| by.clone());
        let migrating = ctx.migrations.states.get(name).cloned();
        for domain in std::iter::once(domain).chain(migrating.as_ref().map(|m| m.to.as_str())) {
            if !inputs.failure_domains.contains_key(domain)
                && let Some(fd) = resources.failure_domains.get(domain)
            {
                // A cordon decides where new ShopSets go, not what any file holds: it is not
                // recorded, so cordoning a domain writes nothing to the branches.
                let spec = shopset_crds::FailureDomainSpec {
                    cordoned: false,
                    ..fd.spec.clone()
                };
                inputs.failure_domains.insert(domain.to_owned(), spec);
            }
        }
        candidates.push((
            name.clone(),
            Arc::new(PlacedShopSet {
                failure_domain: domain.to_owned(),
                spec: s.spec.clone(),
                migrated_by,
                migrating,
                rollouts_leaving: BTreeSet::new(),
            }),
        ));
    }
    inputs.shop_sets = candidates.into_iter().collect();
    g
}

/// Puts a ShopSet back at its last rendering: its recorded entry, with the configuration and
/// failure domain it was rendered with when today's cannot be used.
struct Keeper<'a> {
    previous: Option<&'a TierInputs>,
    broken_configs: &'a BTreeSet<String>,
    broken_domains: &'a BTreeSet<String>,
}

impl Keeper<'_> {
    /// False when `name` was not rendered before (there is nothing to keep).
    fn keep(&self, inputs: &mut TierInputs, name: &str) -> bool {
        let Some(old) = self.previous else {
            return false;
        };
        let Some(entry) = old.shop_sets.get(name) else {
            return false;
        };
        let config = &entry.spec.configuration;
        if (self.broken_configs.contains(config) || !inputs.configurations.contains_key(config))
            && let Some(doc) = old.configurations.get(config)
        {
            inputs.configurations.insert(config.clone(), doc.clone());
        }
        let domain = &entry.failure_domain;
        if (self.broken_domains.contains(domain) || !inputs.failure_domains.contains_key(domain))
            && let Some(fd) = old.failure_domains.get(domain)
        {
            inputs.failure_domains.insert(domain.clone(), fd.clone());
        }
        inputs.shop_sets.insert(name.to_owned(), entry.clone());
        true
    }
}

/// Carry-over: a ShopSet rendered before whose input is invalid now keeps its last rendering.
/// One gone to another tier is not kept only when that tier is planned, so that a move can
/// never become a removal; one deleted while it still serves shops is kept, with a problem.
/// Returns the ShopSets kept.
fn carry_over(
    resources: &Resources,
    tier: &str,
    ctx: &TierContext<'_>,
    failed: &BTreeSet<String>,
    keeper: &Keeper<'_>,
    inputs: &mut TierInputs,
    problems: &mut Vec<Problem>,
) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    let Some(old) = keeper.previous else {
        return kept;
    };
    for name in old.shop_sets.keys() {
        if inputs.shop_sets.contains_key(name) {
            continue;
        }
        let moved_away = resources.shop_sets.get(name).is_some_and(|s| {
            s.spec.tier != tier
                && resources.tiers.contains_key(&s.spec.tier)
                && !ctx.unplannable.contains(&s.spec.tier)
        });
        let unusable = failed.contains(name)
            || resources.incomplete
            || resources.is_invalid("ShopSet", name)
            || resources.shop_sets.contains_key(name);
        if !moved_away && unusable && keeper.keep(inputs, name) {
            kept.insert(name.clone());
            continue;
        }
        let serving = ctx.shops.served_by(name);
        if !resources.shop_sets.contains_key(name) && serving > 0 && keeper.keep(inputs, name) {
            problems.push(Problem::about(
                "ShopSet",
                name,
                format!(
                    "it was deleted but still serves {serving} shops: it stays until they are \
                     moved (pin them elsewhere with spec.shopSet)"
                ),
            ));
            kept.insert(name.clone());
        }
    }
    kept
}

/// From this many ShopSets to render, they are rendered on every core.
const PARALLEL_RENDER: usize = 256;

/// Renders the ShopSets whose inputs may differ from `base`'s (all of them without a base).
/// One that does not render is kept at its last version, or left out; either way a problem.
fn render_shop_sets(
    resources: &Resources,
    inputs: &mut TierInputs,
    base: Option<&TierInputs>,
    catalog: &shopset_render::base::BaseCatalog,
    keeper: &Keeper<'_>,
    kept: &mut BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Vec<(String, Vec<u8>)>> {
    let mut rendered: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    loop {
        let todo: Vec<String> = match base {
            Some(base) => may_differ(base, inputs),
            None => inputs.shop_sets.keys().cloned().collect(),
        }
        .into_iter()
        .filter(|n| !rendered.contains_key(n))
        .collect();
        if todo.is_empty() {
            return rendered;
        }
        // The hosts each ShopSet to render lists: for a few (an edit), a walk of the rows
        // each; for many, one map of the whole tier. Owned, as the loop changes `inputs`.
        let own = |hosts: Vec<&str>| hosts.into_iter().map(str::to_owned).collect::<Vec<_>>();
        let hosts: BTreeMap<String, Vec<String>> = if todo.len() * 16 < inputs.shop_sets.len() {
            todo.iter()
                .map(|n| {
                    let listed = shopset_render::inputs::hosts_of(&inputs.shops, n);
                    (n.clone(), own(listed))
                })
                .collect()
        } else {
            shopset_render::inputs::hosts_by_shop_set(&inputs.shops)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), own(v)))
                .collect()
        };
        // Each ShopSet renders from the inputs alone: many are rendered on every core.
        let threads = if todo.len() >= PARALLEL_RENDER {
            shopset_render::parallel::threads()
        } else {
            1
        };
        let results = {
            let inputs = &*inputs;
            shopset_render::parallel::parallel_map(&todo, threads, |name| {
                let listed: Vec<&str> = hosts
                    .get(name)
                    .map(|h| h.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                shopset_render::render_shopset_with(inputs, name, Some(catalog), &listed)
            })
        };
        for (name, result) in todo.into_iter().zip(results) {
            let e = match result {
                Ok(files) => {
                    rendered.insert(name, files);
                    continue;
                }
                Err(e) => e,
            };
            let file = resources
                .shop_sets
                .get(&name)
                .map_or("(recorded inputs)", |s| s.file.as_str());
            if !kept.contains(&name)
                && keeper.keep(inputs, &name)
                && shopset_render::render_shopset(inputs, &name).is_ok()
            {
                problems.push(
                    render_problem("ShopSet", &name, e)
                        .in_file(file)
                        .and(" (kept at its last rendered version)"),
                );
                kept.insert(name);
            } else {
                problems.push(
                    render_problem("ShopSet", &name, e)
                        .in_file(file)
                        .and(" (not rendered)"),
                );
                inputs.shop_sets.remove(&name);
                kept.remove(&name);
            }
        }
    }
}

/// Only what the ShopSets use is recorded: the other configurations and failure domains go.
fn keep_only_what_is_used(inputs: &mut TierInputs) {
    let used_configs: BTreeSet<String> = inputs
        .shop_sets
        .values()
        .map(|s| s.spec.configuration.clone())
        .collect();
    let used_domains: BTreeSet<String> = inputs
        .shop_sets
        .values()
        .flat_map(|s| {
            std::iter::once(s.failure_domain.clone())
                .chain(s.migrating.as_ref().map(|m| m.to.clone()))
        })
        .collect();
    inputs
        .configurations
        .retain(|k, _| used_configs.contains(k));
    inputs
        .failure_domains
        .retain(|k, _| used_domains.contains(k));
}

/// A person's commit at the tip: which generated files it changed, so the commit that renders
/// them back and the Tier's Drifted condition can name them. Nothing for our own tips.
fn hand_changes(
    repos: &mut Repos,
    tier: &str,
    system_url: &str,
    prev: &Previous,
) -> Vec<crate::ops::verify::Drift> {
    match (&prev.tip, prev.ours) {
        (Some(tip), false) => crate::ops::verify::tip_drift(repos, system_url, tip, false)
            .unwrap_or_else(|e| {
                tracing::warn!(%tier, %tip, error = %e, "the tip's hand changes could not be listed");
                Vec::new()
            }),
        _ => Vec::new(),
    }
}

/// A rendering error as a problem, about the resource of `kind` named `name` when the error
/// itself names none (a generated path that failed validation).
fn render_problem(kind: &str, name: &str, e: shopset_render::RenderError) -> Problem {
    let mut problem = Problem::from(e);
    if problem.subject.is_none() {
        problem.subject = Some(Subject::new(kind, name));
    }
    problem
}

/// True when the tier-level inputs that a ShopSet's files depend on are the same: the tier's
/// name and branch, the base path, the system URL and the Argo CD settings. (A pin, the
/// promotion policy or the app URL change only the common files.)
fn same_shopset_context(previous: &TierInputs, inputs: &TierInputs) -> bool {
    let (a, b) = (&previous.tier, &inputs.tier);
    a.name == b.name
        && previous.branch() == inputs.branch()
        && a.spec.app.path == b.spec.app.path
        && a.spec.system.url == b.spec.system.url
        && a.spec.argocd == b.spec.argocd
        // A preview's record (asleep or awake, its host) is part of every overlay it renders.
        && previous.preview == inputs.preview
}

/// The ShopSets of `inputs` whose rendering may differ from `previous`'s: new ones, changed
/// entries, and those using a configuration or failure domain that changed (the tier is
/// compared by the caller). Both are in name order, so one merged walk compares them.
fn may_differ(previous: &TierInputs, inputs: &TierInputs) -> Vec<String> {
    fn changed<'a, V: PartialEq>(
        a: &'a BTreeMap<String, V>,
        b: &'a BTreeMap<String, V>,
    ) -> BTreeSet<&'a str> {
        a.keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .map(String::as_str)
            .collect()
    }
    let configs = changed(&previous.configurations, &inputs.configurations);
    let domains = changed(&previous.failure_domains, &inputs.failure_domains);
    // The ShopSets whose hosts may differ: those of every row that changed.
    let mut hosts_changed = BTreeSet::new();
    let mut old_rows = previous.shops.iter().peekable();
    let mut new_rows = inputs.shops.iter().peekable();
    loop {
        let (a, b) = match (old_rows.peek(), new_rows.peek()) {
            (None, None) => break,
            (Some((na, _)), Some((nb, _))) if na == nb => (old_rows.next(), new_rows.next()),
            (Some((na, _)), Some((nb, _))) if na < nb => (old_rows.next(), None),
            (Some(_), None) => (old_rows.next(), None),
            _ => (None, new_rows.next()),
        };
        let (a, b) = (a.map(|(_, r)| r), b.map(|(_, r)| r));
        let same = match (a, b) {
            (Some(x), Some(y)) => x.hosts == y.hosts && x.shop_sets().eq(y.shop_sets()),
            _ => false,
        };
        if !same {
            for row in a.into_iter().chain(b) {
                hosts_changed.extend(row.shop_sets());
            }
        }
    }
    let mut old = previous.shop_sets.iter().peekable();
    let mut out = Vec::new();
    for (name, new) in &inputs.shop_sets {
        while old.next_if(|(n, _)| *n < name).is_some() {}
        let same = old
            .next_if(|(n, _)| *n == name)
            .is_some_and(|(_, o)| o == new)
            && !configs.contains(new.spec.configuration.as_str())
            && !domains.contains(new.failure_domain.as_str())
            && !hosts_changed.contains(name.as_str());
        if !same {
            out.push(name.clone());
        }
    }
    out
}

/// The ShopSets in `inputs` and not in `previous`, and the reverse, in name order (one merged
/// walk over both).
fn added_and_removed<'a>(
    previous: &'a TierInputs,
    inputs: &'a TierInputs,
) -> (Vec<&'a String>, Vec<&'a String>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let mut old = previous.shop_sets.keys().peekable();
    let mut new = inputs.shop_sets.keys().peekable();
    loop {
        match (old.peek(), new.peek()) {
            (Some(o), Some(n)) if o == n => {
                old.next();
                new.next();
            }
            (Some(o), Some(n)) if o < n => removed.extend(old.next()),
            (_, Some(_)) => added.extend(new.next()),
            (Some(_), None) => removed.extend(old.next()),
            (None, None) => break,
        }
    }
    (added, removed)
}

/// The edits that turn the previous tree into the new one; `removed` are the ShopSets of
/// `previous` that `inputs` no longer has.
pub(super) fn edits(
    previous: &TierInputs,
    inputs: &TierInputs,
    removed: &[&String],
    common: Tree,
    rendered: BTreeMap<String, Vec<(String, Vec<u8>)>>,
) -> Result<TreeEdits, shopset_render::tree::PathError> {
    let mut edits = TreeEdits {
        upsert: common,
        ..TreeEdits::default()
    };
    let side_names = |i: &TierInputs, name: &str| -> BTreeSet<String> {
        i.shop_sets
            .get(name)
            .map(|p| p.sides(name).into_iter().map(|s| s.name).collect())
            .unwrap_or_default()
    };
    for name in removed {
        for side in side_names(previous, name) {
            edits.remove.push(layout::side_dir(name, &side));
            edits
                .remove
                .push(layout::side_application_file(name, &side));
        }
    }
    // A side a migration added or left: a ShopSet whose sides changed was rendered again.
    for name in rendered.keys() {
        let now = side_names(inputs, name);
        for side in side_names(previous, name).difference(&now) {
            edits.remove.push(layout::side_dir(name, side));
            edits.remove.push(layout::side_application_file(name, side));
        }
    }
    // Files of shop rows (record shards, routing tables) that are no longer written: the rows
    // left a shard, the table emptied, or a table went from one file to shards or back.
    let paths = |i: &TierInputs| {
        let mut all = shopset_render::record::paths(i);
        all.extend(shopset_render::routing::paths(i));
        all
    };
    for path in paths(previous).difference(&paths(inputs)) {
        edits.remove.push(path.clone());
    }
    // A shard can only empty when something was removed.
    if !removed.is_empty() {
        let shards = |i: &TierInputs| {
            i.shop_sets
                .keys()
                .map(|n| layout::shard(n))
                .collect::<BTreeSet<_>>()
        };
        for shard in shards(previous).difference(&shards(inputs)) {
            edits.remove.push(format!(
                "{}/kustomization.yaml",
                layout::application_shard_dir(shard)
            ));
        }
    }
    for (name, files) in rendered {
        // Each side's directory is replaced whole (a file it no longer has goes).
        let mut dirs: BTreeMap<String, Tree> = side_names(inputs, &name)
            .into_iter()
            .map(|side| {
                (
                    format!("{}/", layout::side_dir(&name, &side)),
                    Tree::default(),
                )
            })
            .collect();
        for (path, bytes) in files {
            let dir = dirs
                .iter_mut()
                .find_map(|(prefix, sub)| Some((path.strip_prefix(prefix.as_str())?, sub)));
            match dir {
                Some((rel, sub)) => sub.insert(rel.to_owned(), bytes)?,
                None => edits.upsert.insert(path, bytes)?,
            }
        }
        for (prefix, sub) in dirs {
            edits
                .replace_dirs
                .insert(prefix.trim_end_matches('/').to_owned(), sub);
        }
    }
    Ok(edits)
}

/// What changed between two renderings of a tier: ShopSets added, removed, and those
/// re-rendered whose files differ from their previous rendering.
#[must_use]
pub fn summarize(
    previous: Option<&TierInputs>,
    inputs: &TierInputs,
    rendered: &BTreeMap<String, Vec<(String, Vec<u8>)>>,
    kept: Vec<String>,
) -> Summary {
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
    let (added, removed) = added_and_removed(previous, inputs);
    summary.added = added.into_iter().cloned().collect();
    summary.removed = removed.into_iter().cloned().collect();
    for (name, files) in rendered {
        if previous.shop_sets.contains_key(name)
            && shopset_render::render_shopset(previous, name).ok().as_ref() != Some(files)
        {
            summary.changed.push(name.clone());
        }
    }
    summary.shops = shop_changes(&previous.shops, &inputs.shops);
    for name in rendered.keys() {
        let (Some(old), Some(new)) = (previous.shop_sets.get(name), inputs.shop_sets.get(name))
        else {
            continue;
        };
        if old.migrating == new.migrating && old.failure_domain == new.failure_domain {
            continue;
        }
        let what = match (&old.migrating, &new.migrating) {
            (_, Some(m)) => match m.weight {
                Some(w) => format!("{:?} to {}, {w}%", m.phase, m.to),
                None => format!("{:?} to {}", m.phase, m.to),
            },
            (Some(_), None) if old.failure_domain != new.failure_domain => {
                format!("moved to {}", new.failure_domain)
            }
            (Some(m), None) => format!("walked back from {}", m.to),
            (None, None) => format!("placed on {}", new.failure_domain),
        };
        summary.migrations.push(format!("{name} ({what})"));
        let now: BTreeSet<String> = new.sides(name).into_iter().map(|s| s.name).collect();
        summary.sides_removed.extend(
            old.sides(name)
                .into_iter()
                .map(|s| s.name)
                .filter(|s| !now.contains(s)),
        );
    }
    summary
}

/// What happened to each shop whose row differs between two renderings of a tier: one
/// merged walk of the two name-ordered tables (a row shared by both is the same row).
fn shop_changes(
    before: &shopset_render::inputs::ShopRows,
    after: &shopset_render::inputs::ShopRows,
) -> Vec<String> {
    use shopset_render::inputs::AssignedShop;
    let what = |old: Option<&AssignedShop>, new: &AssignedShop| -> Option<String> {
        let Some(old) = old else {
            return Some(format!("new, {}", new.shop_set));
        };
        if old == new {
            return None;
        }
        Some(match (&new.warming, &new.draining) {
            (Some(to), _) if old.warming.as_ref() != Some(to) => format!("warming {to}"),
            (None, Some(from)) if old.draining.is_none() => {
                format!("switched to {}, {from} draining", new.shop_set)
            }
            (None, None) if old.draining.is_some() => format!("settled on {}", new.shop_set),
            (None, None) if old.warming.is_some() => {
                format!("move called off, stays on {}", new.shop_set)
            }
            _ => "hosts or weight".to_owned(),
        })
    };
    let mut out = Vec::new();
    let mut old = before.iter().peekable();
    for (name, row) in after {
        while let Some((gone, _)) = old.next_if(|(n, _)| *n < name) {
            out.push(format!("{gone} (left this tier)"));
        }
        let was = old.next_if(|(n, _)| *n == name).map(|(_, r)| r);
        if was.is_some_and(|w| Arc::ptr_eq(w, row)) {
            continue;
        }
        if let Some(what) = what(was.map(|r| &**r), row) {
            out.push(format!("{name} ({what})"));
        }
    }
    out.extend(old.map(|(gone, _)| format!("{gone} (left this tier)")));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tier_spec(extra: serde_json::Value) -> TierSpec {
        let mut spec = json!({"app": {"url": "/app.git"}, "system": {"url": "/system.git"}});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(spec).expect("a Tier spec")
    }

    fn config(value: &str) -> ResolvedConfiguration {
        ResolvedConfiguration {
            source: None,
            document: serde_json::from_value(json!({"values": {"greeting": value}}))
                .expect("a configuration"),
        }
    }

    fn domain(server: &str) -> shopset_crds::FailureDomainSpec {
        serde_json::from_value(json!({"destination": {"server": server}})).expect("a domain")
    }

    /// A tier with ShopSets `(name, configuration, failure domain)`, configurations `a` and
    /// `b`, and domains `x` and `y`.
    fn inputs(shop_sets: &[(&str, &str, &str)]) -> TierInputs {
        let mut i = TierInputs::new("prod".into(), tier_spec(json!({})), "1".repeat(40));
        i.configurations.insert("a".into(), config("a"));
        i.configurations.insert("b".into(), config("b"));
        i.failure_domains.insert("x".into(), domain("https://x"));
        i.failure_domains.insert("y".into(), domain("https://y"));
        for (name, configuration, fd) in shop_sets {
            let spec =
                serde_json::from_value(json!({"tier": "prod", "configuration": configuration}))
                    .expect("a ShopSet spec");
            i.shop_sets.insert(
                (*name).to_owned(),
                PlacedShopSet::new((*fd).to_owned(), spec).into(),
            );
        }
        i
    }

    #[test]
    fn added_and_removed_walk_both_sides_in_name_order() {
        let before = inputs(&[("a1", "a", "x"), ("b1", "a", "x"), ("c1", "a", "x")]);
        let after = inputs(&[("a0", "a", "x"), ("b1", "a", "x"), ("d1", "a", "x")]);
        let (added, removed) = added_and_removed(&before, &after);
        assert_eq!(added, ["a0", "d1"]);
        assert_eq!(removed, ["a1", "c1"]);
        let (added, removed) = added_and_removed(&before, &before);
        assert!(added.is_empty() && removed.is_empty());
    }

    #[test]
    fn a_shop_set_may_differ_when_it_or_what_it_uses_changed() {
        let before = inputs(&[("s1", "a", "x"), ("s2", "b", "x"), ("s3", "b", "y")]);
        assert!(may_differ(&before, &before).is_empty(), "nothing changed");

        // A new ShopSet, and one whose own entry changed.
        let mut after = inputs(&[
            ("s1", "b", "x"),
            ("s2", "b", "x"),
            ("s3", "b", "y"),
            ("s4", "a", "x"),
        ]);
        assert_eq!(may_differ(&before, &after), ["s1", "s4"]);

        // A configuration that changed reaches every ShopSet using it, and no other.
        after = before.clone();
        after.configurations.insert("b".into(), config("changed"));
        assert_eq!(may_differ(&before, &after), ["s2", "s3"]);

        // So does a failure domain.
        after = before.clone();
        after
            .failure_domains
            .insert("y".into(), domain("https://elsewhere"));
        assert_eq!(may_differ(&before, &after), ["s3"]);
    }

    #[test]
    fn the_shop_set_context_is_the_tier_settings_that_reach_its_files() {
        let before = inputs(&[]);
        let mut after = before.clone();
        after.app_commit = "2".repeat(40);
        after.tier.spec = tier_spec(json!({"pin": {"appCommit": "2".repeat(40)}}));
        assert!(
            same_shopset_context(&before, &after),
            "a pin or an app commit changes only the common files"
        );
        after.tier.spec = tier_spec(json!({"system": {"url": "/other.git"}}));
        assert!(
            !same_shopset_context(&before, &after),
            "another system repository"
        );
        after.tier.spec = tier_spec(json!({"branch": "production"}));
        assert!(!same_shopset_context(&before, &after), "another branch");
    }

    #[test]
    fn only_the_configurations_and_domains_in_use_are_recorded() {
        let mut i = inputs(&[("s1", "b", "y")]);
        keep_only_what_is_used(&mut i);
        assert_eq!(i.configurations.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(i.failure_domains.keys().collect::<Vec<_>>(), ["y"]);
    }

    #[test]
    fn a_kept_shop_set_comes_back_with_what_it_was_rendered_with() {
        let previous = inputs(&[("s1", "a", "x")]);
        let mut now = inputs(&[]);
        now.configurations.clear();
        now.failure_domains
            .insert("x".into(), domain("https://moved"));
        let broken_configs = BTreeSet::new();
        let broken_domains = BTreeSet::from(["x".to_owned()]);
        let keeper = Keeper {
            previous: Some(&previous),
            broken_configs: &broken_configs,
            broken_domains: &broken_domains,
        };
        assert!(keeper.keep(&mut now, "s1"));
        assert_eq!(now.shop_sets["s1"], previous.shop_sets["s1"]);
        assert_eq!(
            now.configurations["a"], previous.configurations["a"],
            "its configuration, missing now, as it was rendered"
        );
        assert_eq!(
            now.failure_domains["x"], previous.failure_domains["x"],
            "its failure domain, broken now, as it was rendered"
        );
        assert!(!keeper.keep(&mut now, "never-rendered"));
        let nothing = Keeper {
            previous: None,
            ..keeper
        };
        assert!(
            !nothing.keep(&mut now, "s1"),
            "no previous rendering: nothing to keep"
        );
    }

    #[test]
    fn the_summary_names_what_was_added_removed_and_changed() {
        let before = inputs(&[("s1", "a", "x"), ("s2", "a", "x")]);
        let mut after = inputs(&[("s2", "b", "x"), ("s3", "a", "x")]);
        after.app_commit = "2".repeat(40);
        let rendered: BTreeMap<String, Vec<(String, Vec<u8>)>> = ["s2", "s3"]
            .iter()
            .map(|n| {
                let files = shopset_render::render_shopset(&after, n).expect("renders");
                ((*n).to_owned(), files)
            })
            .collect();
        let s = summarize(Some(&before), &after, &rendered, vec!["kept".into()]);
        assert_eq!(s.added, ["s3"]);
        assert_eq!(s.removed, ["s1"]);
        assert_eq!(s.changed, ["s2"], "its configuration changed its files");
        assert_eq!(s.kept, ["kept"]);
        assert_eq!(s.base_from.as_deref(), Some(&*"1".repeat(40)));
        assert_eq!(s.base_to, "2".repeat(40));

        let first = summarize(None, &after, &rendered, Vec::new());
        assert_eq!(
            first.added,
            ["s2", "s3"],
            "a first rendering adds everything"
        );
        assert!(first.base_from.is_none());
    }

    #[test]
    fn the_summary_says_what_happened_to_each_shop_whose_row_changed() {
        use shopset_render::inputs::{AssignedShop, ShopRows};
        let row = |on: &str, warming: Option<&str>, draining: Option<&str>, hosts: &[&str]| {
            Arc::new(AssignedShop {
                shop_set: on.into(),
                epoch: 0,
                by: shopset_crds::AssignedBy::Rule,
                hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
                weight: 1,
                warming: warming.map(str::to_owned),
                draining: draining.map(str::to_owned),
            })
        };
        let same = row("s1", None, None, &["same.example.com"]);
        let rows = |list: Vec<(&str, Arc<AssignedShop>)>| -> ShopRows {
            list.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
        };
        let before = rows(vec![
            ("called-off", row("s1", Some("s2"), None, &["c"])),
            ("gone", row("s1", None, None, &["g"])),
            ("host", row("s1", None, None, &["h"])),
            ("same", Arc::clone(&same)),
            ("settles", row("s2", None, Some("s1"), &["t"])),
            ("switches", row("s1", Some("s2"), None, &["w"])),
            ("warms", row("s1", None, None, &["m"])),
        ]);
        let after = rows(vec![
            ("added", row("s2", None, None, &["a"])),
            ("called-off", row("s1", None, None, &["c"])),
            ("host", row("s1", None, None, &["h", "www.h"])),
            ("same", same),
            ("settles", row("s2", None, None, &["t"])),
            ("switches", row("s2", None, Some("s1"), &["w"])),
            ("warms", row("s1", Some("s3"), None, &["m"])),
        ]);
        assert_eq!(
            shop_changes(&before, &after),
            [
                "added (new, s2)",
                "called-off (move called off, stays on s1)",
                "gone (left this tier)",
                "host (hosts or weight)",
                "settles (settled on s2)",
                "switches (switched to s2, s1 draining)",
                "warms (warming s3)",
            ]
        );
        assert!(shop_changes(&after, &after).is_empty());
    }

    #[test]
    fn a_rendering_error_names_the_resource_it_is_about() {
        let path = shopset_render::RenderError::Path(
            shopset_render::tree::check_path("../x").expect_err("refused"),
        );
        let p = render_problem("ShopSet", "s1", path);
        assert!(p.is_about("ShopSet", "s1"), "{p}");
        let own = shopset_render::RenderError::Tier {
            tier: "prod".into(),
            field: "spec.app".into(),
            message: "bad".into(),
        };
        assert!(render_problem("ShopSet", "s1", own).is_about("Tier", "prod"));
    }
}
