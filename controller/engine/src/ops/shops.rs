//! The shops step of planning: every shop's ShopSet, from the assignments recorded in the tier
//! branches (the source of truth) and the rule for the others (`shopset_render::assignment`).
//! Reads nothing but what it is given; writes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use shopset_render::TierInputs;
use shopset_render::assignment::{self, Candidate, ShopRequest};
use shopset_render::inputs::{AssignedShop, ShopRows};

use shopset_crds::ShopSetSpec;

use crate::problem::Problem;
use crate::resources::{Resources, Sourced};

/// Every shop that has a ShopSet after this plan, and the problems of the others.
#[derive(Debug, Default)]
pub struct ShopPlan {
    /// By shop.
    pub assigned: ShopRows,
    /// Shops without a ShopSet, and moves refused.
    pub problems: Vec<Problem>,
    /// Moving shops, by name: what the next step of the move waits for.
    pub waiting: BTreeMap<String, String>,
    /// Every ShopSet's load after assignment: the weights of the shops it serves.
    pub loads: BTreeMap<String, u64>,
}

impl ShopPlan {
    /// How many shops `shop_set` lists: those it serves and those moving to or from it.
    #[must_use]
    pub fn served_by(&self, shop_set: &str) -> usize {
        self.assigned
            .values()
            .filter(|s| s.involves(shop_set))
            .count()
    }
}

/// What the steps of a move wait for, besides Argo CD's Applications (in the resources).
#[derive(Debug, Clone)]
pub struct MoveGates {
    /// Per tier: the tip of its branch and when it was committed (seconds since the epoch).
    pub tips: BTreeMap<String, (String, i64)>,
    /// Now.
    pub now: jiff::Timestamp,
    /// The ShopSets whose Application is not named like them (a migration moved them), with
    /// its name.
    pub applications: BTreeMap<String, String>,
}

impl MoveGates {
    /// Argo CD's view of the Application of `shop_set` on its recorded failure domain.
    #[must_use]
    pub fn application<'a>(
        &self,
        resources: &'a Resources,
        shop_set: &str,
    ) -> Option<&'a crate::ops::status::AppObservation> {
        let name = self
            .applications
            .get(shop_set)
            .map_or(shop_set, String::as_str);
        resources.applications.get(name)
    }
}

impl MoveGates {
    /// No branch yet, at `now`.
    #[must_use]
    pub const fn at(now: jiff::Timestamp) -> Self {
        Self {
            tips: BTreeMap::new(),
            now,
            applications: BTreeMap::new(),
        }
    }
}

/// The ShopSets dedicated to isolated shops (`spec.isolate`) that no resource defines, and
/// the problems of the isolations that cannot be made. Each is named like its shop and is in
/// the tier of the ShopSet the shop is on; it is the dedicated ShopSet already rendered in a
/// tier branch when there is one (so it never changes by itself), else a copy of the spec of
/// the ShopSet the shop is on, dedicated to the shop, with room for its weight and no
/// upstream of its own unless that ShopSet's is given. A shop already served moves into it by
/// the steps of any move ([`plan`]); a new shop's copy is of the ShopSet the rule would give
/// it, and it is assigned there at once.
#[must_use]
pub fn isolated(
    resources: &Resources,
    recorded: &ShopRows,
    rendered: &dyn Fn(&str) -> Option<ShopSetSpec>,
) -> (BTreeMap<String, Sourced<ShopSetSpec>>, Vec<Problem>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    // The rule's choice for every new shop, made only when a new shop asks to be isolated.
    let mut first_choices: Option<BTreeMap<String, String>> = None;
    for (name, shop) in &resources.shops {
        if !shop.spec.isolate || shop.spec.shop_set.is_some() {
            continue;
        }
        let refuse = |message: String| {
            Problem::of("Shop", name, "spec.isolate", message).in_file(&shop.file)
        };
        if let Some(existing) = resources.shop_sets.get(name) {
            let owner = existing
                .spec
                .shops
                .as_ref()
                .and_then(|s| s.dedicated_to.as_deref());
            if owner != Some(name.as_str()) {
                problems.push(refuse(format!(
                    "ShopSet {name:?} exists and is not dedicated to this shop (its \
                     spec.shops.dedicatedTo is {owner:?}): the shop is not isolated"
                )));
            }
            continue;
        }
        if let Some(spec) = rendered(name).filter(|s| {
            s.shops.as_ref().and_then(|x| x.dedicated_to.as_deref()) == Some(name.as_str())
        }) {
            out.insert(name.clone(), Sourced::new(&shop.file, spec));
            continue;
        }
        let home = match recorded.get(name) {
            Some(row) => row.shop_set.as_str(),
            // A new shop: its ShopSet is a copy of the one the rule would give it, and it is
            // assigned there at once (it serves nothing yet, so there is nothing to move).
            None => match first_choices
                .get_or_insert_with(|| by_rule_alone(resources, recorded))
                .get(name.as_str())
            {
                Some(choice) => choice,
                // No ShopSet of its pool to copy: it waits, pending, like any new shop.
                None => continue,
            },
        };
        let Some(home) = resources.shop_sets.get(home) else {
            problems.push(refuse(format!(
                "its ShopSet {home:?} has no resource to copy: the shop is not isolated"
            )));
            continue;
        };
        let settings = home.spec.shops.clone().unwrap_or_default();
        let spec = ShopSetSpec {
            namespace: None,
            maintenance: false,
            suspend: false,
            shops: Some(shopset_crds::ShopSettings {
                capacity: shop.spec.weight,
                accept_new: false,
                dedicated_to: Some(name.clone()),
                upstream: None,
                ..settings
            }),
            ..home.spec.clone()
        };
        out.insert(name.clone(), Sourced::new(&shop.file, spec));
    }
    (out, problems)
}

