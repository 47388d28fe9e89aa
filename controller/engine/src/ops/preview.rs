//! Previews: a ShopSet per pull request, on a system branch of its own (DESIGN: previews).
//!
//! A preview of pull request N is the tier `preview-pr-N` (a synthetic one, built from the
//! PreviewPolicy's Tier) with one ShopSet `pr-N`, pinned to the pull request's head commit and
//! rendered on the branch `preview/pr-N` by the same plan and commit as every tier: the tier
//! branches and their pins are never read for writing, let alone written. What a preview's
//! branch records (`PreviewOf` in its inputs) is whose preview it is; when it was first
//! deployed is its first commit's time, and when it was last pushed the time of the commit
//! that brought its head commit (the writer's clock): the branches are the previews' state.
//!
//! Three actions, each used by the controller and by `shopctl preview`:
//! - [`up`]: the branch commit for a head commit (a push to the pull request moves the gitlink,
//!   one commit) and the root Application to apply;
//! - [`down`]: the removal, in order: the Application is deleted; once Argo CD has removed it
//!   (and with it, through the resources finalizer, everything it applied), the branch is
//!   deleted, a tag left first when the policy asks;
//! - [`reconcile`]: one poll of a policy: what GitHub says, what to do ([`decide`], pure), the
//!   actions, the one comment on each pull request, and the status.
//!
//! Removal only on positive evidence: the pull request is closed or merged (read from the pull
//! request itself, after it was missing from two listings some minutes apart), its label was
//! removed (seen on the open pull request), its time to live or idle time passed, or the cap
//! evicted it. Never because of one listing, never when GitHub answered with an error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use shopset_crds::preview::{
    BRANCH_PREFIX, preview_branch, preview_host, preview_name, preview_tier,
};
use shopset_crds::{PreviewEntry, PreviewPolicySpec, ShopSetSpec, TierPin, WorkloadDeletion};
use shopset_render::TierInputs;
use shopset_render::inputs::PreviewOf;

use crate::ops::sync::{Author, SyncOptions, TierOutcome, TierResult, sync};
use crate::problem::Problem;
use crate::repos::{Repos, read_recorded};
use crate::resources::{Resources, Sourced};

/// How long a pull request must have been missing from the listings (seen missing at least
/// twice, this far apart) before the pull request itself is read for evidence.
pub const ABSENCE_GAP_SECONDS: i64 = 5 * 60;

/// The annotation on a PreviewPolicy that keeps preview N until a time
/// (`shopset.dev/keep-pr-12: 2026-12-24T00:00:00Z`).
#[must_use]
pub fn keep_annotation(number: u64) -> String {
    format!("shopset.dev/keep-{}", preview_name(number))
}

/// The first line of the comment the product keeps on a pull request: how it finds its own.
pub const COMMENT_MARKER: &str = "<!-- shopset-preview -->";

/// A pull request as the previews need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Merged.
    pub merged: bool,
    /// The head commit.
    pub head_sha: String,
    /// The branch it merges into.
    pub base: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// Its page.
    pub url: String,
}

impl From<shopset_git::forge::PullRequest> for Pull {
    fn from(p: shopset_git::forge::PullRequest) -> Self {
        Self {
            number: p.number,
            state: p.state,
            merged: p.merged,
            head_sha: p.head_sha,
            base: p.base,
            labels: p.labels,
            url: p.url,
        }
    }
}

/// Where pull requests are read and commented on (GitHub, through octocrab).
pub trait PullRequests {
    /// Every open pull request. An error means nothing is known.
    ///
    /// # Errors
    /// The forge did not answer, or answered with an error.
    fn list_open(&self) -> Result<Vec<Pull>, String>;
    /// Pull request `number`; `Ok(None)` when the forge says it does not exist.
    ///
    /// # Errors
    /// The forge did not answer, or answered with another error.
    fn get(&self, number: u64) -> Result<Option<Pull>, String>;
    /// The comments on pull request `number`: (id, text).
    ///
    /// # Errors
    /// The forge refused.
    fn comments(&self, number: u64) -> Result<Vec<(u64, String)>, String>;
    /// Posts a comment; its id.
    ///
    /// # Errors
    /// The forge refused.
    fn comment(&self, number: u64, body: &str) -> Result<u64, String>;
    /// Replaces a comment's text.
    ///
    /// # Errors
    /// The forge refused.
    fn edit_comment(&self, id: u64, body: &str) -> Result<(), String>;
}

impl PullRequests for shopset_git::forge::GitHub {
    fn list_open(&self) -> Result<Vec<Pull>, String> {
        Ok(Self::list_open(self, 10)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(Pull::from)
            .collect())
    }

