//! Flows 1-3: commit the planned tree of every tier branch and push it, fast-forward only. A
//! push refused because the branch moved is answered by fetching, planning again on the new tip
//! and retrying, with bounded, jittered backoff; a human commit on the branch is never lost.

use std::collections::{BTreeMap, BTreeSet};

use shopset_crds::tier::MaxRemovals;
use shopset_git::{CommitMeta, PushOutcome, Signer};
use shopset_render::layout;

use crate::fault::{self, fault};
use crate::ops::plan::{Content, Summary, SyncPlan, TierPlan, plan_tiers};
use crate::problem::Problem;
use crate::repos::Repos;
use crate::resources::Resources;

/// Who is writing, for commit signatures and the `Shopset-Producer` trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// What produced the commit, e.g. `shopctl/0.1.0`.
    pub producer: String,
    /// Commit time in seconds since the epoch; `None` for now.
    pub time: Option<i64>,
    /// Sign every commit with this key.
    pub signer: Option<Signer>,
}

/// What happened to one tier branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierOutcome {
    /// The branch already had this tree: nothing written, nothing pushed.
    Unchanged {
        /// Its tip (`None`: the branch does not exist and the tree is empty).
        commit: Option<String>,
    },
    /// A commit was written and pushed.
    Committed {
        /// The previous tip.
        parent: Option<String>,
        /// The new tip.
        commit: String,
    },
    /// Nothing was written (dry run).
    Planned,
    /// Nothing was written: the sync would remove too many ShopSets at once, and a person must
    /// confirm (DESIGN: the mass-deletion stop).
    Blocked {
        /// What would have been removed, and how to confirm.
        reason: String,
    },
    /// The branch could not be written.
    Failed {
        /// Why.
        error: WriteError,
    },
}

/// Why a tier branch could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Every push was refused because the branch moved meanwhile (transient).
    #[error("the branch kept moving: gave up after {attempts} attempts (last refusal: {last})")]
    KeptMoving {
        /// Plans made.
        attempts: u32,
        /// The server's last refusal.
        last: String,
    },
    /// The controller's lease on the branch may have lapsed before the write (transient).
    #[error("the lease on this branch may have lapsed: nothing written")]
    LeaseLapsed,
    /// The server refused the push for another reason than a moved branch (terminal: a hook,
    /// a protected branch).
    #[error("the server refused the push to {branch}: {reason}")]
    Refused {
        /// The branch.
        branch: String,
        /// The server's words.
        reason: String,
    },
    /// Credentials were refused (terminal until a person fixes them).
    #[error("{0}")]
    Auth(String),
    /// Git failed otherwise: the cache, the transport (transient).
    #[error("{0}")]
    Git(String),
    /// The commit could not be written in the cache (terminal).
    #[error("{0}")]
    Commit(String),
}

impl WriteError {
    /// Whether trying again later may succeed.
    #[must_use]
    pub fn transient(&self) -> bool {
        matches!(
            self,
            Self::KeptMoving { .. } | Self::LeaseLapsed | Self::Git(_)
        )
    }

    /// A short label for metrics and logs.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::KeptMoving { .. } => "kept_moving",
            Self::LeaseLapsed => "lease_lapsed",
            Self::Refused { .. } => "refused",
            Self::Auth(_) => "auth",
            Self::Git(_) => "git",
            Self::Commit(_) => "commit",
        }
    }
}

/// Until when each branch may be written: asked again before every tier is written, so a
/// lease renewed while a sync runs lets the sync go on, and one lost stops it.
#[derive(Clone)]
pub struct Deadline(std::sync::Arc<Until>);

/// Until when a branch may be written (`None`: not now).
type Until = dyn Fn(&str) -> Option<std::time::Instant> + Send + Sync;

impl Deadline {
    /// `until(branch)`: until when `branch` may be written, `None` when it may not be now.
    pub fn new(until: impl Fn(&str) -> Option<std::time::Instant> + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(until))
    }

    /// Until when `branch` may be written (`None`: not now).
    #[must_use]
    pub fn until(&self, branch: &str) -> Option<std::time::Instant> {
        (self.0)(branch)
    }

    /// Whether `branch` may be written now.
    #[must_use]
    pub fn allows(&self, branch: &str) -> bool {
        self.until(branch)
            .is_some_and(|d| std::time::Instant::now() < d)
    }
}

