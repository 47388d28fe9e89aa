//! Which ShopSet serves each shop, by convention (DESIGN: shops).
//!
//! Rules, in order:
//! 1. A shop that has a ShopSet keeps it: the choice is recorded and never computed again, so
//!    adding a ShopSet moves no shop. Only a pin that names another ShopSet, or a shop asking
//!    to be isolated whose dedicated ShopSet exists, moves it (its epoch grows by one), and
//!    only into a ShopSet that can take it.
//! 2. A new shop with a pin goes to the ShopSet it names, when that one can take it.
//! 3. Every other new shop, taken in name order (so a batch gives the same result whatever
//!    order its shops arrived in), goes to an eligible ShopSet of its pool: one that accepts
//!    new shops, is ready, is not dedicated and has room for the shop's weight. Of the two
//!    with the highest weighted rendezvous score (a hash of shop and ShopSet, weighted by the
//!    ShopSet's capacity), the one less full after taking it; ties go to the higher score.
//!    Rendezvous hashing makes the choice a pure function of the names; the second choice
//!    keeps the load even (the "power of two choices").
//!
//! No eligible ShopSet: the shop stays unassigned, with the pool and the room it needs; nothing
//! else is affected. The arithmetic is integer, or floating point with basic operations only,
//! so the result is the same on every machine.

use std::collections::BTreeMap;

use shopset_crds::shop::AssignedBy;

/// A shop, as assignment sees it (borrowed: assignment runs over every shop on every sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopRequest<'a> {
    /// Its pool.
    pub pool: &'a str,
    /// Its load.
    pub weight: u32,
    /// `spec.shopSet`.
    pub pin: Option<&'a str>,
    /// `spec.isolate`.
    pub isolate: bool,
    /// The ShopSet recorded for it, and its epoch.
    pub recorded: Option<(&'a str, u64)>,
}

/// A ShopSet, as assignment sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its pool.
    pub pool: &'a str,
    /// Its capacity, in load units.
    pub capacity: u32,
    /// Whether the rule may give it new shops.
    pub accept_new: bool,
    /// The shop it is dedicated to.
    pub dedicated_to: Option<&'a str>,
    /// Ready and not in maintenance: it may receive a shop now.
    pub ready: bool,
}

/// Where a shop goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned<'a> {
    /// The ShopSet.
    pub shop_set: &'a str,
    /// One more than before for each move.
    pub epoch: u64,
    /// How.
    pub by: AssignedBy,
}

/// Why a shop has no ShopSet, or could not move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unassigned {
    /// No ShopSet of the pool can take the shop.
    #[error(
        "pool {pool:?} has no ShopSet that accepts new shops, is ready and has room for weight \
         {weight} (the most room left is {room}, in {candidates} eligible ShopSets)"
    )]
    PoolExhausted {
        /// The pool.
        pool: String,
        /// The shop's weight.
        weight: u32,
        /// The most room any ShopSet of the pool that accepts new shops has left.
        room: u64,
        /// How many ShopSets of the pool accept new shops and are ready.
        candidates: usize,
    },
    /// The pin names no ShopSet.
    #[error("ShopSet {0:?} does not exist")]
    UnknownShopSet(String),
    /// The ShopSet named cannot take the shop now.
    #[error("ShopSet {shop_set:?} cannot take it: {why}")]
    Refused {
        /// The ShopSet.
        shop_set: String,
        /// Why.
        why: String,
    },
}

/// The outcome for one shop: where it is served (kept, moved or new), or why not; a shop kept
/// where it was while its move was refused carries both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<'a> {
    /// Where it is served now.
    pub assigned: Option<Assigned<'a>>,
    /// Why it is not where its spec asks (no ShopSet at all, or a refused move).
    pub problem: Option<Unassigned>,
}

/// Every shop's outcome, and every ShopSet's load after assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignments<'a> {
    /// By shop name.
    pub shops: BTreeMap<&'a str, Outcome<'a>>,
    /// By ShopSet name: the sum of the weights of the shops it serves.
    pub load: BTreeMap<&'a str, u64>,
}

/// Assigns every shop. `shops` and `shop_sets` are by name; the result borrows their names.
#[must_use]
pub fn assign<'a>(
    shops: &'a BTreeMap<String, ShopRequest<'a>>,
    shop_sets: &'a BTreeMap<String, Candidate<'a>>,
) -> Assignments<'a> {
    let in_order: Vec<(&str, ShopRequest<'_>)> =
        shops.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let (shops, load) = assign_in_order(&in_order, shop_sets);
    Assignments {
        shops: shops.into_iter().collect(),
        load,
    }
}

