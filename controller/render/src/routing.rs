//! The routing table: which ShopSet serves each shop, as data an edge router loads into memory
//! (DESIGN: shops). The edge holds one upstream per ShopSet, never one route object per shop:
//! a route object per shop does not scale (HTTPRoute caps, ingress-nginx reloads of minutes at
//! 100,000 hosts), a table of 100,000 rows is a few megabytes.
//!
//! Files, under `routing/` of each tier branch (only that tier's shops):
//! - `shops.yaml`: `shops: {<shop>: {shopSet, epoch, hosts}}`, in name order; above
//!   [`MAX_TABLE_BYTES`] split into `shops-<xx>.yaml` by the hash prefix of the shop's name
//!   ([`crate::layout::shard`]), so each generated ConfigMap stays far below Kubernetes' 1 MiB;
//! - `shopsets.yaml`: `shopSets: {<shopSet>: {failureDomain, upstream, shift}}` (`shift`,
//!   during a migration only: `{failureDomain, weight}`, the percentage of the ShopSet's
//!   requests for its side on that failure domain);
//! - `kustomization.yaml`: one ConfigMap per file, named `shopset-routing-<tier>-<file>` and
//!   labelled `shopset.dev/routing-tier: <tier>`, so the tables of every tier (and preview)
//!   sit side by side in the edge's namespace (no name hash: a mounted ConfigMap must keep its
//!   name to be updated in place).
//!
//! The router contract: load every table file of every tier; a shop found in two tiers' tables
//! (a move across tiers) goes to the row with the higher epoch; forward to that ShopSet's
//! upstream. [`nginx_map`] is a reference consumer: the same table as an nginx `map`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::yaml;

/// The directory of the routing table in a tier branch.
pub const DIR: &str = "routing";

/// The label on every table ConfigMap, naming its tier: what an edge selects them by.
pub const TIER_LABEL: &str = "shopset.dev/routing-tier";

/// A table file larger than this is split into 256 shards.
pub const MAX_TABLE_BYTES: usize = 256 * 1024;

/// One shop's row.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ShopRoute {
    /// The ShopSet that serves it.
    pub shop_set: String,
    /// One more for each move: of two rows for one shop, the higher epoch wins.
    pub epoch: u64,
    /// Its hosts, the primary one first.
    pub hosts: Vec<String>,
}

/// One ShopSet's row.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ShopSetRoute {
    /// Its failure domain.
    pub failure_domain: String,
    /// Where the edge forwards its shops' requests (`http://host:port`); absent, the router
    /// must know it by other means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// During a migration (DESIGN: migration): the share of its requests that go to its side
    /// on another failure domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<Shift>,
}

/// A share of a ShopSet's requests sent to its side on another failure domain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    /// The failure domain of that side.
    pub failure_domain: String,
    /// The share, in percent.
    pub weight: u32,
}

/// The routing files of a tier's inputs, and the routing Application when the Tier names its
/// edge (`spec.routing`): none when its ShopSets serve no shop.
#[must_use]
pub fn from_inputs(inputs: &crate::TierInputs) -> Vec<(String, Vec<u8>)> {
    from_inputs_with(inputs, None)
}

