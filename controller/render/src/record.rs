//! How a tier branch records its inputs, and how they are read back.
//!
//! `.shopset/inputs.yaml` holds everything [`crate::render_tier`] reads. A tier with many
//! shops would make it megabytes, so above [`MAX_ROWS_BYTES`] of shop rows (estimated from the
//! rows, not by writing them) the rows move to `.shopset/shops-<xx>.yaml`, one file per hash
//! prefix of the shop's name ([`crate::layout::shard`]: the prefix of the ShopSet directories
//! and of the routing table's shards), and `inputs.yaml` lists those prefixes (`shopShards`).
//! No recorded file then passes a few hundred KiB at 100,000 shops, and a change to one shop
//! rewrites one small file. Below the limit the rows stay in `inputs.yaml`, byte for byte as
//! before sharding existed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::inputs::{
    AssignedShop, NamedTier, PlacedShopSet, ResolvedConfiguration, ShopRows, ShopSetEntries,
};
use crate::{TierInputs, layout};

/// Shop rows estimated larger than this are recorded in shards.
pub const MAX_ROWS_BYTES: usize = 256 * 1024;

/// The file of one shard of shop rows.
#[must_use]
pub fn shop_file(shard: &str) -> String {
    format!(".shopset/shops-{shard}.yaml")
}

/// About how many bytes a row takes in the recorded JSON (indentation, keys and punctuation
/// included); used only to decide whether to shard, so it need not be exact.
fn row_bytes(name: &str, row: &AssignedShop) -> usize {
    let moving = [&row.warming, &row.draining]
        .into_iter()
        .flatten()
        .map(|s| s.len() + 20)
        .sum::<usize>();
    name.len()
        + row.shop_set.len()
        + 110
        + row.hosts.iter().map(|h| h.len() + 12).sum::<usize>()
        + moving
}

/// Whether the rows of `inputs` are recorded in shards.
#[must_use]
pub fn sharded(inputs: &TierInputs) -> bool {
    let mut total = 0;
    for (name, row) in &inputs.shops {
        total += row_bytes(name, row);
        if total > MAX_ROWS_BYTES {
            return true;
        }
    }
    false
}

/// A tier of more ShopSets than this records them in shards (at about 300 bytes an entry,
/// `inputs.yaml` stays under about 150 KiB).
pub const MAX_INLINE_SHOP_SETS: usize = 512;

/// The file of one shard of ShopSets.
#[must_use]
pub fn shop_set_file(shard: &str) -> String {
    format!(".shopset/shopsets-{shard}.yaml")
}

/// Whether the ShopSets of `inputs` are recorded in shards.
#[must_use]
pub fn shop_sets_sharded(inputs: &TierInputs) -> bool {
    inputs.shop_sets.len() > MAX_INLINE_SHOP_SETS
}

/// The paths that record `inputs`, without writing them.
#[must_use]
pub fn paths(inputs: &TierInputs) -> BTreeSet<String> {
    let mut out = BTreeSet::from([layout::INPUTS.to_owned()]);
    if sharded(inputs) {
        let shards = layout::shards_of(inputs.shops.keys().map(String::as_str));
        out.extend(shards.iter().map(|s| shop_file(s)));
    }
    if shop_sets_sharded(inputs) {
        let shards = layout::shards_of(inputs.shop_sets.keys().map(String::as_str));
        out.extend(shards.iter().map(|s| shop_set_file(s)));
    }
    out
}

/// `inputs.yaml` when the rows or the ShopSets are in shards: the same fields in the same
/// order, without what is in shards, with the lists of shards.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    api_version: &'a str,
    kind: &'a str,
    tier: &'a NamedTier,
    app_commit: &'a str,
    configurations: &'a BTreeMap<String, ResolvedConfiguration>,
    failure_domains: &'a BTreeMap<String, shopset_crds::FailureDomainSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shop_sets: Option<&'a ShopSetEntries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shops: Option<&'a ShopRows>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shop_shards: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shop_set_shards: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview: Option<&'a crate::inputs::PreviewOf>,
}

/// One shard's file of shop rows.
#[derive(Serialize)]
struct Rows<'a> {
    shops: BTreeMap<&'a String, &'a AssignedShop>,
}

/// One shard's file of ShopSets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entries<'a> {
    shop_sets: BTreeMap<&'a String, &'a PlacedShopSet>,
}

