//! Where things live in a system repository branch. The only place that turns names into paths.
//!
//! ShopSets are spread over 256 shard directories so that no tree object grows past a few
//! hundred entries at 100,000 ShopSets (git hosts advise at most 3,000 per directory, and a flat
//! directory makes every commit rewrite one huge tree). The shard is the first byte of the
//! 32-bit FNV-1a hash of the name, in hex: fixed forever, computable by hand, and a person finds
//! a ShopSet with `ls -d shopsets/*/<name>`.

use std::collections::BTreeSet;

/// Path of the `base` gitlink (the app repository submodule).
pub const BASE: &str = "base";
/// Path of the recorded inputs.
pub const INPUTS: &str = ".shopset/inputs.yaml";
/// Directory of the ShopSet Applications.
pub const APPLICATIONS: &str = "applications";

/// The shard of a ShopSet: two hex digits.
#[must_use]
pub fn shard(shopset: &str) -> String {
    format!("{:02x}", shard_index(shopset))
}

/// The shard of a name as a number (`shard` is its two hex digits): FNV-1a, top byte.
#[must_use]
pub fn shard_index(name: &str) -> u8 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_be_bytes()[0]
}

/// Which of the 256 shards `shards` (two hex digits each) names.
#[must_use]
pub fn shard_mask(shards: &BTreeSet<String>) -> [bool; 256] {
    let mut mask = [false; 256];
    for shard in shards {
        if let Ok(i) = u8::from_str_radix(shard, 16) {
            mask[usize::from(i)] = true;
        }
    }
    mask
}

/// The shards of `names`, each once: one hash a name, one string a shard (at 100,000 shops,
/// a string a name was most of the cost of listing a tier's files).
#[must_use]
pub fn shards_of<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut seen = [false; 256];
    for name in names {
        seen[usize::from(shard_index(name))] = true;
    }
    (0..=u8::MAX)
        .filter(|i| seen[usize::from(*i)])
        .map(|i| format!("{i:02x}"))
        .collect()
}

/// Directory of a ShopSet's overlay (the name was validated as a DNS label).
#[must_use]
pub fn shopset_dir(shopset: &str) -> String {
    format!("shopsets/{}/{shopset}", shard(shopset))
}

/// The name of a ShopSet's side on `domain` that is not named like the ShopSet (DESIGN:
/// migration): `<shopset>--<domain>`. The engine refuses a migration whose side name is
/// another ShopSet's name, or too long ([`side_name_fits`]).
#[must_use]
pub fn side_name(shopset: &str, domain: &str) -> String {
    format!("{shopset}--{domain}")
}

/// Whether [`side_name`] of these names is a name Argo CD can use for an Application (a label
/// value: at most 63 characters).
#[must_use]
pub fn side_name_fits(shopset: &str, domain: &str) -> bool {
    shopset.len() + 2 + domain.len() <= 63
}

/// Directory of one side's overlay: beside the ShopSet's own, in the ShopSet's shard.
#[must_use]
pub fn side_dir(shopset: &str, side: &str) -> String {
    format!("shopsets/{}/{side}", shard(shopset))
}

/// File of one side's Application, in the ShopSet's shard.
#[must_use]
pub fn side_application_file(shopset: &str, side: &str) -> String {
    format!("{}/{side}.yaml", application_shard_dir(&shard(shopset)))
}

/// Directory of a shard of Applications.
#[must_use]
pub fn application_shard_dir(shard: &str) -> String {
    format!("{APPLICATIONS}/{shard}")
}

/// File of a ShopSet's Application.
#[must_use]
pub fn application_file(shopset: &str) -> String {
    format!("{}/{shopset}.yaml", application_shard_dir(&shard(shopset)))
}

/// File of the tier's root Application.
#[must_use]
pub fn bootstrap_file(tier: &str) -> String {
    format!("bootstrap/{tier}.yaml")
}

/// The base kustomization, relative to a ShopSet's overlay directory.
#[must_use]
pub fn base_from_overlay(app_path: &str) -> String {
    format!("../../../{BASE}/{app_path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_number_and_the_shard_list_agree_with_the_shard_name() {
        let names: Vec<String> = (0..2_000).map(|i| format!("shop-{i:05}")).collect();
        for name in &names {
            assert_eq!(format!("{:02x}", shard_index(name)), shard(name));
        }
        let one_by_one: BTreeSet<String> = names.iter().map(|n| shard(n)).collect();
        assert_eq!(shards_of(names.iter().map(String::as_str)), one_by_one);
        let mask = shard_mask(&one_by_one);
        for i in 0..=u8::MAX {
            assert_eq!(
                mask[usize::from(i)],
                one_by_one.contains(&format!("{i:02x}"))
            );
        }
    }

    #[test]
    fn shards_are_stable_and_spread() {
        // Pinned: a change here moves every ShopSet of every installation.
        assert_eq!(shard("canary"), shard("canary"));
        assert_eq!(shopset_dir("a"), format!("shopsets/{}/a", shard("a")));
        let mut counts = [0u32; 256];
        for i in 0..100_000 {
            let s = shard(&format!("shop-{i:05}"));
            counts[usize::from_str_radix(&s, 16).unwrap()] += 1;
        }
        let max = counts.iter().max().unwrap();
        let min = counts.iter().min().unwrap();
        assert!(*max < 600 && *min > 200, "min {min}, max {max}");
    }
}