/// [`from_inputs`]; with `touched`, of a sharded table only the shards named (by hash prefix:
/// the others are known to be unchanged). A table of one file is always written whole.
#[must_use]
pub fn from_inputs_with(
    inputs: &crate::TierInputs,
    touched: Option<&BTreeSet<String>>,
) -> Vec<(String, Vec<u8>)> {
    if inputs.shops.is_empty() {
        return Vec::new();
    }
    let tables = match touched {
        // A sharded table, a few shards written: only their rows are gathered.
        Some(touched) if sharded(inputs) => touched_tables(inputs, touched),
        _ => shop_tables(
            &route_refs(
                inputs
                    .shops
                    .iter()
                    .map(|(n, s)| (n, s.epoch, s.hosts.as_slice(), s.shop_set.as_str())),
            ),
            touched,
        ),
    };
    let shop_sets = inputs
        .shop_sets
        .iter()
        .map(|(name, s)| {
            use shopset_crds::SidePhase;
            // A migration moves the row at its handover; before that, the new side may take
            // a share of the requests.
            let (failure_domain, shift) = match &s.migrating {
                Some(m) if matches!(m.phase, SidePhase::Handover | SidePhase::Switched) => {
                    (m.to.clone(), None)
                }
                Some(m) if m.phase == SidePhase::Traffic => (
                    s.failure_domain.clone(),
                    m.weight.map(|weight| Shift {
                        failure_domain: m.to.clone(),
                        weight,
                    }),
                ),
                _ => (s.failure_domain.clone(), None),
            };
            (
                name.clone(),
                ShopSetRoute {
                    failure_domain,
                    upstream: s.spec.shops.as_ref().and_then(|x| x.upstream.clone()),
                    shift,
                },
            )
        })
        .collect();
    let mut out = with_shop_sets(&inputs.tier.name, tables, &shop_sets);
    if let Some(app) = crate::argo::routing_application(inputs) {
        out.push((
            routing_application_path(),
            yaml::to_string(&app).into_bytes(),
        ));
    }
    out
}

fn routing_application_path() -> String {
    format!(
        "{}/{}",
        crate::layout::APPLICATIONS,
        crate::argo::ROUTING_APPLICATION_FILE
    )
}

/// Whether the shop table of `inputs` is written in shards.
#[must_use]
pub fn sharded(inputs: &crate::TierInputs) -> bool {
    is_sharded(
        inputs
            .shops
            .iter()
            .map(|(n, r)| row_bytes(n, &r.shop_set, &r.hosts)),
    )
}

/// The paths [`from_inputs`] writes, without writing them.
#[must_use]
pub fn paths(inputs: &crate::TierInputs) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if inputs.shops.is_empty() {
        return out;
    }
    if sharded(inputs) {
        out.extend(
            crate::layout::shards_of(inputs.shops.keys().map(String::as_str))
                .into_iter()
                .map(|shard| format!("{DIR}/shops-{shard}.yaml")),
        );
    } else {
        out.insert(format!("{DIR}/shops.yaml"));
    }
    out.insert(format!("{DIR}/shopsets.yaml"));
    out.insert(format!("{DIR}/kustomization.yaml"));
    if crate::argo::routing_application(inputs).is_some() {
        out.insert(routing_application_path());
    }
    out
}

/// A shop's row, borrowed from the inputs (the same shape as [`ShopRoute`]).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteRef<'a> {
    epoch: u64,
    hosts: &'a [String],
    shop_set: &'a str,
}

/// Rows `(shop, epoch, hosts, ShopSet)`, borrowed, by shop.
fn route_refs<'a>(
    rows: impl Iterator<Item = (&'a String, u64, &'a [String], &'a str)>,
) -> BTreeMap<&'a str, RouteRef<'a>> {
    rows.map(|(name, epoch, hosts, shop_set)| {
        (
            name.as_str(),
            RouteRef {
                epoch,
                hosts,
                shop_set,
            },
        )
    })
    .collect()
}

/// About how many bytes a row takes in the YAML table; used only to decide whether to shard.
fn row_bytes(name: &str, shop_set: &str, hosts: &[String]) -> usize {
    name.len() + shop_set.len() + 45 + hosts.iter().map(|h| h.len() + 7).sum::<usize>()
}

/// Whether rows of these sizes make a table larger than [`MAX_TABLE_BYTES`].
fn is_sharded(sizes: impl IntoIterator<Item = usize>) -> bool {
    let mut total = 0;
    for size in sizes {
        total += size;
        if total > MAX_TABLE_BYTES {
            return true;
        }
    }
    false
}