/// Which shards of a tier's record to write again (`None`: all of them).
#[derive(Clone, Copy, Debug, Default)]
pub struct TouchedShards<'a> {
    /// Of the shop rows.
    pub shops: Option<&'a BTreeSet<String>>,
    /// Of the ShopSets.
    pub shop_sets: Option<&'a BTreeSet<String>>,
}

/// The entries of `map` in the shards `touched` names (all without it), grouped by shard.
fn by_shard<'a, V>(
    map: &'a BTreeMap<String, V>,
    touched: Option<&BTreeSet<String>>,
) -> BTreeMap<u8, BTreeMap<&'a String, &'a V>> {
    let mut out: BTreeMap<u8, BTreeMap<&String, &V>> = BTreeMap::new();
    let mut add = |name: &'a String, value: &'a V| {
        out.entry(layout::shard_index(name))
            .or_default()
            .insert(name, value);
    };
    match touched {
        // One hash a name (about a millisecond at 33,000 names), no file written but the
        // touched ones.
        Some(t) => {
            let mask = layout::shard_mask(t);
            for (name, value) in map {
                if mask[usize::from(layout::shard_index(name))] {
                    add(name, value);
                }
            }
        }
        None => {
            for (name, value) in map {
                add(name, value);
            }
        }
    }
    out
}

