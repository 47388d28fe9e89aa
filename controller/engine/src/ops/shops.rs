//! The shops step of planning: every shop's ShopSet, from the assignments recorded in the tier
//! branches (the source of truth) and the rule for the others (`shopset_render::assignment`).
//! Reads nothing but what it is given; writes nothing.

use std::collections::BTreeMap;

use shopset_render::TierInputs;
use shopset_render::assignment::{self, Candidate, ShopRequest};
use shopset_render::inputs::AssignedShop;

use crate::problem::Problem;
use crate::resources::Resources;

/// Every shop that has a ShopSet after this plan, and the problems of the others.
#[derive(Debug, Default)]
pub struct ShopPlan {
    /// By shop.
    pub assigned: BTreeMap<String, AssignedShop>,
    /// Shops without a ShopSet, and moves refused.
    pub problems: Vec<Problem>,
}

impl ShopPlan {
    /// How many shops `shop_set` serves.
    #[must_use]
    pub fn served_by(&self, shop_set: &str) -> usize {
        self.assigned
            .values()
            .filter(|s| s.shop_set == shop_set)
            .count()
    }
}

/// The assignments recorded in the tier branches: of two rows for one shop (a move across
/// tiers), the higher epoch.
#[must_use]
pub fn recorded<'a>(
    rendered: impl IntoIterator<Item = &'a TierInputs>,
) -> BTreeMap<String, AssignedShop> {
    let mut out: BTreeMap<String, AssignedShop> = BTreeMap::new();
    for inputs in rendered {
        for (name, row) in &inputs.shops {
            match out.get(name) {
                Some(seen) if seen.epoch >= row.epoch => {}
                _ => {
                    out.insert(name.clone(), row.clone());
                }
            }
        }
    }
    out
}

/// Plans every shop. `recorded` are the rows in the branches; `unusable` says whether a
/// ShopSet may not take a shop now (refused by a cross check, or on a tier not planned).
#[must_use]
pub fn plan(
    resources: &Resources,
    recorded: &BTreeMap<String, AssignedShop>,
    unusable: &dyn Fn(&str) -> bool,
) -> ShopPlan {
    let requests: BTreeMap<String, ShopRequest<'_>> = resources
        .shops
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                ShopRequest {
                    pool: &s.spec.pool,
                    weight: s.spec.weight,
                    pin: s.spec.shop_set.as_deref(),
                    isolate: s.spec.isolate,
                    recorded: recorded.get(name).map(|r| (r.shop_set.as_str(), r.epoch)),
                },
            )
        })
        .collect();
    let default = shopset_crds::ShopSettings::default();
    let candidates: BTreeMap<String, Candidate<'_>> = resources
        .shop_sets
        .iter()
        .map(|(name, s)| {
            let settings = s.spec.shops.as_ref().unwrap_or(&default);
            (
                name.clone(),
                Candidate {
                    pool: &settings.pool,
                    capacity: settings.capacity,
                    accept_new: settings.accept_new,
                    dedicated_to: settings.dedicated_to.as_deref(),
                    ready: !s.spec.maintenance && !s.spec.suspend && !unusable(name),
                },
            )
        })
        .collect();
    let assignments = assignment::assign(&requests, &candidates);
    let mut out = ShopPlan::default();
    for (name, outcome) in &assignments.shops {
        let sourced = &resources.shops[*name];
        if let Some(a) = &outcome.assigned {
            out.assigned.insert(
                (*name).to_owned(),
                AssignedShop {
                    shop_set: a.shop_set.to_owned(),
                    epoch: a.epoch,
                    by: match recorded.get(*name) {
                        // Kept: how it got there the first time.
                        Some(r) if r.shop_set == a.shop_set => r.by,
                        _ => a.by,
                    },
                    hosts: sourced.spec.hosts.clone(),
                    weight: sourced.spec.weight,
                },
            );
        }
        if let Some(problem) = &outcome.problem {
            let field = match problem {
                assignment::Unassigned::PoolExhausted { .. } => "spec.pool",
                _ => "spec.shopSet",
            };
            let kept = if outcome.assigned.is_some() {
                " (it stays where it is)"
            } else {
                " (it waits, unassigned)"
            };
            out.problems.push(
                Problem::of("Shop", name, field, problem.to_string())
                    .and(kept)
                    .in_file(&sourced.file),
            );
        }
    }
    // A shop whose resource could not be read keeps its row: it is not a removal.
    for (name, row) in recorded {
        if !out.assigned.contains_key(name)
            && (resources.incomplete || resources.is_invalid("Shop", name))
        {
            out.assigned.insert(name.clone(), row.clone());
        }
    }
    out
}