/// The table files of one tier: `(path, bytes)`, in path order.
#[must_use]
pub fn files(
    tier: &str,
    shops: &BTreeMap<String, ShopRoute>,
    shop_sets: &BTreeMap<String, ShopSetRoute>,
) -> Vec<(String, Vec<u8>)> {
    let shops = route_refs(
        shops
            .iter()
            .map(|(n, s)| (n, s.epoch, s.hosts.as_slice(), s.shop_set.as_str())),
    );
    with_shop_sets(tier, shop_tables(&shops, None), shop_sets)
}

/// The shop tables, with `shopsets.yaml` and the kustomization that lists every table file.
fn with_shop_sets(
    tier: &str,
    tables: Tables,
    shop_sets: &BTreeMap<String, ShopSetRoute>,
) -> Vec<(String, Vec<u8>)> {
    let mut out = tables.written;
    out.push((
        format!("{DIR}/shopsets.yaml"),
        yaml::to_string(&json!({ "shopSets": shop_sets })).into_bytes(),
    ));
    let mut names: Vec<String> = tables.names;
    names.push("shopsets.yaml".to_owned());
    names.sort();
    let generators: Vec<Value> = names
        .iter()
        .map(|file| {
            let stem = file.trim_end_matches(".yaml");
            json!({ "name": format!("shopset-routing-{tier}-{stem}"), "files": [file] })
        })
        .collect();
    out.push((
        format!("{DIR}/kustomization.yaml"),
        yaml::to_string(&json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "generatorOptions": {
                "disableNameSuffixHash": true,
                "labels": { TIER_LABEL: tier },
            },
            "configMapGenerator": generators,
        }))
        .into_bytes(),
    ));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// [`shop_tables`] of a sharded table, writing the `touched` shards only: one walk of the rows
/// that hashes each name and gathers only the rows of those shards.
fn touched_tables(inputs: &crate::TierInputs, touched: &BTreeSet<String>) -> Tables {
    let mask = crate::layout::shard_mask(touched);
    let mut seen = [false; 256];
    let mut shards: BTreeMap<u8, BTreeMap<&str, RouteRef<'_>>> = BTreeMap::new();
    for (name, row) in &inputs.shops {
        let shard = crate::layout::shard_index(name);
        seen[usize::from(shard)] = true;
        if mask[usize::from(shard)] {
            shards.entry(shard).or_default().insert(
                name,
                RouteRef {
                    epoch: row.epoch,
                    hosts: &row.hosts,
                    shop_set: &row.shop_set,
                },
            );
        }
    }
    Tables::of_shards(shards, &seen)
}

/// The shop table files written, and the names (in `routing/`) of every table file.
struct Tables {
    written: Vec<(String, Vec<u8>)>,
    names: Vec<String>,
}

impl Tables {
    /// The files of the shards gathered, and the names of every shard `seen`.
    fn of_shards<R: Serialize>(
        shards: BTreeMap<u8, BTreeMap<&str, R>>,
        seen: &[bool; 256],
    ) -> Self {
        Self {
            written: shards
                .into_iter()
                .map(|(shard, rows)| {
                    (
                        format!("{DIR}/shops-{shard:02x}.yaml"),
                        yaml::to_string(&json!({ "shops": rows })).into_bytes(),
                    )
                })
                .collect(),
            names: (0..=u8::MAX)
                .filter(|s| seen[usize::from(*s)])
                .map(|s| format!("shops-{s:02x}.yaml"))
                .collect(),
        }
    }
}

