//! Push webhooks in GitHub's format: the `X-Hub-Signature-256` HMAC-SHA256 of the body is
//! checked in constant time before the body is read as JSON; the body size is capped by the
//! HTTP server. A push to a branch names the repository and the branch; the tiers whose app,
//! configuration or system repository and branch match are synced at once.
//!
//! Pure (no I/O): the controller's HTTP server calls it, and the fuzz targets reach it here.

use crate::Resources;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The largest body accepted (GitHub caps its payloads at 25 MB; pushes are far smaller).
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// No signature header, or not `sha256=<hex>`.
    #[error("missing or malformed X-Hub-Signature-256 header")]
    NoSignature,
    /// The signature does not match the body.
    #[error("signature does not match")]
    BadSignature,
    /// The body is not a push event.
    #[error("not a push event payload: {0}")]
    BadPayload(String),
}

/// Checks `header` (`sha256=<hex>`) against the HMAC-SHA256 of `body` under `secret`, in
/// constant time.
///
/// # Errors
/// The header is missing, malformed or wrong.
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
    let hex_sig = header
        .and_then(|h| h.strip_prefix("sha256="))
        .ok_or(WebhookError::NoSignature)?;
    let sig = hex::decode(hex_sig.trim()).map_err(|_| WebhookError::NoSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&sig)
        .map_err(|_| WebhookError::BadSignature)
}

/// The signature header GitHub would send for `body` (for tests and for people checking their
/// set-up).
#[must_use]
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A push: the repository's URLs and the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Every URL the payload gives for the repository.
    pub urls: Vec<String>,
    /// The branch pushed.
    pub branch: String,
}

/// Reads a push event payload.
///
/// # Errors
/// Not JSON, or no `ref` of a branch.
pub fn parse_push(body: &[u8]) -> Result<Push, WebhookError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::BadPayload(e.to_string()))?;
    let branch = v
        .get("ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .ok_or_else(|| WebhookError::BadPayload("no ref of a branch (refs/heads/...)".into()))?
        .to_owned();
    let urls = repository_urls(&v);
    Ok(Push { urls, branch })
}

/// Every URL an event's payload gives for its repository.
fn repository_urls(v: &Value) -> Vec<String> {
    let repo = v.get("repository").unwrap_or(&Value::Null);
    ["clone_url", "ssh_url", "git_url", "html_url", "url"]
        .iter()
        .filter_map(|k| repo.get(*k).and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// A `pull_request` event: the repository's URLs and the pull request's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// Every URL the payload gives for the repository.
    pub urls: Vec<String>,
    /// The pull request's number.
    pub number: u64,
    /// What happened (`opened`, `synchronize`, `closed`, `labeled`...).
    pub action: String,
}

/// Reads a `pull_request` event payload.
///
/// # Errors
/// Not JSON, or no pull request number.
pub fn parse_pull_request(body: &[u8]) -> Result<PullRequestEvent, WebhookError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::BadPayload(e.to_string()))?;
    let number = v
        .get("number")
        .or_else(|| v.pointer("/pull_request/number"))
        .and_then(Value::as_u64)
        .ok_or_else(|| WebhookError::BadPayload("no pull request number".into()))?;
    let urls = repository_urls(&v);
    let action = v
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(PullRequestEvent {
        urls,
        number,
        action,
    })
}