    fn get(&self, number: u64) -> Result<Option<Pull>, String> {
        match Self::get(self, number) {
            Ok(p) => Ok(Some(p.into())),
            Err(shopset_git::forge::ForgeError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn comments(&self, number: u64) -> Result<Vec<(u64, String)>, String> {
        Ok(Self::comments(self, number)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|c| (c.id, c.body))
            .collect())
    }

    fn comment(&self, number: u64, body: &str) -> Result<u64, String> {
        Self::comment(self, number, body).map_err(|e| e.to_string())
    }

    fn edit_comment(&self, id: u64, body: &str) -> Result<(), String> {
        Self::edit_comment(self, id, body).map_err(|e| e.to_string())
    }
}

/// Argo CD's Applications, as far as previews touch them.
pub trait Applications {
    /// Creates or updates an Application.
    ///
    /// # Errors
    /// The API server refused.
    fn apply(&mut self, application: &Value) -> Result<(), String>;
    /// Asks for an Application's deletion (Argo CD's finalizer then removes what it applied).
    ///
    /// # Errors
    /// The API server refused.
    fn delete(&mut self, namespace: &str, name: &str) -> Result<(), String>;
    /// Whether the Application still exists (being deleted counts).
    ///
    /// # Errors
    /// The API server could not say.
    fn exists(&mut self, namespace: &str, name: &str) -> Result<bool, String>;
    /// Argo CD's state of a ShopSet's Application (`Synced, Healthy`), when known.
    fn state(&self, shop_set: &str) -> Option<String>;
}

/// A preview as its branch records it.
#[derive(Debug, Clone)]
pub struct Existing {
    /// The pull request's number.
    pub number: u64,
    /// The branch tip.
    pub tip: String,
    /// What the tip records.
    pub inputs: Arc<TierInputs>,
    /// When it was first deployed: the branch's first commit (seconds since the epoch).
    pub deployed_at: i64,
    /// When its head commit was deployed (the pull request's last push, as seen): the
    /// earliest commit since which the branch records that app commit.
    pub pushed_at: i64,
    /// Since when it has been awake at that head commit (pushed, or woken by hand): what
    /// `sleepAfter` counts from.
    pub awake_since: i64,
}

impl Existing {
    /// What the branch says of the preview.
    ///
    /// # Panics
    /// Never: only branches that record a preview are listed.
    #[must_use]
    pub fn preview(&self) -> &PreviewOf {
        self.inputs
            .preview
            .as_ref()
            .expect("listed previews record one")
    }

    /// The head commit deployed.
    #[must_use]
    pub fn head_sha(&self) -> &str {
        &self.inputs.app_commit
    }
}

/// Policy `name`, refused when another policy makes previews in the same system repository
/// (their branches `preview/pr-<n>` would be the same).
fn policy<'a>(
    resources: &'a Resources,
    name: &str,
) -> Result<&'a Sourced<PreviewPolicySpec>, Problem> {
    let sourced = resources.preview_policies.get(name).ok_or_else(|| {
        let known: Vec<&String> = resources.preview_policies.keys().collect();
        Problem::about(
            "PreviewPolicy",
            name,
            format!("does not exist; expected one of {known:?}"),
        )
    })?;
    let system = |spec: &PreviewPolicySpec| {
        resources
            .tiers
            .get(&spec.tier)
            .map(|t| crate::webhook::normalize(&t.spec.system.url))
    };
    let ours = system(&sourced.spec);
    if let Some((other, _)) = resources
        .preview_policies
        .iter()
        .find(|(n, p)| *n != name && ours.is_some() && system(&p.spec) == ours)
    {
        return Err(Problem::of(
            "PreviewPolicy",
            name,
            "spec.tier",
            format!(
                "PreviewPolicy {other:?} makes previews in the same system repository: their \
                 branches preview/pr-<number> would be the same; expected one PreviewPolicy per \
                 system repository"
            ),
        )
        .in_file(&sourced.file));
    }
    Ok(sourced)
}

/// The policy's Tier.
fn tier_of<'a>(
    resources: &'a Resources,
    name: &str,
    spec: &PreviewPolicySpec,
) -> Result<&'a Sourced<shopset_crds::TierSpec>, Problem> {
    resources.tiers.get(&spec.tier).ok_or_else(|| {
        Problem::of(
            "PreviewPolicy",
            name,
            "spec.tier",
            format!(
                "Tier {:?} does not exist; expected one of the Tiers",
                spec.tier
            ),
        )
    })
}

fn system_url<'a>(
    resources: &'a Resources,
    name: &str,
    spec: &PreviewPolicySpec,
) -> Result<&'a str, Problem> {
    tier_of(resources, name, spec).map(|t| t.spec.system.url.as_str())
}

