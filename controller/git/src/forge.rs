//! The forge: pull requests on GitHub, through octocrab's raw requests so every answer's status
//! and headers are seen. Rate limits are respected: a 403 or 429 with `retry-after` (or with
//! `x-ratelimit-remaining: 0` and `x-ratelimit-reset`) is waited out, a bounded number of times.
//! The blocking API runs its own small runtime, so the engine stays synchronous.
//!
//! No call here creates a commit: a branch is pointed at an existing commit, and a pull request
//! is "merged by the product" by fast-forwarding its base to that same commit (`force: false`),
//! so the commit that was tested is the commit that ships.

use std::time::Duration;

use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use crate::creds::Secret;

/// A forge error.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The request could not be sent.
    #[error("GitHub {action}: {message}")]
    Transport {
        /// What was asked.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// GitHub answered with an error.
    #[error("GitHub {action}: {status}: {message}")]
    Refused {
        /// What was asked.
        action: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// The repository URL names no GitHub repository.
    #[error("{0}: not a GitHub repository URL (expected .../<owner>/<repo>)")]
    NotGitHub(String),
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Merged.
    pub merged: bool,
    /// The head commit.
    pub head_sha: String,
    /// Its page.
    pub url: String,
    /// The branch it merges into.
    pub base: String,
    /// Its labels.
    pub labels: Vec<String>,
}

/// A comment on a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Its text.
    pub body: String,
}

/// What a new pull request says.
#[derive(Debug, Clone)]
pub struct NewPullRequest<'a> {
    /// The branch with the candidate.
    pub head: &'a str,
    /// The tier branch.
    pub base: &'a str,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Labels.
    pub labels: &'a [String],
}

/// A GitHub repository.
pub struct GitHub {
    client: octocrab::Octocrab,
    runtime: tokio::runtime::Runtime,
    repo: String,
    token: Option<Secret>,
    /// Waits for rate limits, at most this many times per request.
    pub max_waits: u32,
    /// The longest single wait.
    pub max_wait: Duration,
}

/// `owner/repo` from a repository URL (`https://github.com/o/r.git`, `git@github.com:o/r`).
///
/// # Errors
/// The URL does not end with an owner and a repository.
pub fn owner_repo(url: &str) -> Result<String, ForgeError> {
    let trimmed = url.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let path = trimmed
        .rsplit_once(':')
        .filter(|(scheme, _)| !scheme.contains('/') && !trimmed.contains("://"))
        .map_or(trimmed, |(_, p)| p);
    let parts: Vec<&str> = path.rsplit('/').take(2).collect();
    match parts[..] {
        [repo, owner] if !repo.is_empty() && !owner.is_empty() && !owner.contains(':') => {
            Ok(format!("{owner}/{repo}"))
        }
        _ => Err(ForgeError::NotGitHub(crate::redact_url(url))),
    }
}

