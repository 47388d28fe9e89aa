//! `shopctl log TIER`: a tier branch's history as deployments: when, which app commit, which
//! configuration commits, which ShopSets changed, read from the commits' messages (the
//! trailers and the lists [`crate::commit_message`] writes). A commit without the
//! `Shopset-Inputs` trailer is a person's and is listed as made by hand. Reads git only.

use shopset_git::CommitInfo;
use shopset_render::layout;

use crate::repos::Repos;
use crate::resources::Resources;

/// A configuration commit a deployment rendered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigCommit {
    /// The Configuration.
    pub name: String,
    /// The commit of its repository.
    pub commit: String,
}

/// ShopSet names as a commit lists them: at most some, and how many more there were.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    /// The names listed.
    pub names: Vec<String>,
    /// How many more the commit counted without naming them.
    pub more: usize,
}

impl Listed {
    /// How many in all.
    #[must_use]
    pub fn count(&self) -> usize {
        self.names.len() + self.more
    }

    /// "a, b and 3 more".
    #[must_use]
    pub fn text(&self) -> String {
        let mut text = self.names.join(", ");
        if self.more > 0 {
            text.push_str(&format!(" and {} more", self.more));
        }
        text
    }

    /// Reads "a, b and 3 more".
    fn parse(text: &str) -> Self {
        let (list, more) = match text.rsplit_once(" and ") {
            Some((list, tail)) => match tail.strip_suffix(" more").map(str::parse::<usize>) {
                Some(Ok(more)) => (list, more),
                _ => (text, 0),
            },
            None => (text, 0),
        };
        Self {
            names: list
                .split(", ")
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            more,
        }
    }
}

/// One commit of a tier branch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The system commit.
    pub commit: String,
    /// When it was committed, in seconds since the epoch.
    pub time: i64,
    /// The same, as RFC 3339 in UTC.
    pub date: String,
    /// Who made it.
    pub author: String,
    /// Their e-mail.
    pub email: String,
    /// The first line of its message.
    pub subject: String,
    /// A person's commit (no `Shopset-Inputs` trailer): the fields below are empty.
    pub by_hand: bool,
    /// The app commit rendered (`Shopset-App-Commit`).
    pub app_commit: Option<String>,
    /// The configuration commits rendered (`Shopset-Config-Commit`), by name.
    pub config_commits: Vec<ConfigCommit>,
    /// ShopSets added.
    pub added: Listed,
    /// ShopSets whose rendering changed.
    pub changed: Listed,
    /// ShopSets removed.
    pub removed: Listed,
    /// ShopSets kept at their last rendering.
    pub kept: Listed,
    /// The base before, when it moved.
    pub base_from: Option<String>,
    /// What wrote it (`Shopset-Producer`).
    pub producer: Option<String>,
}

/// A tier branch's history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierLog {
    /// The Tier.
    pub tier: String,
    /// Its branch.
    pub branch: String,
    /// The system repository (without credentials).
    pub repository: String,
    /// The commits, newest first, following first parents.
    pub entries: Vec<Deployment>,
    /// The history goes on beyond the entries listed.
    pub truncated: bool,
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No such Tier in the resources (terminal: fix the name or the resources).
    #[error("Tier {tier:?} does not exist{why}; expected one of: {known}")]
    UnknownTier {
        /// The name given.
        tier: String,
        /// Why, when the Tier is there but invalid.
        why: String,
        /// The Tiers there are.
        known: String,
    },
    /// The system repository could not be read (transient: try again).
    #[error("Tier {tier:?}: system repository {url}")]
    Git {
        /// The Tier.
        tier: String,
        /// Its system repository, without credentials.
        url: String,
        /// The cause.
        #[source]
        source: Box<shopset_git::GitError>,
    },
}