/// Where the rule would put each new shop if no ShopSet were dedicated to any (the home an
/// isolated new shop's ShopSet is copied from): the same rule and order as [`plan`], with every
/// ShopSet usable.
fn by_rule_alone(resources: &Resources, recorded: &ShopRows) -> BTreeMap<String, String> {
    let mut requests = requests(resources, recorded);
    for (_, r) in &mut requests {
        r.isolate = false;
    }
    let candidates = candidates(
        resources,
        &|_| false,
        &MoveGates::at(jiff::Timestamp::UNIX_EPOCH),
    );
    assignment::assign_in_order(&requests, &candidates)
        .0
        .into_iter()
        .filter(|(name, _)| recorded.get(*name).is_none())
        .filter_map(|(name, o)| Some((name.to_owned(), o.assigned?.shop_set.to_owned())))
        .collect()
}

/// The assignments recorded in the tier branches: of two rows for one shop (a move across
/// tiers), the higher epoch. The rows are shared with the branches' inputs, not copied.
#[must_use]
pub fn recorded<'a>(rendered: impl IntoIterator<Item = &'a TierInputs>) -> ShopRows {
    let mut all: Vec<(&String, &Arc<AssignedShop>)> = Vec::new();
    for inputs in rendered {
        all.extend(&inputs.shops);
    }
    // Each tier's rows are in name order: the sort merges those runs. Stable, so of two rows
    // of one shop with the same epoch the first tier's comes first and is kept.
    all.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: Vec<(&String, &Arc<AssignedShop>)> = Vec::with_capacity(all.len());
    for (name, row) in all {
        match out.last_mut() {
            Some(last) if last.0 == name => {
                if row.epoch > last.1.epoch {
                    last.1 = row;
                }
            }
            _ => out.push((name, row)),
        }
    }
    out.into_iter()
        .map(|(name, row)| (name.clone(), Arc::clone(row)))
        .collect()
}

