//! Flow 4: promotion `tier-N -> tier-N+1`. The candidate is the app commit tier N runs (the
//! base of the commit at the tip of its system branch). The gate holds when tier N's status
//! says every ShopSet is Synced and Healthy at that very system commit, for the next tier's soak
//! time, the next tier is not held, and a required approval names the candidate. Then the next
//! tier's branch of the app repository is fast-forwarded to the **exact candidate commit**: no
//! new commit, no merge, signatures intact. A move that is not a fast-forward is refused.
//!
//! [`evaluate`] is the gate, pure; [`plan`] reads git; [`promote`] pushes.

use k8s_openapi::jiff::Timestamp;
use shopset_crds::conditions::types;
use shopset_crds::{PromotionMode, TierSpec, TierStatus, names};
use shopset_render::{TierInputs, layout};

use crate::ops::pull_request::{self, PullRequestText};
use crate::ops::status::Statuses;
use crate::repos::Repos;
use crate::resources::Resources;

/// A Tier annotation that holds it: nothing promotes into it (its value says why).
pub const HOLD_ANNOTATION: &str = "shopset.dev/hold";
/// A Tier annotation approving one candidate app commit for promotion into it.
pub const APPROVED_ANNOTATION: &str = "shopset.dev/approved";
/// A Tier annotation approving candidate configuration commits (comma-separated when the
/// ShopSets read several configuration repositories).
pub const APPROVED_CONFIG_ANNOTATION: &str = "shopset.dev/approved-config";

/// What the gate looks at.
#[derive(Debug, Clone)]
pub struct GateInput<'a> {
    /// The tier promoted from.
    pub from: &'a str,
    /// The tier promoted into.
    pub to: &'a str,
    /// The app commit of the rendering tested (the candidate when promoting the app).
    pub app_commit: &'a str,
    /// The candidate: the app commit, or configuration commits joined by commas.
    pub candidate: &'a str,
    /// The system commit at the tip of the from-tier's branch.
    pub from_tip: &'a str,
    /// The from-tier's status.
    pub from_status: Option<&'a TierStatus>,
    /// ShopSets of the from-tier that are not Ready, with why.
    pub not_ready: Vec<String>,
    /// The soak time of the to-tier, in seconds.
    pub soak_seconds: u64,
    /// The to-tier's hold, if any.
    pub hold: Option<&'a str>,
    /// The freeze window the to-tier is in, if any.
    pub frozen: Option<String>,
    /// The configuration is promoted (not the app).
    pub config: bool,
    /// The to-tier requires an approval.
    pub approval_required: bool,
    /// The candidate approved for the to-tier, if any.
    pub approved: Option<&'a str>,
    /// Now.
    pub now: Timestamp,
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gate {
    /// The candidate may be promoted.
    pub open: bool,
    /// Why not (empty when open).
    pub reasons: Vec<String>,
}

