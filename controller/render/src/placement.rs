//! Deterministic failure-domain placement.
//!
//! Rules, in order: an explicit `failureDomain` wins; a ShopSet placed before stays where it is
//! while that domain exists (so adding a domain moves nobody, and cordoning one moves nobody
//! either); every other ShopSet, taken in name order, goes to the domain, not cordoned, with free
//! capacity whose load after placement, divided by its weight, is lowest (ties: the domain's
//! name). The result depends only on the sets given, never on their order.

use std::collections::BTreeMap;

use shopset_crds::FailureDomainSpec;

/// What placement needs to know of one ShopSet (borrowed: placement runs over every ShopSet
/// on every sync, so it copies no names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementRequest<'a> {
    /// `spec.failureDomain`.
    pub explicit: Option<&'a str>,
    /// The domain it was placed in before, if any.
    pub previous: Option<&'a str>,
}

/// Why a ShopSet could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// `spec.failureDomain` names a domain that does not exist.
    #[error("failure domain {0:?} does not exist")]
    UnknownDomain(String),
    /// Every domain is full or cordoned (or there is none).
    #[error("no failure domain has free capacity ({domains} domains, {cordoned} of them cordoned)")]
    NoCapacity {
        /// How many domains exist.
        domains: usize,
        /// How many of them are cordoned.
        cordoned: usize,
    },
}

/// Where every ShopSet goes, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placements<'a>(Vec<(&'a str, Result<&'a str, PlacementError>)>);

impl<'a> Placements<'a> {
    /// Where `name` goes (`None`: it was not placed).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Result<&'a str, PlacementError>> {
        self.0
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Every ShopSet and where it goes, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &(&'a str, Result<&'a str, PlacementError>)> {
        self.0.iter()
    }
}