/// [`assign`], for shops given in name order (each once): their outcomes in the same order,
/// and every ShopSet's load. What the engine calls on every sync, with no map of the shops.
///
/// # Panics
/// When `shops` is not in strict name order (a caller's bug).
#[must_use]
pub fn assign_in_order<'a>(
    shops: &[(&'a str, ShopRequest<'a>)],
    shop_sets: &'a BTreeMap<String, Candidate<'a>>,
) -> (Vec<(&'a str, Outcome<'a>)>, BTreeMap<&'a str, u64>) {
    assert!(
        shops.windows(2).all(|w| w[0].0 < w[1].0),
        "shops in strict name order"
    );
    let mut load = Loads::new(shop_sets);
    // 1. Recorded shops stay, and count; their moves are decided once every load is known.
    let mut stay: Vec<(&'a str, Outcome<'a>)> = Vec::with_capacity(shops.len());
    let mut moving = Vec::new();
    let mut new = Vec::new();
    for (shop, request) in shops {
        match request.recorded {
            Some((at, epoch)) => {
                // A ShopSet that still serves shops is never removed, so a recorded one that is
                // gone is only possible in inputs made by hand: the shop keeps its row.
                let at = load.name_of(at).unwrap_or(at);
                load.add(at, u64::from(request.weight));
                if let Some(target) = wanted(shop, request, shop_sets)
                    && target != at
                {
                    moving.push((stay.len(), request, target));
                }
                stay.push((
                    shop,
                    Outcome {
                        assigned: Some(Assigned {
                            shop_set: at,
                            epoch,
                            by: AssignedBy::Rule,
                        }),
                        problem: None,
                    },
                ));
            }
            None => new.push((*shop, request)),
        }
    }
    // Moves, in name order: each into a ShopSet that can take it.
    for (at, request, target) in moving {
        let (shop, outcome) = &mut stay[at];
        let Some(target) = load.name_of(target) else {
            outcome.problem = Some(Unassigned::UnknownShopSet(target.to_owned()));
            continue;
        };
        match room(shop, request, target, &shop_sets[target], &load) {
            Ok(()) => {
                let from = outcome.assigned.as_ref().expect("recorded");
                let (from_set, epoch) = (from.shop_set, from.epoch);
                let weight = u64::from(request.weight);
                load.sub(from_set, weight);
                load.add(target, weight);
                outcome.assigned = Some(Assigned {
                    shop_set: target,
                    epoch: epoch + 1,
                    by: AssignedBy::Move,
                });
            }
            Err(problem) => outcome.problem = Some(problem),
        }
    }
    let arrived = assign_arrivals(&new, shop_sets, &mut load);
    (merge_in_order(stay, arrived), load.into_map())
}

/// The outcomes of new shops (in name order, none recorded) on ShopSets already carrying
/// `loads` (by ShopSet: the weights of the shops they serve): what [`assign_in_order`] gives
/// them when every other shop stays where it is recorded, without walking those shops.
#[must_use]
pub fn assign_new<'a>(
    new: &[(&'a str, ShopRequest<'a>)],
    shop_sets: &'a BTreeMap<String, Candidate<'a>>,
    loads: &BTreeMap<&str, u64>,
) -> Vec<(&'a str, Outcome<'a>)> {
    let mut load = Loads::new(shop_sets);
    for (name, used) in loads {
        if let Some(name) = load.name_of(name) {
            load.add(name, *used);
        }
    }
    let new: Vec<(&'a str, &ShopRequest<'a>)> = new.iter().map(|(n, r)| (*n, r)).collect();
    assign_arrivals(&new, shop_sets, &mut load)
}