/// The previews of policy `name`, from the branches `preview/pr-*` of its tier's system
/// repository (fetched now), in number order.
///
/// # Errors
/// The policy or its tier does not exist, or the repository cannot be read.
pub fn existing(
    resources: &Resources,
    repos: &mut Repos,
    name: &str,
) -> Result<Vec<Existing>, Problem> {
    let sourced = policy(resources, name)?;
    let url = system_url(resources, name, &sourced.spec)?;
    let problem = |e: String| {
        Problem::of(
            "PreviewPolicy",
            name,
            "spec.tier",
            format!("system repository: {e}"),
        )
    };
    let repo = repos.read(url).map_err(|e| problem(e.to_string()))?;
    let mut out = Vec::new();
    for (branch, tip) in repo
        .remote_branches(&format!("{BRANCH_PREFIX}pr-"))
        .map_err(|e| problem(e.to_string()))?
    {
        let Some(inputs) = read_recorded(repo, &tip).map_err(problem)? else {
            continue;
        };
        let Some(preview) = &inputs.preview else {
            continue;
        };
        if preview.policy != name || branch != preview_branch(preview.number) {
            continue;
        }
        let times = history(repo, &tip, &inputs.app_commit).map_err(problem)?;
        out.push(Existing {
            number: preview.number,
            tip,
            inputs: Arc::new(inputs),
            deployed_at: times.deployed_at,
            pushed_at: times.pushed_at,
            awake_since: times.awake_since,
        });
    }
    out.sort_by_key(|e| e.number);
    Ok(out)
}

/// When a preview was deployed, pushed and woken.
struct Times {
    deployed_at: i64,
    pushed_at: i64,
    awake_since: i64,
}

/// Walks a preview branch back from `tip` (one commit per push, sleep or wake: short): the time
/// of its first commit, of the earliest commit since which it records `head`, and of the
/// earliest since which it has been awake at `head`.
fn history(repo: &shopset_git::Repo, tip: &str, head: &str) -> Result<Times, String> {
    let time = |c: &str| repo.commit_time(c).map_err(|e| e.to_string());
    let mut pushed = time(tip)?;
    let mut awake = pushed;
    let mut same_head = true;
    let mut still_awake = true;
    let mut at = tip.to_owned();
    // Bounded: a branch older than this many commits counts its oldest one seen as the first.
    for _ in 0..10_000 {
        let Some(parent) = repo.parent(&at).map_err(|e| e.to_string())? else {
            break;
        };
        if same_head {
            let recorded = read_recorded(repo, &parent)?;
            let ours = recorded.as_ref().filter(|i| i.app_commit == head);
            if let Some(inputs) = ours {
                pushed = time(&parent)?;
                still_awake &= !inputs.preview.as_ref().is_some_and(|p| p.asleep);
                if still_awake {
                    awake = pushed;
                }
            } else {
                same_head = false;
            }
        }
        at = parent;
    }
    Ok(Times {
        deployed_at: time(&at)?,
        pushed_at: pushed,
        awake_since: awake,
    })
}