/// `shops.yaml`, or its shards when it would be larger than [`MAX_TABLE_BYTES`] (estimated
/// from the rows); of the shards only those in `touched`, when given.
fn shop_tables(shops: &BTreeMap<&str, RouteRef<'_>>, touched: Option<&BTreeSet<String>>) -> Tables {
    let sharded = is_sharded(shops.iter().map(|(n, r)| row_bytes(n, r.shop_set, r.hosts)));
    if !sharded {
        return Tables {
            written: vec![(
                format!("{DIR}/shops.yaml"),
                yaml::to_string(&json!({ "shops": shops })).into_bytes(),
            )],
            names: vec!["shops.yaml".to_owned()],
        };
    }
    // The same two-hex-digit hash prefix as the ShopSet directories.
    let touched = touched.map(crate::layout::shard_mask);
    let mut shards: BTreeMap<u8, BTreeMap<&str, &RouteRef<'_>>> = BTreeMap::new();
    let mut seen = [false; 256];
    for (name, row) in shops {
        let shard = crate::layout::shard_index(name);
        if touched.is_none_or(|t| t[usize::from(shard)]) {
            shards.entry(shard).or_default().insert(name, row);
        }
        seen[usize::from(shard)] = true;
    }
    Tables::of_shards(shards, &seen)
}

/// A routing table as a router holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// By shop.
    pub shops: BTreeMap<String, ShopRoute>,
    /// By ShopSet.
    pub shop_sets: BTreeMap<String, ShopSetRoute>,
}

/// Reads the table files of any number of tiers, as a router does: every row of every
/// `shops*.yaml`, the higher epoch winning for a shop found twice; and every ShopSet row.
///
/// # Errors
/// A file that is not a table, named.
pub fn load<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Table, String> {
    let mut shops: BTreeMap<String, ShopRoute> = BTreeMap::new();
    let mut shop_sets = BTreeMap::new();
    for (path, bytes) in files {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: expected UTF-8"))?;
        let value = yaml::parse(text).map_err(|e| format!("{path}: {e}"))?;
        let file = path.rsplit('/').next().unwrap_or(path);
        if file == "shops.yaml" || file.starts_with("shops-") {
            let rows: BTreeMap<String, ShopRoute> = serde_json::from_value(value["shops"].clone())
                .map_err(|e| format!("{path}: shops: {e}"))?;
            for (name, row) in rows {
                match shops.get(&name) {
                    Some(seen) if seen.epoch >= row.epoch => {}
                    _ => {
                        shops.insert(name, row);
                    }
                }
            }
        } else if file == "shopsets.yaml" {
            let rows: BTreeMap<String, ShopSetRoute> =
                serde_json::from_value(value["shopSets"].clone())
                    .map_err(|e| format!("{path}: shopSets: {e}"))?;
            shop_sets.extend(rows);
        }
    }
    Ok(Table { shops, shop_sets })
}

