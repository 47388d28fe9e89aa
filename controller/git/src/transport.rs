//! Talking to remote repositories, through the git CLI.
//!
//! Why the CLI and not libgit2: libgit2's push builds packs far slower than git on large
//! histories (measured by others and in our benchmark), and one transport for fetch and push
//! keeps one credential path. Credentials reach git only through the child's environment (a
//! credential helper that reads two variables, or `GIT_SSH_COMMAND` with the key file), never
//! through arguments or config files; prompts are off, so a wrong password fails once instead
//! of looping; everything git prints is scrubbed of the secrets before it goes anywhere.
//! Pushes are never forced: the refspec has no `+` and no `--force*` flag exists in this file.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::creds::{Credentials, redact_url, scrub, url_host};
use crate::{GitError, Repo};

/// What happened to a pushed branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The server took it.
    Pushed,
    /// The server refused it. Retryable refusals (the branch moved) call for fetch, re-render,
    /// retry; the others (a hook, branch protection) for a person.
    Rejected {
        /// The server's reason, scrubbed.
        reason: String,
        /// Whether fetching and trying again can succeed.
        retryable: bool,
    },
}

/// Rejection reasons that mean "somebody else pushed first": GitHub and git (`fetch first`,
/// `non-fast-forward`), GitLab (`incorrect old value provided`), and ref-lock races.
const RETRYABLE: [&str; 6] = [
    "fetch first",
    "non-fast-forward",
    "incorrect old value provided",
    "cannot lock ref",
    "failed to update ref",
    "stale info",
];

