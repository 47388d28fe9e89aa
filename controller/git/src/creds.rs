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

/// Where a credential may be sent: it is declared with the credential, never inferred from the
/// URL that asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One host, as `host` or `host:port` (without a port: any port of that host).
    Host(String),
    /// Repository URLs starting with this one at a `/` boundary (Argo CD's `url` key of a
    /// repository or repo-creds Secret).
    UrlPrefix(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(host) => write!(f, "host {host}"),
            Self::UrlPrefix(url) => write!(f, "URLs under {}", redact_url(url)),
        }
    }
}

impl Scope {
    /// Whether a credential of this scope may be sent to `url`.
    #[must_use]
    pub fn allows(&self, url: &str) -> bool {
        match self {
            Self::Host(declared) => {
                let Some(host) = url_host(url) else {
                    return false;
                };
                let declared = declared.to_ascii_lowercase();
                if has_port(&declared) {
                    host == declared
                } else {
                    strip_port(&host) == declared
                }
            }
            Self::UrlPrefix(prefix) => {
                let prefix = prefix.trim_end_matches('/');
                url_host(prefix).is_some()
                    && url
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
        }
    }
}

fn has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((h, port)) => !h.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn strip_port(host: &str) -> &str {
    if has_port(host) {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    } else {
        host
    }
}

/// The host (`host` or `host:port`, lower case) a repository URL talks to: `scheme://` URLs and
/// scp-like `user@host:path`; `None` for local paths and `file://`.
#[must_use]
pub fn url_host(url: &str) -> Option<String> {
    let authority = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    } else {
        // scp-like syntax: a colon before any slash.
        let (before, _) = url.split_once(':')?;
        if before.contains('/') {
            return None;
        }
        before
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
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
    /// Where the password and key may be sent; without a scope they are sent nowhere.
    pub scope: Option<Scope>,
    /// Where they come from, for messages (`Secret app-creds`, `--git-password-file`).
    pub origin: String,
    /// Why they cannot be used at all (a Secret that is not mounted): the repository is not
    /// contacted rather than contacted without them.
    pub unusable: Option<String>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
}

impl Credentials {
    /// Reads a mounted Secret directory: files `username`, `password`, `sshPrivateKey`,
    /// `known_hosts`, `insecureSkipHostKeyCheck` (each optional), and the scope: `url` (a
    /// repository URL or URL prefix, as in Argo CD's repository Secrets) or `host`
    /// (`host` or `host:port`). A Secret holding a password or a key without a scope is read,
    /// but [`Credentials::for_url`] never sends it.
    #[must_use]
    pub fn from_secret_dir(dir: &Path, origin: impl Into<String>) -> Self {
        let key = dir.join("sshPrivateKey");
        let known = dir.join("known_hosts");
        let origin = origin.into();
        let unusable = (!dir.is_dir()).then(|| {
            format!(
                "{origin} is not mounted: expected a directory {}",
                dir.display()
            )
        });
        let scope = read_trimmed(&dir.join("url"))
            .filter(|u| !u.is_empty())
            .map(Scope::UrlPrefix)
            .or_else(|| {
                read_trimmed(&dir.join("host"))
                    .filter(|h| !h.is_empty())
                    .map(Scope::Host)
            });
        Self {
            username: read_trimmed(&dir.join("username")),
            password: read_trimmed(&dir.join("password")).map(Secret::new),
            ssh_key: key.is_file().then_some(key),
            known_hosts: known.is_file().then_some(known),
            insecure_skip_host_key_check: read_trimmed(&dir.join("insecureSkipHostKeyCheck"))
                .is_some_and(|v| v == "true"),
            scope,
            origin,
            unusable,
        }
    }

    /// Whether these credentials hold anything secret (a password or a key).
    #[must_use]
    pub fn is_secret(&self) -> bool {
        self.password.is_some() || self.ssh_key.is_some()
    }

    /// Checks that these credentials may be sent to `url` (always true when they hold no
    /// secret).
    ///
    /// # Errors
    /// A sentence naming where the credentials come from, the host they are declared for and
    /// the one asking; nothing was sent.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        if let Some(reason) = &self.unusable {
            return Err(reason.clone());
        }
        if !self.is_secret() {
            return Ok(());
        }
        let asking = url_host(url).unwrap_or_else(|| "a local path".to_owned());
        match &self.scope {
            Some(scope) if scope.allows(url) => Ok(()),
            Some(scope) => Err(format!(
                "the credentials of {} are declared for {scope}, not for {asking}; they were not sent",
                self.origin
            )),
            None => Err(format!(
                "the credentials of {} declare no host: expected a `host` key (host or host:port) \
                 or a `url` key (the repository URL or a URL prefix); they were not sent",
                self.origin
            )),
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

    #[test]
    fn hosts_of_urls() {
        let cases = [
            ("https://Git.Example.com/org/x.git", Some("git.example.com")),
            ("http://u:p@127.0.0.1:8080/x", Some("127.0.0.1:8080")),
            ("ssh://git@h.example:2222/x", Some("h.example:2222")),
            ("git@github.com:org/x.git", Some("github.com")),
            ("git://127.0.0.1:9418/x.git", Some("127.0.0.1:9418")),
            ("https://h.example?x", Some("h.example")),
            ("/srv/git/x.git", None),
            ("./a:b/x", None),
            ("file:///srv/x.git", None),
        ];
        for (url, host) in cases {
            assert_eq!(url_host(url).as_deref(), host, "{url}");
        }
    }

    #[test]
    fn scopes_allow_only_their_host() {
        let host = Scope::Host("git.example.com".into());
        assert!(host.allows("https://git.example.com/x.git"));
        assert!(host.allows("https://git.example.com:8443/x.git"));
        assert!(host.allows("git@git.example.com:x.git"));
        assert!(!host.allows("https://git.example.com.evil.net/x.git"));
        assert!(!host.allows("https://evil.net/git.example.com/x.git"));
        assert!(!host.allows("/local/git.example.com"));
        let port = Scope::Host("127.0.0.1:8080".into());
        assert!(port.allows("http://127.0.0.1:8080/x"));
        assert!(!port.allows("http://127.0.0.1:8081/x"));
        let prefix = Scope::UrlPrefix("https://git.example.com/org/".into());
        assert!(prefix.allows("https://git.example.com/org/x.git"));
        assert!(prefix.allows("https://git.example.com/org"));
        assert!(!prefix.allows("https://git.example.com/org-evil/x.git"));
        assert!(!prefix.allows("https://git.example.com.evil.net/org/x.git"));
        assert!(!Scope::UrlPrefix("/srv".into()).allows("/srv/x.git"));
    }

    #[test]
    fn credentials_without_a_matching_scope_are_not_used() {
        let mut c = Credentials {
            password: Some(Secret::new("hunter2")),
            origin: "Secret app".into(),
            ..Credentials::default()
        };
        let no_scope = c.check_url("https://h.example/x").unwrap_err();
        assert!(
            no_scope.contains("Secret app") && no_scope.contains("`host`"),
            "{no_scope}"
        );
        c.scope = Some(Scope::Host("h.example".into()));
        assert_eq!(c.check_url("https://h.example/x"), Ok(()));
        let other = c.check_url("https://other.example/x").unwrap_err();
        assert!(
            other.contains("host h.example") && other.contains("other.example"),
            "{other}"
        );
        assert_eq!(
            Credentials::default().check_url("https://any.example/x"),
            Ok(())
        );
    }
}