/// One shop as the branches record it (or, when no branch does, as pending).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopLine {
    /// The shop.
    pub shop: String,
    /// Its ShopSet (`None`: pending).
    pub shop_set: Option<String>,
    /// The tier whose branch records it.
    pub tier: Option<String>,
    /// Its ShopSet's failure domain.
    pub failure_domain: Option<String>,
    /// Its epoch.
    pub epoch: u64,
    /// How it got its ShopSet.
    pub by: Option<shopset_crds::AssignedBy>,
    /// `Assigned`, or `Pending` (in the resources, in no branch yet).
    pub phase: shopset_crds::ShopPhase,
    /// Its pool (from the resources; `None` for a row whose Shop is gone).
    pub pool: Option<String>,
    /// Its hosts.
    pub hosts: Vec<String>,
    /// Its load.
    pub weight: u32,
}

/// One ShopSet's load against its capacity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityLine {
    /// Its pool.
    pub pool: String,
    /// The ShopSet.
    pub shop_set: String,
    /// Its tier.
    pub tier: String,
    /// The weights of the shops it serves.
    pub load: u64,
    /// Its capacity.
    pub capacity: u32,
    /// `load / capacity`, in percent (0 for a capacity of 0).
    pub utilisation_percent: u64,
    /// How many more shops of weight 1 fit.
    pub fits: u64,
    /// Whether the rule gives it new shops.
    pub accept_new: bool,
    /// The shop it is dedicated to.
    pub dedicated_to: Option<String>,
}

/// Every shop, and every ShopSet's capacity, from the tier branches (the source of truth, so
/// this works with the controller down) and the resources.
#[derive(Debug, Default, serde::Serialize)]
pub struct ShopsReport {
    /// By shop name.
    pub shops: Vec<ShopLine>,
    /// By pool, then ShopSet.
    pub capacity: Vec<CapacityLine>,
    /// Branches that could not be read.
    pub problems: Vec<Problem>,
}

impl ShopsReport {
    /// The shop serving `host`: an exact host, else the wildcard `*.parent` that covers it.
    #[must_use]
    pub fn serving(&self, host: &str) -> Option<&ShopLine> {
        let assigned = || self.shops.iter().filter(|s| s.shop_set.is_some());
        assigned()
            .find(|s| s.hosts.iter().any(|h| h == host))
            .or_else(|| {
                let parent = host.split_once('.')?.1;
                assigned().find(|s| s.hosts.iter().any(|h| h.strip_prefix("*.") == Some(parent)))
            })
    }
}

/// Reads every tier branch's recorded shops and reports them with the resources' capacities.
#[must_use]
pub fn report(resources: &Resources, repos: &mut crate::Repos) -> ShopsReport {
    let mut out = ShopsReport::default();
    let mut rows: BTreeMap<String, (String, AssignedShop, Option<String>)> = BTreeMap::new();
    for (tier, sourced) in &resources.tiers {
        let branch = sourced.spec.branch_or(tier);
        match tip_inputs(repos, &sourced.spec.system.url, branch) {
            Ok(Some(inputs)) => {
                for (name, row) in &inputs.shops {
                    if rows
                        .get(name)
                        .is_some_and(|(_, seen, _)| seen.epoch >= row.epoch)
                    {
                        continue;
                    }
                    let domain = inputs
                        .shop_sets
                        .get(&row.shop_set)
                        .map(|s| s.failure_domain.clone());
                    rows.insert(name.clone(), (tier.clone(), row.clone(), domain));
                }
            }
            Ok(None) => {}
            Err(e) => out.problems.push(Problem::about("Tier", tier, e)),
        }
    }
    let mut load: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, row, _) in rows.values() {
        *load.entry(row.shop_set.as_str()).or_insert(0) += u64::from(row.weight);
    }
    for (name, (tier, row, domain)) in &rows {
        out.shops.push(ShopLine {
            shop: name.clone(),
            shop_set: Some(row.shop_set.clone()),
            tier: Some(tier.clone()),
            failure_domain: domain.clone(),
            epoch: row.epoch,
            by: Some(row.by),
            phase: shopset_crds::ShopPhase::Assigned,
            pool: resources.shops.get(name).map(|s| s.spec.pool.clone()),
            hosts: row.hosts.clone(),
            weight: row.weight,
        });
    }
    for (name, s) in &resources.shops {
        if !rows.contains_key(name) {
            out.shops.push(ShopLine {
                shop: name.clone(),
                shop_set: None,
                tier: None,
                failure_domain: None,
                epoch: 0,
                by: None,
                phase: shopset_crds::ShopPhase::Pending,
                pool: Some(s.spec.pool.clone()),
                hosts: s.spec.hosts.clone(),
                weight: s.spec.weight,
            });
        }
    }
    out.shops.sort_by(|a, b| a.shop.cmp(&b.shop));
    let default = shopset_crds::ShopSettings::default();
    for (name, s) in &resources.shop_sets {
        let settings = s.spec.shops.as_ref().unwrap_or(&default);
        let used = load.get(name.as_str()).copied().unwrap_or(0);
        let capacity = u64::from(settings.capacity);
        out.capacity.push(CapacityLine {
            pool: settings.pool.clone(),
            shop_set: name.clone(),
            tier: s.spec.tier.clone(),
            load: used,
            capacity: settings.capacity,
            utilisation_percent: (used * 100).checked_div(capacity).unwrap_or(0),
            fits: capacity.saturating_sub(used),
            accept_new: settings.accept_new,
            dedicated_to: settings.dedicated_to.clone(),
        });
    }
    out.capacity
        .sort_by(|a, b| (&a.pool, &a.shop_set).cmp(&(&b.pool, &b.shop_set)));
    out
}