/// Classifies the porcelain line of a refused ref.
#[must_use]
pub fn classify_rejection(line: &str) -> PushOutcome {
    let reason = line.split('\t').nth(2).unwrap_or(line).trim().to_owned();
    let lower = reason.to_ascii_lowercase();
    let retryable =
        RETRYABLE.iter().any(|r| lower.contains(r)) || lower.contains("[remote failure]");
    PushOutcome::Rejected { reason, retryable }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

impl Repo {
    /// A git command for talking to `url`, with the credentials only when their scope allows
    /// that URL. The credential helper answers only for the URL's own host and protocol, so a
    /// redirect to another host gets nothing.
    fn git(&self, url: &str, creds: &Credentials, action: &str) -> Result<Command, GitError> {
        // A repository on this machine needs no credentials: none are given to git for it.
        let none = Credentials::default();
        let creds = if url_host(url).is_none() {
            &none
        } else {
            creds
                .check_url(url)
                .map_err(|message| GitError::Transport {
                    url: redact_url(url),
                    action: action.to_owned(),
                    message,
                    auth: true,
                })?;
            creds
        };
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir").arg(self.inner.path());
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("SSH_ASKPASS", "true")
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("SHOPSET_GIT_USERNAME")
            .env_remove("SHOPSET_GIT_PASSWORD")
            .env_remove("SHOPSET_GIT_HOST")
            .env_remove("SHOPSET_GIT_PROTOCOL");
        // The cache is packed by our own housekeeping (`spawn_pack_loose`), beside our reads and
        // writes; git's own automatic gc, which a fetch starts detached once the loose objects
        // pass `gc.auto`, would also prune them and remove object directories under a reader.
        cmd.args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"]);
        // Only our helper answers for credentials, and only with what it was given.
        cmd.args(["-c", "credential.helper="]);
        if let Some(password) = &creds.password {
            // git describes the request on stdin (`protocol=`, `host=`); answer only for ours.
            cmd.args([
                "-c",
                "credential.helper=!f() { test \"$1\" = get || exit 0; p=; h=; \
                 while IFS= read -r l; do case \"$l\" in protocol=*) p=${l#protocol=};; host=*) h=${l#host=};; esac; done; \
                 test \"$p\" = \"$SHOPSET_GIT_PROTOCOL\" && test \"$h\" = \"$SHOPSET_GIT_HOST\" || exit 0; \
                 printf 'username=%s\\npassword=%s\\n' \"$SHOPSET_GIT_USERNAME\" \"$SHOPSET_GIT_PASSWORD\"; }; f",
            ]);
            let (protocol, host) = url
                .split_once("://")
                .map_or(("", url), |(p, rest)| (p, rest));
            let authority = host.split(['/', '?', '#']).next().unwrap_or(host);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            cmd.env("SHOPSET_GIT_PROTOCOL", protocol.to_ascii_lowercase());
            cmd.env("SHOPSET_GIT_HOST", host);
            cmd.env(
                "SHOPSET_GIT_USERNAME",
                creds.username.as_deref().unwrap_or("git"),
            );
            cmd.env("SHOPSET_GIT_PASSWORD", password.expose());
        }
        let mut ssh = String::from("ssh -o BatchMode=yes -o ConnectTimeout=15");
        if let Some(key) = &creds.ssh_key {
            ssh.push_str(&format!(" -o IdentitiesOnly=yes -i {}", shell_quote(key)));
        }
        if creds.insecure_skip_host_key_check {
            ssh.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
        } else {
            ssh.push_str(" -o StrictHostKeyChecking=yes");
            if let Some(known) = &creds.known_hosts {
                ssh.push_str(&format!(" -o UserKnownHostsFile={}", shell_quote(known)));
            }
        }
        cmd.env("GIT_SSH_COMMAND", ssh);
        cmd.stdin(Stdio::null());
        Ok(cmd)
    }

    fn transport_error(
        &self,
        url: &str,
        action: &str,
        stderr: &str,
        creds: &Credentials,
    ) -> GitError {
        let message = scrub(stderr.trim(), &creds.secrets());
        let lower = message.to_ascii_lowercase();
        let auth = [
            "authentication failed",
            "permission denied",
            "could not read username",
            "host key verification failed",
            "403",
        ]
        .iter()
        .any(|m| lower.contains(m));
        GitError::Transport {
            url: redact_url(url),
            action: action.to_owned(),
            message: message.replace(url, &redact_url(url)),
            auth,
        }
    }

    /// Fetches every branch of `url` into `refs/remotes/origin/*` (incrementally: only objects
    /// the cache lacks travel).
    ///
    /// # Errors
    /// [`GitError::Transport`] with git's message, scrubbed.
    pub fn fetch(&self, url: &str, creds: &Credentials) -> Result<(), GitError> {
        self.fetch_refspec(url, creds, "+refs/heads/*:refs/remotes/origin/*", true)
    }

    fn fetch_refspec(
        &self,
        url: &str,
        creds: &Credentials,
        refspec: &str,
        prune: bool,
    ) -> Result<(), GitError> {
        let mut cmd = self.git(url, creds, "fetch")?;
        cmd.args(["fetch", "--quiet"]);
        if prune {
            cmd.arg("--prune");
        }
        let output = cmd
            .args(["--no-tags", "--no-write-fetch-head", "--", url, refspec])
            .output()
            .map_err(|e| GitError::Spawn(e.to_string()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(self.transport_error(
                url,
                "fetch",
                &String::from_utf8_lossy(&output.stderr),
                creds,
            ))
        }
    }

    /// Fetches pull request `number`'s head (`refs/pull/<number>/head`, where GitHub keeps the
    /// head of a pull request from a fork) into `refs/remotes/origin/pull/<number>`.
    ///
    /// # Errors
    /// The remote has no such ref, or git could not talk to it.
    pub fn fetch_pull_head(
        &self,
        url: &str,
        creds: &Credentials,
        number: u64,
    ) -> Result<(), GitError> {
        let refspec = format!("+refs/pull/{number}/head:refs/remotes/origin/pull/{number}");
        self.fetch_refspec(url, creds, &refspec, false)
    }

    /// Deletes `branch` of `url` (the one ref deletion the product makes: a preview's branch,
    /// once its Application is gone). Never forced: a plain deletion.
    ///
    /// # Errors
    /// The server refused, or git could not talk to it.
    pub fn delete_branch(
        &self,
        url: &str,
        creds: &Credentials,
        branch: &str,
    ) -> Result<(), GitError> {
        self.push_refspec(
            url,
            creds,
            &format!(":refs/heads/{branch}"),
            "delete branch",
        )?;
        self.forget_remote_tip(branch)
    }

    /// Creates the tag `tag` at `commit` in `url` (refused when it exists: never moved).
    ///
    /// # Errors
    /// The server refused, or git could not talk to it.
    pub fn push_tag(
        &self,
        url: &str,
        creds: &Credentials,
        commit: &str,
        tag: &str,
    ) -> Result<(), GitError> {
        self.push_refspec(url, creds, &format!("{commit}:refs/tags/{tag}"), "push tag")
    }

    fn push_refspec(
        &self,
        url: &str,
        creds: &Credentials,
        refspec: &str,
        action: &str,
    ) -> Result<(), GitError> {
        let output = self
            .git(url, creds, action)?
            .args(["push", "--porcelain", "--", url, refspec])
            .output()
            .map_err(|e| GitError::Spawn(e.to_string()))?;
        if output.status.success() {
            return Ok(());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(self.transport_error(url, action, &format!("{stdout}{stderr}"), creds))
    }

    /// Pushes `commit` to `branch` of `url`, fast-forward only.
    ///
    /// # Errors
    /// [`GitError::Transport`] when git could not talk to the server at all.
    pub fn push(
        &self,
        url: &str,
        creds: &Credentials,
        commit: &str,
        branch: &str,
    ) -> Result<PushOutcome, GitError> {
        let refspec = format!("{commit}:refs/heads/{branch}");
        let output = self
            .git(url, creds, "push")?
            .args(["push", "--porcelain", "--", url, &refspec])
            .output()
            .map_err(|e| GitError::Spawn(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("refs/heads/{branch}")) && l.contains('\t'));
        match line {
            Some(l) if l.starts_with('!') => {
                let mut outcome = classify_rejection(&scrub(l, &creds.secrets()));
                if let PushOutcome::Rejected { reason, .. } = &mut outcome {
                    // The server's own words (a hook's message) come on stderr as "remote: ...".
                    let stderr = String::from_utf8_lossy(&output.stderr);
                    let remote: Vec<&str> = stderr
                        .lines()
                        .filter_map(|l| l.strip_prefix("remote: "))
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect();
                    if !remote.is_empty() {
                        reason.push_str(": ");
                        reason.push_str(&scrub(&remote.join(" / "), &creds.secrets()));
                    }
                }
                Ok(outcome)
            }
            Some(_) if output.status.success() => {
                self.set_remote_tip(branch, commit)?;
                Ok(PushOutcome::Pushed)
            }
            _ => Err(self.transport_error(
                url,
                "push",
                &String::from_utf8_lossy(&output.stderr),
                creds,
            )),
        }
    }
}