/// The files that record `inputs`, `(path, text)` in path order. Of the shards, only those
/// `touched` names (the others are known to be unchanged); `inputs.yaml` always.
#[must_use]
pub fn files(inputs: &TierInputs, touched: TouchedShards<'_>) -> Vec<(String, String)> {
    let (rows_sharded, sets_sharded) = (sharded(inputs), shop_sets_sharded(inputs));
    if !rows_sharded && !sets_sharded {
        return vec![(layout::INPUTS.to_owned(), crate::inputs_yaml(inputs))];
    }
    let shop_shards = if rows_sharded {
        layout::shards_of(inputs.shops.keys().map(String::as_str))
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    let shop_set_shards = if sets_sharded {
        layout::shards_of(inputs.shop_sets.keys().map(String::as_str))
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    let head = Head {
        api_version: &inputs.api_version,
        kind: &inputs.kind,
        tier: &inputs.tier,
        app_commit: &inputs.app_commit,
        configurations: &inputs.configurations,
        failure_domains: &inputs.failure_domains,
        shop_sets: (!sets_sharded).then_some(&inputs.shop_sets),
        shops: (!rows_sharded && !inputs.shops.is_empty()).then_some(&inputs.shops),
        shop_shards,
        shop_set_shards,
        preview: inputs.preview.as_ref(),
    };
    let inline = if sets_sharded {
        0
    } else {
        inputs.shop_sets.len()
    };
    let mut out = vec![(
        layout::INPUTS.to_owned(),
        crate::json_text(&head, 4096 + 256 * inline),
    )];
    if rows_sharded {
        for (shard, rows) in by_shard(&inputs.shops, touched.shops) {
            let rows = Rows {
                shops: rows.into_iter().map(|(k, v)| (k, &**v)).collect(),
            };
            let size = 64 + rows.shops.len() * 200;
            out.push((
                shop_file(&format!("{shard:02x}")),
                crate::json_text(&rows, size),
            ));
        }
    }
    if sets_sharded {
        for (shard, entries) in by_shard(&inputs.shop_sets, touched.shop_sets) {
            let entries = Entries {
                shop_sets: entries.into_iter().map(|(k, v)| (k, &**v)).collect(),
            };
            let size = 64 + entries.shop_sets.len() * 300;
            out.push((
                shop_set_file(&format!("{shard:02x}")),
                crate::json_text(&entries, size),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Gives the bytes of a file beside `inputs.yaml` (by its path in the branch), `None` when it
/// is missing.
pub type ReadFile<'a> = dyn FnMut(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// Reads one shard's file: JSON as written, or YAML as a person may have written it.
fn read_shard<T: serde::de::DeserializeOwned>(
    read: &mut ReadFile<'_>,
    path: &str,
) -> Result<T, String> {
    let bytes = read(path)?.ok_or_else(|| format!("{path}: missing"))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
    } else {
        let value = crate::yaml::parse(&text).map_err(|e| format!("{path}: {e}"))?;
        serde_json::from_value(value).map_err(|e| format!("{path}: {e}"))
    }
}

/// Checks a shard's name from `inputs.yaml`.
fn check_shard(field: &str, shard: &str) -> Result<(), String> {
    if shard.len() != 2 || !shard.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{}: {field}: {shard:?} is not a two-digit hash prefix",
            layout::INPUTS
        ));
    }
    Ok(())
}

/// Reads recorded inputs: `text` is `inputs.yaml`; `read` gives the other files of the same
/// commit (or directory).
///
/// # Errors
/// A file that is missing or not of its shape, named.
pub fn read(text: &str, read: &mut ReadFile<'_>) -> Result<TierInputs, String> {
    let mut inputs = crate::parse_inputs(text)?;
    for shard in std::mem::take(&mut inputs.shop_shards) {
        check_shard("shopShards", &shard)?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Owned {
            shops: ShopRows,
        }
        let path = shop_file(&shard);
        let rows: Owned = read_shard(read, &path)?;
        for (name, row) in rows.shops {
            if layout::shard(&name) != shard {
                return Err(format!(
                    "{path}: shop {name:?} belongs in {}",
                    shop_file(&layout::shard(&name))
                ));
            }
            inputs.shops.insert(name, row);
        }
    }
    for shard in std::mem::take(&mut inputs.shop_set_shards) {
        check_shard("shopSetShards", &shard)?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Owned {
            shop_sets: ShopSetEntries,
        }
        let path = shop_set_file(&shard);
        let entries: Owned = read_shard(read, &path)?;
        for (name, entry) in entries.shop_sets {
            if layout::shard(&name) != shard {
                return Err(format!(
                    "{path}: ShopSet {name:?} belongs in {}",
                    shop_set_file(&layout::shard(&name))
                ));
            }
            inputs.shop_sets.insert(name, entry);
        }
    }
    Ok(inputs)
}

/// The shards holding an entry (a shop row, a ShopSet) that differs between `a` and `b`
/// (added, removed or changed): one merged walk of the two name-ordered maps, entries shared
/// by both compared by address.
#[must_use]
pub fn changed_shards<V: PartialEq>(
    a: &BTreeMap<String, std::sync::Arc<V>>,
    b: &BTreeMap<String, std::sync::Arc<V>>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut a = a.iter().peekable();
    let mut b = b.iter().peekable();
    loop {
        let name = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some((x, _)), None) => {
                let x = *x;
                a.next();
                x
            }
            (None, Some((y, _))) => {
                let y = *y;
                b.next();
                y
            }
            (Some((x, rx)), Some((y, ry))) => match x.cmp(y) {
                std::cmp::Ordering::Less => {
                    let x = *x;
                    a.next();
                    x
                }
                std::cmp::Ordering::Greater => {
                    let y = *y;
                    b.next();
                    y
                }
                std::cmp::Ordering::Equal => {
                    let (x, same) = (*x, std::sync::Arc::ptr_eq(rx, ry) || rx == ry);
                    a.next();
                    b.next();
                    if same {
                        continue;
                    }
                    x
                }
            },
        };
        out.insert(layout::shard(name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs_with(shops: usize) -> TierInputs {
        let spec: shopset_crds::TierSpec = serde_json::from_value(serde_json::json!({
            "app": {"url": "/a"}, "system": {"url": "/s"},
        }))
        .expect("a spec");
        let mut inputs = TierInputs::new("t".into(), spec, "1".repeat(40));
        for i in 0..shops {
            inputs.shops.insert(
                format!("shop-{i:05}"),
                AssignedShop {
                    shop_set: format!("set-{}", i % 7),
                    epoch: 0,
                    by: shopset_crds::AssignedBy::Rule,
                    hosts: vec![format!("shop-{i:05}.example.com")],
                    weight: 1,
                    warming: None,
                    draining: None,
                }
                .into(),
            );
        }
        inputs
    }

    fn reader(files: &[(String, String)]) -> impl FnMut(&str) -> Result<Option<Vec<u8>>, String> {
        let map: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(p, t)| (p.clone(), t.clone().into_bytes()))
            .collect();
        move |path: &str| Ok(map.get(path).cloned())
    }

    #[test]
    fn few_shops_stay_in_inputs_yaml_byte_for_byte() {
        let inputs = inputs_with(100);
        assert!(!sharded(&inputs));
        let files = files(&inputs, TouchedShards::default());
        assert_eq!(
            files,
            vec![(layout::INPUTS.to_owned(), crate::inputs_yaml(&inputs))]
        );
        assert_eq!(paths(&inputs), BTreeSet::from([layout::INPUTS.to_owned()]));
    }

    #[test]
    fn many_shops_go_to_shards_no_file_is_large_and_all_read_back() {
        let inputs = inputs_with(20_000);
        assert!(sharded(&inputs));
        let files = files(&inputs, TouchedShards::default());
        assert_eq!(files.len(), 257, "inputs.yaml and 256 shards");
        let largest = files.iter().map(|(_, t)| t.len()).max().unwrap_or(0);
        assert!(largest < 64 * 1024, "largest file {largest} bytes");
        assert!(!files[0].1.contains("shop-00000"), "no row in the head");
        let paths_only = paths(&inputs);
        assert_eq!(
            paths_only,
            files
                .iter()
                .map(|(p, _)| p.clone())
                .collect::<BTreeSet<_>>()
        );
        let back = read(&files[0].1, &mut reader(&files)).expect("reads back");
        assert_eq!(back, inputs);
        // A missing shard is an error that names it.
        let err = read(&files[0].1, &mut reader(&files[..2])).expect_err("missing");
        assert!(
            err.contains(".shopset/shops-") && err.contains("missing"),
            "{err}"
        );
    }

    fn with_shop_sets(inputs: &mut TierInputs, count: usize) {
        for i in 0..count {
            let spec = serde_json::from_value(serde_json::json!({
                "tier": "t", "configuration": "c",
            }))
            .expect("a ShopSet spec");
            inputs.shop_sets.insert(
                format!("set-{i:05}"),
                PlacedShopSet::new("fd".into(), spec).into(),
            );
        }
    }

    #[test]
    fn many_shop_sets_go_to_shards_and_read_back_and_few_stay_inline() {
        let mut few = inputs_with(10);
        with_shop_sets(&mut few, MAX_INLINE_SHOP_SETS);
        assert!(!shop_sets_sharded(&few));
        assert_eq!(
            files(&few, TouchedShards::default()),
            vec![(layout::INPUTS.to_owned(), crate::inputs_yaml(&few))]
        );

        let mut many = inputs_with(10);
        with_shop_sets(&mut many, 5_000);
        assert!(shop_sets_sharded(&many) && !sharded(&many));
        let written = files(&many, TouchedShards::default());
        assert_eq!(written.len(), 257, "inputs.yaml and 256 shards of ShopSets");
        let head = &written[0].1;
        assert!(head.contains("\"shopSetShards\"") && !head.contains("set-00000"));
        assert!(head.contains("shop-00003"), "the rows stay in the head");
        assert_eq!(
            paths(&many),
            written
                .iter()
                .map(|(p, _)| p.clone())
                .collect::<BTreeSet<_>>()
        );
        let back = read(head, &mut reader(&written)).expect("reads back");
        assert_eq!(back, many);

        // One entry changed: its shard and the head are all that is written again, as written
        // whole.
        let mut after = many.clone();
        std::sync::Arc::make_mut(after.shop_sets.get_mut("set-00042").expect("an entry"))
            .failure_domain = "other".into();
        let touched = changed_shards(&many.shop_sets, &after.shop_sets);
        assert_eq!(touched, BTreeSet::from([layout::shard("set-00042")]));
        let partial = files(
            &after,
            TouchedShards {
                shops: None,
                shop_sets: Some(&touched),
            },
        );
        assert_eq!(partial.len(), 2);
        let whole = files(&after, TouchedShards::default());
        for file in &partial {
            assert!(whole.contains(file), "{} is as written whole", file.0);
        }

        // An entry in the wrong shard is refused, naming the file and the right one.
        let mut moved = written.clone();
        let (from, to) = (1, 2);
        let text = moved[from].1.clone();
        moved[to].1 = text;
        let err = read(head, &mut reader(&moved)).expect_err("misplaced");
        assert!(err.contains("belongs in .shopset/shopsets-"), "{err}");
    }

    #[test]
    fn one_changed_row_touches_one_shard_and_its_file_is_all_that_is_written_again() {
        let before = inputs_with(20_000);
        let mut after = before.clone();
        let row = std::sync::Arc::make_mut(after.shops.get_mut("shop-00042").expect("a row"));
        row.warming = Some("set-3".into());
        after.shops.remove("shop-00100");
        let touched = changed_shards(&before.shops, &after.shops);
        assert_eq!(
            touched,
            BTreeSet::from([layout::shard("shop-00042"), layout::shard("shop-00100")])
        );
        let partial = files(
            &after,
            TouchedShards {
                shops: Some(&touched),
                shop_sets: None,
            },
        );
        assert_eq!(partial.len(), 1 + touched.len());
        let whole = files(&after, TouchedShards::default());
        for (path, text) in &partial {
            assert!(
                whole.contains(&(path.clone(), text.clone())),
                "{path} is as written whole"
            );
        }
        assert!(changed_shards(&before.shops, &before.shops).is_empty());
    }
}
