//! Name and path validation: every check against an independent statement of its rule, and
//! what a valid name becomes (a shard directory, an Application file, a root Application name)
//! against the limits of where it ends up.
#![no_main]

use shopset_crds::names;
use shopset_fuzz::text;
use shopset_render::{layout, tree};

/// RFC 1123 label, said another way: not empty, at most 63 bytes, `[a-z0-9-]`, alphanumeric at
/// both ends.
fn is_dns_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&s.len())
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

fn is_repo_path(s: &str) -> bool {
    s.len() <= 1024
        && std::path::Path::new(s).components().count() == s.split('/').count()
        && s.split('/').all(|seg| {
            let mut chars = seg.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(s) = text(data) else { return };

    assert_eq!(
        names::dns_label(s).is_ok(),
        is_dns_label(s),
        "dns_label({s:?})"
    );
    if names::dns_label(s).is_ok() {
        // What a ShopSet name becomes: paths inside the branch, never outside it.
        for path in [
            layout::application_file(s),
            format!("{}/kustomization.yaml", layout::shopset_dir(s)),
            layout::bootstrap_file(s),
        ] {
            tree::check_path(&path).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert!(!path.contains(".."), "{path}");
        }
        let shard = layout::shard(s);
        assert!(
            shard.len() == 2 && shard.bytes().all(|b| b.is_ascii_hexdigit()),
            "{shard}"
        );
    }

    let tier_ok = names::tier_name(s).is_ok();
    assert_eq!(
        tier_ok,
        is_dns_label(s) && s.len() <= names::MAX_TIER_NAME,
        "tier_name({s:?})"
    );
    if tier_ok {
        // The root Application's name is a label value too.
        let root = format!("{}{s}", names::ROOT_APPLICATION_PREFIX);
        assert!(is_dns_label(&root), "root Application {root:?}");
    }

    let path_ok = names::repo_path(s).is_ok();
    assert_eq!(path_ok, is_repo_path(s), "repo_path({s:?})");
    if path_ok {
        assert!(!s.starts_with('/') && !s.split('/').any(|seg| seg == ".." || seg == "."));
        tree::check_path(s).unwrap_or_else(|e| panic!("a repository path refused: {e}"));
        let overlay = layout::base_from_overlay(s);
        assert!(overlay.starts_with("../../../base/"), "{overlay}");
    }

    let commit_ok = names::commit_id(s).is_ok();
    assert_eq!(
        commit_ok,
        s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "commit_id({s:?})"
    );

    // A duration read is the sum of its parts, and its canonical form reads the same.
    if let Some(seconds) = names::duration_seconds(s) {
        assert!(seconds > 0);
        let canonical = format!("{seconds}s");
        assert_eq!(names::duration_seconds(&canonical), Some(seconds), "{s:?}");
        let (h, m, sec) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        let hms = format!("{h}h{m}m{sec}s");
        assert_eq!(
            names::duration_seconds(&hms),
            Some(seconds),
            "{s:?} as {hms}"
        );
    }

    // A URL accepted carries no password in its authority (RFC 3986: the authority ends at the
    // first '/', '?' or '#').
    if shopset_render::url_without_password(s).is_ok() {
        assert!(!s.is_empty());
        if let Some((_, rest)) = s.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                assert!(!userinfo.contains(':'), "password accepted in {s:?}");
            }
        }
    }
});