/// Steps 2 and 3 of assignment: new shops, in name order, each counted before the next.
fn assign_arrivals<'a>(
    new: &[(&'a str, &ShopRequest<'a>)],
    shop_sets: &'a BTreeMap<String, Candidate<'a>>,
    load: &mut Loads<'a>,
) -> Vec<(&'a str, Outcome<'a>)> {
    let mut arrived = Vec::with_capacity(new.len());
    for &(shop, request) in new {
        let outcome = match wanted(shop, request, shop_sets) {
            Some(target) => match load.name_of(target) {
                None => Err(Unassigned::UnknownShopSet(target.to_owned())),
                Some(target) => room(shop, request, target, &shop_sets[target], load)
                    .map(|()| (target, AssignedBy::Pin)),
            },
            None => by_rule(shop, request, shop_sets, load).map(|s| (s, AssignedBy::Rule)),
        };
        let outcome = match outcome {
            Ok((shop_set, by)) => {
                load.add(shop_set, u64::from(request.weight));
                Outcome {
                    assigned: Some(Assigned {
                        shop_set,
                        epoch: 0,
                        by,
                    }),
                    problem: None,
                }
            }
            Err(problem) => Outcome {
                assigned: None,
                problem: Some(problem),
            },
        };
        arrived.push((shop, outcome));
    }
    arrived
}

/// Two lists in name order (no name in both), as one.
fn merge_in_order<'a>(
    a: Vec<(&'a str, Outcome<'a>)>,
    b: Vec<(&'a str, Outcome<'a>)>,
) -> Vec<(&'a str, Outcome<'a>)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut b = b.into_iter().peekable();
    for item in a {
        while let Some(earlier) = b.next_if(|(n, _)| *n < item.0) {
            out.push(earlier);
        }
        out.push(item);
    }
    out.extend(b);
    out
}

/// Every ShopSet's load during assignment, by the ShopSet's place in name order. A name is
/// found by its hash in a table of places (open addressing, never iterated, so nothing of it
/// reaches the output): at 100,000 shops, searching the ShopSets by name for every shop cost
/// more than the rest of assignment. Recorded ShopSets that are gone count apart.
struct Loads<'a> {
    names: Vec<&'a str>,
    load: Vec<u64>,
    /// Places in `names` plus one; 0 is an empty slot. A power of two, at most half full.
    slots: Vec<u32>,
    gone: BTreeMap<&'a str, u64>,
}

impl<'a> Loads<'a> {
    fn new(shop_sets: &'a BTreeMap<String, Candidate<'a>>) -> Self {
        let names: Vec<&str> = shop_sets.keys().map(String::as_str).collect();
        let mut slots = vec![0u32; (names.len() * 2).next_power_of_two().max(16)];
        let mask = slots.len() - 1;
        for (place, name) in names.iter().enumerate() {
            let mut at = fnv(name) & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = u32::try_from(place + 1).expect("fewer than 4 billion ShopSets");
        }
        Self {
            load: vec![0; names.len()],
            names,
            slots,
            gone: BTreeMap::new(),
        }
    }

    fn place(&self, name: &str) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut at = fnv(name) & mask;
        loop {
            let place = usize::try_from(self.slots[at]).ok()?.checked_sub(1)?;
            if self.names[place] == name {
                return Some(place);
            }
            at = (at + 1) & mask;
        }
    }

    /// The ShopSet's own name (borrowed from the ShopSets), when it exists.
    fn name_of(&self, name: &str) -> Option<&'a str> {
        self.place(name).map(|p| self.names[p])
    }

    fn slot(&mut self, name: &'a str) -> &mut u64 {
        match self.place(name) {
            Some(p) => &mut self.load[p],
            None => self.gone.entry(name).or_insert(0),
        }
    }

    fn add(&mut self, name: &'a str, weight: u64) {
        *self.slot(name) += weight;
    }

    fn sub(&mut self, name: &'a str, weight: u64) {
        *self.slot(name) -= weight;
    }

    fn get(&self, name: &str) -> u64 {
        match self.place(name) {
            Some(p) => self.load[p],
            None => self.gone.get(name).copied().unwrap_or(0),
        }
    }

    fn into_map(self) -> BTreeMap<&'a str, u64> {
        let mut out: BTreeMap<&str, u64> = self.names.into_iter().zip(self.load).collect();
        out.extend(self.gone);
        out
    }
}

/// FNV-1a of a name, for [`Loads`]' table (only its low bits are used).
fn fnv(name: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    usize::try_from(hash & 0xffff_ffff).unwrap_or(0)
}

/// The ShopSet the shop's spec asks for, if it asks for one: its pin, else (when it asks to
/// be isolated) the ShopSet dedicated to it, when there is one.
fn wanted<'a>(
    shop: &str,
    request: &ShopRequest<'a>,
    shop_sets: &'a BTreeMap<String, Candidate<'a>>,
) -> Option<&'a str> {
    request.pin.or_else(|| {
        request.isolate.then(|| {
            shop_sets
                .iter()
                .find(|(_, c)| c.dedicated_to == Some(shop))
                .map(|(name, _)| name.as_str())
        })?
    })
}