/// RFC 3339 of `seconds` since the epoch, in UTC.
#[must_use]
pub fn timestamp(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Seconds since the epoch of an RFC 3339 time (`2026-12-24T00:00:00Z`).
fn seconds_of(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

fn duration(text: &str) -> i64 {
    shopset_crds::names::duration_seconds(text)
        .and_then(|s| i64::try_from(s).ok())
        .unwrap_or(0)
}

/// The resources a preview is planned with: the synthetic tier (the policy Tier's settings,
/// pinned to `head_sha`, on `preview/pr-<number>`), its one ShopSet, the policy's
/// Configuration and the failure domains. Nothing else, so a preview's sync can never write or
/// remove anything outside its own branch.
///
/// # Errors
/// The policy, its Tier or its Configuration does not exist.
pub fn preview_resources(
    resources: &Resources,
    name: &str,
    pull: &Pull,
    asleep: bool,
) -> Result<Resources, Problem> {
    let sourced = policy(resources, name)?;
    let spec = &sourced.spec;
    let tier = tier_of(resources, name, spec).map_err(|p| p.in_file(&sourced.file))?;
    let configuration = resources
        .configurations
        .get(&spec.configuration)
        .ok_or_else(|| {
            Problem::of(
                "PreviewPolicy",
                name,
                "spec.configuration",
                format!(
                    "Configuration {:?} does not exist; expected one of the Configurations",
                    spec.configuration
                ),
            )
            .in_file(&sourced.file)
        })?;
    shopset_crds::names::commit_id(&pull.head_sha).map_err(|m| {
        Problem::about(
            "PreviewPolicy",
            name,
            format!("pull request {}: head commit: {m}", pull.number),
        )
    })?;
    let number = pull.number;
    let tier_name = preview_tier(number);
    let mut tier_spec = tier.spec.clone();
    tier_spec.branch = Some(preview_branch(number));
    tier_spec.promotes_from = None;
    tier_spec.promotion = shopset_crds::PromotionPolicy::default();
    tier_spec.poll_interval = None;
    tier_spec.safety = shopset_crds::tier::Safety::default();
    // The tier's edge: the preview's host gets a row of its own (a shop named like the
    // preview, pinned to it) in the preview branch's routing table.
    let routed = tier.spec.routing.is_some();
    tier_spec.pin = Some(TierPin {
        app_commit: pull.head_sha.clone(),
        reason: Some(format!("preview of pull request {number}")),
    });
    let shop_set = ShopSetSpec {
        tier: tier_name.clone(),
        configuration: spec.configuration.clone(),
        failure_domain: spec.failure_domain.clone(),
        namespace: None,
        overrides: None,
        maintenance: false,
        suspend: false,
        shops: None,
        workload_deletion: WorkloadDeletion::Delete,
    };
    let record = PreviewOf {
        policy: name.to_owned(),
        number,
        pull_request: pull.url.clone(),
        configuration_branch: tier.spec.branch_or(&spec.tier).to_owned(),
        host: preview_host(&spec.host, number),
        asleep,
    };
    let mut out = Resources::default();
    out.tiers
        .insert(tier_name.clone(), Sourced::new(&sourced.file, tier_spec));
    out.configurations
        .insert(spec.configuration.clone(), configuration.clone());
    out.failure_domains = resources.failure_domains.clone();
    out.shop_sets
        .insert(preview_name(number), Sourced::new(&sourced.file, shop_set));
    if routed {
        let shop = shopset_crds::ShopSpec {
            hosts: vec![record.host.clone()],
            allow_wildcard_hosts: false,
            pool: shopset_crds::shop::DEFAULT_POOL.to_owned(),
            weight: 1,
            shop_set: Some(preview_name(number)),
            isolate: false,
            allow_tier_change: false,
        };
        out.shops
            .insert(preview_name(number), Sourced::new(&sourced.file, shop));
    }
    out.previews.insert(tier_name, record);
    Ok(out)
}

/// What [`up`] did.
#[derive(Debug, Clone)]
pub struct Up {
    /// The branch's sync.
    pub result: TierResult,
    /// The root Application to apply (`bootstrap/preview-pr-<n>.yaml` of the branch), when the
    /// branch exists.
    pub application: Option<Value>,
}

/// Renders preview `pull.number` of policy `name` at `pull.head_sha` on its branch, awake or
/// `asleep` (scaled to zero): the first commit creates the branch, a new head commit moves the
/// gitlink (one commit), the same one writes nothing. The commit's time (`author.time`, else now) is when it was deployed.
///
/// # Errors
/// The policy, its Tier or Configuration is missing, the plan has problems, or the write
/// failed.
pub fn up(
    resources: &Resources,
    repos: &mut Repos,
    author: &Author,
    name: &str,
    pull: &Pull,
    asleep: bool,
) -> Result<Up, Vec<Problem>> {
    let sourced = policy(resources, name).map_err(|p| vec![p])?;
    system_url(resources, name, &sourced.spec).map_err(|p| vec![p])?;
    let synthetic = preview_resources(resources, name, pull, asleep).map_err(|p| vec![p])?;
    // A pull request from a fork: its head is on no branch of the app repository.
    if let Some(tier) = resources.tiers.get(&sourced.spec.tier) {
        repos
            .have_pull_head(&tier.spec.app.url, pull.number, &pull.head_sha)
            .map_err(|e| {
                vec![Problem::about(
                    "PreviewPolicy",
                    name,
                    format!(
                        "pull request {}: head commit {} is not in the app repository: {e}",
                        pull.number, pull.head_sha
                    ),
                )]
            })?;
    }
    // Planned first: a preview whose ShopSet does not render (its head commit and the
    // configuration disagree) writes nothing, not a branch without it.
    let planned = crate::ops::plan::plan_tiers(&synthetic, repos, None);
    let rendered = planned.tiers.first().is_some_and(|t| {
        t.inputs
            .shop_sets
            .contains_key(&shopset_crds::preview::preview_name(pull.number))
    });
    if !planned.problems.is_empty() || !rendered {
        let mut problems = planned.problems;
        if problems.is_empty() {
            problems.push(Problem::about(
                "PreviewPolicy",
                name,
                format!("pull request {}: its ShopSet was not rendered", pull.number),
            ));
        }
        return Err(problems);
    }
    let result = sync(&synthetic, repos, author, &SyncOptions::default());
    if !result.problems.is_empty() {
        return Err(result.problems);
    }
    let Some(tier) = result.tiers.into_iter().next() else {
        return Err(vec![Problem::about(
            "PreviewPolicy",
            name,
            format!("pull request {}: nothing could be planned", pull.number),
        )]);
    };
    if let TierOutcome::Failed { error } = &tier.outcome {
        return Err(vec![Problem::about(
            "PreviewPolicy",
            name,
            format!("pull request {}: {error}", pull.number),
        )]);
    }
    let application = crate::ops::bootstrap::root_application(&tier);
    Ok(Up {
        result: tier,
        application,
    })
}

/// Where [`down`] got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// The Application was asked to go (or is going): the branch stays until it is gone.
    WaitingForApplication {
        /// `namespace/name` of the Application.
        application: String,
    },
    /// The Application is gone and the branch deleted.
    Removed {
        /// The branch's last commit.
        tip: String,
        /// The tag left at it, when the policy asks for one.
        tag: Option<String>,
    },
    /// No branch and no Application: nothing to remove.
    Absent,
}

/// The tag a removed preview's branch leaves when the policy asks (`archive/preview/pr-N`).
#[must_use]
pub fn archive_tag(number: u64) -> String {
    format!("archive/{}", preview_branch(number))
}

/// One step of removing preview `number` of policy `name`, in order: while its root
/// Application exists, ask for its deletion and wait; once Argo CD has removed it, delete the
/// branch (after leaving a tag at its tip when the policy says `archive`). Call again until
/// [`Down::Removed`]. `application_gone`: a person checked that the Application is gone
/// (`shopctl preview down --application-gone`), so `apps` is not asked.
///
/// # Errors
/// The policy is missing, the API server could not say whether the Application exists, or
/// the branch could not be deleted.
pub fn down(
    resources: &Resources,
    repos: &mut Repos,
    apps: Option<&mut dyn Applications>,
    name: &str,
    number: u64,
) -> Result<Down, Problem> {
    let sourced = policy(resources, name)?;
    let spec = &sourced.spec;
    let url = system_url(resources, name, spec)?.to_owned();
    let found = existing(resources, repos, name)?
        .into_iter()
        .find(|e| e.number == number);
    let fail =
        |m: String| Problem::about("PreviewPolicy", name, format!("pull request {number}: {m}"));
    // The root Application: as the branch renders it, else where the policy's tier puts it.
    let (namespace, application) = match &found {
        Some(e) => {
            let app = shopset_render::argo::root_application(&e.inputs);
            (
                app["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                app["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
        None => (
            resources
                .tiers
                .get(&spec.tier)
                .map(|t| t.spec.argocd.namespace.clone())
                .unwrap_or_default(),
            format!(
                "{}{}",
                shopset_crds::names::ROOT_APPLICATION_PREFIX,
                preview_tier(number)
            ),
        ),
    };
    if let Some(apps) = apps
        && apps.exists(&namespace, &application).map_err(&fail)?
    {
        apps.delete(&namespace, &application).map_err(&fail)?;
        return Ok(Down::WaitingForApplication {
            application: format!("{namespace}/{application}"),
        });
    }
    let Some(found) = found else {
        return Ok(Down::Absent);
    };
    let tag = spec.archive.then(|| archive_tag(number));
    repos
        .delete_branch(
            &url,
            &preview_branch(number),
            tag.as_deref().map(|t| (found.tip.as_str(), t)),
        )
        .map_err(|e| fail(e.to_string()))?;
    Ok(Down::Removed {
        tip: found.tip,
        tag,
    })
}

/// Why a preview is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The pull request was merged.
    Merged,
    /// The pull request was closed.
    Closed,
    /// The pull request no longer exists.
    Deleted,
    /// A label the policy asks for was removed (or the pull request now targets another
    /// branch).
    LabelRemoved,
    /// Its time to live passed.
    Expired,
    /// No push for its idle time.
    Idle,
    /// The cap: a newer pull request took its place.
    Evicted,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Merged => "the pull request was merged",
            Self::Closed => "the pull request was closed",
            Self::Deleted => "the pull request no longer exists",
            Self::LabelRemoved => {
                "the pull request no longer carries the labels the policy asks for (or targets \
                 another branch)"
            }
            Self::Expired => "its time to live passed",
            Self::Idle => "no push for its idle time",
            Self::Evicted => "evicted by maxPreviews for a newer pull request",
        })
    }
}

