//! Deterministic failure-domain placement.
//!
//! Rules, in order: an explicit `failureDomain` wins; a ShopSet placed before stays where it is
//! while that domain exists (so adding a domain moves nobody); every other ShopSet, taken in name
//! order, goes to the domain with free capacity whose load after placement, divided by its
//! weight, is lowest (ties: the domain's name). The result depends only on the sets given, never
//! on their order.

use std::collections::BTreeMap;

use shopset_crds::FailureDomainSpec;

/// What placement needs to know of one ShopSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRequest {
    /// `spec.failureDomain`.
    pub explicit: Option<String>,
    /// The domain it was placed in before, if any.
    pub previous: Option<String>,
}

/// Why a ShopSet could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// `spec.failureDomain` names a domain that does not exist.
    #[error("failure domain {0:?} does not exist")]
    UnknownDomain(String),
    /// Every domain is full (or there is none).
    #[error("no failure domain has free capacity ({domains} domains)")]
    NoCapacity {
        /// How many domains exist.
        domains: usize,
    },
}

/// Places every ShopSet.
#[must_use]
pub fn place(
    requests: &BTreeMap<String, PlacementRequest>,
    domains: &BTreeMap<String, FailureDomainSpec>,
) -> BTreeMap<String, Result<String, PlacementError>> {
    let mut load: BTreeMap<&str, i64> = domains.keys().map(|k| (k.as_str(), 0)).collect();
    let mut out = BTreeMap::new();
    let mut pending = Vec::new();
    for (name, request) in requests {
        let fixed = match (&request.explicit, &request.previous) {
            (Some(explicit), _) => Some(explicit),
            (None, Some(previous)) if domains.contains_key(previous) => Some(previous),
            _ => None,
        };
        match fixed {
            Some(domain) if domains.contains_key(domain) => {
                *load
                    .get_mut(domain.as_str())
                    .expect("every domain has a load") += 1;
                out.insert(name.clone(), Ok(domain.clone()));
            }
            Some(domain) => {
                out.insert(
                    name.clone(),
                    Err(PlacementError::UnknownDomain(domain.clone())),
                );
            }
            None => pending.push(name),
        }
    }
    for name in pending {
        let best = domains
            .iter()
            .filter(|(d, spec)| spec.capacity.is_none_or(|cap| load[d.as_str()] < cap))
            .min_by(|(da, a), (db, b)| {
                let (la, lb) = (load[da.as_str()] + 1, load[db.as_str()] + 1);
                (la * b.weight.max(1))
                    .cmp(&(lb * a.weight.max(1)))
                    .then_with(|| da.cmp(db))
            });
        let result = match best {
            Some((domain, _)) => {
                *load
                    .get_mut(domain.as_str())
                    .expect("every domain has a load") += 1;
                Ok(domain.clone())
            }
            None => Err(PlacementError::NoCapacity {
                domains: domains.len(),
            }),
        };
        out.insert(name.clone(), result);
    }
    out
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
        }
    }

    fn new(names: &[&str]) -> BTreeMap<String, PlacementRequest> {
        names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
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
        let count = |d: &str| placed.values().filter(|r| r.as_deref() == Ok(d)).count();
        assert_eq!(count("c"), 1, "capacity 1");
        assert_eq!(count("a") + count("b"), 8);
        assert!(count("b") >= 2 * count("a"), "weight 3 vs 1: {placed:?}");
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
        assert_eq!(second["x"], Ok("a".to_string()));
        assert_eq!(second["y"], Ok("a".to_string()));
        assert_eq!(second["z"], Ok("b".to_string()));
    }

    #[test]
    fn errors_are_per_shopset() {
        let domains = BTreeMap::from([("a".to_string(), domain(Some(1), 1))]);
        let mut requests = new(&["p", "q"]);
        requests.insert(
            "e".into(),
            PlacementRequest {
                explicit: Some("nope".into()),
                previous: None,
            },
        );
        let placed = place(&requests, &domains);
        assert_eq!(
            placed["e"],
            Err(PlacementError::UnknownDomain("nope".into()))
        );
        assert_eq!(placed["p"], Ok("a".to_string()));
        assert_eq!(placed["q"], Err(PlacementError::NoCapacity { domains: 1 }));
    }
}