/// Plans every shop. `recorded` are the rows in the branches; `unusable` says whether a
/// ShopSet may not take a shop now (refused by a cross check, or on a tier not planned).
///
/// A move is three steps, one a sync, each written only when the one before has taken effect
/// (DESIGN: shops): *warm* (the target lists the shop's hosts; routing unchanged), *switch*
/// once Argo CD reports the target Synced at its branch's tip and Healthy (routing points at
/// the target, epoch + 1), *settle* once the target is still so and the source's settle time
/// has passed since the branch's last commit (the source stops listing the hosts).
#[must_use]
pub fn plan(
    resources: &Resources,
    recorded: &ShopRows,
    unusable: &dyn Fn(&str) -> bool,
    gates: &MoveGates,
) -> ShopPlan {
    let requests = requests(resources, recorded);
    let candidates = candidates(resources, unusable, gates);
    let (assignments, loads) = assignment::assign_in_order(&requests, &candidates);
    let mut out = ShopPlan {
        loads: loads.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ..ShopPlan::default()
    };
    let steps = Steps { resources, gates };
    // Moves this sync would start, by the ShopSet they leave.
    let mut starting: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rows: Vec<(String, Arc<AssignedShop>)> = Vec::with_capacity(assignments.len());
    // The shops, their outcomes and their recorded rows are all in name order: one walk, no
    // lookup by name (at 100,000 shops the lookups were most of the cost).
    let mut recorded_rows = recorded.iter().peekable();
    for ((name, sourced), (assessed, outcome)) in resources.shops.iter().zip(&assignments) {
        debug_assert_eq!(name, assessed, "assignment has every shop, in name order");
        while recorded_rows.next_if(|(n, _)| *n < name).is_some() {}
        let was = recorded_rows.next_if(|(n, _)| *n == name).map(|(_, r)| r);
        let problem = |field: &str, message: String, kept: &str| {
            Problem::of("Shop", name, field, message)
                .and(kept)
                .in_file(&sourced.file)
        };
        if let Some(unassigned) = &outcome.problem {
            let field = match unassigned {
                assignment::Unassigned::PoolExhausted { .. } => "spec.pool",
                _ => "spec.shopSet",
            };
            let kept = if outcome.assigned.is_some() {
                " (it stays where it is)"
            } else {
                " (it waits, unassigned)"
            };
            let found = problem(field, unassigned.to_string(), kept);
            // A new shop waiting for room is a state, as a Pod waiting for a node is: the
            // sync did what it could (a warning; the status and an event say it). A refused
            // pin or move is an error: the spec asks for what cannot be done.
            out.problems.push(
                if matches!(unassigned, assignment::Unassigned::PoolExhausted { .. }) {
                    found.as_warning()
                } else {
                    found
                },
            );
        }
        let Some(a) = &outcome.assigned else {
            continue;
        };
        let spec = &sourced.spec;
        let row = match was {
            None => Arc::new(AssignedShop {
                shop_set: a.shop_set.to_owned(),
                epoch: a.epoch,
                by: a.by,
                hosts: spec.hosts.clone(),
                weight: spec.weight,
                warming: None,
                draining: None,
            }),
            // Served where it was, not moving, hosts and weight as recorded: the recorded row
            // itself (what `Steps::next` would make of it, without a copy).
            Some(r)
                if r.warming.is_none()
                    && r.draining.is_none()
                    && r.shop_set == a.shop_set
                    && r.hosts == spec.hosts
                    && r.weight == spec.weight =>
            {
                Arc::clone(r)
            }
            Some(r) => {
                let step = steps.next(name, sourced, r, a.shop_set);
                if let Some(w) = step.waiting {
                    out.waiting.insert(name.clone(), w);
                }
                if let Some((field, why)) = step.refused {
                    out.problems
                        .push(problem(field, why, " (it stays where it is)"));
                }
                if step.row.warming.is_some() && step.row.warming != r.warming {
                    starting
                        .entry(r.shop_set.clone())
                        .or_default()
                        .push(name.clone());
                }
                let row = AssignedShop {
                    hosts: spec.hosts.clone(),
                    weight: spec.weight,
                    ..step.row
                };
                if **r == row {
                    Arc::clone(r)
                } else {
                    Arc::new(row)
                }
            }
        };
        rows.push((name.clone(), row));
    }
    out.assigned = rows.into_iter().collect();
    // Deleted shops leave their ShopSets too: the same stop guards them.
    if !resources.incomplete {
        let mut live = resources.shops.keys().peekable();
        for (name, row) in recorded {
            while live.next_if(|n| *n < name).is_some() {}
            if live.peek() != Some(&name) && !resources.is_invalid("Shop", name) {
                starting
                    .entry(row.shop_set.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
    }
    mass_move_stop(resources, recorded, &starting, &mut out);
    // A shop whose resource could not be read keeps its row: it is not a removal.
    let unread = resources.incomplete || resources.invalid.contains_key("Shop");
    for (name, row) in recorded.iter().filter(|_| unread) {
        if !out.assigned.contains_key(name)
            && (resources.incomplete || resources.is_invalid("Shop", name))
        {
            out.assigned.insert(name.clone(), row.clone());
        }
    }
    out
}

/// Every shop, as assignment sees it, in name order.
fn requests<'a>(
    resources: &'a Resources,
    recorded: &'a ShopRows,
) -> Vec<(&'a str, ShopRequest<'a>)> {
    // Both in name order: one walk finds each shop's row.
    let mut rows = recorded.iter().peekable();
    resources
        .shops
        .iter()
        .map(|(name, s)| {
            while rows.next_if(|(n, _)| *n < name).is_some() {}
            let row = rows.next_if(|(n, _)| *n == name).map(|(_, r)| r);
            (
                name.as_str(),
                ShopRequest {
                    pool: &s.spec.pool,
                    weight: s.spec.weight,
                    pin: s.spec.shop_set.as_deref(),
                    isolate: s.spec.isolate,
                    recorded: row.map(|r| (r.shop_set.as_str(), r.epoch)),
                },
            )
        })
        .collect()
}

static DEFAULT_SETTINGS: std::sync::LazyLock<shopset_crds::ShopSettings> =
    std::sync::LazyLock::new(shopset_crds::ShopSettings::default);

/// Every ShopSet, as assignment sees it; `unusable` says which may take no shop now.
pub(crate) fn candidates<'a>(
    resources: &'a Resources,
    unusable: &dyn Fn(&str) -> bool,
    gates: &MoveGates,
) -> BTreeMap<String, Candidate<'a>> {
    resources
        .shop_sets
        .iter()
        .map(|(name, s)| {
            let settings = s.spec.shops.as_ref().unwrap_or(&DEFAULT_SETTINGS);
            // The rule gives new shops only to a ShopSet Argo CD does not report unhealthy
            // (unknown counts as healthy: offline, without Applications, nothing is known).
            let healthy = gates
                .application(resources, name)
                .is_none_or(|a| a.health.as_deref().is_none_or(|h| h == "Healthy"));
            (
                name.clone(),
                Candidate {
                    pool: &settings.pool,
                    capacity: settings.capacity,
                    accept_new: settings.accept_new && healthy,
                    dedicated_to: settings.dedicated_to.as_deref(),
                    ready: !s.spec.maintenance && !s.spec.suspend && !unusable(name),
                },
            )
        })
        .collect()
}

/// The Tier annotation that confirms one exact batch of moves out of a ShopSet.
pub const CONFIRM_MOVES_ANNOTATION: &str = "shopset.dev/confirm-moves";