/// The last `max_count` commits of `tier`'s system branch (first parents, newest first), as
/// deployments. A branch that does not exist yet has no entries.
///
/// # Errors
/// The Tier does not exist, or its system repository cannot be read.
pub fn log(
    resources: &Resources,
    repos: &mut Repos,
    tier: &str,
    max_count: usize,
) -> Result<TierLog, LogError> {
    let Some(sourced) = resources.tiers.get(tier) else {
        let known: Vec<&str> = resources.tiers.keys().map(String::as_str).collect();
        return Err(LogError::UnknownTier {
            tier: tier.to_owned(),
            why: if resources.is_invalid("Tier", tier) {
                " (it is invalid: see its error)".into()
            } else {
                String::new()
            },
            known: if known.is_empty() {
                "(none)".into()
            } else {
                known.join(", ")
            },
        });
    };
    let url = &sourced.spec.system.url;
    let branch = sourced.spec.branch_or(tier).to_owned();
    let git = |source| LogError::Git {
        tier: tier.to_owned(),
        url: shopset_git::redact_url(url),
        source: Box::new(source),
    };
    let mut out = TierLog {
        tier: tier.to_owned(),
        branch: branch.clone(),
        repository: shopset_git::redact_url(url),
        entries: Vec::new(),
        truncated: false,
    };
    let Some(repo) = repos.system(url, false).map_err(git)? else {
        return Ok(out);
    };
    let mut next = repo.remote_tip(&branch).map_err(git)?;
    while let Some(commit) = next {
        if out.entries.len() >= max_count {
            out.truncated = true;
            break;
        }
        let info = repo.commit_info(&commit).map_err(git)?;
        next = info.parents.first().cloned();
        out.entries.push(deployment(&info));
    }
    Ok(out)
}

/// One line of the activity feed: a tier branch's commit, read as what happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// When, in seconds since the epoch.
    pub time: i64,
    /// The same, as RFC 3339 in UTC.
    pub date: String,
    /// The tier.
    pub tier: String,
    /// `release` (a new app commit in a tier that promotes from none), `promotion` (a new app
    /// commit in a tier that does), `rollback` (the app commit the tier is pinned to),
    /// `configuration` (new configuration commits), `render` (the branch's first commit, or
    /// ShopSets added, changed or removed), `by hand` (a person's commit).
    pub kind: &'static str,
    /// The system commit.
    pub commit: String,
    /// The app commit it renders.
    pub app_commit: Option<String>,
    /// What it says.
    pub summary: String,
    /// Who made it.
    pub author: String,
}

/// The activity of every tier: the last `per_tier` commits of each tier branch, newest first
/// across tiers. A tier whose branch cannot be read is left out.
#[must_use]
pub fn activity(resources: &Resources, repos: &mut Repos, per_tier: usize) -> Vec<Activity> {
    let mut out = Vec::new();
    for (tier, spec) in &resources.tiers {
        let Ok(log) = log(resources, repos, tier, per_tier + 1) else {
            continue;
        };
        let pinned = spec.spec.pin.as_ref().map(|p| p.app_commit.as_str());
        for (i, d) in log.entries.iter().enumerate().take(per_tier) {
            let older = log.entries.get(i + 1);
            let kind = if d.by_hand {
                "by hand"
            } else if older.is_none() && !log.truncated {
                // The branch's first commit.
                "render"
            } else if d.base_from.is_some() || older.is_some_and(|o| o.app_commit != d.app_commit) {
                if pinned.is_some() && pinned == d.app_commit.as_deref() {
                    "rollback"
                } else if spec.spec.promotes_from.is_some() {
                    "promotion"
                } else {
                    "release"
                }
            } else if older.is_some_and(|o| o.config_commits != d.config_commits) {
                "configuration"
            } else {
                "render"
            };
            let summary = d.subject.clone();
            out.push(Activity {
                time: d.time,
                date: d.date.clone(),
                tier: tier.clone(),
                kind,
                commit: d.commit.clone(),
                app_commit: d.app_commit.clone(),
                summary,
                author: d.author.clone(),
            });
        }
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.tier.cmp(&b.tier)));
    out
}