/// The PreviewPolicies a `pull_request` event concerns: their GitHub repository is the event's.
#[must_use]
pub fn policies_for(event: &PullRequestEvent, resources: &Resources) -> Vec<String> {
    let sent: Vec<String> = event.urls.iter().map(|u| normalize(u)).collect();
    resources
        .preview_policies
        .iter()
        .filter(|(_, p)| sent.contains(&normalize(&p.spec.source.github.repository)))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A repository URL reduced to host and path, so `https://host/o/r.git`,
/// `git@host:o/r.git` and `ssh://git@host/o/r` compare equal.
#[must_use]
pub fn normalize(url: &str) -> String {
    let mut u = url.trim().to_ascii_lowercase();
    if let Some((_, rest)) = u.split_once("://") {
        u = rest.to_owned();
    } else if let Some((user_host, path)) = u.split_once(':') {
        // scp-like: git@host:path
        if user_host.contains('@') || !user_host.contains('/') {
            u = format!("{user_host}/{path}");
        }
    }
    // The user (`git@`) belongs to the authority, before the first '/': an '@' further on is
    // part of the path, and the host must never be taken from there.
    let authority_end = u.find('/').unwrap_or(u.len());
    if let Some(at) = u[..authority_end].rfind('@') {
        u = u[at + 1..].to_owned();
    }
    let u = u.trim_end_matches('/');
    u.strip_suffix(".git").unwrap_or(u).to_owned()
}

/// The tiers a push concerns: same branch, and the repository is the tier's app or system
/// repository, or the source of a Configuration.
#[must_use]
pub fn tiers_for(push: &Push, resources: &Resources) -> Vec<String> {
    let pushed: Vec<String> = push.urls.iter().map(|u| normalize(u)).collect();
    let matches = |url: &str| pushed.contains(&normalize(url));
    let config_urls: Vec<&str> = resources
        .configurations
        .values()
        .filter_map(|c| c.spec.source.as_ref().map(|s| s.url.as_str()))
        .collect();
    let config_pushed = config_urls.iter().any(|u| matches(u));
    resources
        .tiers
        .iter()
        .filter(|(name, t)| {
            t.spec.branch_or(name) == push.branch
                && (matches(&t.spec.app.url) || matches(&t.spec.system.url) || config_pushed)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The repositories a tier renders from or writes to, each once: its system and app
/// repositories and every Configuration's source (what [`tiers_for`] matches a push against).
#[must_use]
pub fn urls_of(tier: &str, resources: &Resources) -> Vec<String> {
    let Some(t) = resources.tiers.get(tier) else {
        return Vec::new();
    };
    let mut out = vec![t.spec.system.url.clone(), t.spec.app.url.clone()];
    for c in resources.configurations.values() {
        if let Some(source) = &c.spec.source {
            out.push(source.url.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_checked() {
        let body = br#"{"ref":"refs/heads/tier-0"}"#;
        let good = sign(b"s3cret", body);
        assert_eq!(verify(b"s3cret", Some(&good), body), Ok(()));
        assert_eq!(
            verify(b"other", Some(&good), body),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"s3cret", Some(&good), b"{}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"s3cret", None, body),
            Err(WebhookError::NoSignature)
        );
        assert_eq!(
            verify(b"s3cret", Some("sha1=abc"), body),
            Err(WebhookError::NoSignature)
        );
    }

    #[test]
    fn urls_compare_by_host_and_path() {
        let forms = [
            "https://github.com/Acme/App.git",
            "git@github.com:acme/app.git",
            "ssh://git@github.com/acme/app",
            "https://github.com/acme/app/",
        ];
        for f in forms {
            assert_eq!(normalize(f), "github.com/acme/app", "{f}");
        }
        assert_ne!(
            normalize("https://github.com/acme/app2"),
            "github.com/acme/app"
        );
    }

    #[test]
    fn an_at_sign_in_the_path_never_becomes_the_host() {
        // Found by the webhook fuzz target: everything before the first '@' was dropped, path
        // included, so another host's repository compared equal to ours.
        assert_eq!(
            normalize("https://evil.example/x@github.com/acme/app"),
            "evil.example/x@github.com/acme/app"
        );
        assert_ne!(
            normalize("https://evil.example/x@github.com/acme/app"),
            normalize("https://github.com/acme/app")
        );
        assert_eq!(
            normalize("ssh://git@git.example.com/team/@scope/app.git"),
            "git.example.com/team/@scope/app"
        );
        assert_eq!(normalize("user@host.example:o/r.git"), "host.example/o/r");
    }

    #[test]
    fn a_push_names_branch_and_urls() {
        let body = br#"{"ref":"refs/heads/tier-1","repository":{"clone_url":"https://h/o/r.git","ssh_url":"git@h:o/r.git"}}"#;
        let push = parse_push(body).expect("push");
        assert_eq!(push.branch, "tier-1");
        assert_eq!(push.urls.len(), 2);
        assert!(parse_push(br#"{"ref":"refs/tags/v1"}"#).is_err());
        assert!(parse_push(b"not json").is_err());
    }
}