impl Gate {
    /// In one line: `holds`, or every reason it does not.
    #[must_use]
    pub fn summary(&self) -> String {
        if self.open {
            "holds".to_owned()
        } else {
            self.reasons.join("; ")
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn human(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m"),
    }
}

/// Evaluates the gate. Every reason it is closed is listed, not only the first.
#[must_use]
pub fn evaluate(i: &GateInput<'_>) -> Gate {
    let mut reasons = Vec::new();
    if let Some(why) = i.hold {
        reasons.push(format!(
            "{} is held ({why}): nothing promotes into it until it is released",
            i.to
        ));
    }
    match i.from_status {
        None => reasons.push(format!(
            "{} has no status: nothing says its ShopSets are synced and healthy",
            i.from
        )),
        Some(status) => {
            if status.app_commit.as_deref() != Some(i.app_commit) {
                reasons.push(format!(
                    "{}'s status describes app commit {}, not {} which it runs",
                    i.from,
                    status.app_commit.as_deref().map_or("(none)", short),
                    short(i.app_commit)
                ));
            }
            if status.system_commit.as_deref() != Some(i.from_tip) {
                reasons.push(format!(
                    "{}'s status describes system commit {}, but its branch is at {}",
                    i.from,
                    status.system_commit.as_deref().map_or("(none)", short),
                    short(i.from_tip)
                ));
            }
            let ready = status.conditions.iter().find(|c| c.type_ == types::READY);
            match ready {
                Some(c) if c.status == "True" => {
                    let since = c.last_transition_time.0;
                    let soaked = i.now.duration_since(since).as_secs();
                    let needed = i64::try_from(i.soak_seconds).unwrap_or(i64::MAX);
                    if soaked < needed {
                        reasons.push(format!(
                            "{} has been synced and healthy for {} of the {} soak time of {}",
                            i.from,
                            human(soaked.max(0)),
                            human(needed),
                            i.to
                        ));
                    }
                }
                other => {
                    let mut why = format!(
                        "{} is not synced and healthy{}",
                        i.from,
                        other.map_or(String::new(), |c| format!(": {}", c.message))
                    );
                    if !i.not_ready.is_empty() {
                        let shown: Vec<&str> =
                            i.not_ready.iter().take(10).map(String::as_str).collect();
                        why.push_str(&format!(" (not ready: {})", shown.join("; ")));
                    }
                    reasons.push(why);
                }
            }
        }
    }
    if let Some(window) = &i.frozen {
        reasons.push(format!("{} is frozen: {window}", i.to));
    }
    let approved = i.approved.is_some_and(|a| {
        let names: Vec<&str> = a.split(',').map(str::trim).collect();
        i.candidate.split(',').all(|c| names.contains(&c))
    });
    if i.approval_required && !approved {
        reasons.push(format!(
            "{} requires an approval of {} (shopctl approve {} {}{})",
            i.to,
            short(i.candidate),
            i.to,
            i.candidate,
            if i.config { " --config" } else { "" }
        ));
    }
    Gate {
        open: reasons.is_empty(),
        reasons,
    }
}

/// What is promoted: the app commit, or the configuration commits (separately, so either
/// can move without the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Subject {
    /// The app repository's branch.
    App,
    /// The branch of every configuration repository the tier's ShopSets read.
    Config,
}

impl Subject {
    /// `app` or `configuration`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Config => "configuration",
        }
    }
}

/// One branch to fast-forward.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Move {
    /// The repository (redacted).
    pub repository: String,
    /// The branch.
    pub branch: String,
    /// Its tip now.
    pub current: Option<String>,
    /// The commit it moves to (tested on the tier promoted from).
    pub commit: String,
    /// The pull request that moves it, when the tier is promoted by pull request: the Tier's
    /// template filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestText>,
    /// The commits the move brings (`None` when they could not be listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<Incoming>,
    #[serde(skip)]
    url: String,
}

impl Move {
    /// The repository's URL, as the resources name it.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// One app commit a promotion brings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncomingCommit {
    /// Its id.
    pub commit: String,
    /// The first line of its message.
    pub subject: String,
    /// Its author.
    pub author: String,
}

/// The app commits between what a tier runs and the candidate it would be promoted to (the
/// "managed pin"): what a promotion changes, commit by commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Incoming {
    /// How many commits in all.
    pub count: usize,
    /// The newest of them, at most the number asked for.
    pub commits: Vec<IncomingCommit>,
}

impl Incoming {
    /// As a Markdown list (for a pull request's body), with the count of those not listed.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for c in &self.commits {
            out.push_str(&format!(
                "- `{}` {} ({})\n",
                short(&c.commit),
                c.subject,
                c.author
            ));
        }
        if self.count > self.commits.len() {
            out.push_str(&format!(
                "- ... and {} more\n",
                self.count - self.commits.len()
            ));
        }
        if out.is_empty() {
            out.push_str("- (no new commit)\n");
        }
        out
    }
}