/// The recorded inputs at the tip of `branch`, if the branch exists and has them.
fn tip_inputs(
    repos: &mut crate::Repos,
    url: &str,
    branch: &str,
) -> Result<Option<TierInputs>, String> {
    let Some(repo) = repos.system(url, false).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(tip) = repo.remote_tip(branch).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(bytes) = repo
        .read_file(&tip, shopset_render::layout::INPUTS)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    shopset_render::parse_inputs(&String::from_utf8_lossy(&bytes))
        .map(Some)
        .map_err(|e| {
            format!(
                "branch {branch} ({tip}): {}: {e}",
                shopset_render::layout::INPUTS
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(text: &str) -> Resources {
        let mut r = Resources::default();
        r.add_text("r.yaml", text);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        r
    }

    const SETS: &str = "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: a}\nspec: {tier: t, configuration: c, shops: {capacity: 3}}\n---\n\
                        apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: b}\nspec: {tier: t, configuration: c, maintenance: true}\n";

    fn shop(name: &str, extra: &str) -> String {
        format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {{name: {name}}}\nspec: {{hosts: [{name}.example.com]{extra}}}\n"
        )
    }

    #[test]
    fn new_shops_go_by_the_rule_and_recorded_ones_stay() {
        let text = format!(
            "{SETS}{}{}{}",
            shop("s1", ""),
            shop("s2", ""),
            shop("s3", ", weight: 2")
        );
        let r = resources(&text);
        let plan = plan(&r, &BTreeMap::new(), &|_| false);
        // b is in maintenance: everything goes to a, which has room for 3.
        assert_eq!(plan.served_by("a"), 2);
        assert_eq!(plan.assigned["s1"].hosts, ["s1.example.com"]);
        assert_eq!(plan.problems.len(), 1, "{:?}", plan.problems);
        let p = &plan.problems[0];
        assert!(
            p.is_about("Shop", "s3") && p.field.as_deref() == Some("spec.pool"),
            "{p}"
        );
        assert!(p.message.contains("weight 2"), "{p}");

        // Recorded on b, which is in maintenance now: the shop stays there.
        let mut rows = plan.assigned.clone();
        rows.get_mut("s1").expect("assigned").shop_set = "b".into();
        let again = super::plan(&r, &rows, &|_| false);
        assert_eq!(again.assigned["s1"].shop_set, "b");
    }

    #[test]
    fn a_shop_that_cannot_be_read_keeps_its_row() {
        let text = format!("{SETS}{}", shop("ok", ""));
        let mut r = resources(&text);
        let rows = plan(&r, &BTreeMap::new(), &|_| false).assigned;
        r.shops.clear();
        r.incomplete = true;
        assert_eq!(plan(&r, &rows, &|_| false).assigned, rows);
        r.incomplete = false;
        assert!(
            plan(&r, &rows, &|_| false).assigned.is_empty(),
            "a deleted shop goes"
        );
    }

    #[test]
    fn of_two_recorded_rows_the_higher_epoch_wins() {
        let spec = serde_json::from_value(
            serde_json::json!({"app": {"url": "/a"}, "system": {"url": "/s"}}),
        )
        .expect("spec");
        let row = |shop_set: &str, epoch| AssignedShop {
            shop_set: shop_set.into(),
            epoch,
            by: shopset_crds::AssignedBy::Rule,
            hosts: vec!["x.example.com".into()],
            weight: 1,
        };
        let mut one = TierInputs::new("t1".into(), spec, "1".repeat(40));
        let mut two = one.clone();
        one.shops.insert("x".into(), row("old", 1));
        two.shops.insert("x".into(), row("new", 2));
        assert_eq!(recorded([&one, &two])["x"].shop_set, "new");
        assert_eq!(recorded([&two, &one])["x"].shop_set, "new");
    }
}