/// Places every ShopSet. `requests` are by ShopSet name, in name order (each name once); the
/// result names each one's domain, borrowed from `domains`.
#[must_use]
pub fn place<'a>(
    requests: &[(&'a str, PlacementRequest<'_>)],
    domains: &'a BTreeMap<String, FailureDomainSpec>,
) -> Placements<'a> {
    debug_assert!(
        requests.windows(2).all(|w| w[0].0 < w[1].0),
        "in name order"
    );
    let mut load: BTreeMap<&str, i64> = domains.keys().map(|k| (k.as_str(), 0)).collect();
    let mut out: Vec<Option<Result<&'a str, PlacementError>>> = vec![None; requests.len()];
    let mut pending = Vec::new();
    for (i, &(_, request)) in requests.iter().enumerate() {
        let fixed = match (request.explicit, request.previous) {
            (Some(explicit), _) => Some(explicit),
            (None, Some(previous)) if domains.contains_key(previous) => Some(previous),
            _ => None,
        };
        out[i] = match fixed {
            Some(domain) => Some(match domains.get_key_value(domain) {
                Some((domain, _)) => {
                    *load
                        .get_mut(domain.as_str())
                        .expect("every domain has a load") += 1;
                    Ok(domain.as_str())
                }
                None => Err(PlacementError::UnknownDomain(domain.to_owned())),
            }),
            None => {
                pending.push(i);
                None
            }
        };
    }
    for i in pending {
        let best = domains
            .iter()
            .filter(|(d, spec)| {
                !spec.cordoned && spec.capacity.is_none_or(|cap| load[d.as_str()] < cap)
            })
            .min_by(|(da, a), (db, b)| {
                // (load + 1) / weight compared without division, in i128: a load and a weight
                // of up to i64::MAX each cannot overflow the product.
                let share = |domain: &str, weight: i64| {
                    (i128::from(load[domain]) + 1, i128::from(weight.max(1)))
                };
                let ((la, wa), (lb, wb)) = (share(da, a.weight), share(db, b.weight));
                (la * wb).cmp(&(lb * wa)).then_with(|| da.cmp(db))
            });
        out[i] = Some(match best {
            Some((domain, _)) => {
                *load
                    .get_mut(domain.as_str())
                    .expect("every domain has a load") += 1;
                Ok(domain.as_str())
            }
            None => Err(PlacementError::NoCapacity {
                domains: domains.len(),
                cordoned: domains.values().filter(|d| d.cordoned).count(),
            }),
        });
    }
    Placements(
        requests
            .iter()
            .zip(out)
            .map(|(&(name, _), result)| (name, result.expect("every request is placed")))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopset_crds::Destination;

    fn domain(capacity: Option<i64>, weight: i64) -> FailureDomainSpec {
        FailureDomainSpec {
            destination: Destination {
                name: Some("c".into()),
                server: None,
            },
            labels: BTreeMap::new(),
            capacity,
            weight,
            config: None,
            cordoned: false,
        }
    }

    fn new<'a>(names: &[&'a str]) -> Vec<(&'a str, PlacementRequest<'a>)> {
        let mut names = names.to_vec();
        names.sort_unstable();
        names
            .into_iter()
            .map(|n| {
                (
                    n,
                    PlacementRequest {
                        explicit: None,
                        previous: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn spreads_by_weight_and_respects_capacity() {
        let domains = BTreeMap::from([
            ("a".to_string(), domain(None, 1)),
            ("b".to_string(), domain(None, 3)),
            ("c".to_string(), domain(Some(1), 10)),
        ]);
        let names: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let placed = place(&new(&refs), &domains);
        let count = |d: &str| placed.iter().filter(|(_, r)| *r == Ok(d)).count();
        assert_eq!(count("c"), 1, "capacity 1");
        assert_eq!(count("a") + count("b"), 8);
        assert!(count("b") >= 2 * count("a"), "weight 3 vs 1: {placed:?}");
    }

    #[test]
    fn huge_weights_and_capacities_do_not_overflow() {
        // (load + 1) * weight overflowed i64 (a panic in debug builds, a wrong order in
        // release) for weights the schema refuses but a resource file can hold.
        let domains = BTreeMap::from([
            ("a".to_string(), domain(Some(i64::MAX), i64::MAX)),
            ("b".to_string(), domain(None, i64::MAX - 1)),
            ("c".to_string(), domain(None, i64::MIN)),
        ]);
        let names: Vec<String> = (0..7).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let placed = place(&new(&refs), &domains);
        let count = |d: &str| placed.iter().filter(|(_, r)| *r == Ok(d)).count();
        assert_eq!(count("a") + count("b"), 7, "{placed:?}");
        assert!(count("a") >= 3 && count("b") >= 3, "{placed:?}");
        assert_eq!(count("c"), 0, "a weight below 1 counts as 1: {placed:?}");
    }

    #[test]
    fn adding_a_domain_moves_nobody() {
        let one = BTreeMap::from([("a".to_string(), domain(None, 1))]);
        let first = place(&new(&["x", "y"]), &one);
        let mut requests = new(&["x", "y", "z"]);
        for (name, r) in &mut requests {
            r.previous = first.get(name).and_then(|p| p.clone().ok());
        }
        let two = BTreeMap::from([
            ("a".to_string(), domain(None, 1)),
            ("b".to_string(), domain(None, 1)),
        ]);
        let second = place(&requests, &two);
        assert_eq!(second.get("x"), Some(&Ok("a")));
        assert_eq!(second.get("y"), Some(&Ok("a")));
        assert_eq!(second.get("z"), Some(&Ok("b")));
    }

    #[test]
    fn errors_are_per_shopset() {
        let domains = BTreeMap::from([("a".to_string(), domain(Some(1), 1))]);
        let mut requests = new(&["p", "q"]);
        requests.insert(
            0,
            (
                "e",
                PlacementRequest {
                    explicit: Some("nope"),
                    previous: None,
                },
            ),
        );
        let placed = place(&requests, &domains);
        assert_eq!(
            placed.get("e"),
            Some(&Err(PlacementError::UnknownDomain("nope".into())))
        );
        assert_eq!(placed.get("p"), Some(&Ok("a")));
        assert_eq!(
            placed.get("q"),
            Some(&Err(PlacementError::NoCapacity {
                domains: 1,
                cordoned: 0
            }))
        );
    }

    #[test]
    fn a_cordoned_domain_gets_no_new_shopset_and_keeps_what_it_has() {
        let open = BTreeMap::from([
            ("a".to_string(), domain(None, 1)),
            ("b".to_string(), domain(None, 1)),
        ]);
        let first = place(&new(&["w", "x", "y"]), &open);
        let on_a: Vec<&str> = first
            .iter()
            .filter(|(_, r)| *r == Ok("a"))
            .map(|(n, _)| *n)
            .collect();
        assert!(!on_a.is_empty(), "{first:?}");
        let mut cordoned = open.clone();
        cordoned.get_mut("a").expect("a").cordoned = true;
        let mut requests = new(&["w", "x", "y", "z1", "z2", "z3"]);
        for (name, r) in &mut requests {
            r.previous = first.get(name).and_then(|p| p.clone().ok());
        }
        // One names the cordoned domain itself: an explicit choice is not automatic.
        requests.push((
            "zz",
            PlacementRequest {
                explicit: Some("a"),
                previous: None,
            },
        ));
        let second = place(&requests, &cordoned);
        for name in &on_a {
            assert_eq!(second.get(name), Some(&Ok("a")), "{name} stays");
        }
        for name in ["z1", "z2", "z3"] {
            assert_eq!(second.get(name), Some(&Ok("b")), "{name}");
        }
        assert_eq!(second.get("zz"), Some(&Ok("a")));
        // Every domain cordoned: the error says so.
        cordoned.get_mut("b").expect("b").cordoned = true;
        let third = place(&new(&["n"]), &cordoned);
        let err = third
            .get("n")
            .expect("placed")
            .clone()
            .expect_err("nowhere");
        assert_eq!(
            err.to_string(),
            "no failure domain has free capacity (2 domains, 2 of them cordoned)"
        );
    }
}
