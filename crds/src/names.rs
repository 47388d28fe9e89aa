//! Name rules shared by the schema (admission) and by code that reads resources from files.
//!
//! A name becomes a path segment, a branch name or a Kubernetes object name only after it passed
//! one of these checks.

/// Pattern of an RFC 1123 DNS label, as used in the CRD schemas.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Pattern of a full git commit id (SHA-1, 40 lowercase hex digits).
pub const COMMIT_PATTERN: &str = "^[0-9a-f]{40}$";
/// Pattern of a relative path inside a repository: segments of safe characters, no `..`.
pub const REPO_PATH_PATTERN: &str =
    "^([A-Za-z0-9_][A-Za-z0-9._-]*)(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$";

/// Checks an RFC 1123 DNS label: 1 to 63 characters, lowercase alphanumerics and `-`, starting
/// and ending with an alphanumeric.
///
/// # Errors
/// A sentence saying what was expected.
pub fn dns_label(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    if value.is_empty() || value.len() > 63 {
        return Err(format!(
            "expected a DNS label of 1 to 63 characters, got {} characters",
            value.len()
        ));
    }
    if !bytes.iter().all(ok_char) || bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return Err(format!(
            "expected a DNS label (lowercase letters, digits and '-', starting and ending with a \
             letter or digit), got {value:?}"
        ));
    }
    Ok(())
}

/// Pattern of a shop's host: a DNS name of at least two labels in lower case, optionally a
/// wildcard (`*.` first; whether one is allowed is a rule of its own).
pub const HOST_PATTERN: &str =
    "^(\\*\\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$";

/// Checks a shop's host: a DNS name (at most 253 characters, at least two dot-separated DNS
/// labels, in lower case), or `*.` and such a name when `allow_wildcard`.
///
/// # Errors
/// A sentence saying what was expected.
pub fn host(value: &str, allow_wildcard: bool) -> Result<(), String> {
    let name = match value.strip_prefix("*.") {
        Some(_) if !allow_wildcard => {
            return Err(format!(
                "{value:?} is a wildcard: refused unless allowWildcardHosts is true (it would take \
                 every subdomain from the other shops)"
            ));
        }
        Some(rest) => rest,
        None => value,
    };
    let labels: Vec<&str> = name.split('.').collect();
    if value.len() > 253 || labels.len() < 2 || labels.iter().any(|l| dns_label(l).is_err()) {
        return Err(format!(
            "expected a host name in lower case with at least two dot-separated parts, each a \
             DNS label (like shop.example.com), at most 253 characters; got {value:?}"
        ));
    }
    Ok(())
}

/// Pattern of an RFC 1123 DNS subdomain (Kubernetes object names such as a Secret's).
pub const DNS_SUBDOMAIN_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Checks the name of a Secret a resource refers to: an RFC 1123 DNS subdomain (at most 253
/// characters, dot-separated DNS labels), as Kubernetes requires. The name becomes a directory
/// under `--secrets-dir`, so `..`, `/` and hidden names are impossible.
///
/// # Errors
/// A sentence saying what was expected.
pub fn secret_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 253 {
        return Err(format!(
            "expected a Secret name of 1 to 253 characters, got {} characters",
            value.len()
        ));
    }
    if value.split('.').any(|label| dns_label(label).is_err()) {
        return Err(format!(
            "expected a Secret name (a DNS subdomain: lowercase letters, digits, '-' and '.', \
             each dot-separated part starting and ending with a letter or digit), got {value:?}"
        ));
    }
    Ok(())
}

/// What every generated root Application's name starts with: `shopset-<tier>`.
pub const ROOT_APPLICATION_PREFIX: &str = "shopset-";

/// Longest Tier name: its root Application, `shopset-<tier>`, is an Argo CD Application name,
/// and Argo CD puts that name in a label value (at most 63 characters) to track what it applies.
pub const MAX_TIER_NAME: usize = 63 - ROOT_APPLICATION_PREFIX.len();

/// Checks a Tier name: a DNS label short enough that `shopset-<tier>` is still one.
///
/// # Errors
/// A sentence saying what was expected.
pub fn tier_name(value: &str) -> Result<(), String> {
    dns_label(value)?;
    if value.len() > MAX_TIER_NAME {
        return Err(format!(
            "expected at most {MAX_TIER_NAME} characters (the root Application \
             {ROOT_APPLICATION_PREFIX}{value} must fit Argo CD's 63-character label values), got {}",
            value.len()
        ));
    }
    Ok(())
}

/// Checks a full 40-hex-digit commit id.
///
/// # Errors
/// A sentence saying what was expected.
pub fn commit_id(value: &str) -> Result<(), String> {
    if value.len() == 40
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "expected a full commit id (40 lowercase hex digits), got {value:?}"
        ))
    }
}

/// Checks a relative path inside a repository: `/`-separated segments made of letters, digits,
/// `.`, `_` and `-`, none starting with `.` or `-`, so `..`, absolute paths and hidden
/// directories are impossible.
///
/// # Errors
/// A sentence saying what was expected.
pub fn repo_path(value: &str) -> Result<(), String> {
    let seg_ok = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    };
    if value.len() <= 1024 && value.split('/').all(seg_ok) {
        Ok(())
    } else {
        Err(format!(
            "expected a relative path of letters, digits, '.', '_' and '-' segments \
             (no '..', no leading '/', no hidden segments), got {value:?}"
        ))
    }
}

/// Seconds in a duration written as `1h30m`, `10m` or `45s`; `None` when malformed or zero.
#[must_use]
pub fn duration_seconds(value: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("1h30m"), Some(5400));
        assert_eq!(duration_seconds("45s"), Some(45));
        assert_eq!(duration_seconds("10"), None);
        assert_eq!(duration_seconds("0s"), None);
        assert_eq!(duration_seconds("5d"), None);
    }

    #[test]
    fn dns_labels() {
        for good in ["a", "tier-0", "shop-01", &"a".repeat(63)] {
            assert!(dns_label(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "../x",
            &"a".repeat(64),
            "ä",
        ] {
            assert!(dns_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tier_names_leave_room_for_the_root_application() {
        assert!(tier_name(&"t".repeat(MAX_TIER_NAME)).is_ok());
        let long = "t".repeat(MAX_TIER_NAME + 1);
        let message = tier_name(&long).expect_err("too long");
        assert!(message.contains("at most 55"), "{message}");
        assert!(tier_name("Tier").is_err());
    }

    #[test]
    fn repo_paths() {
        for good in ["kustomize", "deploy/base", "a/b_c/d-1.0"] {
            assert!(repo_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            "a//b",
            ".git",
            "a/.hidden",
            "a b",
            "a/",
        ] {
            assert!(repo_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commit_ids() {
        assert!(commit_id(&"0".repeat(40)).is_ok());
        assert!(commit_id(&"A".repeat(40)).is_err());
        assert!(commit_id("abc").is_err());
    }
}