/// The mass-move stop: the moves that would start out of one ShopSet, when they are more than
/// its Tier's `spec.safety.maxShopMoves` allows and not confirmed, do not start; the shops stay
/// where they are, and a problem on the ShopSet names the token that confirms that batch.
fn mass_move_stop(
    resources: &Resources,
    recorded: &ShopRows,
    starting: &BTreeMap<String, Vec<String>>,
    out: &mut ShopPlan,
) {
    for (from, shops) in starting {
        let Some(tier) = resources.shop_sets.get(from).map(|s| &s.spec.tier) else {
            continue;
        };
        let limits = resources
            .tiers
            .get(tier)
            .map(|t| t.spec.safety.max_shop_moves)
            .unwrap_or_default();
        let served = recorded.values().filter(|r| r.shop_set == *from).count();
        let count = shops.len();
        if count <= limits.count as usize || count * 100 <= served * limits.percent as usize {
            continue;
        }
        let token = crate::ops::sync::removal_token(shops);
        let confirmed = resources
            .tier_annotations
            .get(tier)
            .and_then(|a| a.get(CONFIRM_MOVES_ANNOTATION))
            == Some(&token);
        if confirmed {
            continue;
        }
        for shop in shops {
            let Some(was) = recorded.get(shop) else {
                continue;
            };
            match out.assigned.get_mut(shop) {
                Some(row) => Arc::make_mut(row).warming.clone_from(&was.warming),
                // Deleted: its row stays until the batch is confirmed.
                None => {
                    out.assigned.insert(shop.clone(), was.clone());
                }
            }
            out.waiting.remove(shop);
        }
        out.problems.push(
            Problem::of(
                "ShopSet",
                from,
                "spec.shops",
                format!(
                    "{count} of its {served} shops would leave it in one sync (moved or \
                     deleted: {}), more than {}% and more than {}: none of them leaves until \
                     a person confirms (annotate Tier {tier} {CONFIRM_MOVES_ANNOTATION}={token})",
                    shops.join(", "),
                    limits.percent,
                    limits.count
                ),
            )
            .in_file(&resources.shop_sets[from].file),
        );
    }
}

/// The steps of a move, for one recorded shop.
struct Steps<'a> {
    resources: &'a Resources,
    gates: &'a MoveGates,
}

/// A shop's row after this sync, what its move waits for, and why a move was refused (the
/// field at fault and the reason).
struct Step {
    row: AssignedShop,
    waiting: Option<String>,
    refused: Option<(&'static str, String)>,
}

impl Step {
    const fn to(row: AssignedShop, waiting: Option<String>) -> Self {
        Self {
            row,
            waiting,
            refused: None,
        }
    }

    const fn refused(row: AssignedShop, field: &'static str, why: String) -> Self {
        Self {
            row,
            waiting: None,
            refused: Some((field, why)),
        }
    }
}

impl Steps<'_> {
    /// The row after this sync, for a shop recorded as `r` that assignment would serve from
    /// `wanted` (its recorded ShopSet when it is not to move, or may not).
    fn next(
        &self,
        name: &str,
        shop: &crate::resources::Sourced<shopset_crds::ShopSpec>,
        r: &AssignedShop,
        wanted: &str,
    ) -> Step {
        let plain = AssignedShop {
            warming: None,
            draining: None,
            ..r.clone()
        };
        if let Some(from) = &r.draining {
            // Switched: settle when the target has run the switch long enough.
            let waiting = self.settles(&r.shop_set, from).err();
            let row = if waiting.is_some() { r.clone() } else { plain };
            if wanted != r.shop_set {
                let why = format!(
                    "it is still moving from ShopSet {from:?} to {:?}: a new move waits until \
                     that one settles",
                    r.shop_set
                );
                return Step::refused(row, "spec.shopSet", why);
            }
            return Step::to(row, waiting);
        }
        if wanted == r.shop_set {
            // Not moving (or no longer: a move not switched yet is called off).
            return Step::to(plain, None);
        }
        if let Err(why) = self.may_move(name, shop, &r.shop_set, wanted) {
            return Step::refused(plain, "spec.shopSet", why);
        }
        if r.warming.as_deref() != Some(wanted) {
            // Warm: the target lists the hosts from this commit on.
            let row = AssignedShop {
                warming: Some(wanted.to_owned()),
                ..plain
            };
            return Step::to(
                row,
                Some(format!(
                    "ShopSet {wanted:?} to be healthy at its branch's tip"
                )),
            );
        }
        match self.healthy_at_tip(wanted) {
            // Switch: routing points at the target.
            Ok(()) => Step::to(
                AssignedShop {
                    shop_set: wanted.to_owned(),
                    epoch: r.epoch + 1,
                    by: shopset_crds::AssignedBy::Move,
                    warming: None,
                    draining: Some(r.shop_set.clone()),
                    ..r.clone()
                },
                Some(format!("the move from ShopSet {:?} to settle", r.shop_set)),
            ),
            Err(waiting) => Step::to(r.clone(), Some(waiting)),
        }
    }

    /// Why a shop may not move from `from` to `to` now, if it may not.
    fn may_move(
        &self,
        name: &str,
        shop: &crate::resources::Sourced<shopset_crds::ShopSpec>,
        from: &str,
        to: &str,
    ) -> Result<(), String> {
        let tier = |s: &str| {
            self.resources
                .shop_sets
                .get(s)
                .map(|s| s.spec.tier.as_str())
        };
        let (from_tier, to_tier) = (tier(from), tier(to));
        if let (Some(a), Some(b)) = (from_tier, to_tier)
            && a != b
            && !shop.spec.allow_tier_change
        {
            return Err(format!(
                "moving shop {name:?} from ShopSet {from:?} (tier {a}) to {to:?} (tier {b}) \
                 would change its application version: set spec.allowTierChange to allow it"
            ));
        }
        for t in [from_tier, to_tier].into_iter().flatten() {
            let windows = self
                .resources
                .tiers
                .get(t)
                .map(|s| s.spec.promotion.freeze_windows.as_slice())
                .unwrap_or_default();
            if let Some(why) = crate::ops::freeze::frozen(windows, self.gates.now) {
                return Err(format!(
                    "tier {t} is frozen ({why}): no shop moves into or out of it until the \
                     window ends"
                ));
            }
        }
        Ok(())
    }