/// What the controller remembers between polls of one policy (lost on restart, which only
/// delays a removal).
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// Pull requests with a preview that a listing did not show: when first missed.
    pub missing: BTreeMap<u64, i64>,
    /// Previews being removed, and why.
    pub removing: BTreeMap<u64, Reason>,
    /// The comment kept on each pull request: (id, last text).
    pub comments: BTreeMap<u64, (u64, String)>,
}

/// What one poll decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// Pull requests to deploy (new, or a new head commit: awake).
    pub up: Vec<Pull>,
    /// Previews to scale to zero (no push for `sleepAfter`).
    pub sleep: Vec<Pull>,
    /// Previews to start removing, with why.
    pub down: Vec<(u64, Reason)>,
    /// Pull requests missing from two listings: read each for evidence.
    pub check: Vec<u64>,
    /// Pull requests that would get a preview but the cap is reached and nothing may be
    /// evicted this poll.
    pub waiting: Vec<u64>,
}

/// When preview `e` expires: the earlier of its time to live and its idle time, each
/// `keepFor` longer while the pull request carries the keep label, and no earlier than the
/// policy's `shopset.dev/keep-pr-<n>` annotation.
#[must_use]
pub fn expires_at(
    spec: &PreviewPolicySpec,
    annotations: Option<&BTreeMap<String, String>>,
    e: &Existing,
    kept: bool,
) -> i64 {
    let extra = if kept { duration(&spec.keep_for) } else { 0 };
    let by_rule =
        (e.deployed_at + duration(&spec.ttl)).min(e.pushed_at + duration(&spec.idle_ttl)) + extra;
    let by_hand = annotations
        .and_then(|a| a.get(&keep_annotation(e.number)))
        .and_then(|t| seconds_of(t))
        .unwrap_or(i64::MIN);
    by_rule.max(by_hand)
}