/// The commits of the app repository `url` reachable from `candidate` and not from `running`
/// (at most `max` listed, newest first).
///
/// # Errors
/// The repository cannot be read, or a commit is not in it.
pub fn incoming(
    repos: &mut Repos,
    url: &str,
    running: Option<&str>,
    candidate: &str,
    max: usize,
) -> Result<Incoming, PromotionError> {
    let repo = repos
        .read(url)
        .map_err(|e| PromotionError::Repository(format!("app repository: {e}")))?;
    let (commits, count) = repo
        .commits_between(running, candidate, max)
        .map_err(|e| PromotionError::Repository(e.to_string()))?;
    Ok(Incoming {
        count,
        commits: commits
            .into_iter()
            .map(|c| IncomingCommit {
                subject: c.message.lines().next().unwrap_or_default().to_owned(),
                author: c.author_name,
                commit: c.id,
            })
            .collect(),
    })
}

/// How many incoming commits a pull request's body and `shopctl status` list.
pub const INCOMING_LISTED: usize = 20;

/// A planned promotion.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PromotionPlan {
    /// From this tier...
    pub from: String,
    /// ...into this one.
    pub to: String,
    /// The app or the configuration.
    pub subject: Subject,
    /// The candidate: the app commit, or the configuration commits joined by commas.
    pub candidate: String,
    /// The branches to move (none when everything is already there).
    pub moves: Vec<Move>,
    /// Every branch is already at its candidate.
    pub up_to_date: bool,
    /// The gate.
    pub gate: Gate,
    /// The same thing by hand.
    pub commands: Vec<String>,
    /// Remarks (a pin that keeps the tier where it is, ...).
    pub notes: Vec<String>,
}

/// Why a promotion could not be planned or carried out. Each variant says whether trying
/// again later may succeed ([`PromotionError::transient`]) and names its event reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    /// The Tier does not exist.
    #[error("Tier {0:?} does not exist")]
    UnknownTier(String),
    /// Nothing promotes into the Tier.
    #[error("Tier {0:?}: spec.promotesFrom is not set: nothing promotes into it")]
    NoPredecessor(String),
    /// The tier promoted from has no rendering to promote yet.
    #[error("Tier {tier:?}: {why}")]
    NotRendered {
        /// The tier promoted from.
        tier: String,
        /// What is missing.
        why: String,
    },
    /// A configuration promotion, but the tier promoted from reads no configuration from a
    /// repository.
    #[error("{0} reads no configuration from a repository: there is nothing to promote")]
    NoConfiguration(String),
    /// A repository could not be read or written (the network, the server, credentials).
    #[error("{0}")]
    Repository(String),
    /// A branch would move backwards or sideways: commits would be dropped.
    #[error("{0}")]
    NotFastForward(String),
    /// The Tier's pull-request template cannot be filled in.
    #[error("Tier {tier:?}: {message}")]
    Template {
        /// The tier promoted into.
        tier: String,
        /// What is wrong.
        message: String,
    },
    /// The server refused to move a branch (it moved: plan again).
    #[error("{0}")]
    Refused(String),
    /// The forge (GitHub) refused or could not be reached.
    #[error("{0}")]
    Forge(String),
}

impl PromotionError {
    /// Whether trying again later, unchanged, may succeed.
    #[must_use]
    pub fn transient(&self) -> bool {
        matches!(
            self,
            Self::Repository(_) | Self::Refused(_) | Self::Forge(_)
        )
    }

    /// A configuration promotion into a tier that reads no configuration repository: not a
    /// problem, there is simply nothing to promote.
    #[must_use]
    pub fn nothing_to_promote(&self) -> bool {
        matches!(self, Self::NoConfiguration(_))
    }
}

fn tier<'a>(resources: &'a Resources, name: &str) -> Result<&'a TierSpec, PromotionError> {
    resources
        .tiers
        .get(name)
        .map(|s| &s.spec)
        .ok_or_else(|| PromotionError::UnknownTier(name.to_owned()))
}