impl std::fmt::Debug for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deadline(..)")
    }
}

/// Two deadlines are the same when they are the same function.
impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Deadline {}

/// How a sync runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Plan only.
    pub dry_run: bool,
    /// Attempts per sync when pushes are refused because a branch moved.
    pub max_attempts: u32,
    /// First backoff, doubled per attempt (with jitter), in milliseconds.
    pub backoff_ms: u64,
    /// A person checked the removals: go ahead. (The limits of the stop are each Tier's
    /// `spec.safety.maxRemovals`.)
    pub confirm_removals: bool,
    /// Per tier, a confirmation of one exact set of removals (see [`removal_token`]): the
    /// stop lets that set through, and only that set.
    pub confirmed_removals: BTreeMap<String, String>,
    /// Sync only these tiers (all when `None`).
    pub tiers: Option<BTreeSet<String>>,
    /// Write a tier's branch only while this allows it (the controller's leases on the
    /// branches): a tier reached later fails, transiently, without pushing.
    pub deadline: Option<Deadline>,
    /// What changed since the last sync through the same [`Repos`], when the caller knows it
    /// (a watch): only the specs of these ShopSets and these Shops. The sync then plans from
    /// the last one and the change alone when it can ([`crate::ops::warm`]). `None`: anything
    /// may have changed.
    pub changed: Option<crate::ops::warm::Changed>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            max_attempts: 12,
            backoff_ms: 50,
            confirm_removals: false,
            confirmed_removals: BTreeMap::new(),
            tiers: None,
            deadline: None,
            changed: None,
        }
    }
}

/// One tier's result.
#[derive(Debug, Clone)]
pub struct TierResult {
    /// The plan that was executed last.
    pub plan: TierPlan,
    /// What happened.
    pub outcome: TierOutcome,
}

/// A sync's result.
#[derive(Debug, Default)]
pub struct SyncResult {
    /// Per tier.
    pub tiers: Vec<TierResult>,
    /// Problems with inputs (the rest was still done).
    pub problems: Vec<Problem>,
    /// Plans made (1 when no push was refused).
    pub attempts: u32,
    /// Pushes refused because a branch moved.
    pub retries: u32,
    /// Each Migration's status, as planned (DESIGN: migration).
    pub migrations: std::collections::BTreeMap<String, shopset_crds::MigrationStatus>,
    /// The first plan was made from the last sync and the change alone
    /// ([`SyncOptions::changed`]), not of everything.
    pub from_change: bool,
}

impl SyncResult {
    /// True when every input was used and every branch written (warnings aside).
    #[must_use]
    pub fn ok(&self) -> bool {
        !crate::any_error(&self.problems)
            && !self.tiers.iter().any(|t| {
                matches!(
                    t.outcome,
                    TierOutcome::Failed { .. } | TierOutcome::Blocked { .. }
                )
            })
    }
}

const MAX_LISTED: usize = 50;

fn list(label: &str, names: &[String], out: &mut String) {
    if names.is_empty() {
        return;
    }
    let shown: Vec<&str> = names.iter().take(MAX_LISTED).map(String::as_str).collect();
    out.push_str(&format!("{label}: {}", shown.join(", ")));
    if names.len() > MAX_LISTED {
        out.push_str(&format!(" and {} more", names.len() - MAX_LISTED));
    }
    out.push('\n');
}