fn wanted(spec: &PreviewPolicySpec, pull: &Pull) -> bool {
    pull.state == "open"
        && spec
            .source
            .github
            .base_branch
            .as_ref()
            .is_none_or(|b| *b == pull.base)
        && spec
            .source
            .github
            .labels
            .iter()
            .all(|l| pull.labels.contains(l))
}

/// Decides one poll of a policy, from GitHub's listing of open pull requests (`None`: GitHub
/// answered with an error, so nothing is known and nothing is removed), the previews the
/// branches hold, and the time. Pure.
#[must_use]
pub fn decide(
    spec: &PreviewPolicySpec,
    annotations: Option<&BTreeMap<String, String>>,
    listing: Option<&[Pull]>,
    existing: &[Existing],
    memory: &mut Memory,
    now: i64,
) -> Decisions {
    let mut out = Decisions::default();
    let Some(listing) = listing else {
        return out;
    };
    let open: BTreeMap<u64, &Pull> = listing.iter().map(|p| (p.number, p)).collect();
    let have: BTreeMap<u64, &Existing> = existing.iter().map(|e| (e.number, e)).collect();
    memory.removing.retain(|n, _| have.contains_key(n));
    memory
        .missing
        .retain(|n, _| have.contains_key(n) && !open.contains_key(n));
    let keep_label = &spec.keep_label;
    let mut down: BTreeMap<u64, Reason> = BTreeMap::new();
    for e in existing {
        if memory.removing.contains_key(&e.number) {
            continue;
        }
        match open.get(&e.number) {
            Some(pull) if !wanted(spec, pull) => {
                down.insert(e.number, Reason::LabelRemoved);
            }
            Some(pull) => {
                let kept = pull.labels.contains(keep_label);
                if now >= expires_at(spec, annotations, e, kept) {
                    let ttl_end = e.deployed_at + duration(&spec.ttl);
                    let reason = if now >= ttl_end {
                        Reason::Expired
                    } else {
                        Reason::Idle
                    };
                    down.insert(e.number, reason);
                }
            }
            None => {
                let first = *memory.missing.entry(e.number).or_insert(now);
                if now - first >= ABSENCE_GAP_SECONDS {
                    out.check.push(e.number);
                }
            }
        }
    }
    // New pull requests and new heads, oldest number first.
    let mut count = existing
        .iter()
        .filter(|e| !down.contains_key(&e.number) && !memory.removing.contains_key(&e.number))
        .count();
    let mut evictable: Vec<(i64, u64)> = existing
        .iter()
        .filter(|e| !down.contains_key(&e.number) && !memory.removing.contains_key(&e.number))
        .filter(|e| {
            open.get(&e.number)
                .is_none_or(|p| !p.labels.contains(keep_label))
        })
        .map(|e| (e.pushed_at, e.number))
        .collect();
    evictable.sort();
    let mut evictable = evictable.into_iter();
    for pull in listing.iter().filter(|p| wanted(spec, p)) {
        match have.get(&pull.number) {
            Some(e) if memory.removing.contains_key(&e.number) || down.contains_key(&e.number) => {}
            Some(e) => {
                let asleep = e.preview().asleep;
                let sleepy = spec
                    .sleep_after
                    .as_deref()
                    .is_some_and(|d| now >= e.awake_since + duration(d));
                if e.head_sha() != pull.head_sha {
                    out.up.push(pull.clone());
                } else if sleepy && !asleep {
                    out.sleep.push(pull.clone());
                }
            }
            None => {
                if count < spec.max_previews as usize {
                    count += 1;
                    out.up.push(pull.clone());
                } else if let Some((_, victim)) = evictable.next() {
                    down.insert(victim, Reason::Evicted);
                    out.up.push(pull.clone());
                } else {
                    out.waiting.push(pull.number);
                }
            }
        }
    }
    // The previews' own removal budget: the rest wait for the next poll.
    let budget = spec.max_removals_per_poll as usize;
    let mut down: Vec<(u64, Reason)> = down.into_iter().collect();
    // Evidence from GitHub first, then the clock, then the cap.
    down.sort_by_key(|(n, r)| (*r, *n));
    if down.len() > budget {
        let evicted: BTreeSet<u64> = down[budget..]
            .iter()
            .filter(|(_, r)| *r == Reason::Evicted)
            .map(|(n, _)| *n)
            .collect();
        down.truncate(budget);
        // A pull request whose place was to come from an eviction not made waits too.
        if !evicted.is_empty() {
            let mut extra = evicted.len();
            while extra > 0 {
                let Some(pos) = out.up.iter().rposition(|p| !have.contains_key(&p.number)) else {
                    break;
                };
                out.waiting.push(out.up.remove(pos).number);
                extra -= 1;
            }
        }
    }
    out.down = down;
    out
}