/// A move of `branch` in `url` to `commit`, checked to be a fast-forward (or nothing to do).
fn plan_move(
    repos: &mut Repos,
    url: &str,
    branch: &str,
    commit: &str,
    what: &str,
    from_branch: &str,
) -> Result<Option<Move>, PromotionError> {
    let repo = repos
        .read(url)
        .map_err(|e| PromotionError::Repository(format!("{what}: {e}")))?;
    let current = repo
        .remote_tip(branch)
        .map_err(|e| PromotionError::Repository(e.to_string()))?;
    if current.as_deref() == Some(commit) {
        return Ok(None);
    }
    if let Some(current) = &current {
        let ff = repo.descends_from(commit, current).map_err(|e| {
            PromotionError::Repository(format!(
                "the candidate {commit} is not in the {what} ({}): {e}",
                shopset_git::redact_url(url)
            ))
        })?;
        if !ff {
            return Err(PromotionError::NotFastForward(format!(
                "not a fast-forward: {branch} of the {what} is at {current}, which the candidate \
                 {commit} does not contain. Promoting would drop those commits; bring them into \
                 {from_branch} first (merge there, deploy, let the gate hold), then promote"
            )));
        }
    }
    Ok(Some(Move {
        repository: shopset_git::redact_url(url),
        branch: branch.to_owned(),
        current,
        commit: commit.to_owned(),
        pull_request: None,
        incoming: None,
        url: url.to_owned(),
    }))
}

/// The pull request of each move: the Tier's template filled in with the move, the gate and
/// the commits it brings.
fn fill_pull_requests(
    moves: &mut [Move],
    to_spec: &TierSpec,
    from: &str,
    to: &str,
    subject: Subject,
    gate: &str,
) -> Result<(), PromotionError> {
    let template = to_spec.promotion.pull_request.as_ref();
    for m in moves {
        m.pull_request = Some(pull_request_text(m, template, from, to, subject, gate)?);
    }
    Ok(())
}

/// The pull request text of one move, from `template` (the default one when `None`).
fn pull_request_text(
    m: &Move,
    template: Option<&shopset_crds::PullRequestTemplate>,
    from: &str,
    to: &str,
    subject: Subject,
    gate: &str,
) -> Result<PullRequestText, PromotionError> {
    let changes = m
        .incoming
        .as_ref()
        .map(Incoming::markdown)
        .unwrap_or_default();
    let values = pull_request::Values {
        from,
        to,
        commit: &m.commit,
        subject: subject.name(),
        repository: &m.repository,
        branch: &m.branch,
        gate,
        changes: &changes,
    };
    pull_request::text(template, &values).map_err(|e| PromotionError::Template {
        tier: to.to_owned(),
        message: e.to_string(),
    })
}

/// The rendering of tier `from` at its branch tip: the tip and its recorded inputs.
/// The system repository of the Tier `from`, fetched.
fn system_repo<'r>(
    repos: &'r mut Repos,
    from: &str,
    spec: &TierSpec,
) -> Result<&'r shopset_git::Repo, PromotionError> {
    repos
        .system(&spec.system.url, false)
        .map_err(|e| PromotionError::Repository(format!("Tier {from:?}: system repository: {e}")))?
        .ok_or_else(|| PromotionError::NotRendered {
            tier: from.to_owned(),
            why: "the system repository does not exist yet".into(),
        })
}

fn rendering(
    repos: &mut Repos,
    from: &str,
    spec: &TierSpec,
    branch: &str,
) -> Result<(String, std::sync::Arc<TierInputs>), PromotionError> {
    let not_rendered = |why: String| PromotionError::NotRendered {
        tier: from.to_owned(),
        why,
    };
    let system = system_repo(repos, from, spec)?;
    let tip = system
        .remote_tip(branch)
        .map_err(|e| PromotionError::Repository(e.to_string()))?
        .ok_or_else(|| not_rendered(format!("branch {branch} is not rendered yet")))?;
    // Parsed once per commit (the sync that wrote it keeps it): a gate is judged at every
    // batch, and a tier of 3,000 ShopSets records megabytes of inputs.
    if let Some(inputs) = repos.parsed_inputs(&tip) {
        return Ok((tip, inputs));
    }
    let system = system_repo(repos, from, spec)?;
    let inputs = crate::repos::read_recorded(system, &tip)
        .map_err(|e| not_rendered(format!("{branch}: {}: {e}", layout::INPUTS)))?
        .ok_or_else(|| not_rendered(format!("{branch} ({tip}): no {}", layout::INPUTS)))?;
    let inputs = std::sync::Arc::new(inputs);
    repos.keep_inputs(&tip, inputs.clone());
    Ok((tip, inputs))
}