/// The commit message of a planned tier: a subject, what changed, and trailers naming the
/// inputs.
#[must_use]
pub fn commit_message(plan: &TierPlan, author: &Author) -> String {
    let Summary {
        added,
        changed,
        removed,
        kept,
        base_from,
        base_to,
        shops,
        migrations,
        sides_removed,
        rollouts_leaving,
    } = &plan.summary;
    let mut subject = format!(
        "shopset: {}: {} added, {} changed, {} removed",
        plan.tier,
        added.len(),
        changed.len(),
        removed.len()
    );
    match shops.len() {
        0 => {}
        1 => subject.push_str(", 1 shop"),
        n => subject.push_str(&format!(", {n} shops")),
    }
    match migrations.len() {
        0 => {}
        1 => subject.push_str(", 1 migrating"),
        n => subject.push_str(&format!(", {n} migrating")),
    }
    if let Some(from) = base_from {
        subject.push_str(&format!(", base {} -> {}", short(from), short(base_to)));
    }
    let mut body = String::new();
    list("Added", added, &mut body);
    list("Changed", changed, &mut body);
    list("Removed", removed, &mut body);
    list("Shops", shops, &mut body);
    list("Migrating", migrations, &mut body);
    list("Sides removed", sides_removed, &mut body);
    list("Leaving canary release", rollouts_leaving, &mut body);
    list(
        "Kept at last rendered version (invalid input)",
        kept,
        &mut body,
    );
    if let Some(from) = base_from {
        body.push_str(&format!("Base moved: {from} -> {base_to}\n"));
    }
    let restored: Vec<String> = plan.restored.iter().map(|d| d.path.clone()).collect();
    list("Rendered back (changed by hand)", &restored, &mut body);
    let mut trailers = format!(
        "Shopset-Tier: {}\nShopset-App-Commit: {}\n",
        plan.tier, plan.inputs.app_commit
    );
    for (name, config) in &plan.inputs.configurations {
        if let Some(source) = &config.source {
            trailers.push_str(&format!(
                "Shopset-Config-Commit: {name} {}\n",
                source.commit
            ));
        }
    }
    trailers.push_str(&format!(
        "Shopset-Inputs: {}\nShopset-Producer: {}\n",
        layout::INPUTS,
        author.producer
    ));
    if body.is_empty() {
        format!("{subject}\n\n{trailers}")
    } else {
        format!("{subject}\n\n{body}\n{trailers}")
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The mass-removal stop: `Some(why)` when the plan removes, and nobody confirmed, more than
/// the Tier's allowed share and count (`spec.safety.maxRemovals`) of its ShopSets, or more
/// than half of them, or the last of them (so a small tier is protected too). An input that
/// could not be read never counts as a removal: the planner keeps such ShopSets.
#[must_use]
pub fn removal_stop(
    plan: &TierPlan,
    resources: &Resources,
    options: &SyncOptions,
) -> Option<String> {
    let limits: MaxRemovals = resources
        .tiers
        .get(&plan.tier)
        .map(|t| t.spec.safety.max_removals)
        .unwrap_or_default();
    // A side a migration removes is an Application removed, as a ShopSet's is.
    let all: Vec<String> = plan
        .summary
        .removed
        .iter()
        .chain(&plan.summary.sides_removed)
        .cloned()
        .collect();
    let removed = all.len();
    let before = plan.previous.as_ref().map_or(0, |p| p.shop_sets.len());
    if options.confirm_removals || removed == 0 {
        return None;
    }
    let many = removed as u64 > u64::from(limits.count)
        && removed as u64 * 100 > before as u64 * u64::from(limits.percent);
    let most = removed * 2 > before;
    let last = removed == before;
    if !(many || most || last) {
        return None;
    }
    let token = removal_token(&all);
    if options.confirmed_removals.get(&plan.tier) == Some(&token) {
        return None;
    }
    let names: Vec<&str> = all.iter().take(10).map(String::as_str).collect();
    let rule = if last {
        "every ShopSet of the tier".to_owned()
    } else if many {
        format!(
            "more than {}% and more than {} (the Tier's spec.safety.maxRemovals)",
            limits.percent, limits.count
        )
    } else {
        "more than half of the tier".to_owned()
    };
    let sides = match plan.summary.sides_removed.len() {
        0 => String::new(),
        n => format!(
            "; {n} of them the side a migration leaves (a smaller spec.maxInFlight keeps under \
             the limit)"
        ),
    };
    Some(format!(
        "would remove {removed} of {before} ShopSets ({}{}{sides}), {rule}: nothing written; check \
         the resources, then confirm: annotate the Tier ({CONFIRM_REMOVALS_ANNOTATION}={token}) or \
         run shopctl sync --confirm-removals",
        names.join(", "),
        if removed > names.len() { ", ..." } else { "" },
    ))
}

/// The Tier annotation that confirms one set of removals; its value is [`removal_token`].
pub const CONFIRM_REMOVALS_ANNOTATION: &str = "shopset.dev/confirm-removals";

/// `options` with the confirmations the Tiers carry as [`CONFIRM_REMOVALS_ANNOTATION`]: the
/// engine reads them from the resources, so the controller and `shopctl sync` honour the same
/// annotation. A confirmation given by the caller for a tier wins.
pub(crate) fn with_annotated_confirmations(
    resources: &Resources,
    options: &SyncOptions,
) -> SyncOptions {
    let mut options = options.clone();
    for (tier, annotations) in &resources.tier_annotations {
        if let Some(token) = annotations.get(CONFIRM_REMOVALS_ANNOTATION) {
            options
                .confirmed_removals
                .entry(tier.clone())
                .or_insert_with(|| token.clone());
        }
    }
    options
}

/// A short token naming one exact set of removed ShopSets (FNV-1a 64 of the sorted names), so
/// a confirmation covers what the person saw and nothing that came later.
#[must_use]
pub fn removal_token(removed: &[String]) -> String {
    let mut names: Vec<&str> = removed.iter().map(String::as_str).collect();
    names.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in names.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Same inputs on top of our own rendering: the tree cannot change, so nothing is written.
pub fn inputs_unchanged(plan: &TierPlan) -> bool {
    matches!(plan.content, Content::Edits { .. }) && plan.previous.as_ref() == Some(&plan.inputs)
}

/// Writes the planned tree: whole, or as edits of the previous one.
///
/// # Errors
/// A failed write.
pub fn write_content(
    repo: &shopset_git::Repo,
    plan: &TierPlan,
) -> Result<String, shopset_git::GitError> {
    match &plan.content {
        Content::Full(tree) => repo.write_tree(tree),
        Content::Edits { base_tree, edits } => repo.write_tree_edited(base_tree, edits),
    }
}

enum Step {
    Done(TierOutcome),
    Retry(String),
}

fn commit_and_push(plan: &TierPlan, repos: &mut Repos, author: &Author) -> Step {
    let meta = CommitMeta {
        message: commit_message(plan, author),
        name: author.name.clone(),
        email: author.email.clone(),
        time: author.time,
        signer: author.signer.clone(),
    };
    if fault::armed("after-objects")
        && let Ok(Some(repo)) = repos.system(&plan.system_url, true)
        && plan.previous.as_ref().is_none_or(|p| p != &plan.inputs)
    {
        let _ = write_content(repo, plan);
        fault("after-objects");
    }
    let created = repos.system(&plan.system_url, true).and_then(|repo| {
        let repo = repo.expect("created when missing");
        let tree = write_content(repo, plan)?;
        repo.commit_tree_id(plan.previous_tip.as_deref(), &tree, &meta)
    });
    let commit = match created {
        Ok(None) => {
            return Step::Done(TierOutcome::Unchanged {
                commit: plan.previous_tip.clone(),
            });
        }
        Ok(Some(commit)) => commit,
        Err(e) => {
            return Step::Done(TierOutcome::Failed {
                error: WriteError::Commit(e.to_string()),
            });
        }
    };
    fault("after-commit");
    match repos.push(&plan.system_url, &commit, &plan.branch) {
        Ok(PushOutcome::Pushed) => {
            fault("after-push");
            repos.keep_inputs(&commit, std::sync::Arc::clone(&plan.inputs));
            repos.mark_rendering(&plan.system_url, &commit);
            tracing::info!(tier = %plan.tier, branch = %plan.branch, %commit, "pushed");
            Step::Done(TierOutcome::Committed {
                parent: plan.previous_tip.clone(),
                commit,
            })
        }
        Ok(PushOutcome::Rejected {
            retryable: true,
            reason,
        }) => {
            tracing::info!(tier = %plan.tier, branch = %plan.branch, %reason, "push refused, the branch moved: retrying");
            Step::Retry(reason)
        }
        Ok(PushOutcome::Rejected {
            retryable: false,
            reason,
        }) => Step::Done(TierOutcome::Failed {
            error: WriteError::Refused {
                branch: plan.branch.clone(),
                reason,
            },
        }),
        Err(e) => {
            let error = if matches!(e, shopset_git::GitError::Transport { auth: true, .. }) {
                WriteError::Auth(e.to_string())
            } else {
                WriteError::Git(e.to_string())
            };
            Step::Done(TierOutcome::Failed { error })
        }
    }
}

/// A tier committed in an earlier attempt is unchanged in a later one: the commit is what
/// happened.
fn keep_earlier_commit(earlier: Option<TierOutcome>, now: TierOutcome) -> TierOutcome {
    match (earlier, now) {
        (Some(first @ TierOutcome::Committed { .. }), TierOutcome::Unchanged { .. }) => first,
        (_, now) => now,
    }
}

/// A small, dependency-free jitter source: good enough to spread retries apart.
fn jitter(attempt: u32) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut x = u64::from(nanos)
        ^ (u64::from(std::process::id()) << 32)
        ^ u64::from(attempt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    #[allow(clippy::cast_precision_loss)]
    let unit = (x % 1_000_000) as f64 / 1_000_000.0;
    0.5 + unit
}

/// Plans and writes every tier of `resources`; pushes refused because a branch moved are
/// retried on a fresh plan.
pub fn sync(
    resources: &Resources,
    repos: &mut Repos,
    author: &Author,
    options: &SyncOptions,
) -> SyncResult {
    let options = &with_annotated_confirmations(resources, options);
    let mut result = SyncResult::default();
    let mut done: std::collections::BTreeMap<String, TierResult> =
        std::collections::BTreeMap::new();
    let mut state;
    loop {
        result.attempts += 1;
        let (plan, from_change) = plan_from_change(resources, repos, options, result.attempts);
        result.from_change |= from_change;
        result.problems = plan.problems;
        result.migrations = plan.migrations;
        state = crate::ops::warm::PlanState {
            quiet: plan.quiet,
            migrations: result.migrations.clone(),
            loads: plan.loads,
        };
        let mut retry = Vec::new();
        for tier in plan.tiers {
            let earlier = done.get(&tier.tier).map(|r| r.outcome.clone());
            if matches!(earlier, Some(TierOutcome::Failed { .. })) {
                continue;
            }
            if let Some(reason) = removal_stop(&tier, resources, options) {
                tracing::warn!(tier = %tier.tier, %reason, "mass removal stopped");
                done.insert(
                    tier.tier.clone(),
                    TierResult {
                        plan: tier,
                        outcome: TierOutcome::Blocked { reason },
                    },
                );
                continue;
            }
            let unchanged = inputs_unchanged(&tier);
            if options.dry_run || unchanged {
                let outcome = if unchanged {
                    TierOutcome::Unchanged {
                        commit: tier.previous_tip.clone(),
                    }
                } else {
                    TierOutcome::Planned
                };
                let outcome = keep_earlier_commit(earlier, outcome);
                done.insert(
                    tier.tier.clone(),
                    TierResult {
                        plan: tier,
                        outcome,
                    },
                );
                continue;
            }
            if options
                .deadline
                .as_ref()
                .is_some_and(|d| !d.allows(&tier.branch))
            {
                done.insert(
                    tier.tier.clone(),
                    TierResult {
                        plan: tier,
                        outcome: TierOutcome::Failed {
                            error: WriteError::LeaseLapsed,
                        },
                    },
                );
                continue;
            }
            if done
                .values()
                .any(|r| matches!(r.outcome, TierOutcome::Committed { .. }))
            {
                fault("between-tiers");
            }
            tracing::info!(
                target: crate::PROGRESS,
                "writing tier {} ({} ShopSets) to branch {}",
                tier.tier,
                tier.inputs.shop_sets.len(),
                tier.branch
            );
            match commit_and_push(&tier, repos, author) {
                Step::Done(outcome) => {
                    let outcome = keep_earlier_commit(earlier, outcome);
                    done.insert(
                        tier.tier.clone(),
                        TierResult {
                            plan: tier,
                            outcome,
                        },
                    );
                }
                Step::Retry(reason) => {
                    retry.push(tier.system_url.clone());
                    done.insert(
                        tier.tier.clone(),
                        TierResult {
                            plan: tier,
                            outcome: TierOutcome::Failed {
                                error: WriteError::KeptMoving {
                                    attempts: options.max_attempts,
                                    last: reason,
                                },
                            },
                        },
                    );
                }
            }
        }
        if retry.is_empty() || result.attempts >= options.max_attempts {
            break;
        }
        result.retries += u32::try_from(retry.len()).unwrap_or(u32::MAX);
        // Only tiers whose branch kept moving are retried; clear them so they run again.
        done.retain(|_, r| {
            !matches!(
                &r.outcome,
                TierOutcome::Failed {
                    error: WriteError::KeptMoving { .. }
                }
            )
        });
        for url in retry {
            repos.forget(&url);
        }
        let shift = (result.attempts - 1).min(6);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let delay =
            ((options.backoff_ms << shift).min(2_000) as f64 * jitter(result.attempts)) as u64;
        std::thread::sleep(std::time::Duration::from_millis(delay));
    }
    result.tiers = done.into_values().collect();
    if options.dry_run {
        repos.warm = None;
    } else {
        let written = result
            .tiers
            .iter()
            .map(|r| {
                let commit = match &r.outcome {
                    TierOutcome::Committed { commit, .. } => Some(commit.clone()),
                    TierOutcome::Unchanged { commit } => commit.clone(),
                    _ => None,
                };
                (
                    r.plan.tier.clone(),
                    commit,
                    std::sync::Arc::clone(&r.plan.inputs),
                )
            })
            .collect();
        crate::ops::warm::remember(repos, resources, state, written, options.changed.as_ref());
    }
    result
}

/// The plan of one attempt: from the last sync and the change when the options name it and
/// it is the first attempt (a retry means a branch moved), else of everything. In debug
/// builds, a plan made from the change is checked against the full plan.
fn plan_from_change(
    resources: &Resources,
    repos: &mut Repos,
    options: &SyncOptions,
    attempt: u32,
) -> (SyncPlan, bool) {
    let only = options.tiers.as_ref();
    let Some(changed) = options.changed.as_ref().filter(|_| attempt == 1) else {
        return (plan_tiers(resources, repos, only), false);
    };
    match crate::ops::warm::plan(resources, repos, only, changed) {
        Ok(plan) => {
            if cfg!(debug_assertions) {
                let full = plan_tiers(resources, repos, only);
                crate::ops::warm::assert_same(&plan, &full);
            }
            (plan, true)
        }
        Err(why) => {
            tracing::debug!(%why, "planning every ShopSet");
            (plan_tiers(resources, repos, only), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use shopset_render::TierInputs;
    use shopset_render::inputs::PlacedShopSet;

    use super::*;

    const TIER: &str = "apiVersion: shopset.dev/v1alpha1\nkind: Tier\n";

    fn resources(tier_extra: &str) -> Resources {
        let mut r = Resources::default();
        r.add_text(
            "tiers.yaml",
            &format!(
                "{TIER}metadata:\n  name: prod\n{tier_extra}spec:\n  app: {{url: /app.git}}\n  \
                 system: {{url: /system.git}}\n"
            ),
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        r
    }

    fn inputs(count: usize) -> TierInputs {
        let spec = serde_json::from_value(
            json!({"app": {"url": "/app.git"}, "system": {"url": "/system.git"}}),
        )
        .expect("a Tier spec");
        let mut i = TierInputs::new("prod".into(), spec, "1".repeat(40));
        for n in 0..count {
            let spec = serde_json::from_value(json!({"tier": "prod", "configuration": "c"}))
                .expect("a ShopSet spec");
            i.shop_sets.insert(
                format!("s{n:02}"),
                PlacedShopSet::new("x".into(), spec).into(),
            );
        }
        i
    }

    /// A plan of tier `prod`, which had `before` ShopSets, removing the first `removed`.
    fn plan(before: usize, removed: usize) -> TierPlan {
        let previous = inputs(before);
        let summary = Summary {
            removed: previous.shop_sets.keys().take(removed).cloned().collect(),
            ..Summary::default()
        };
        TierPlan {
            tier: "prod".into(),
            branch: "prod".into(),
            system_url: "/system.git".into(),
            previous_tip: Some("2".repeat(40)),
            inputs: Arc::new(inputs(before - removed)),
            previous: Some(Arc::new(previous)),
            content: Content::Full(shopset_render::Tree::default()),
            summary,
            restored: Vec::new(),
        }
    }

    #[test]
    fn the_default_limits_let_a_few_removals_through_and_stop_many() {
        let r = resources("");
        let options = SyncOptions::default();
        assert!(
            removal_stop(&plan(100, 0), &r, &options).is_none(),
            "nothing removed"
        );
        assert!(
            removal_stop(&plan(100, 2), &r, &options).is_none(),
            "2 of 100: within the count"
        );
        assert!(
            removal_stop(&plan(100, 10), &r, &options).is_none(),
            "10 %: within the share"
        );
        let why = removal_stop(&plan(100, 11), &r, &options).expect("11 of 100 is stopped");
        assert!(why.contains("spec.safety.maxRemovals"), "{why}");
        assert!(
            why.contains(CONFIRM_REMOVALS_ANNOTATION),
            "it says how to confirm: {why}"
        );
        assert!(
            removal_stop(&plan(3, 2), &r, &options).is_some(),
            "more than half"
        );
        assert!(
            removal_stop(&plan(1, 1), &r, &options).is_some(),
            "the last one"
        );
    }

    #[test]
    fn the_tier_sets_its_own_limits() {
        let r = resources("");
        let strict = {
            let mut r = Resources::default();
            r.add_text(
                "tiers.yaml",
                &format!(
                    "{TIER}metadata:\n  name: prod\nspec:\n  app: {{url: /app.git}}\n  system: {{url: /system.git}}\n  \
                     safety:\n    maxRemovals: {{percent: 1, count: 0}}\n"
                ),
            );
            assert!(r.errors.is_empty(), "{:?}", r.errors);
            r
        };
        let options = SyncOptions::default();
        assert!(removal_stop(&plan(100, 2), &r, &options).is_none());
        assert!(
            removal_stop(&plan(100, 2), &strict, &options).is_some(),
            "2 of 100 is more than 1 % and more than 0"
        );
    }

    #[test]
    fn a_confirmation_covers_exactly_the_set_it_names() {
        let removing = plan(10, 6);
        let token = removal_token(&removing.summary.removed);
        assert_eq!(token.len(), 16);
        let annotated = resources(&format!(
            "  annotations:\n    {CONFIRM_REMOVALS_ANNOTATION}: \"{token}\"\n"
        ));
        let options = with_annotated_confirmations(&annotated, &SyncOptions::default());
        assert_eq!(options.confirmed_removals.get("prod"), Some(&token));
        assert!(
            removal_stop(&removing, &annotated, &options).is_none(),
            "confirmed"
        );
        assert!(
            removal_stop(&plan(10, 7), &annotated, &options).is_some(),
            "one more removal is another set: not confirmed"
        );
        let blanket = SyncOptions {
            confirm_removals: true,
            ..SyncOptions::default()
        };
        assert!(removal_stop(&plan(10, 7), &resources(""), &blanket).is_none());
        assert_eq!(
            removal_token(&["b".into(), "a".into()]),
            removal_token(&["a".into(), "b".into()]),
            "the token does not depend on the order"
        );
    }

    #[test]
    fn the_commit_message_says_what_changed_and_names_its_inputs() {
        let mut p = plan(3, 1);
        p.summary.added = vec!["new".into()];
        p.summary.base_from = Some("0".repeat(40));
        p.summary.base_to = "1".repeat(40);
        let author = Author {
            name: "n".into(),
            email: "e@example.com".into(),
            producer: "shopctl/test".into(),
            time: None,
            signer: None,
        };
        let message = commit_message(&p, &author);
        let subject = message.lines().next().unwrap_or_default();
        assert_eq!(
            subject,
            "shopset: prod: 1 added, 0 changed, 1 removed, base 000000000000 -> 111111111111"
        );
        assert!(message.contains("\nAdded: new\n"), "{message}");
        assert!(message.contains("\nRemoved: s00\n"), "{message}");
        assert!(message.contains(&format!("Shopset-App-Commit: {}\n", "1".repeat(40))));
        assert!(
            message
                .contains("Shopset-Inputs: .shopset/inputs.yaml\nShopset-Producer: shopctl/test\n"),
            "{message}"
        );
        let listed: Vec<String> = (0..60).map(|n| format!("n{n}")).collect();
        p.summary.added = listed;
        let long = commit_message(&p, &author);
        assert!(
            long.contains(" and 10 more\n"),
            "long lists are cut: {long}"
        );
    }

    #[test]
    fn only_some_write_errors_are_worth_a_retry() {
        let kept_moving = WriteError::KeptMoving {
            attempts: 3,
            last: "stale".into(),
        };
        assert!(kept_moving.transient());
        assert!(
            kept_moving
                .to_string()
                .starts_with("the branch kept moving: gave up after 3")
        );
        assert!(WriteError::LeaseLapsed.transient());
        assert!(WriteError::Git("timeout".into()).transient());
        assert!(!WriteError::Auth("denied".into()).transient());
        assert!(
            !WriteError::Refused {
                branch: "prod".into(),
                reason: "hook".into()
            }
            .transient()
        );
        assert_eq!(kept_moving.label(), "kept_moving");
    }
}
