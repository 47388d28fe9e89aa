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