/// What moves where, as (repository URL, commit, description): the app commit the tier
/// promoted from renders, or each configuration repository's commit it used.
fn wanted(
    subject: Subject,
    to: &TierSpec,
    inputs: &TierInputs,
    from: &str,
) -> Result<Vec<(String, String, &'static str)>, PromotionError> {
    let mut wanted: Vec<(String, String, &'static str)> = Vec::new();
    match subject {
        Subject::App => wanted.push((
            to.app.url.clone(),
            inputs.app_commit.clone(),
            "app repository",
        )),
        Subject::Config => {
            for resolved in inputs.configurations.values() {
                if let Some(source) = &resolved.source
                    && !wanted.iter().any(|(u, _, _)| *u == source.url)
                {
                    wanted.push((
                        source.url.clone(),
                        source.commit.clone(),
                        "configuration repository",
                    ));
                }
            }
            if wanted.is_empty() {
                return Err(PromotionError::NoConfiguration(from.to_owned()));
            }
        }
    }
    Ok(wanted)
}

/// The ShopSets of a rendering that are not Ready, each with why.
fn not_ready(inputs: &TierInputs, statuses: &Statuses) -> Vec<String> {
    inputs
        .shop_sets
        .keys()
        .filter_map(|name| {
            let ready = statuses
                .shop_sets
                .get(name)
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == types::READY));
            match ready {
                Some(c) if c.status == "True" => None,
                Some(c) => Some(format!("{name}: {}", c.message)),
                None => Some(format!("{name}: no status")),
            }
        })
        .collect()
}