/// A rendered file of a ShopSet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedFile {
    /// Its path in the tier branch.
    pub path: String,
    /// Its size in bytes.
    pub size: usize,
    /// Its text, when it is text and the page has room for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A ShopSet's rendered files and the commits that changed them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopSetFiles {
    /// The system commit read.
    pub commit: String,
    /// Its files, in path order.
    pub files: Vec<RenderedFile>,
    /// The commits that changed its directory, newest first.
    pub history: Vec<Deployment>,
    /// The history walked this many commits and stopped before the branch's first.
    pub walked: usize,
    /// More commits exist beyond those walked.
    pub truncated: bool,
}

/// The files under `dir` at `commit` (the text of each, while the texts total at most
/// `max_text` bytes) and the commits among the last `max_walk` first parents that changed
/// `dir`, at most `max_history` of them. Reads git only.
///
/// # Errors
/// The commit or an object cannot be read.
pub fn shop_set_files(
    repo: &shopset_git::Repo,
    commit: &str,
    dir: &str,
    max_text: usize,
    max_walk: usize,
    max_history: usize,
) -> Result<ShopSetFiles, shopset_git::GitError> {
    let mut out = ShopSetFiles {
        commit: commit.to_owned(),
        ..ShopSetFiles::default()
    };
    if repo.path_id(commit, dir)?.is_some() {
        let mut room = max_text;
        for entry in repo.read_dir(commit, dir)? {
            if let shopset_git::FileEntry::File { path, bytes } = entry {
                let text = (bytes.len() <= room)
                    .then(|| String::from_utf8(bytes.clone()).ok())
                    .flatten();
                if text.is_some() {
                    room -= bytes.len();
                }
                out.files.push(RenderedFile {
                    path: format!("{dir}/{path}"),
                    size: bytes.len(),
                    text,
                });
            }
        }
    }
    let mut next = Some(commit.to_owned());
    let mut id = repo.path_id(commit, dir)?;
    while let Some(c) = next {
        if out.walked >= max_walk || out.history.len() >= max_history {
            out.truncated = true;
            break;
        }
        out.walked += 1;
        let info = repo.commit_info(&c)?;
        let parent = info.parents.first().cloned();
        let before = match &parent {
            Some(p) => repo.path_id(p, dir)?,
            None => None,
        };
        if before != id {
            out.history.push(deployment(&info));
        }
        id = before;
        next = parent;
    }
    Ok(out)
}