/// The reference consumer: an nginx `map` from host to upstream, for `proxy_pass` (include it
/// in the `http` block; unknown hosts map to the empty string, to be refused). A second map
/// names the ShopSet, for an `X-ShopSet` header.
#[must_use]
pub fn nginx_map(
    shops: &BTreeMap<String, ShopRoute>,
    shop_sets: &BTreeMap<String, ShopSetRoute>,
) -> String {
    let mut upstream =
        String::from("map $host $shopset_upstream {\n    hostnames;\n    default \"\";\n");
    let mut name = String::from("map $host $shopset_name {\n    hostnames;\n    default \"\";\n");
    let mut rows: Vec<(&str, &str, &str)> = Vec::new();
    for route in shops.values() {
        let Some(upstream) = shop_sets
            .get(&route.shop_set)
            .and_then(|s| s.upstream.as_deref())
        else {
            continue;
        };
        for host in &route.hosts {
            rows.push((host, upstream, &route.shop_set));
        }
    }
    rows.sort_unstable();
    for (host, to, shop_set) in rows {
        // Hosts and ShopSet names are checked DNS names; an upstream is quoted.
        upstream.push_str(&format!(
            "    {host} \"{}\";\n",
            to.replace(['"', '\\'], "")
        ));
        name.push_str(&format!("    {host} {shop_set};\n"));
    }
    upstream.push_str("}\n");
    name.push_str("}\n");
    upstream + &name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(shop_set: &str, epoch: u64, hosts: &[&str]) -> ShopRoute {
        ShopRoute {
            shop_set: shop_set.into(),
            epoch,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    fn sets() -> BTreeMap<String, ShopSetRoute> {
        ["ss-a", "ss-b"]
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    ShopSetRoute {
                        failure_domain: "eu-1".into(),
                        upstream: Some(format!("http://{n}.internal:8080")),
                        shift: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_small_table_is_one_file_with_its_config_maps() {
        let shops = BTreeMap::from([
            (
                "acme".to_owned(),
                row("ss-a", 0, &["acme.example.com", "www.acme.shop"]),
            ),
            ("bolt".to_owned(), row("ss-b", 2, &["bolt.example.com"])),
        ]);
        let files = files("tier-0", &shops, &sets());
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "routing/kustomization.yaml",
                "routing/shops.yaml",
                "routing/shopsets.yaml"
            ]
        );
        let kustomization = String::from_utf8(files[0].1.clone()).expect("UTF-8");
        assert!(
            kustomization.contains("name: shopset-routing-tier-0-shops\n"),
            "{kustomization}"
        );
        assert!(
            kustomization.contains("shopset.dev/routing-tier: tier-0"),
            "{kustomization}"
        );
        assert!(
            kustomization.contains("disableNameSuffixHash: true"),
            "{kustomization}"
        );
        let read = load(files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))).expect("loads");
        assert_eq!(read.shops, shops, "the table reads back as written");
        assert_eq!(read.shop_sets, sets());
    }

    #[test]
    fn a_large_table_is_sharded_and_every_shard_is_small() {
        let shops: BTreeMap<String, ShopRoute> = (0..20_000)
            .map(|i| {
                let name = format!("shop-{i:05}");
                let host = format!("{name}.example.com");
                (name, row("ss-a", 0, &[&host]))
            })
            .collect();
        let files = files("tier-0", &shops, &sets());
        let tables: Vec<&(String, Vec<u8>)> = files
            .iter()
            .filter(|(p, _)| p.starts_with("routing/shops-"))
            .collect();
        assert!(tables.len() > 100, "{} shards", tables.len());
        let largest = tables.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
        assert!(largest < MAX_TABLE_BYTES, "largest shard {largest} bytes");
        let read = load(files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))).expect("loads");
        assert_eq!(read.shops, shops, "the shards together are the table");
    }

    #[test]
    fn of_two_rows_for_one_shop_the_higher_epoch_wins() {
        let old = BTreeMap::from([("acme".to_owned(), row("ss-a", 1, &["acme.example.com"]))]);
        let new = BTreeMap::from([("acme".to_owned(), row("ss-b", 2, &["acme.example.com"]))]);
        let a = files("tier-0", &old, &sets());
        let b = files("tier-0", &new, &sets());
        for order in [[&a, &b], [&b, &a]] {
            let all = order
                .iter()
                .flat_map(|f| f.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
            let table = load(all).expect("loads");
            assert_eq!(table.shops["acme"].shop_set, "ss-b");
        }
    }

    #[test]
    fn the_nginx_map_sends_every_host_to_its_shop_sets_upstream() {
        let shops = BTreeMap::from([
            (
                "acme".to_owned(),
                row("ss-a", 0, &["acme.example.com", "www.acme.shop"]),
            ),
            ("lost".to_owned(), row("ss-gone", 0, &["lost.example.com"])),
        ]);
        let map = nginx_map(&shops, &sets());
        assert!(
            map.contains("    acme.example.com \"http://ss-a.internal:8080\";\n"),
            "{map}"
        );
        assert!(map.contains("    www.acme.shop ss-a;\n"), "{map}");
        assert!(
            !map.contains("lost.example.com"),
            "a ShopSet without a row has no route"
        );
    }
}