/// Plans the promotion of `subject` into `to`: finds the candidate, evaluates the gate,
/// checks that every branch move is a fast-forward and, when the tier is promoted by pull
/// request, writes each pull request's text from the Tier's template.
///
/// # Errors
/// The Tier or its predecessor does not exist, a repository cannot be read, a move is not
/// a fast-forward, or the pull-request template cannot be filled in (checked even when
/// nothing moves, so a bad template is reported before any pull request is opened).
pub fn plan(
    resources: &Resources,
    statuses: &Statuses,
    repos: &mut Repos,
    to: &str,
    subject: Subject,
    now: Timestamp,
) -> Result<PromotionPlan, PromotionError> {
    let to_spec = tier(resources, to)?;
    let from = to_spec
        .promotes_from
        .clone()
        .ok_or_else(|| PromotionError::NoPredecessor(to.to_owned()))?;
    let from_spec = tier(resources, &from)?;
    let from_branch = from_spec.branch_or(&from).to_owned();
    let (from_tip, inputs) = rendering(repos, &from, from_spec, &from_branch)?;
    let branch = to_spec.branch_or(to).to_owned();
    let wanted = wanted(subject, to_spec, &inputs, &from)?;
    let candidate = wanted
        .iter()
        .map(|(_, c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let mut moves = Vec::new();
    for (url, commit, what) in &wanted {
        if let Some(mut m) = plan_move(repos, url, &branch, commit, what, &from_branch)? {
            m.incoming = incoming(repos, url, m.current.as_deref(), commit, INCOMING_LISTED)
                .map_err(|e| tracing::debug!(error = %e, "incoming commits not listed"))
                .ok();
            moves.push(m);
        }
    }

    let annotations = resources.tier_annotations.get(to);
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
    let from_status = statuses.tiers.get(&from);
    let approved = match subject {
        Subject::App => annotation(APPROVED_ANNOTATION),
        Subject::Config => annotation(APPROVED_CONFIG_ANNOTATION),
    };
    let gate = evaluate(&GateInput {
        from: &from,
        to,
        // The status must describe the very rendering whose commits move.
        app_commit: &inputs.app_commit,
        candidate: &candidate,
        from_tip: &from_tip,
        from_status,
        not_ready: not_ready(&inputs, statuses),
        soak_seconds: names::duration_seconds(&to_spec.promotion.soak).unwrap_or(0),
        hold: annotation(HOLD_ANNOTATION),
        frozen: crate::ops::freeze::frozen(&to_spec.promotion.freeze_windows, now),
        config: subject == Subject::Config,
        approval_required: to_spec.promotion.require_approval,
        approved,
        now,
    });
    if to_spec.promotion.mode == PromotionMode::PullRequest {
        fill_pull_requests(&mut moves, to_spec, &from, to, subject, &gate.summary())?;
    }
    let mut notes = Vec::new();
    if let (Subject::App, Some(pin)) = (subject, &to_spec.pin) {
        notes.push(format!(
            "{to} is pinned to {} ({}): the branch moves, the tier stays on the pin until \
             `shopctl unpin {to}`",
            pin.app_commit,
            pin.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    Ok(PromotionPlan {
        commands: moves
            .iter()
            .map(|m| {
                format!(
                    "git push {} {}:refs/heads/{}",
                    m.repository, m.commit, m.branch
                )
            })
            .collect(),
        up_to_date: moves.is_empty(),
        from,
        to: to.to_owned(),
        subject,
        candidate,
        moves,
        gate,
        notes,
    })
}

/// Pushes every move, fast-forward only.
///
/// # Errors
/// The server refused a push (a rejection is never retried: the branch moved, so the plan
/// must be made again), or git could not talk to it. Moves already made stay made; the next
/// plan finds them up to date.
pub fn promote(plan: &PromotionPlan, repos: &mut Repos) -> Result<(), PromotionError> {
    for m in &plan.moves {
        match repos.push(&m.url, &m.commit, &m.branch) {
            Ok(shopset_git::PushOutcome::Pushed) => {}
            Ok(shopset_git::PushOutcome::Rejected { reason, .. }) => {
                return Err(PromotionError::Refused(format!(
                    "the server refused to move {} of {} to {}: {reason}",
                    m.branch, m.repository, m.commit
                )));
            }
            Err(e) => return Err(PromotionError::Repository(e.to_string())),
        }
    }
    Ok(())
}

/// What a promotion by pull request did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullRequestOutcome {
    /// Its number.
    pub number: u64,
    /// Its page.
    pub url: String,
    /// The branch holding the candidate.
    pub head: String,
    /// Merged (the base fast-forwarded to the candidate).
    pub merged: bool,
}

/// Promotes by pull request on GitHub: a branch at the candidate (no new commit), one pull
/// request into the tier branch (found again if already open) with the title, body and labels
/// the plan wrote from the Tier's template (the defaults when it wrote none), and, when
/// `merge`, the tier branch fast-forwarded to the candidate, which GitHub records as the pull
/// request merged.
///
/// # Errors
/// GitHub refused, or the plan moves more than one repository (promote the app and the
/// configuration separately).
pub fn promote_by_pull_request(
    plan: &PromotionPlan,
    forge: &shopset_git::forge::GitHub,
    merge: bool,
) -> Result<PullRequestOutcome, PromotionError> {
    let forge_error = |e: shopset_git::forge::ForgeError| PromotionError::Forge(e.to_string());
    let [m] = &plan.moves[..] else {
        return Err(PromotionError::Forge(format!(
            "a pull request covers one repository; this promotion moves {}",
            plan.moves.len()
        )));
    };
    let short = m.commit.get(..12).unwrap_or(&m.commit);
    let head = format!("shopset/promote-{}-{short}", plan.to);
    forge.point_branch(&head, &m.commit).map_err(forge_error)?;
    let pr = match forge.find_open(&head, &m.branch).map_err(forge_error)? {
        Some(pr) => pr,
        None => {
            let text = match &m.pull_request {
                Some(text) => text.clone(),
                None => pull_request_text(
                    m,
                    None,
                    &plan.from,
                    &plan.to,
                    plan.subject,
                    &plan.gate.summary(),
                )?,
            };
            forge
                .open(&shopset_git::forge::NewPullRequest {
                    head: &head,
                    base: &m.branch,
                    title: &text.title,
                    body: &text.body,
                    labels: &text.labels,
                })
                .map_err(forge_error)?
        }
    };
    let mut merged = pr.merged;
    if merge && !merged {
        forge.point_branch(&m.branch, &m.commit).map_err(|e| {
            PromotionError::Forge(format!("fast-forward {} to {}: {e}", m.branch, m.commit))
        })?;
        merged = forge.get(pr.number).map(|p| p.merged).unwrap_or(true);
    }
    Ok(PullRequestOutcome {
        number: pr.number,
        url: pr.url,
        head,
        merged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::SignedDuration;
    use shopset_crds::Condition;

    const NOW: Timestamp = Timestamp::constant(10_000, 0);

    fn status(app: &str, system: &str, ready: bool, since: i64) -> TierStatus {
        TierStatus {
            app_commit: Some(app.into()),
            system_commit: Some(system.into()),
            conditions: vec![Condition {
                type_: types::READY.into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: "x".into(),
                message: "2 ShopSets: 1 synced, 1 healthy".into(),
                last_transition_time: Time(NOW - SignedDuration::from_secs(since)),
                observed_generation: None,
            }],
            ..TierStatus::default()
        }
    }

    fn input(s: Option<&TierStatus>) -> GateInput<'_> {
        GateInput {
            from: "tier-0",
            to: "tier-1",
            app_commit: "c1",
            candidate: "c1",
            from_tip: "s1",
            from_status: s,
            not_ready: vec![],
            soak_seconds: 600,
            hold: None,
            frozen: None,
            config: false,
            approval_required: false,
            approved: None,
            now: NOW,
        }
    }

    #[test]
    fn open_when_ready_at_the_candidate_for_the_soak_time() {
        let s = status("c1", "s1", true, 601);
        assert_eq!(evaluate(&input(Some(&s))).reasons, Vec::<String>::new());
    }

    #[test]
    fn each_unmet_condition_is_a_reason() {
        let s = status("c1", "s1", true, 60);
        let g = evaluate(&input(Some(&s)));
        assert!(!g.open);
        assert!(g.reasons[0].contains("1m00s of the 10m00s soak"), "{g:?}");

        let s = status("c0", "s0", true, 601);
        let g = evaluate(&input(Some(&s)));
        assert_eq!(g.reasons.len(), 2, "{g:?}");

        let s = status("c1", "s1", false, 601);
        let mut i = input(Some(&s));
        i.not_ready = vec!["shop-a: waiting for Healthy".into()];
        let g = evaluate(&i);
        assert!(g.reasons[0].contains("not ready: shop-a"), "{g:?}");

        let g = evaluate(&input(None));
        assert!(g.reasons[0].contains("no status"), "{g:?}");

        let s = status("c1", "s1", true, 601);
        let mut i = input(Some(&s));
        i.hold = Some("bad release 1.3.0");
        i.approval_required = true;
        i.approved = Some("c0");
        let g = evaluate(&i);
        assert_eq!(g.reasons.len(), 2, "{g:?}");
        assert!(g.reasons[0].contains("held (bad release 1.3.0)"));
        assert!(g.reasons[1].contains("requires an approval of c1"));
        i.hold = None;
        i.approved = Some("c1");
        assert!(evaluate(&i).open);
        i.frozen = Some("in the freeze window \"0 18 * * FRI\"".into());
        let g = evaluate(&i);
        assert!(g.reasons[0].contains("tier-1 is frozen"), "{g:?}");
    }
}