/// The trailers of a message: its last paragraph, when every line of it is `Key: value`.
fn trailers(message: &str) -> Vec<(&str, &str)> {
    let Some(last) = message.trim_end().rsplit("\n\n").next() else {
        return Vec::new();
    };
    let parsed: Option<Vec<(&str, &str)>> = last
        .lines()
        .map(|line| {
            let (key, value) = line.split_once(": ")?;
            let key_ok =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            key_ok.then(|| (key, value.trim()))
        })
        .collect();
    // The subject alone is no trailer block.
    if message.trim_end().contains("\n\n") {
        parsed.unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// One commit read as a deployment. Pure.
#[must_use]
pub fn deployment(info: &CommitInfo) -> Deployment {
    let message = info.message.as_str();
    let trailers = trailers(message);
    let get = |key: &str| {
        trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| (*v).to_owned())
    };
    let by_hand = !trailers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Shopset-Inputs") && *v == layout::INPUTS);
    let mut d = Deployment {
        commit: info.id.clone(),
        time: info.time,
        date: jiff::Timestamp::from_second(info.time)
            .map_or_else(|_| info.time.to_string(), |t| t.to_string()),
        author: info.author_name.clone(),
        email: info.author_email.clone(),
        subject: message.lines().next().unwrap_or_default().to_owned(),
        by_hand,
        app_commit: None,
        config_commits: Vec::new(),
        added: Listed::default(),
        changed: Listed::default(),
        removed: Listed::default(),
        kept: Listed::default(),
        base_from: None,
        producer: None,
    };
    if by_hand {
        return d;
    }
    d.app_commit = get("Shopset-App-Commit");
    d.producer = get("Shopset-Producer");
    d.config_commits = trailers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Shopset-Config-Commit"))
        .filter_map(|(_, v)| {
            let (name, commit) = v.split_once(' ')?;
            Some(ConfigCommit {
                name: name.to_owned(),
                commit: commit.trim().to_owned(),
            })
        })
        .collect();
    // The body: between the subject and the trailers.
    for line in message.lines().skip(1) {
        if let Some(rest) = line.strip_prefix("Added: ") {
            d.added = Listed::parse(rest);
        } else if let Some(rest) = line.strip_prefix("Changed: ") {
            d.changed = Listed::parse(rest);
        } else if let Some(rest) = line.strip_prefix("Removed: ") {
            d.removed = Listed::parse(rest);
        } else if let Some(rest) =
            line.strip_prefix("Kept at last rendered version (invalid input): ")
        {
            d.kept = Listed::parse(rest);
        } else if let Some(rest) = line.strip_prefix("Base moved: ") {
            d.base_from = rest.split_once(" -> ").map(|(from, _)| from.to_owned());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(message: &str) -> CommitInfo {
        CommitInfo {
            id: "c".repeat(40),
            parents: vec![],
            author_name: "shopset".into(),
            author_email: "shopset@localhost".into(),
            time: 1_767_225_600,
            message: message.into(),
        }
    }

    #[test]
    fn a_sync_commit_is_a_deployment() {
        let message = format!(
            "shopset: tier-1: 1 added, 2 changed, 0 removed, base aaaaaaaaaaaa -> bbbbbbbbbbbb\n\n\
             Added: shop-3\nChanged: shop-1, shop-2 and 49 more\nBase moved: {a} -> {b}\n\n\
             Shopset-Tier: tier-1\nShopset-App-Commit: {b}\n\
             Shopset-Config-Commit: express {c}\nShopset-Config-Commit: standard {a}\n\
             Shopset-Inputs: .shopset/inputs.yaml\nShopset-Producer: shopctl/0.1.0\n",
            a = "a".repeat(40),
            b = "b".repeat(40),
            c = "c".repeat(40),
        );
        let d = deployment(&info(&message));
        assert!(!d.by_hand);
        assert_eq!(d.date, "2026-01-01T00:00:00Z");
        assert_eq!(d.app_commit.as_deref(), Some(&*"b".repeat(40)));
        assert_eq!(
            d.config_commits,
            vec![
                ConfigCommit {
                    name: "express".into(),
                    commit: "c".repeat(40)
                },
                ConfigCommit {
                    name: "standard".into(),
                    commit: "a".repeat(40)
                },
            ]
        );
        assert_eq!(d.added.names, ["shop-3"]);
        assert_eq!(d.changed.names, ["shop-1", "shop-2"]);
        assert_eq!((d.changed.more, d.changed.count()), (49, 51));
        assert_eq!(d.changed.text(), "shop-1, shop-2 and 49 more");
        assert!(d.removed.names.is_empty());
        assert_eq!(d.base_from.as_deref(), Some(&*"a".repeat(40)));
        assert_eq!(d.producer.as_deref(), Some("shopctl/0.1.0"));
    }

    #[test]
    fn a_commit_without_the_inputs_trailer_is_by_hand() {
        for message in [
            "a person's change\n",
            "fix a typo\n\nAdded: not a list of ours\n",
            "revert\n\nShopset-Tier: tier-1\nShopset-App-Commit: abc\n",
            "Shopset-Inputs: .shopset/inputs.yaml\n",
        ] {
            let d = deployment(&info(message));
            assert!(d.by_hand, "{message:?}");
            assert!(
                d.app_commit.is_none() && d.added.names.is_empty(),
                "{message:?}"
            );
            assert_eq!(d.subject, message.lines().next().unwrap());
        }
    }

    #[test]
    fn trailers_are_only_the_last_paragraph() {
        let t = trailers("subject\n\nbody: with a colon\n\nKey: v\nOther-Key: w x\n");
        assert_eq!(t, [("Key", "v"), ("Other-Key", "w x")]);
        assert!(trailers("subject\n\nnot a trailer line\nKey: v\n").is_empty());
    }
}