/// Whether `target` can take `shop` now (a pin or a move: the rule's own filter is stricter).
fn room(
    shop: &str,
    request: &ShopRequest<'_>,
    target: &str,
    candidate: &Candidate<'_>,
    load: &Loads<'_>,
) -> Result<(), Unassigned> {
    may_take(shop, request.weight, target, candidate, load.get(target))
}

/// Whether `target`, carrying `used` load units, can take `shop` of `weight` now: what a pin or
/// a move asks of it.
///
/// # Errors
/// Why not.
pub fn may_take(
    shop: &str,
    weight: u32,
    target: &str,
    candidate: &Candidate<'_>,
    used: u64,
) -> Result<(), Unassigned> {
    let refused = |why: String| {
        Err(Unassigned::Refused {
            shop_set: target.to_owned(),
            why,
        })
    };
    if !candidate.ready {
        return refused("it is not ready, or in maintenance".into());
    }
    if let Some(owner) = candidate.dedicated_to
        && owner != shop
    {
        return refused(format!("it is dedicated to shop {owner:?}"));
    }
    let weight = u64::from(weight);
    if used + weight > u64::from(candidate.capacity) {
        return refused(format!(
            "its load {used} plus the shop's weight {weight} is over its capacity {}",
            candidate.capacity
        ));
    }
    Ok(())
}

/// The rule's choice for a new shop (see the module's rules).
fn by_rule<'a>(
    shop: &str,
    request: &ShopRequest<'_>,
    shop_sets: &'a BTreeMap<String, Candidate<'a>>,
    load: &Loads<'_>,
) -> Result<&'a str, Unassigned> {
    let weight = u64::from(request.weight);
    let mut candidates = 0;
    let mut most_room = 0;
    // The two highest scores: (score, name, load after).
    let mut best: [Option<(f64, &str, u64)>; 2] = [None, None];
    // `load` lists the ShopSets in this same order.
    for ((name, c), used) in shop_sets.iter().zip(&load.load) {
        if c.pool != request.pool || !c.accept_new || !c.ready || c.dedicated_to.is_some() {
            continue;
        }
        candidates += 1;
        let used = *used;
        let capacity = u64::from(c.capacity);
        most_room = most_room.max(capacity.saturating_sub(used));
        if used + weight > capacity {
            continue;
        }
        let entry = (score(shop, name, c.capacity), name.as_str(), used + weight);
        if best[0].is_none_or(|b| entry.0 > b.0) {
            best = [Some(entry), best[0]];
        } else if best[1].is_none_or(|b| entry.0 > b.0) {
            best[1] = Some(entry);
        }
    }
    let fullness = |(_, name, after): (f64, &str, u64)| {
        // after / capacity, compared without division: a fraction (after, capacity).
        (after, u64::from(shop_sets[name].capacity))
    };
    match best {
        [Some(first), Some(second)] => {
            let (a, ca) = fullness(first);
            let (b, cb) = fullness(second);
            // second strictly less full than first: a / ca > b / cb.
            Ok(
                if u128::from(a) * u128::from(cb) > u128::from(b) * u128::from(ca) {
                    second.1
                } else {
                    first.1
                },
            )
        }
        [Some(only), None] => Ok(only.1),
        _ => Err(Unassigned::PoolExhausted {
            pool: request.pool.to_owned(),
            weight: request.weight,
            room: most_room,
            candidates,
        }),
    }
}

/// The weighted rendezvous score of (shop, ShopSet): `-capacity / ln(u)`, `u` in (0, 1) a hash
/// of the two names. Higher wins; a ShopSet of twice the capacity wins about twice as often.
fn score(shop: &str, shop_set: &str, capacity: u32) -> f64 {
    let h = hash(shop, shop_set);
    // 53 bits, never 0 nor 1.
    #[allow(clippy::cast_precision_loss)]
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(capacity.max(1)) / ln(u)
}

