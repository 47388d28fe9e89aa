//! Checks across resources, made before anything is rendered: what two resources claim
//! together (a branch of a system repository, a namespace on a destination, an Application
//! name) and the promotion chain. Each finding names the file, the resource and the field. A
//! resource that fails a check is not rendered and keeps its last rendering: a conflict can
//! never move or remove anything.

use std::collections::{BTreeMap, BTreeSet};

use shopset_crds::{Destination, names};
use shopset_render::TierInputs;

use crate::problem::Problem;
use crate::resources::Resources;

/// What the Tier checks found: the Tiers that must not be written, and why.
#[derive(Debug, Default)]
pub struct TierFindings {
    /// Tiers in conflict or with a broken promotion chain: not planned this time.
    pub excluded: BTreeSet<String>,
    /// One per finding, each about its Tier.
    pub problems: Vec<Problem>,
}

/// A repository URL as compared for sameness: scheme and host in lower case, no trailing
/// `/` or `.git`.
fn same_repository_key(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            format!(
                "{}://{}/{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_owned(),
    }
}

/// Tier checks: two Tiers writing one branch of one system repository, a `promotesFrom`
/// naming a Tier that is not there, and promotion cycles.
#[must_use]
pub fn tiers(resources: &Resources) -> TierFindings {
    let mut found = TierFindings::default();
    let mut writers: BTreeMap<(String, &str), Vec<&str>> = BTreeMap::new();
    for (name, tier) in &resources.tiers {
        writers
            .entry((
                same_repository_key(&tier.spec.system.url),
                tier.spec.branch_or(name),
            ))
            .or_default()
            .push(name);
    }
    for ((_, branch), tiers) in writers.iter().filter(|(_, t)| t.len() > 1) {
        for name in tiers {
            let others: Vec<&str> = tiers.iter().copied().filter(|t| t != name).collect();
            let tier = &resources.tiers[*name];
            found.problems.push(
                Problem::of(
                    "Tier",
                    name,
                    "spec.branch",
                    format!(
                        "branch {branch:?} of {} is also written by Tier {}: none of them is \
                         written until each has a branch of its own",
                        shopset_git::redact_url(&tier.spec.system.url),
                        quoted(&others),
                    ),
                )
                .in_file(&tier.file),
            );
            found.excluded.insert((*name).to_owned());
        }
    }
    for (name, tier) in &resources.tiers {
        let Some(from) = &tier.spec.promotes_from else {
            continue;
        };
        if !resources.tiers.contains_key(from) {
            if resources.is_invalid("Tier", from) {
                // Its own error says it all; this Tier is not in error and goes on.
                continue;
            }
            let why = "does not exist";
            found.problems.push(
                Problem::of(
                    "Tier",
                    name,
                    "spec.promotesFrom",
                    format!(
                        "Tier {from:?} {why}; expected the Tier this one receives promotions from"
                    ),
                )
                .in_file(&tier.file),
            );
            found.excluded.insert(name.clone());
            continue;
        }
        // Follow the chain down; coming back to `name` is a cycle.
        let mut chain = vec![name.as_str()];
        let mut at = from.as_str();
        while let Some(next) = resources.tiers.get(at) {
            if at == name {
                chain.push(at);
                found.problems.push(
                    Problem::of(
                        "Tier",
                        name,
                        "spec.promotesFrom",
                        format!(
                            "promotion cycle {}; expected a chain that starts at a Tier without \
                             promotesFrom",
                            chain.join(" <- ")
                        ),
                    )
                    .in_file(&tier.file),
                );
                found.excluded.insert(name.clone());
                break;
            }
            if chain.contains(&at) || chain.len() > resources.tiers.len() {
                break; // a cycle further down, reported for its own members
            }
            chain.push(at);
            match &next.spec.promotes_from {
                Some(down) => at = down,
                None => break,
            }
        }
    }
    found
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a ShopSet's workloads go: its destination and namespace.
fn workload_key(destination: &Destination, namespace: &str) -> String {
    match (&destination.name, &destination.server) {
        (Some(name), _) => format!("cluster {name:?}, namespace {namespace:?}"),
        (None, Some(server)) => format!("server {server}, namespace {namespace:?}"),
        (None, None) => format!("namespace {namespace:?}"),
    }
}

/// ShopSet checks, after placement: two ShopSets whose workloads would share a namespace on
/// one destination (two Applications owning the same objects), and a ShopSet whose
/// Application would be named like a Tier's root Application. Returns, per ShopSet refused,
/// why. Of two ShopSets claiming one namespace, the one already rendered there keeps it.
#[must_use]
pub fn shop_sets(
    resources: &Resources,
    placed: &BTreeMap<&str, &str>,
    previous: &BTreeMap<String, std::sync::Arc<TierInputs>>,
) -> BTreeMap<String, Problem> {
    let mut refused = BTreeMap::new();
    let mut claims: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, s) in &resources.shop_sets {
        let (Some(domain), Some(_)) =
            (placed.get(name.as_str()), resources.tiers.get(&s.spec.tier))
        else {
            continue;
        };
        let Some(fd) = resources.failure_domains.get(*domain) else {
            continue;
        };
        let namespace = s.spec.namespace.as_deref().unwrap_or(name);
        claims
            .entry(workload_key(&fd.spec.destination, namespace))
            .or_default()
            .push(name);
    }
    let rendered_at = |name: &str| -> Option<String> {
        previous.values().find_map(|inputs| {
            let entry = inputs.shop_sets.get(name)?;
            let fd = inputs.failure_domains.get(&entry.failure_domain)?;
            Some(workload_key(
                &fd.destination,
                entry.spec.namespace.as_deref().unwrap_or(name),
            ))
        })
    };
    for (key, names) in claims.iter().filter(|(_, n)| n.len() > 1) {
        let incumbents: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| rendered_at(n).as_ref() == Some(key))
            .collect();
        let keeper = (incumbents.len() == 1).then(|| incumbents[0]);
        for name in names.iter().filter(|n| Some(**n) != keeper) {
            let others: Vec<&str> = names.iter().copied().filter(|n| n != name).collect();
            let file = &resources.shop_sets[*name].file;
            let field = if resources.shop_sets[*name].spec.namespace.is_some() {
                "spec.namespace"
            } else {
                "metadata.name"
            };
            refused.insert(
                (*name).to_owned(),
                Problem::of(
                    "ShopSet",
                    name,
                    field,
                    format!(
                        "{key} is also the place of ShopSet {}: two Applications would own the \
                         same objects; expected a namespace of its own on that destination",
                        quoted(&others)
                    ),
                )
                .in_file(file),
            );
        }
    }
    // Root Applications are `shopset-<tier>` in their tier's Argo CD namespace.
    let roots: BTreeMap<(String, &str), &str> = resources
        .tiers
        .iter()
        .map(|(tier, t)| {
            (
                (
                    format!("{}{tier}", names::ROOT_APPLICATION_PREFIX),
                    t.spec.argocd.namespace.as_str(),
                ),
                tier.as_str(),
            )
        })
        .collect();
    for (name, s) in &resources.shop_sets {
        let Some(tier) = resources.tiers.get(&s.spec.tier) else {
            continue;
        };
        if let Some(root_of) = roots.get(&(name.clone(), tier.spec.argocd.namespace.as_str())) {
            refused.insert(
                name.clone(),
                Problem::of(
                    "ShopSet",
                    name,
                    "metadata.name",
                    format!(
                        "{name:?} is the name of Tier {root_of:?}'s root Application in namespace \
                         {:?}; expected another name",
                        tier.spec.argocd.namespace
                    ),
                )
                .in_file(&s.file),
            );
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(text: &str) -> Resources {
        let mut r = Resources::default();
        r.add_text("r.yaml", text);
        r
    }

    const TIER: &str = "apiVersion: shopset.dev/v1alpha1\nkind: Tier\n";

    #[test]
    fn two_tiers_on_one_branch_are_both_excluded() {
        let r = resources(&format!(
            "{TIER}metadata: {{name: a}}\nspec: {{branch: main, app: {{url: /app}}, system: {{url: https://Git.example/s.git}}}}\n---\n\
             {TIER}metadata: {{name: b}}\nspec: {{branch: main, app: {{url: /app}}, system: {{url: https://git.example/s}}}}\n---\n\
             {TIER}metadata: {{name: c}}\nspec: {{app: {{url: /app}}, system: {{url: https://git.example/s}}}}\n"
        ));
        let found = tiers(&r);
        assert_eq!(
            found.excluded,
            BTreeSet::from(["a".to_owned(), "b".to_owned()])
        );
        assert!(
            found.problems[0].field.as_deref() == Some("spec.branch")
                && found.problems[0].is_about("Tier", "a"),
            "{:?}",
            found.problems
        );
    }

    #[test]
    fn missing_sources_and_cycles_are_found() {
        let r = resources(&format!(
            "{TIER}metadata: {{name: a}}\nspec: {{promotesFrom: b, app: {{url: /app}}, system: {{url: /s}}}}\n---\n\
             {TIER}metadata: {{name: b}}\nspec: {{promotesFrom: a, app: {{url: /app}}, system: {{url: /s}}}}\n---\n\
             {TIER}metadata: {{name: c}}\nspec: {{promotesFrom: gone, app: {{url: /app}}, system: {{url: /s}}}}\n---\n\
             {TIER}metadata: {{name: d}}\nspec: {{promotesFrom: a, app: {{url: /app}}, system: {{url: /s}}}}\n"
        ));
        let found = tiers(&r);
        assert_eq!(
            found.excluded,
            BTreeSet::from(["a".to_owned(), "b".to_owned(), "c".to_owned()]),
            "{:?}",
            found.problems
        );
        assert!(
            found
                .problems
                .iter()
                .any(|p| p.message.contains("promotion cycle a <- b <- a")),
            "{:?}",
            found.problems
        );
        assert!(
            found
                .problems
                .iter()
                .any(|p| p.is_about("Tier", "c")
                    && p.message.contains("Tier \"gone\" does not exist")),
            "{:?}",
            found.problems
        );
    }
}