impl GitHub {
    /// A client of `api` (`https://api.github.com`, or a test server) for the repository at
    /// `repo_url`.
    ///
    /// # Errors
    /// The URL names no repository, or the client cannot be built.
    pub fn new(api: &str, repo_url: &str, token: Option<&Secret>) -> Result<Self, ForgeError> {
        let repo = owner_repo(repo_url)?;
        let fail = |message: String| ForgeError::Transport {
            action: "client".into(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let client = {
            let _guard = runtime.enter();
            let mut builder = octocrab::Octocrab::builder()
                .base_uri(api)
                .map_err(|e| fail(e.to_string()))?;
            if let Some(token) = token {
                builder = builder.personal_token(token.expose().to_owned());
            }
            builder.build().map_err(|e| fail(e.to_string()))?
        };
        Ok(Self {
            client,
            runtime,
            repo,
            token: token.cloned(),
            max_waits: 5,
            max_wait: Duration::from_secs(60),
        })
    }

    /// One request, waiting out rate limits.
    fn call(
        &self,
        action: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ForgeError> {
        let uri = format!("/repos/{}{path}", self.repo);
        let mut waits = 0;
        loop {
            let client = &self.client;
            let answer = self.runtime.block_on(async {
                let response = match method {
                    "GET" => client._get(uri.as_str()).await,
                    "POST" => client._post(uri.as_str(), body).await,
                    "PATCH" => client._patch(uri.as_str(), body).await,
                    _ => client._put(uri.as_str(), body).await,
                }
                .map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                };
                let wait = match (
                    header("retry-after"),
                    header("x-ratelimit-remaining"),
                    header("x-ratelimit-reset"),
                ) {
                    (Some(s), _, _) => Some(Duration::from_secs(s)),
                    (None, Some(0), Some(reset)) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
                    }
                    _ => None,
                };
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                Ok::<_, String>((status, wait, value))
            });
            let (status, wait, value) = answer.map_err(|message| ForgeError::Transport {
                action: action.to_owned(),
                message: crate::scrub(
                    &message,
                    &self.token.iter().map(Secret::expose).collect::<Vec<_>>(),
                ),
            })?;
            if matches!(status, 403 | 429)
                && waits < self.max_waits
                && let Some(wait) = wait
            {
                let wait = wait.min(self.max_wait);
                tracing::info!(
                    action,
                    status,
                    seconds = wait.as_secs(),
                    "GitHub rate limit: waiting"
                );
                std::thread::sleep(wait);
                waits += 1;
                continue;
            }
            if status >= 400 {
                return Err(ForgeError::Refused {
                    action: action.to_owned(),
                    status,
                    message: value
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message")
                        .to_owned(),
                });
            }
            return Ok((status, value));
        }
    }

    fn pull(value: &Value) -> PullRequest {
        PullRequest {
            number: value["number"].as_u64().unwrap_or_default(),
            state: value["state"].as_str().unwrap_or_default().to_owned(),
            merged: value["merged"].as_bool().unwrap_or(false)
                || value["merged_at"].as_str().is_some(),
            head_sha: value["head"]["sha"].as_str().unwrap_or_default().to_owned(),
            url: value["html_url"].as_str().unwrap_or_default().to_owned(),
            base: value["base"]["ref"].as_str().unwrap_or_default().to_owned(),
            labels: value["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str().map(str::to_owned))
                .collect(),
        }
    }

    /// Sets the commit status `context` of `sha` (`pending`, `success`, `failure`, `error`),
    /// its description cut to GitHub's 140 characters.
    ///
    /// # Errors
    /// GitHub refused or could not be reached.
    pub fn set_status(
        &self,
        sha: &str,
        state: &str,
        description: &str,
        context: &str,
        target_url: Option<&str>,
    ) -> Result<(), ForgeError> {
        let description: String = description.chars().take(140).collect();
        let mut body = json!({
            "state": state,
            "description": description,
            "context": context,
        });
        if let Some(url) = target_url {
            body["target_url"] = json!(url);
        }
        self.call(
            "set commit status",
            "POST",
            &format!("/statuses/{sha}"),
            Some(&body),
        )?;
        Ok(())
    }

    /// Every open pull request (100 a page, at most `max_pages` pages).
    ///
    /// # Errors
    /// GitHub refused or could not be reached: the caller learns nothing about any pull
    /// request (a partial listing is never returned).
    pub fn list_open(&self, max_pages: u32) -> Result<Vec<PullRequest>, ForgeError> {
        let mut out = Vec::new();
        for page in 1..=max_pages {
            let (_, list) = self.call(
                "list pull requests",
                "GET",
                &format!("/pulls?state=open&per_page=100&page={page}"),
                None,
            )?;
            let items = list.as_array().cloned().unwrap_or_default();
            let full = items.len() == 100;
            out.extend(items.iter().map(Self::pull));
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// The comments on pull request `number` (the first 100).
    ///
    /// # Errors
    /// GitHub refused.
    pub fn comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError> {
        let (_, list) = self.call(
            "list comments",
            "GET",
            &format!("/issues/{number}/comments?per_page=100"),
            None,
        )?;
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Comment {
                id: c["id"].as_u64().unwrap_or_default(),
                body: c["body"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Posts a comment on pull request `number`; its id.
    ///
    /// # Errors
    /// GitHub refused.
    pub fn comment(&self, number: u64, body: &str) -> Result<u64, ForgeError> {
        let (_, created) = self.call(
            "comment",
            "POST",
            &format!("/issues/{number}/comments"),
            Some(&json!({ "body": body })),
        )?;
        Ok(created["id"].as_u64().unwrap_or_default())
    }

    /// Replaces the text of comment `id`.
    ///
    /// # Errors
    /// GitHub refused.
    pub fn edit_comment(&self, id: u64, body: &str) -> Result<(), ForgeError> {
        self.call(
            "edit comment",
            "PATCH",
            &format!("/issues/comments/{id}"),
            Some(&json!({ "body": body })),
        )
        .map(|_| ())
    }

    /// Points `branch` at `sha` (creating it, or fast-forwarding it).
    ///
    /// # Errors
    /// GitHub refused.
    pub fn point_branch(&self, branch: &str, sha: &str) -> Result<(), ForgeError> {
        let exists = self.call(
            "read branch",
            "GET",
            &format!("/git/ref/heads/{branch}"),
            None,
        );
        match exists {
            Ok(_) => self
                .call(
                    "move branch",
                    "PATCH",
                    &format!("/git/refs/heads/{branch}"),
                    Some(&json!({ "sha": sha, "force": false })),
                )
                .map(|_| ()),
            Err(ForgeError::Refused { status: 404, .. }) => self
                .call(
                    "create branch",
                    "POST",
                    "/git/refs",
                    Some(&json!({ "ref": format!("refs/heads/{branch}"), "sha": sha })),
                )
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// The open pull request from `head` into `base`, if any.
    ///
    /// # Errors
    /// GitHub refused.
    pub fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        let owner = self.repo.split('/').next().unwrap_or_default();
        let (_, list) = self.call(
            "list pull requests",
            "GET",
            &format!("/pulls?state=open&head={owner}:{head}&base={base}"),
            None,
        )?;
        Ok(list.as_array().and_then(|a| a.first()).map(Self::pull))
    }

    /// Opens a pull request and labels it.
    ///
    /// # Errors
    /// GitHub refused.
    pub fn open(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError> {
        let (_, created) = self.call(
            "open pull request",
            "POST",
            "/pulls",
            Some(&json!({ "title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body })),
        )?;
        let opened = Self::pull(&created);
        if !pr.labels.is_empty() {
            self.call(
                "label pull request",
                "POST",
                &format!("/issues/{}/labels", opened.number),
                Some(&json!({ "labels": pr.labels })),
            )?;
        }
        Ok(opened)
    }

    /// A pull request now.
    ///
    /// # Errors
    /// GitHub refused.
    pub fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let (_, v) = self.call(
            "read pull request",
            "GET",
            &format!("/pulls/{number}"),
            None,
        )?;
        Ok(Self::pull(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_repo_from_urls() {
        for url in [
            "https://github.com/acme/shop.git",
            "https://github.com/acme/shop",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com/acme/shop",
            "http://127.0.0.1:8080/acme/shop.git",
        ] {
            assert_eq!(owner_repo(url).expect(url), "acme/shop", "{url}");
        }
        assert!(owner_repo("shop").is_err());
    }
}