/// FNV-1a 64 of `shop`, a separator and `shop_set`, then a 64-bit finalizer (splitmix64), so
/// that names differing in one character land far apart.
fn hash(shop: &str, shop_set: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in shop.bytes().chain([0]).chain(shop_set.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The natural logarithm of `x` in (0, 1], from basic operations only (which IEEE 754 rounds
/// the same way everywhere, unlike a platform's `ln`): `x = m * 2^e` with `m` in [1, 2), then
/// `ln m = 2 atanh((m - 1) / (m + 1))` by its series.
fn ln(x: f64) -> f64 {
    const LN_2: f64 = std::f64::consts::LN_2;
    let bits = x.to_bits();
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let t = (mantissa - 1.0) / (mantissa + 1.0);
    let t2 = t * t;
    let mut term = t;
    let mut sum = 0.0;
    let mut k = 1.0;
    // t <= 1/3, so each term is at most a ninth of the one before: after 17 terms the rest is
    // below f64's precision.
    for _ in 0..17 {
        sum += term / k;
        term *= t2;
        k += 2.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let e = exponent as f64;
    2.0 * sum + e * LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop<'a>(pool: &'a str, weight: u32) -> ShopRequest<'a> {
        ShopRequest {
            pool,
            weight,
            pin: None,
            isolate: false,
            recorded: None,
        }
    }

    fn set(capacity: u32) -> Candidate<'static> {
        Candidate {
            pool: "default",
            capacity,
            accept_new: true,
            dedicated_to: None,
            ready: true,
        }
    }

    fn shops(n: usize) -> BTreeMap<String, ShopRequest<'static>> {
        (0..n)
            .map(|i| (format!("shop-{i:05}"), shop("default", 1)))
            .collect()
    }

    fn sets(n: usize, capacity: u32) -> BTreeMap<String, Candidate<'static>> {
        (0..n)
            .map(|i| (format!("ss-{i:03}"), set(capacity)))
            .collect()
    }

    fn where_<'a>(a: &Assignments<'a>, shop: &str) -> Option<&'a str> {
        a.shops[shop].assigned.as_ref().map(|x| x.shop_set)
    }

    #[test]
    fn new_shops_on_known_loads_go_where_a_whole_assignment_sends_them() {
        let sets = sets(12, 40);
        // 300 shops assigned and recorded, then 20 more arrive (one pinned, one heavy).
        let recorded = shops(300);
        let first = assign(&recorded, &sets);
        let names: Vec<String> = (0..320).map(|i| format!("shop-{i:05}")).collect();
        let mut all = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let mut request = shop("default", if i == 310 { 5 } else { 1 });
            if i == 305 {
                request.pin = Some("ss-003");
            }
            request.recorded = first.shops.get(name.as_str()).map(|o| {
                let a = o.assigned.as_ref().expect("room for all");
                (a.shop_set, a.epoch)
            });
            all.insert(name.clone(), request);
        }
        let whole = assign(&all, &sets);
        let new: Vec<(&str, ShopRequest<'_>)> = all
            .iter()
            .filter(|(_, r)| r.recorded.is_none())
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(new.len(), 20);
        let loads: BTreeMap<&str, u64> = first.load.clone();
        let alone = assign_new(&new, &sets, &loads);
        for (name, outcome) in &alone {
            assert_eq!(Some(outcome), whole.shops.get(name), "{name}");
        }
        // Loads that differ change the choice: the outcome depends on them.
        let full: BTreeMap<&str, u64> = sets.keys().map(|k| (k.as_str(), 40)).collect();
        let none_fit = assign_new(&new[..1], &sets, &full);
        assert!(none_fit[0].1.assigned.is_none(), "no room anywhere");
    }

    #[test]
    fn ln_is_the_logarithm() {
        for x in [1e-300, 1e-9, 0.001, 0.25, 0.5, 0.7, 0.999_999, 1.0] {
            let expected: f64 = f64::ln(x);
            assert!(
                (ln(x) - expected).abs() <= 1e-12 * expected.abs().max(1.0),
                "{x}"
            );
        }
    }

    #[test]
    fn loads_find_every_shop_set_by_hash_and_count_gone_ones_apart() {
        let sets = sets(300, 10);
        let mut load = Loads::new(&sets);
        for (i, name) in sets.keys().enumerate() {
            assert_eq!(load.name_of(name), Some(name.as_str()));
            load.add(name, u64::try_from(i).expect("small"));
        }
        assert_eq!(load.name_of("ss-999"), None);
        load.add("ss-999", 7);
        load.sub("ss-001", 1);
        assert_eq!(
            (load.get("ss-001"), load.get("ss-299"), load.get("ss-999")),
            (0, 299, 7)
        );
        let map = load.into_map();
        assert_eq!(map.len(), 301);
        assert_eq!(map["ss-999"], 7);
    }

    #[test]
    fn in_order_the_outcomes_are_those_of_the_map() {
        let mut shops = shops(500);
        // Some recorded (one of them on a ShopSet that is gone), one pinned.
        for (i, r) in shops.values_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
            r.recorded = Some((if i == 3 { "gone" } else { "ss-001" }, 2));
        }
        shops.get_mut("shop-00010").expect("a shop").pin = Some("ss-002");
        let sets = sets(8, 100);
        let by_map = assign(&shops, &sets);
        let in_order: Vec<(&str, ShopRequest<'_>)> =
            shops.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (outcomes, load) = assign_in_order(&in_order, &sets);
        assert_eq!(outcomes.len(), 500);
        assert!(outcomes.windows(2).all(|w| w[0].0 < w[1].0), "name order");
        assert_eq!(
            outcomes.into_iter().collect::<BTreeMap<_, _>>(),
            by_map.shops
        );
        assert_eq!(load, by_map.load);
        assert_eq!(where_(&by_map, "shop-00003"), Some("gone"));
        assert_eq!(by_map.load["gone"], 1);
        assert_eq!(where_(&by_map, "shop-00010"), Some("ss-002"));
    }

    #[test]
    fn ten_thousand_shops_over_fifty_equal_shop_sets_are_even() {
        let shops = shops(10_000);
        let sets = sets(50, 1_000);
        let a = assign(&shops, &sets);
        assert!(a.shops.values().all(|o| o.assigned.is_some()));
        let max = *a.load.values().max().expect("loads");
        let min = *a.load.values().min().expect("loads");
        #[allow(clippy::cast_precision_loss)]
        let ratio = max as f64 / (10_000.0 / 50.0);
        eprintln!("10,000 shops over 50 ShopSets: max/avg {ratio:.3} (max {max}, min {min})");
        assert!(ratio <= 1.1, "max/avg {ratio} (max {max}, min {min})");
    }

    #[test]
    fn adding_a_shop_set_moves_no_shop_and_new_shops_may_go_there() {
        let first = shops(500);
        let before = sets(5, 1_000);
        let a = assign(&first, &before);
        // Record the result, add a ShopSet and more shops.
        let mut next: BTreeMap<String, ShopRequest<'_>> = first
            .iter()
            .map(|(name, r)| {
                let at = where_(&a, name).expect("assigned");
                (
                    name.clone(),
                    ShopRequest {
                        recorded: Some((at, 0)),
                        ..*r
                    },
                )
            })
            .collect();
        for i in 0..100 {
            next.insert(format!("later-{i:03}"), shop("default", 1));
        }
        let mut after = before.clone();
        after.insert("ss-new".into(), set(1_000));
        let b = assign(&next, &after);
        for name in first.keys() {
            assert_eq!(where_(&a, name), where_(&b, name), "{name} moved");
        }
        assert!(b.load["ss-new"] > 0, "the new ShopSet takes some newcomers");
    }

    #[test]
    fn no_shop_set_goes_over_capacity_and_the_rest_wait() {
        let mut shops = shops(30);
        shops.insert("heavy".into(), shop("default", 5));
        let sets = sets(3, 10);
        let a = assign(&shops, &sets);
        for (name, load) in &a.load {
            assert!(*load <= 10, "{name}: {load}");
        }
        let pending: Vec<_> = a
            .shops
            .iter()
            .filter(|(_, o)| o.assigned.is_none())
            .collect();
        assert!(
            !pending.is_empty(),
            "31 shops of total weight 35 do not fit in 30"
        );
        for (_, o) in pending {
            assert!(
                matches!(&o.problem, Some(Unassigned::PoolExhausted { pool, .. }) if pool == "default"),
                "{o:?}"
            );
        }
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_of_arrival() {
        // The maps are by name: insertion order cannot matter; and one batch is taken in name
        // order, so two runs of the same batch agree.
        let names = ["zeta", "alpha", "mid", "beta", "omega"];
        let mut forward = BTreeMap::new();
        let mut backward = BTreeMap::new();
        for n in names {
            forward.insert(n.to_owned(), shop("default", 2));
        }
        for n in names.iter().rev() {
            backward.insert((*n).to_owned(), shop("default", 2));
        }
        let sets = sets(3, 4);
        assert_eq!(assign(&forward, &sets), assign(&backward, &sets));
    }

    #[test]
    fn dedicated_and_closed_shop_sets_get_no_newcomers() {
        let shops = shops(200);
        let mut sets = sets(3, 1_000);
        sets.insert(
            "big-shop".into(),
            Candidate {
                dedicated_to: Some("big-shop"),
                ..set(1_000)
            },
        );
        sets.insert(
            "closed".into(),
            Candidate {
                accept_new: false,
                ..set(1_000)
            },
        );
        sets.insert(
            "other-pool".into(),
            Candidate {
                pool: "eu",
                ..set(1_000)
            },
        );
        sets.insert(
            "down".into(),
            Candidate {
                ready: false,
                ..set(1_000)
            },
        );
        let a = assign(&shops, &sets);
        for name in ["big-shop", "closed", "other-pool", "down"] {
            assert_eq!(a.load[name], 0, "{name}");
        }
    }

    #[test]
    fn pins_and_isolation_move_a_shop_into_a_shop_set_that_can_take_it() {
        let sets = {
            let mut s = sets(2, 10);
            s.insert(
                "hot".into(),
                Candidate {
                    dedicated_to: Some("hot"),
                    ..set(10)
                },
            );
            s
        };
        let mut shops = BTreeMap::new();
        shops.insert(
            "pinned".to_owned(),
            ShopRequest {
                pin: Some("ss-001"),
                ..shop("default", 1)
            },
        );
        shops.insert(
            "hot".to_owned(),
            ShopRequest {
                isolate: true,
                recorded: Some(("ss-000", 3)),
                ..shop("default", 4)
            },
        );
        shops.insert(
            "lost".to_owned(),
            ShopRequest {
                pin: Some("no-such"),
                ..shop("default", 1)
            },
        );
        shops.insert(
            "intruder".to_owned(),
            ShopRequest {
                pin: Some("hot"),
                ..shop("default", 1)
            },
        );
        let a = assign(&shops, &sets);
        let pinned = a.shops["pinned"].assigned.clone().expect("assigned");
        assert_eq!(
            (pinned.shop_set, pinned.epoch, pinned.by),
            ("ss-001", 0, AssignedBy::Pin)
        );
        let hot = a.shops["hot"].assigned.clone().expect("assigned");
        assert_eq!(
            (hot.shop_set, hot.epoch, hot.by),
            ("hot", 4, AssignedBy::Move)
        );
        assert_eq!(a.load["ss-000"], 0, "the load left with the shop");
        assert_eq!(a.load["hot"], 4);
        assert_eq!(
            a.shops["lost"].problem,
            Some(Unassigned::UnknownShopSet("no-such".into()))
        );
        assert!(
            matches!(&a.shops["intruder"].problem, Some(Unassigned::Refused { why, .. }) if why.contains("dedicated")),
            "{:?}",
            a.shops["intruder"]
        );
    }

    #[test]
    fn a_refused_move_keeps_the_shop_where_it_is() {
        let sets = sets(2, 5);
        let mut shops = BTreeMap::new();
        shops.insert(
            "a".to_owned(),
            ShopRequest {
                recorded: Some(("ss-001", 0)),
                ..shop("default", 5)
            },
        );
        shops.insert(
            "b".to_owned(),
            ShopRequest {
                recorded: Some(("ss-000", 2)),
                pin: Some("ss-001"),
                ..shop("default", 1)
            },
        );
        let a = assign(&shops, &sets);
        let b = a.shops["b"].clone();
        assert_eq!(
            b.assigned.map(|x| (x.shop_set, x.epoch)),
            Some(("ss-000", 2))
        );
        assert!(
            matches!(&b.problem, Some(Unassigned::Refused { why, .. }) if why.contains("over its capacity")),
            "{:?}",
            b.problem
        );
    }

    #[test]
    fn a_bigger_shop_set_takes_more_new_shops() {
        let shops = shops(3_000);
        let mut sets = BTreeMap::new();
        sets.insert("small".to_owned(), set(1_000));
        sets.insert("large".to_owned(), set(3_000));
        let a = assign(&shops, &sets);
        let (small, large) = (a.load["small"], a.load["large"]);
        assert!(large > 2 * small, "small {small}, large {large}");
    }
}