/// What one poll of a policy did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The previews now, for the policy's status.
    pub previews: Vec<PreviewEntry>,
    /// What happened, for events: (reason, message).
    pub events: Vec<(String, String)>,
    /// Problems (GitHub unreachable, a write refused): each said, none stops the others.
    pub problems: Vec<Problem>,
    /// GitHub answered the listing.
    pub listed: bool,
}

/// One poll of policy `name`: reads the open pull requests once, decides, deploys, removes (in
/// order, one step per poll), keeps one comment per pull request up to date, and reports the
/// previews. `author.time` is the controller's clock.
pub fn reconcile(
    resources: &Resources,
    repos: &mut Repos,
    author: &Author,
    name: &str,
    forge: &dyn PullRequests,
    apps: &mut dyn Applications,
    memory: &mut Memory,
) -> Report {
    let mut report = Report::default();
    let now = author
        .time
        .unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let sourced = match policy(resources, name) {
        Ok(s) => s,
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let spec = &sourced.spec;
    let annotations = resources.preview_annotations.get(name);
    let mut existing = match existing(resources, repos, name) {
        Ok(e) => e,
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let listing = match forge.list_open() {
        Ok(l) => {
            report.listed = true;
            Some(l)
        }
        Err(e) => {
            report.problems.push(Problem::about(
                "PreviewPolicy",
                name,
                format!("GitHub: {e}: nothing is removed until it answers"),
            ));
            None
        }
    };
    let mut decisions = decide(
        spec,
        annotations,
        listing.as_deref(),
        &existing,
        memory,
        now,
    );
    // Pull requests missing twice: their own page is the evidence.
    for number in std::mem::take(&mut decisions.check) {
        match forge.get(number) {
            Ok(Some(pull)) if pull.merged => decisions.down.push((number, Reason::Merged)),
            Ok(Some(pull)) if pull.state == "closed" => {
                decisions.down.push((number, Reason::Closed));
            }
            Ok(Some(_)) => {
                memory.missing.remove(&number);
            }
            Ok(None) => decisions.down.push((number, Reason::Deleted)),
            Err(e) => report.problems.push(Problem::about(
                "PreviewPolicy",
                name,
                format!("GitHub: pull request {number}: {e}: kept"),
            )),
        }
    }
    let budget = spec.max_removals_per_poll as usize;
    decisions.down.truncate(budget);
    for (number, reason) in &decisions.down {
        memory.removing.insert(*number, *reason);
        report.events.push((
            "PreviewRemoving".into(),
            format!("preview of pull request {number}: removing: {reason}"),
        ));
    }
    // Removals first (they free places), one step each per poll.
    let removing: Vec<(u64, Reason)> = memory.removing.iter().map(|(n, r)| (*n, *r)).collect();
    for (number, reason) in removing {
        match down(resources, repos, Some(apps), name, number) {
            Ok(Down::WaitingForApplication { .. }) => {}
            Ok(Down::Removed { tag, .. }) => {
                memory.removing.remove(&number);
                existing.retain(|e| e.number != number);
                report.events.push((
                    "PreviewRemoved".into(),
                    format!(
                        "preview of pull request {number} removed ({reason}){}",
                        tag.map(|t| format!("; its last commit is tagged {t}"))
                            .unwrap_or_default()
                    ),
                ));
                let body = format!(
                    "{COMMENT_MARKER}\n**Preview removed**: {reason}. Its branch is deleted.\n"
                );
                keep_comment(spec, forge, memory, number, &body, &mut report, name);
                memory.comments.remove(&number);
            }
            Ok(Down::Absent) => {
                memory.removing.remove(&number);
            }
            Err(p) => report.problems.push(p),
        }
    }
    let wanted = decisions
        .up
        .iter()
        .map(|p| (p, false))
        .chain(decisions.sleep.iter().map(|p| (p, true)));
    for (pull, asleep) in wanted {
        match up(resources, repos, author, name, pull, asleep) {
            Ok(done) => {
                if let Some(app) = &done.application
                    && let Err(e) = apps.apply(app)
                {
                    report.problems.push(Problem::about(
                        "PreviewPolicy",
                        name,
                        format!("pull request {}: Application not applied: {e}", pull.number),
                    ));
                }
                if matches!(done.result.outcome, TierOutcome::Committed { .. }) {
                    let (reason, what) = if asleep {
                        ("PreviewAsleep", "scaled to zero")
                    } else {
                        ("PreviewDeployed", "deployed")
                    };
                    report.events.push((
                        reason.into(),
                        format!(
                            "preview of pull request {} at {}: {what}",
                            pull.number,
                            short(&pull.head_sha)
                        ),
                    ));
                }
            }
            Err(problems) => report.problems.extend(problems),
        }
    }
    // The status, and one comment per pull request.
    let after = match self::existing(resources, repos, name) {
        Ok(e) => e,
        Err(p) => {
            report.problems.push(p);
            existing
        }
    };
    let open: BTreeMap<u64, &Pull> = listing.iter().flatten().map(|p| (p.number, p)).collect();
    for e in &after {
        let p = e.preview();
        let kept = open
            .get(&e.number)
            .is_some_and(|pull| pull.labels.contains(&spec.keep_label));
        let expiry = timestamp(expires_at(spec, annotations, e, kept));
        let state = apps.state(&preview_name(e.number));
        let phase = if memory.removing.contains_key(&e.number) {
            "Removing"
        } else if p.asleep {
            "Asleep"
        } else if state.as_deref() == Some("Synced, Healthy") {
            "Ready"
        } else {
            "Deploying"
        };
        let entry = PreviewEntry {
            number: e.number,
            head_sha: e.head_sha().to_owned(),
            url: format!("https://{}", p.host),
            pull_request: p.pull_request.clone(),
            expires_at: expiry.clone(),
            phase: phase.to_owned(),
            reason: memory
                .removing
                .get(&e.number)
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        if phase != "Removing" && listing.is_some() {
            let body = comment_body(&entry, state.as_deref());
            keep_comment(spec, forge, memory, e.number, &body, &mut report, name);
        }
        report.previews.push(entry);
    }
    report
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The text of the comment kept on a pull request.
#[must_use]
pub fn comment_body(entry: &PreviewEntry, argo: Option<&str>) -> String {
    let state = if entry.phase == "Asleep" {
        "asleep, scaled to zero: a push wakes it"
    } else {
        argo.unwrap_or("not reported yet")
    };
    format!(
        "{COMMENT_MARKER}\n**Preview**: {url}\n\n| | |\n|---|---|\n| Commit | `{commit}` |\n| \
         Argo CD | {state} |\n| Expires | {expires} (add the keep label, or annotate the \
         PreviewPolicy with `{key}`, to keep it longer) |\n",
        url = entry.url,
        commit = short(&entry.head_sha),
        expires = entry.expires_at,
        key = keep_annotation(entry.number),
    )
}

/// Makes the one comment of the product on pull request `number` say `body`: edits it when it
/// exists (found by its marker after a restart), posts it otherwise, and does nothing when it
/// already says that.
fn keep_comment(
    spec: &PreviewPolicySpec,
    forge: &dyn PullRequests,
    memory: &mut Memory,
    number: u64,
    body: &str,
    report: &mut Report,
    name: &str,
) {
    if !spec.comment {
        return;
    }
    let known = match memory.comments.get(&number) {
        Some((id, text)) if text == body => return,
        Some((id, _)) => Some(*id),
        None => match forge.comments(number) {
            Ok(list) => list
                .into_iter()
                .find(|(_, text)| text.starts_with(COMMENT_MARKER))
                .map(|(id, text)| {
                    memory.comments.insert(number, (id, text));
                    id
                }),
            Err(e) => {
                report.problems.push(Problem::about(
                    "PreviewPolicy",
                    name,
                    format!("GitHub: comments of pull request {number}: {e}"),
                ));
                return;
            }
        },
    };
    if memory.comments.get(&number).is_some_and(|(_, t)| t == body) {
        return;
    }
    let written = match known {
        Some(id) => forge.edit_comment(id, body).map(|()| id),
        None => forge.comment(number, body),
    };
    match written {
        Ok(id) => {
            memory.comments.insert(number, (id, body.to_owned()));
        }
        Err(e) => report.problems.push(Problem::about(
            "PreviewPolicy",
            name,
            format!("GitHub: comment on pull request {number}: {e}"),
        )),
    }
}
