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

use crate::inputs::{AssignedShop, NamedTier, PlacedShopSet, ResolvedConfiguration, ShopRows};
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

/// The shards that hold at least one row.
fn shards(inputs: &TierInputs) -> BTreeSet<String> {
    layout::shards_of(inputs.shops.keys().map(String::as_str))
}

/// The paths that record `inputs`, without writing them.
#[must_use]
pub fn paths(inputs: &TierInputs) -> BTreeSet<String> {
    let mut out = BTreeSet::from([layout::INPUTS.to_owned()]);
    if sharded(inputs) {
        out.extend(shards(inputs).iter().map(|s| shop_file(s)));
    }
    out
}

/// `inputs.yaml` when the rows are in shards: the same fields in the same order, without the
/// rows, with the list of shards.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    api_version: &'a str,
    kind: &'a str,
    tier: &'a NamedTier,
    app_commit: &'a str,
    configurations: &'a BTreeMap<String, ResolvedConfiguration>,
    failure_domains: &'a BTreeMap<String, shopset_crds::FailureDomainSpec>,
    shop_sets: &'a BTreeMap<String, PlacedShopSet>,
    shop_shards: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview: Option<&'a crate::inputs::PreviewOf>,
}

/// One shard's file.
#[derive(Serialize)]
struct Rows<'a> {
    shops: BTreeMap<&'a String, &'a AssignedShop>,
}

/// The files that record `inputs`, `(path, text)` in path order. With `touched`, of the
/// shards only those named (the others are known to be unchanged); `inputs.yaml` always.
#[must_use]
pub fn files(inputs: &TierInputs, touched: Option<&BTreeSet<String>>) -> Vec<(String, String)> {
    if !sharded(inputs) {
        return vec![(layout::INPUTS.to_owned(), crate::inputs_yaml(inputs))];
    }
    let touched = touched.map(layout::shard_mask);
    let mut rows: BTreeMap<u8, Rows<'_>> = BTreeMap::new();
    for (name, row) in &inputs.shops {
        let shard = layout::shard_index(name);
        if touched.is_some_and(|t| !t[usize::from(shard)]) {
            continue;
        }
        rows.entry(shard)
            .or_insert_with(|| Rows {
                shops: BTreeMap::new(),
            })
            .shops
            .insert(name, row);
    }
    let head = Head {
        api_version: &inputs.api_version,
        kind: &inputs.kind,
        tier: &inputs.tier,
        app_commit: &inputs.app_commit,
        configurations: &inputs.configurations,
        failure_domains: &inputs.failure_domains,
        shop_sets: &inputs.shop_sets,
        shop_shards: shards(inputs).into_iter().collect(),
        preview: inputs.preview.as_ref(),
    };
    let mut out = vec![(
        layout::INPUTS.to_owned(),
        crate::json_text(&head, 4096 + 256 * inputs.shop_sets.len()),
    )];
    for (shard, rows) in rows {
        let size = 64 + rows.shops.len() * 200;
        out.push((
            shop_file(&format!("{shard:02x}")),
            crate::json_text(&rows, size),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Gives the bytes of a file beside `inputs.yaml` (by its path in the branch), `None` when it
/// is missing.
pub type ReadFile<'a> = dyn FnMut(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// Reads recorded inputs: `text` is `inputs.yaml`; `read` gives the other files of the same
/// commit (or directory).
///
/// # Errors
/// A file that is missing or not of its shape, named.
pub fn read(text: &str, read: &mut ReadFile<'_>) -> Result<TierInputs, String> {
    let mut inputs = crate::parse_inputs(text)?;
    for shard in std::mem::take(&mut inputs.shop_shards) {
        if shard.len() != 2 || !shard.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{}: shopShards: {shard:?} is not a two-digit hash prefix",
                layout::INPUTS
            ));
        }
        let path = shop_file(&shard);
        let bytes = read(&path)?.ok_or_else(|| format!("{path}: missing"))?;
        let text = String::from_utf8_lossy(&bytes);
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Owned {
            shops: crate::inputs::ShopRows,
        }
        let rows: Owned = if text.trim_start().starts_with('{') {
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
        } else {
            let value = crate::yaml::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_value(value).map_err(|e| format!("{path}: {e}"))?
        };
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
    Ok(inputs)
}

/// The shards holding a row that differs between `a` and `b` (added, removed or changed): one
/// merged walk of the two name-ordered maps.
#[must_use]
pub fn changed_shards(a: &ShopRows, b: &ShopRows) -> BTreeSet<String> {
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
        let files = files(&inputs, None);
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
        let files = files(&inputs, None);
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
        let partial = files(&after, Some(&touched));
        assert_eq!(partial.len(), 1 + touched.len());
        let whole = files(&after, None);
        for (path, text) in &partial {
            assert!(
                whole.contains(&(path.clone(), text.clone())),
                "{path} is as written whole"
            );
        }
        assert!(changed_shards(&before.shops, &before.shops).is_empty());
    }
}
