//! Credentials, and keeping them out of every message.

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string: its `Debug` and `Display` print `***`, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that hands it to git.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to authenticate to one repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// HTTPS user name.
    pub username: Option<String>,
    /// HTTPS password or token.
    pub password: Option<Secret>,
    /// SSH private key file.
    pub ssh_key: Option<PathBuf>,
    /// SSH known-hosts file; host keys are always checked unless
    /// `insecure_skip_host_key_check` is set.
    pub known_hosts: Option<PathBuf>,
    /// Accept any SSH host key (an explicit, visible switch).
    pub insecure_skip_host_key_check: bool,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
}

impl Credentials {
    /// Reads a mounted Secret directory: files `username`, `password`, `sshPrivateKey`,
    /// `known_hosts`, `insecureSkipHostKeyCheck` (each optional).
    #[must_use]
    pub fn from_secret_dir(dir: &Path) -> Self {
        let key = dir.join("sshPrivateKey");
        let known = dir.join("known_hosts");
        Self {
            username: read_trimmed(&dir.join("username")),
            password: read_trimmed(&dir.join("password")).map(Secret::new),
            ssh_key: key.is_file().then_some(key),
            known_hosts: known.is_file().then_some(known),
            insecure_skip_host_key_check: read_trimmed(&dir.join("insecureSkipHostKeyCheck"))
                .is_some_and(|v| v == "true"),
        }
    }

    /// The secret strings, to scrub from any text git prints.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.password
            .iter()
            .map(Secret::expose)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A URL without the password part of its user info, for messages.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let sep = if rest.contains('/') { "/" } else { "" };
    if userinfo.contains(':') {
        format!("{scheme}://{user}:***@{host}{sep}{path}")
    } else {
        url.to_owned()
    }
}

/// Replaces every secret in `text` with `***`.
#[must_use]
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        let c = Credentials {
            password: Some(s),
            ..Credentials::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("https://u:p@h.example/x.git"),
            "https://u:***@h.example/x.git"
        );
        assert_eq!(
            redact_url("https://h.example/x.git"),
            "https://h.example/x.git"
        );
        assert_eq!(redact_url("ssh://git@h/x"), "ssh://git@h/x");
        assert_eq!(redact_url("/local/path"), "/local/path");
        assert_eq!(scrub("a hunter2 b", &["hunter2"]), "a *** b");
    }
}