    /// Whether Argo CD reports `shop_set` Synced at its tier branch's tip and Healthy.
    fn healthy_at_tip(&self, shop_set: &str) -> Result<(), String> {
        let tip = self
            .resources
            .shop_sets
            .get(shop_set)
            .and_then(|s| self.gates.tips.get(&s.spec.tier));
        let Some((tip, _)) = tip else {
            return Err(format!("ShopSet {shop_set:?} to be on a tier branch"));
        };
        let seen = self.gates.application(self.resources, shop_set);
        let ok = seen.is_some_and(|a| {
            a.sync.as_deref() == Some("Synced")
                && a.health.as_deref() == Some("Healthy")
                && a.revision.as_deref() == Some(tip)
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "Argo CD to report ShopSet {shop_set:?} Synced at {} and Healthy",
                &tip[..tip.len().min(12)]
            ))
        }
    }

    /// Whether a move into `to` from `from` may settle now: `to` healthy at its tip, and the
    /// settle time of `from` past since that tip was committed.
    fn settles(&self, to: &str, from: &str) -> Result<(), String> {
        self.healthy_at_tip(to)?;
        let settle = self
            .resources
            .shop_sets
            .get(from)
            .and_then(|s| s.spec.shops.as_ref())
            .map_or(shopset_crds::shop::DEFAULT_SETTLE, |s| s.settle.as_str());
        let seconds = shopset_crds::names::duration_seconds(settle).unwrap_or(0);
        let committed = self
            .resources
            .shop_sets
            .get(to)
            .and_then(|s| self.gates.tips.get(&s.spec.tier))
            .map_or(0, |(_, time)| *time);
        let waited = self.gates.now.as_second().saturating_sub(committed);
        if waited >= i64::try_from(seconds).unwrap_or(i64::MAX) {
            Ok(())
        } else {
            Err(format!(
                "the settle time of ShopSet {from:?} ({settle}): {waited}s of it passed"
            ))
        }
    }
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
    /// Mid-move: the ShopSet it is warming in (before the switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warming: Option<String>,
    /// Mid-move: the ShopSet it is leaving (after the switch, until it settles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draining: Option<String>,
}

impl ShopLine {
    /// Whether `shop_set` serves it or lists it for a move to or from it.
    #[must_use]
    pub fn involves(&self, shop_set: &str) -> bool {
        [&self.shop_set, &self.warming, &self.draining]
            .into_iter()
            .any(|s| s.as_deref() == Some(shop_set))
    }
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
    /// Neither in maintenance nor suspended: it may receive a shop now.
    pub ready: bool,
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
    /// Each ShopSet's failure domain, as the tier branches record it.
    #[serde(skip)]
    pub placed: BTreeMap<String, String>,
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
    let mut rows: BTreeMap<String, (String, Arc<AssignedShop>, Option<String>)> = BTreeMap::new();
    // The ShopSets of isolated shops: no resource defines them, their branch records them.
    let mut dedicated: BTreeMap<String, ShopSetSpec> = BTreeMap::new();
    for (tier, sourced) in &resources.tiers {
        let branch = sourced.spec.branch_or(tier);
        match tip_inputs(repos, &sourced.spec.system.url, branch) {
            Ok(Some(inputs)) => {
                for (name, placed) in &inputs.shop_sets {
                    out.placed
                        .insert(name.clone(), placed.failure_domain.clone());
                    let owned = placed
                        .spec
                        .shops
                        .as_ref()
                        .and_then(|s| s.dedicated_to.as_ref());
                    if owned.is_some() && !resources.shop_sets.contains_key(name) {
                        dedicated.insert(name.clone(), placed.spec.clone());
                    }
                }
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
            phase: row.phase(),
            pool: resources.shops.get(name).map(|s| s.spec.pool.clone()),
            hosts: row.hosts.clone(),
            weight: row.weight,
            warming: row.warming.clone(),
            draining: row.draining.clone(),
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
                warming: None,
                draining: None,
            });
        }
    }
    out.shops.sort_by(|a, b| a.shop.cmp(&b.shop));
    let default = shopset_crds::ShopSettings::default();
    let specs = resources
        .shop_sets
        .iter()
        .map(|(name, s)| (name, &s.spec))
        .chain(dedicated.iter());
    for (name, spec) in specs {
        let settings = spec.shops.as_ref().unwrap_or(&default);
        let used = load.get(name.as_str()).copied().unwrap_or(0);
        let capacity = u64::from(settings.capacity);
        out.capacity.push(CapacityLine {
            pool: settings.pool.clone(),
            shop_set: name.clone(),
            tier: spec.tier.clone(),
            ready: !spec.maintenance && !spec.suspend,
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
    crate::repos::read_recorded(repo, &tip).map_err(|e| {
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

    /// Tier `t` at commit `t0`, committed at second 1000; now is `1000 + after`.
    fn gates(after: i64) -> MoveGates {
        MoveGates {
            tips: BTreeMap::from([("t".to_owned(), ("t0".to_owned(), 1000))]),
            now: jiff::Timestamp::from_second(1000 + after).expect("a time"),
            applications: BTreeMap::new(),
        }
    }

    fn healthy(r: &mut Resources, shop_set: &str, revision: &str) {
        r.applications.insert(
            shop_set.into(),
            crate::ops::status::AppObservation {
                sync: Some("Synced".into()),
                revision: Some(revision.into()),
                health: Some("Healthy".into()),
            },
        );
    }

    #[test]
    fn a_move_is_warm_then_switch_then_settle_each_when_the_last_took_effect() {
        let more = "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: c}\nspec: {tier: t, configuration: c, shops: {settle: 2m}}\n";
        let start = format!("{SETS}{more}{}", shop("s1", ""));
        let r = resources(&start);
        let rows = plan(&r, &BTreeMap::new(), &|_| false, &gates(0)).assigned;
        let home = rows["s1"].shop_set.clone();
        assert_ne!(home, "b", "b is in maintenance");
        let to = if home == "a" { "c" } else { "a" };
        let pinned = format!("{SETS}{more}{}", shop("s1", &format!(", shopSet: {to}")));
        let mut r = resources(&pinned);

        // Warm: the target lists the hosts; routing (shop_set, epoch) unchanged.
        let warm = plan(&r, &rows, &|_| false, &gates(0));
        let row = &warm.assigned["s1"];
        assert_eq!((row.shop_set.as_str(), row.epoch), (home.as_str(), 0));
        assert_eq!(row.warming.as_deref(), Some(to));
        assert_eq!(row.phase(), shopset_crds::ShopPhase::Warming);
        assert!(warm.waiting["s1"].contains("healthy"), "{:?}", warm.waiting);

        // Not healthy at the tip yet (at an older commit): it stays warm.
        healthy(&mut r, to, "older");
        let again = plan(&r, &warm.assigned, &|_| false, &gates(5));
        assert_eq!(again.assigned, warm.assigned);
        assert!(
            again.waiting["s1"].contains("Synced at t0"),
            "{:?}",
            again.waiting
        );

        // Switch: healthy at the tip, routing points at the target, epoch + 1.
        healthy(&mut r, to, "t0");
        let switched = plan(&r, &warm.assigned, &|_| false, &gates(5));
        let row = &switched.assigned["s1"];
        assert_eq!((row.shop_set.as_str(), row.epoch), (to, 1));
        assert_eq!(row.draining.as_deref(), Some(home.as_str()));
        assert_eq!(row.by, shopset_crds::AssignedBy::Move);

        // Settle: after the source's settle time since the branch's last commit.
        let settle = if home == "c" { 120 } else { 300 };
        let early = plan(&r, &switched.assigned, &|_| false, &gates(settle - 1));
        assert_eq!(early.assigned, switched.assigned);
        let done = plan(&r, &switched.assigned, &|_| false, &gates(settle));
        let row = &done.assigned["s1"];
        assert_eq!((row.shop_set.as_str(), row.epoch), (to, 1));
        assert_eq!(row.phase(), shopset_crds::ShopPhase::Assigned);
        assert!(done.waiting.is_empty(), "{:?}", done.waiting);

        // A move called off before it switched leaves the shop where it was.
        let r = resources(&start);
        let off = plan(&r, &warm.assigned, &|_| false, &gates(5));
        assert_eq!(off.assigned, rows);
    }

    #[test]
    fn a_move_across_tiers_or_in_a_freeze_is_refused_with_a_reason() {
        let other = "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: d}\nspec: {tier: u, configuration: c}\n";
        let r = resources(&format!("{SETS}{other}{}", shop("s1", ", shopSet: a")));
        let rows = plan(&r, &BTreeMap::new(), &|_| false, &gates(0)).assigned;
        assert_eq!(rows["s1"].shop_set, "a");
        let r = resources(&format!("{SETS}{other}{}", shop("s1", ", shopSet: d")));
        let refused = plan(&r, &rows, &|_| false, &gates(0));
        assert_eq!(refused.assigned, rows, "it stays");
        assert!(
            refused
                .problems
                .iter()
                .any(|p| p.is_about("Shop", "s1") && p.message.contains("allowTierChange")),
            "{:?}",
            refused.problems
        );
        let allowed = resources(&format!(
            "{SETS}{other}{}",
            shop("s1", ", shopSet: d, allowTierChange: true")
        ));
        let warm = plan(&allowed, &rows, &|_| false, &gates(0));
        assert_eq!(warm.assigned["s1"].warming.as_deref(), Some("d"));

        let frozen = format!(
            "{SETS}{}---\napiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: t}}\n\
             spec: {{app: {{url: /a}}, system: {{url: /s}}, promotion: {{freezeWindows: \
             [{{schedule: '* * * * *', duration: 1h}}]}}}}\n",
            shop("s1", ", shopSet: b")
        );
        let mut r = resources(&frozen);
        r.shop_sets.get_mut("b").expect("b").spec.maintenance = false;
        let refused = plan(&r, &rows, &|_| false, &gates(0));
        assert_eq!(refused.assigned, rows);
        assert!(
            refused
                .problems
                .iter()
                .any(|p| p.message.contains("frozen")),
            "{:?}",
            refused.problems
        );
    }

    #[test]
    fn an_isolated_shop_gets_a_copy_of_its_shopset_dedicated_to_it_then_moves() {
        let text = format!("{SETS}{}", shop("hot", ", weight: 2"));
        let r = resources(&text);
        let rows = plan(&r, &BTreeMap::new(), &|_| false, &gates(0)).assigned;
        assert_eq!(rows["hot"].shop_set, "a");
        let mut r = resources(&format!(
            "{SETS}{}",
            shop("hot", ", weight: 2, isolate: true")
        ));
        let (made, problems) = isolated(&r, &rows, &|_| None);
        assert!(problems.is_empty(), "{problems:?}");
        let spec = &made["hot"].spec;
        assert_eq!(
            (spec.tier.as_str(), spec.configuration.as_str()),
            ("t", "c")
        );
        let settings = spec.shops.as_ref().expect("shop settings");
        assert_eq!(settings.dedicated_to.as_deref(), Some("hot"));
        assert_eq!((settings.capacity, settings.accept_new), (2, false));
        // Once rendered, the rendered spec is kept: a change to a does not reach it.
        let kept = spec.clone();
        let mut changed = kept.clone();
        changed.configuration = "other".into();
        let (again, _) = isolated(&r, &rows, &|n| (n == "hot").then(|| kept.clone()));
        assert_eq!(again["hot"].spec, kept);
        let (rendered, _) = isolated(&r, &rows, &|_| Some(changed.clone()));
        assert_eq!(
            rendered["hot"].spec.configuration, "other",
            "the rendered one wins"
        );
        // With it among the ShopSets, the shop moves there: warm first.
        r.shop_sets.extend(made);
        let warm = plan(&r, &rows, &|_| false, &gates(0));
        assert_eq!(warm.assigned["hot"].warming.as_deref(), Some("hot"));
        assert_eq!(warm.assigned["hot"].shop_set, "a");

        // A ShopSet of that name that is not dedicated to it: refused, said.
        let taken = format!(
            "{SETS}{}---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: hot}}\nspec: {{tier: t, configuration: c}}\n",
            shop("hot", ", isolate: true")
        );
        let (made, problems) = isolated(&resources(&taken), &rows, &|_| None);
        assert!(made.is_empty());
        assert!(
            problems[0].is_about("Shop", "hot") && problems[0].message.contains("not dedicated"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_new_shop_that_asks_to_be_isolated_starts_in_its_own_shopset() {
        let r = resources(&format!(
            "{SETS}{}{}",
            shop("hot", ", weight: 3, isolate: true"),
            shop("quiet", "")
        ));
        // The copy is of the ShopSet the rule would have given it.
        let alone = resources(&format!("{SETS}{}", shop("hot", ", weight: 3")));
        let home = plan(&alone, &BTreeMap::new(), &|_| false, &gates(0)).assigned["hot"]
            .shop_set
            .clone();
        let (made, problems) = isolated(&r, &BTreeMap::new(), &|_| None);
        assert!(problems.is_empty(), "{problems:?}");
        let spec = &made["hot"].spec;
        assert_eq!(spec.tier, r.shop_sets[&home].spec.tier);
        let settings = spec.shops.as_ref().expect("shop settings");
        assert_eq!(
            (settings.dedicated_to.as_deref(), settings.capacity),
            (Some("hot"), 3)
        );
        // Assigned there at once, by its pin to itself: nothing to move, no warm step.
        let mut r = r;
        r.shop_sets.extend(made);
        let first = plan(&r, &BTreeMap::new(), &|_| false, &gates(0));
        let row = &first.assigned["hot"];
        assert_eq!((row.shop_set.as_str(), row.epoch), ("hot", 0));
        assert_eq!(row.phase(), shopset_crds::ShopPhase::Assigned);
        assert_ne!(first.assigned["quiet"].shop_set, "hot", "dedicated");
        assert!(first.problems.is_empty(), "{:?}", first.problems);
    }

    #[test]
    fn a_shop_waiting_for_room_is_a_warning_and_a_refused_pin_an_error() {
        let r = resources(&format!(
            "{SETS}{}{}",
            shop("huge", ", weight: 100000"),
            shop("pinned", ", shopSet: b")
        ));
        let out = plan(&r, &BTreeMap::new(), &|_| false, &gates(0));
        let of = |name: &str| {
            out.problems
                .iter()
                .find(|p| p.is_about("Shop", name))
                .unwrap_or_else(|| panic!("a problem about {name}: {:?}", out.problems))
        };
        assert!(!of("huge").is_error(), "pending is a state");
        assert_eq!(of("huge").field.as_deref(), Some("spec.pool"));
        assert!(
            of("pinned").is_error(),
            "b is in maintenance: the pin is refused"
        );
    }

    #[test]
    fn moving_most_of_a_shopsets_shops_at_once_stops_until_confirmed() {
        let more = "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: c}\nspec: {tier: t, configuration: c}\n";
        let tier = |annotation: &str| {
            format!(
                "---\napiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: t{annotation}}}\n\
                 spec: {{app: {{url: /a}}, system: {{url: /s}}}}\n"
            )
        };
        let on = |to: &str, annotation: &str| {
            let pin = format!(", shopSet: {to}");
            format!(
                "{SETS}{more}{}{}{}{}",
                tier(annotation),
                shop("s1", &pin),
                shop("s2", &pin),
                shop("s3", ", shopSet: a")
            )
        };
        let rows = plan(
            &resources(&on("a", "")),
            &BTreeMap::new(),
            &|_| false,
            &gates(0),
        )
        .assigned;
        assert_eq!(rows.values().filter(|r| r.shop_set == "a").count(), 3);
        // Two of a's three shops at once: more than 50% and more than 1.
        let stopped = plan(&resources(&on("c", "")), &rows, &|_| false, &gates(0));
        assert_eq!(stopped.assigned, rows, "nothing starts moving");
        let p = stopped
            .problems
            .iter()
            .find(|p| p.is_about("ShopSet", "a"))
            .expect("a problem on the ShopSet");
        let token = p
            .message
            .split("confirm-moves=")
            .nth(1)
            .and_then(|t| t.strip_suffix(')'))
            .expect("a token");
        assert!(p.message.contains("s1, s2"), "{p}");
        // Confirmed, exactly that batch: the moves start.
        let confirmed = on(
            "c",
            &format!(", annotations: {{shopset.dev/confirm-moves: '{token}'}}"),
        );
        let warm = plan(&resources(&confirmed), &rows, &|_| false, &gates(0));
        assert_eq!(warm.assigned["s1"].warming.as_deref(), Some("c"));
        assert_eq!(warm.assigned["s2"].warming.as_deref(), Some("c"));
        // Deleting two of them: the same stop; their rows stay.
        let deleted = format!("{SETS}{more}{}{}", tier(""), shop("s3", ", shopSet: a"));
        let kept = plan(&resources(&deleted), &rows, &|_| false, &gates(0));
        assert_eq!(kept.assigned.len(), 3, "{:?}", kept.assigned.keys());
        assert!(
            kept.problems
                .iter()
                .any(|p| p.is_about("ShopSet", "a") && p.message.contains("deleted")),
            "{:?}",
            kept.problems
        );
        // One shop alone never stops.
        let one = on("a", "").replacen("shopSet: a", "shopSet: c", 1);
        let single = plan(&resources(&one), &rows, &|_| false, &gates(0));
        assert!(single.problems.is_empty(), "{:?}", single.problems);
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
        let plan = plan(&r, &BTreeMap::new(), &|_| false, &gates(0));
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
        Arc::make_mut(rows.get_mut("s1").expect("assigned")).shop_set = "b".into();
        let again = super::plan(&r, &rows, &|_| false, &gates(0));
        assert_eq!(again.assigned["s1"].shop_set, "b");
    }

    #[test]
    fn an_unchanged_row_is_shared_not_copied_and_a_changed_one_is_new() {
        let text = format!("{SETS}{}{}", shop("s1", ""), shop("s2", ""));
        let first = plan(&resources(&text), &BTreeMap::new(), &|_| false, &gates(0)).assigned;
        // s2 gets another host: its row is new; s1's is the recorded one itself.
        let text = format!(
            "{SETS}{}{}",
            shop("s1", ""),
            shop("s2", "").replace("[s2.example.com]", "[s2.example.com, www.s2.example.com]")
        );
        let second = plan(&resources(&text), &first, &|_| false, &gates(0)).assigned;
        assert!(Arc::ptr_eq(&first["s1"], &second["s1"]), "s1 shared");
        assert!(!Arc::ptr_eq(&first["s2"], &second["s2"]), "s2 rewritten");
        assert_eq!(second["s2"].hosts, ["s2.example.com", "www.s2.example.com"]);
        assert_eq!(
            (second["s2"].shop_set.as_str(), second["s2"].epoch),
            (first["s2"].shop_set.as_str(), first["s2"].epoch),
            "a new host moves nothing"
        );
    }

    #[test]
    fn the_rule_gives_no_new_shop_to_a_shopset_argo_cd_reports_unhealthy() {
        let more = "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: c}\nspec: {tier: t, configuration: c}\n";
        let text = format!("{SETS}{more}{}{}", shop("s1", ""), shop("s2", ""));
        let mut r = resources(&text);
        healthy(&mut r, "a", "t0");
        r.applications.insert(
            "c".into(),
            crate::ops::status::AppObservation {
                sync: Some("Synced".into()),
                revision: Some("t0".into()),
                health: Some("Degraded".into()),
            },
        );
        let plan = plan(&r, &BTreeMap::new(), &|_| false, &gates(0));
        assert_eq!(plan.served_by("c"), 0, "{:?}", plan.assigned);
        assert_eq!(plan.served_by("a"), 2);
        // A pin still may (a person decided).
        let pinned = format!("{SETS}{more}{}", shop("s3", ", shopSet: c"));
        let mut r = resources(&pinned);
        r.applications.insert(
            "c".into(),
            crate::ops::status::AppObservation {
                health: Some("Degraded".into()),
                ..Default::default()
            },
        );
        let plan = super::plan(&r, &BTreeMap::new(), &|_| false, &gates(0));
        assert_eq!(plan.assigned["s3"].shop_set, "c");
    }

    #[test]
    fn a_shop_that_cannot_be_read_keeps_its_row() {
        let text = format!("{SETS}{}", shop("ok", ""));
        let mut r = resources(&text);
        let rows = plan(&r, &BTreeMap::new(), &|_| false, &gates(0)).assigned;
        r.shops.clear();
        r.incomplete = true;
        assert_eq!(plan(&r, &rows, &|_| false, &gates(0)).assigned, rows);
        r.incomplete = false;
        assert!(
            plan(&r, &rows, &|_| false, &gates(0)).assigned.is_empty(),
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
            warming: None,
            draining: None,
        };
        let mut one = TierInputs::new("t1".into(), spec, "1".repeat(40));
        let mut two = one.clone();
        one.shops.insert("x".into(), row("old", 1).into());
        two.shops.insert("x".into(), row("new", 2).into());
        assert_eq!(recorded([&one, &two])["x"].shop_set, "new");
        assert_eq!(recorded([&two, &one])["x"].shop_set, "new");
    }
}
