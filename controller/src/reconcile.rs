//! One batch, whatever the backend: sync the tiers that need it (through the engine, the same
//! call `shopctl sync` makes), then compute the status of every ShopSet and Tier involved and
//! the events of their transitions. The backend writes what this returns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use shopset_engine::ops::preview::{self, Applications};
use shopset_engine::ops::status::{self, Observed, Statuses};
use shopset_engine::ops::verdict::{self, Judged};
use shopset_engine::{Author, Repos, SyncOptions, TierOutcome, TierResult};

use crate::metrics::Metrics;
use crate::queue::Batch;
use crate::snapshot::Snapshot;

/// A Kubernetes event to emit (or to log, without a cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `ShopSet` or `Tier`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// A warning (something needs a person) or normal progress.
    pub warning: bool,
    /// The condition reason.
    pub reason: String,
    /// What happened.
    pub message: String,
}

/// What a batch produced.
#[derive(Debug, Default)]
pub struct Report {
    /// The tiers synced, with their results.
    pub synced: Vec<TierResult>,
    /// Input problems.
    pub problems: Vec<shopset_engine::Problem>,
    /// The statuses to write (only those that differ from what is stored).
    pub statuses: Statuses,
    /// Events.
    pub notes: Vec<Note>,
    /// Tiers promoted automatically in this batch (their branch must be rendered again).
    pub promoted: Vec<String>,
    /// The Migrations' statuses as the sync planned them.
    pub migrations: BTreeMap<String, shopset_crds::MigrationStatus>,
    /// The PreviewPolicies polled in this batch, with their statuses.
    pub previews: BTreeMap<String, shopset_crds::PreviewPolicyStatus>,
    /// Previews' root Applications to apply (server-side), after the batch.
    pub apply_applications: Vec<serde_json::Value>,
    /// Previews' root Applications to delete (`namespace`, `name`), after the batch.
    pub delete_applications: Vec<(String, String)>,
    /// The NotificationPolicies' records that changed (what was sent), as their status.
    pub notifications: BTreeMap<String, shopset_crds::NotificationPolicyStatus>,
}

/// The controller's writer: it owns the repository caches and remembers each tier's last
/// result, so a status-only batch needs no git work.
pub struct Worker {
    repos: Arc<Mutex<Repos>>,
    author: Author,
    options: SyncOptions,
    last: Mutex<BTreeMap<String, TierResult>>,
    metrics: Arc<Metrics>,
    forge: verdict::ForgeSettings,
    /// What each PreviewPolicy's polls remember (pull requests seen missing, removals under
    /// way, the comment on each pull request).
    previews: Mutex<BTreeMap<String, preview::Memory>>,
    /// Where mounted Secrets are (a PreviewPolicy's GitHub token).
    secrets_dir: Option<std::path::PathBuf>,
    /// What changed since the last sync, gathered over the batches that did not sync (a tier
    /// whose lease another replica holds): whether something unnamed did, and the ShopSets.
    changes: Mutex<(bool, shopset_engine::ops::warm::Changed)>,
    /// Per tier, its branch's last commits as the last sync left them (for the statuses).
    histories: Mutex<BTreeMap<String, Vec<String>>>,
    /// A batch asked for the repositories to be fetched and no sync has done it yet.
    fetch: std::sync::atomic::AtomicBool,
    /// Sends the notifications.
    notifier: crate::notify::Notifier,
}

impl Worker {
    /// A worker writing with `author`, syncing with `options` (its `tiers` and deadline are
    /// set per batch; the engine reads the Tiers' removal confirmations).
    #[must_use]
    pub fn new(
        repos: Repos,
        author: Author,
        options: SyncOptions,
        metrics: Arc<Metrics>,
        forge: verdict::ForgeSettings,
    ) -> Self {
        Self {
            forge,
            repos: Arc::new(Mutex::new(repos)),
            author,
            options,
            last: Mutex::new(BTreeMap::new()),
            metrics,
            previews: Mutex::new(BTreeMap::new()),
            changes: Mutex::new((false, shopset_engine::ops::warm::Changed::default())),
            fetch: true.into(),
            histories: Mutex::new(BTreeMap::new()),
            secrets_dir: None,
            notifier: crate::notify::Notifier::default(),
        }
    }

    /// Fetches the repositories of `tier` (`urls`, its branch `branch`) off the async threads:
    /// whether it needs a sync (a tip moved, or its last sync did not settle it) or only its
    /// status (gates, soak and freeze times). The batch loop is not held meanwhile, but a sync
    /// waits for the fetch in hand.
    pub async fn poll(&self, tier: String, urls: Vec<String>, branch: String) -> bool {
        let mut moved = false;
        // One repository at a time, so a batch waits for one fetch at most.
        for url in urls {
            let (repos, tier, branch) = (self.repos.clone(), tier.clone(), branch.clone());
            moved |= tokio::task::spawn_blocking(move || {
                let mut repos = repos.lock().unwrap_or_else(PoisonError::into_inner);
                repos.fetch_moved(&tier, std::slice::from_ref(&url), &branch)
            })
            .await
            .unwrap_or(true);
        }
        let repos = self.repos.clone();
        let settled = tokio::task::spawn_blocking(move || {
            let repos = repos.lock().unwrap_or_else(PoisonError::into_inner);
            repos.settled(&tier)
        })
        .await
        .unwrap_or(false);
        moved || !settled
    }

    /// How hard each notification delivery tries.
    #[must_use]
    pub fn with_notification_retry(mut self, retry: shopset_engine::ops::notify::Retry) -> Self {
        self.notifier.retry = retry;
        self
    }

    /// Reads PreviewPolicies' GitHub tokens from `<dir>/<secretRef name>/token`.
    #[must_use]
    pub fn with_secrets_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.notifier.secrets_dir.clone_from(&dir);
        self.secrets_dir = dir;
        self
    }

    /// Runs one batch on `snapshot`. `deadline` says until when this replica may write each
    /// tier branch (it holds its lease); the sync asks it again before each tier it writes.
    pub async fn run(
        &self,
        batch: &Batch,
        snapshot: Snapshot,
        deadline: &shopset_engine::Deadline,
        now: Time,
    ) -> Report {
        let started = Instant::now();
        let work = self.select(batch, &snapshot, deadline);
        let mut report = Report::default();
        let Snapshot {
            resources,
            generations,
            tier_generations,
            applications,
            shop_set_statuses,
            tier_statuses,
            shop_statuses,
            migration_generations,
            migration_statuses,
            notification_statuses,
            since_last: _,
        } = snapshot;
        let resources = if work.to_sync.is_empty() {
            resources
        } else {
            match self.sync(resources, &work, &mut report).await {
                Some(resources) => resources,
                None => return report,
            }
        };
        let synced_at = started.elapsed();
        let results = self.results(&report.synced, &work);
        let observed = Observed {
            generations,
            tier_generations,
            applications,
            previous_shop_sets: shop_set_statuses
                .iter()
                .map(|(k, v)| (k.clone(), v))
                .collect(),
            previous_tiers: tier_statuses.iter().map(|(k, v)| (k.clone(), v)).collect(),
            previous_shops: shop_statuses.iter().map(|(k, v)| (k.clone(), v)).collect(),
            histories: self
                .histories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        };
        let mut computed = status::compute(&resources, &results, &report.problems, &observed, &now);
        let computed_at = started.elapsed();
        // A Migration's status comes from the sync that planned its phases: a batch that did
        // not sync leaves it as stored.
        computed.migrations = std::mem::take(&mut report.migrations)
            .into_iter()
            .map(|(name, s)| {
                let generation = migration_generations.get(&name).copied();
                let s =
                    status::migration_status(s, migration_statuses.get(&name), &now, generation);
                (name, s)
            })
            .collect();
        // Each ShopSet's phase change, as an event on it.
        for result in &report.synced {
            if !matches!(result.outcome, TierOutcome::Committed { .. }) {
                continue;
            }
            for line in &result.plan.summary.migrations {
                let name = line.split(" (").next().unwrap_or(line);
                report.notes.push(Note {
                    kind: "ShopSet",
                    name: name.to_owned(),
                    warning: false,
                    reason: "Migrating".into(),
                    message: format!("migration: {line}"),
                });
            }
        }
        // The promotion gates, on the statuses as they are after this batch.
        let mut current = Statuses {
            shop_sets: shop_set_statuses.clone(),
            tiers: tier_statuses.clone(),
            shops: BTreeMap::new(),
            migrations: BTreeMap::new(),
        };
        current.shop_sets.extend(computed.shop_sets.clone());
        current.tiers.extend(computed.tiers.clone());
        let mut notify =
            crate::notify::Input::new(&resources, &report.synced, &results, &current.shop_sets);
        let notify_input_at = started.elapsed();
        let (resources, gates) = self.gates(resources, current, deadline, &now).await;
        let gates_at = started.elapsed();
        record_verdicts(gates, &mut computed, &tier_statuses, &mut report, &now);
        if let Some(n) = &mut notify {
            n.gates(&computed.tiers);
        }
        let policies = batch.policies_to_poll(resources.preview_policies.keys());
        if !policies.is_empty() {
            self.previews(resources, policies, deadline, &now, &mut report)
                .await;
        }
        let stored = Statuses {
            shop_sets: shop_set_statuses,
            tiers: tier_statuses,
            shops: shop_statuses,
            migrations: migration_statuses,
        };
        changed_statuses(computed, &stored, &mut report);
        if let Some(n) = notify {
            self.notifier
                .run(n, notification_statuses, &mut report, &self.metrics, &now)
                .await;
        }
        tracing::debug!(
            sync_ms = synced_at.as_millis(),
            status_ms = (computed_at - synced_at).as_millis(),
            notify_input_ms = (notify_input_at - computed_at).as_millis(),
            gates_ms = (gates_at - notify_input_at).as_millis(),
            rest_ms = (started.elapsed() - gates_at).as_millis(),
            "batch phases"
        );
        self.metrics.batch(started.elapsed().as_secs_f64());
        report
    }

    /// Which tiers this batch syncs and which only get their status again: a tier this process
    /// never synced has no result to show and is synced; one whose branch this replica may not
    /// write is left to the replica that may.
    fn select(
        &self,
        batch: &Batch,
        snapshot: &Snapshot,
        deadline: &shopset_engine::Deadline,
    ) -> Work {
        let known = snapshot.tiers();
        let mut to_sync = batch.tiers_to_sync(&known);
        let mut status_only: BTreeSet<String> = batch
            .status
            .iter()
            .filter(|t| known.contains(t) && !to_sync.contains(*t))
            .cloned()
            .collect();
        {
            let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            let unknown: Vec<String> = status_only
                .iter()
                .filter(|t| !last.contains_key(*t))
                .cloned()
                .collect();
            // A tier with a shop in the middle of a move is synced when Argo CD reports
            // something: the report may be what the move's next step waits for.
            let moving: Vec<String> = status_only
                .iter()
                .filter(|t| {
                    last.get(*t).is_some_and(|r| {
                        r.plan
                            .inputs
                            .shops
                            .values()
                            .any(|s| s.phase() != shopset_crds::ShopPhase::Assigned)
                    })
                })
                .cloned()
                .collect();
            for t in unknown.into_iter().chain(moving) {
                status_only.remove(&t);
                to_sync.insert(t);
            }
        }
        let writable = |t: &String| {
            let branch = snapshot
                .resources
                .tiers
                .get(t)
                .map_or(t.as_str(), |s| s.spec.branch_or(t));
            deadline.allows(branch)
        };
        to_sync.retain(writable);
        status_only.retain(writable);
        // What changed reaches the next sync, whichever batch it comes with.
        let changed = {
            let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
            changes.0 |= batch.unknown_change;
            changes
                .1
                .shop_sets
                .extend(batch.changed_shop_sets.iter().cloned());
            changes.1.shops.extend(batch.changed_shops.iter().cloned());
            if to_sync.is_empty() {
                None
            } else {
                let (unknown, names) = std::mem::take(&mut *changes);
                (!unknown).then_some(names)
            }
        };
        use std::sync::atomic::Ordering;
        self.fetch
            .fetch_or(batch.fetch || batch.unknown_change, Ordering::Relaxed);
        let fetch = !to_sync.is_empty() && self.fetch.swap(false, Ordering::Relaxed);
        Work {
            to_sync,
            status_only,
            deadline: deadline.clone(),
            changed,
            fetch,
        }
    }

    /// Syncs the selected tiers through the engine (off the async threads), recording the
    /// outcomes in `report` and the metrics. `None` when the sync task panicked.
    async fn sync(
        &self,
        resources: shopset_engine::Resources,
        work: &Work,
        report: &mut Report,
    ) -> Option<shopset_engine::Resources> {
        let options = SyncOptions {
            tiers: Some(work.to_sync.clone()),
            deadline: Some(work.deadline.clone()),
            changed: work.changed.clone(),
            ..self.options.clone()
        };
        let repos = self.repos.clone();
        let author = self.author.clone();
        let fetch = work.fetch;
        let git_started = Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let mut repos = repos.lock().unwrap_or_else(PoisonError::into_inner);
            if fetch {
                repos.forget_all();
            }
            let result = shopset_engine::sync(&resources, &mut repos, &author, &options);
            let histories = status::histories(&mut repos, &result.tiers);
            (resources, result, histories)
        })
        .await;
        let Ok((resources, result, histories)) = joined else {
            report
                .problems
                .push(shopset_engine::Problem::general("the sync task panicked"));
            // What this sync was told is lost with it: the next one plans everything.
            self.changes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .0 = true;
            return None;
        };
        self.histories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(histories);
        let seconds = git_started.elapsed().as_secs_f64();
        self.metrics.retried(result.retries);
        self.metrics.planned(result.from_change);
        for tier in &result.tiers {
            self.metrics.git(&tier.plan.tier, seconds);
            self.count(tier);
        }
        report.problems = result.problems;
        report.synced = result.tiers;
        report.migrations = result.migrations;
        // The written tree is in git now; keep the plan without it (it can be megabytes).
        for tier in &mut report.synced {
            tier.plan.content = shopset_engine::Content::Full(shopset_render::Tree::default());
        }
        Some(resources)
    }

    /// One tier's outcome, in the logs and the metrics.
    fn count(&self, tier: &TierResult) {
        match &tier.outcome {
            TierOutcome::Committed { commit, .. } => {
                tracing::info!(tier = %tier.plan.tier, %commit, added = tier.plan.summary.added.len(), changed = tier.plan.summary.changed.len(), removed = tier.plan.summary.removed.len(), "committed and pushed");
                self.metrics.committed(&tier.plan.tier);
            }
            TierOutcome::Unchanged { .. } => self.metrics.noop(),
            TierOutcome::Blocked { .. } => self.metrics.blocked(&tier.plan.tier),
            TierOutcome::Failed { error } => {
                let transient = error.transient();
                tracing::warn!(tier = %tier.plan.tier, %error, kind = error.label(), transient, "tier not written");
                self.metrics
                    .rejected(if transient { "transient" } else { "terminal" });
            }
            TierOutcome::Planned => {}
        }
    }

    /// The results the statuses are computed from: this batch's, remembered for the next
    /// status-only batch, and the last ones of the tiers that were not synced again.
    fn results(&self, synced: &[TierResult], work: &Work) -> Vec<TierResult> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        for r in synced {
            last.insert(r.plan.tier.clone(), r.clone());
        }
        work.to_sync
            .iter()
            .chain(work.status_only.iter())
            .filter_map(|t| last.get(t).cloned())
            .collect()
    }

    /// Polls each PreviewPolicy of `policies` whose tier branch this replica may write: one
    /// listing of GitHub each, then the engine's preview actions (the same `reconcile` a
    /// script would call); the Applications to apply or delete go into the report for the
    /// backend.
    async fn previews(
        &self,
        resources: shopset_engine::Resources,
        policies: Vec<String>,
        deadline: &shopset_engine::Deadline,
        now: &Time,
        report: &mut Report,
    ) {
        let mine: Vec<String> = policies
            .into_iter()
            .filter(|p| {
                let Some(policy) = resources.preview_policies.get(p) else {
                    return false;
                };
                let tier = &policy.spec.tier;
                resources
                    .tiers
                    .get(tier)
                    .is_some_and(|t| deadline.allows(t.spec.branch_or(tier)))
            })
            .collect();
        if mine.is_empty() {
            return;
        }
        let repos = self.repos.clone();
        let author = self.author.clone();
        let forge = self.forge.clone();
        let secrets_dir = self.secrets_dir.clone();
        let mut memories =
            std::mem::take(&mut *self.previews.lock().unwrap_or_else(PoisonError::into_inner));
        let joined = tokio::task::spawn_blocking(move || {
            let mut repos = repos.lock().unwrap_or_else(PoisonError::into_inner);
            // The repositories as they are now (a batch of polls alone has not fetched them).
            repos.forget_all();
            let mut apps = BatchApplications {
                names: &resources.argo_applications,
                observed: &resources.applications,
                apply: Vec::new(),
                delete: Vec::new(),
            };
            let mut reports = Vec::new();
            for name in &mine {
                let spec = &resources.preview_policies[name].spec;
                let github = &spec.source.github;
                let token = match (&github.secret_ref, &secrets_dir) {
                    (Some(secret), Some(dir)) => {
                        std::fs::read_to_string(dir.join(&secret.name).join("token"))
                            .ok()
                            .map(|t| shopset_git::Secret::new(t.trim().to_owned()))
                    }
                    _ => forge.token.clone(),
                };
                let client =
                    shopset_git::forge::GitHub::new(&forge.api, &github.repository, token.as_ref());
                let memory = memories.entry(name.clone()).or_default();
                let polled = match client {
                    Ok(client) => preview::reconcile(
                        &resources, &mut repos, &author, name, &client, &mut apps, memory,
                    ),
                    Err(e) => preview::Report {
                        problems: vec![shopset_engine::Problem::of(
                            "PreviewPolicy",
                            name,
                            "spec.source.github.repository",
                            e.to_string(),
                        )],
                        ..preview::Report::default()
                    },
                };
                reports.push((name.clone(), polled));
            }
            let (apply, delete) = (apps.apply, apps.delete);
            (memories, reports, apply, delete)
        })
        .await;
        let Ok((memories, reports, apply, delete)) = joined else {
            report.problems.push(shopset_engine::Problem::general(
                "the preview task panicked",
            ));
            return;
        };
        *self.previews.lock().unwrap_or_else(PoisonError::into_inner) = memories;
        report.apply_applications.extend(apply);
        report.delete_applications.extend(delete);
        for (name, polled) in reports {
            for (reason, message) in &polled.events {
                report.notes.push(Note {
                    kind: "PreviewPolicy",
                    name: name.clone(),
                    warning: false,
                    reason: reason.clone(),
                    message: message.clone(),
                });
            }
            for problem in &polled.problems {
                report.notes.push(Note {
                    kind: "PreviewPolicy",
                    name: name.clone(),
                    warning: true,
                    reason: "PreviewProblem".into(),
                    message: problem.to_string(),
                });
            }
            let ready = polled.listed && polled.problems.is_empty();
            let message = if ready {
                format!("{} previews", polled.previews.len())
            } else {
                polled
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let condition = shopset_crds::Condition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: if ready { "Polled" } else { "PollFailed" }.into(),
                message: message.chars().take(1000).collect(),
                last_transition_time: now.clone(),
                observed_generation: None,
            };
            report.previews.insert(
                name,
                shopset_crds::PreviewPolicyStatus {
                    count: u32::try_from(polled.previews.len()).unwrap_or(u32::MAX),
                    previews: polled.previews,
                    conditions: vec![condition],
                },
            );
        }
    }

    /// The dashboard's view of `resources` with `statuses`: the tiers' overview (read from
    /// the repositories as the last batch fetched them) and a row per ShopSet.
    pub async fn dashboard_view(
        &self,
        resources: shopset_engine::Resources,
        statuses: Statuses,
        now: &Time,
    ) -> Option<shopset_dashboard::View> {
        let repos = self.repos.clone();
        let now = now.0;
        tokio::task::spawn_blocking(move || {
            let mut repos = repos.lock().unwrap_or_else(PoisonError::into_inner);
            shopset_dashboard::View::build(
                &resources,
                &statuses,
                &mut repos,
                now,
                "as the controller computed them after its last batch".into(),
            )
        })
        .await
        .ok()
    }

    /// Sets the credentials of the repositories the resources name.
    pub fn set_credentials(&self, per_url: BTreeMap<String, shopset_git::Credentials>) {
        self.repos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_url_credentials(per_url);
    }

    /// The last result of every tier this process synced.
    #[must_use]
    pub fn last_results(&self) -> BTreeMap<String, TierResult> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Worker {
    /// Evaluates the promotion gate into every tier this replica may write, and promotes
    /// those whose policy is automatic when it holds.
    async fn gates(
        &self,
        resources: shopset_engine::Resources,
        current: Statuses,
        deadline: &shopset_engine::Deadline,
        now: &Time,
    ) -> (shopset_engine::Resources, Vec<Judged>) {
        let targets: Vec<(String, bool)> = resources
            .tiers
            .iter()
            .filter(|(_, t)| t.spec.promotes_from.is_some())
            .filter(|(name, t)| deadline.allows(t.spec.branch_or(name)))
            .map(|(name, t)| (name.clone(), t.spec.promotion.auto))
            .collect();
        if targets.is_empty() {
            return (resources, Vec::new());
        }
        let repos = self.repos.clone();
        let forge = self.forge.clone();
        let at = now.0;
        let joined = tokio::task::spawn_blocking(move || {
            let mut repos = repos.lock().unwrap_or_else(PoisonError::into_inner);
            let gated = verdict::judge(&resources, &current, &mut repos, &targets, &forge, at);
            (resources, gated)
        })
        .await;
        joined.unwrap_or_default()
    }
}

/// The tiers one batch works on.
struct Work {
    /// Synced: planned, committed and pushed when their tree changed.
    to_sync: BTreeSet<String>,
    /// Only their status computed again, from their last result.
    status_only: BTreeSet<String>,
    /// Until when each branch may be written: asked again before each tier is written.
    deadline: shopset_engine::Deadline,
    /// What the watch says changed, when it can say so ([`SyncOptions::changed`]).
    changed: Option<shopset_engine::ops::warm::Changed>,
    /// Fetch the repositories first ([`Batch::fetch`]).
    fetch: bool,
}

/// Records each verdict on the status of the tier promoted from, with the promotions made
/// and their events. A gate out of a tier may be judged by another replica (the one writing
/// the next tier): a tier not judged here keeps the verdict stored on it.
fn record_verdicts(
    gates: Vec<Judged>,
    computed: &mut Statuses,
    stored: &BTreeMap<String, shopset_crds::TierStatus>,
    report: &mut Report,
    now: &Time,
) {
    let mut judged = BTreeSet::new();
    for gate in gates {
        let from = &gate.verdict.from;
        let status = computed
            .tiers
            .entry(from.clone())
            .or_insert_with(|| stored.get(from).cloned().unwrap_or_default());
        verdict::record(status, stored.get(from), &gate.verdict, now);
        judged.insert(from.clone());
        if let Some(Ok(())) = &gate.promoted {
            report.promoted.push(gate.verdict.to.clone());
        }
        report.notes.extend(promotion_notes(&gate));
    }
    for (name, s) in &mut computed.tiers {
        if judged.contains(name) {
            continue;
        }
        if let Some(before) = stored.get(name) {
            verdict::carry_over(s, before);
        }
    }
}

/// Moves into `report` the statuses that differ from the stored ones, with one event per
/// condition transition.
fn changed_statuses(computed: Statuses, stored: &Statuses, report: &mut Report) {
    changed(
        "ShopSet",
        computed.shop_sets,
        &stored.shop_sets,
        |s| &s.conditions,
        report,
        |r| &mut r.statuses.shop_sets,
    );
    changed(
        "Tier",
        computed.tiers,
        &stored.tiers,
        |s| &s.conditions,
        report,
        |r| &mut r.statuses.tiers,
    );
    changed(
        "Shop",
        computed.shops,
        &stored.shops,
        |s| &s.conditions,
        report,
        |r| &mut r.statuses.shops,
    );
    changed(
        "Migration",
        computed.migrations,
        &stored.migrations,
        |s| &s.conditions,
        report,
        |r| &mut r.statuses.migrations,
    );
}

/// The statuses of one kind that differ from the stored ones go into the report, with an
/// event per condition that changed (of a first status, the warnings only).
fn changed<S: PartialEq>(
    kind: &'static str,
    computed: BTreeMap<String, S>,
    stored: &BTreeMap<String, S>,
    conditions: impl Fn(&S) -> &Vec<shopset_crds::Condition>,
    report: &mut Report,
    into: impl Fn(&mut Report) -> &mut BTreeMap<String, S>,
) {
    for (name, s) in computed {
        let before = stored.get(&name);
        if before == Some(&s) {
            continue;
        }
        let previous = before.map_or(&[][..], |b| conditions(b).as_slice());
        let notes = transition_notes(kind, &name, previous, conditions(&s));
        // A first status is no transition: only what needs a person is said (10,000 new
        // ShopSets would otherwise be 50,000 events).
        report
            .notes
            .extend(notes.into_iter().filter(|n| before.is_some() || n.warning));
        into(report).insert(name, s);
    }
}

/// The events of an automatic promotion, when one was attempted: it began, and how it ended.
fn promotion_notes(gate: &Judged) -> Vec<Note> {
    let v = &gate.verdict;
    let note = |warning: bool, reason: &str, message: String| Note {
        kind: "Tier",
        name: v.to.clone(),
        warning,
        reason: reason.into(),
        message,
    };
    let candidate = v.candidate().unwrap_or_default();
    let ended = match &gate.promoted {
        Some(Ok(())) => note(
            false,
            status::reasons::PROMOTED,
            format!("{candidate} promoted from {}", v.from),
        ),
        Some(Err(e)) => note(true, status::reasons::PROMOTION_FAILED, e.to_string()),
        None => return Vec::new(),
    };
    let started = note(
        false,
        status::reasons::PROMOTION_STARTED,
        format!("promoting {candidate} from {}: the gate holds", v.from),
    );
    vec![started, ended]
}

/// One event per condition whose status or reason changed.
fn transition_notes(
    kind: &'static str,
    name: &str,
    before: &[shopset_crds::Condition],
    after: &[shopset_crds::Condition],
) -> Vec<Note> {
    status::transitions(before, after)
        .into_iter()
        .map(|c| Note {
            kind,
            name: name.to_owned(),
            warning: status::needs_a_person(c),
            reason: c.reason.clone(),
            message: format!("{} is {}: {}", c.type_, c.status, c.message),
        })
        .collect()
}

/// The count of ShopSets per (condition, status), for the metrics.
#[must_use]
pub fn condition_counts(
    statuses: &BTreeMap<String, shopset_crds::ShopSetStatus>,
) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for s in statuses.values() {
        for c in &s.conditions {
            *out.entry((c.type_.clone(), c.status.clone())).or_insert(0) += 1;
        }
    }
    out
}

/// Argo CD's Applications as one batch sees them: what the snapshot lists (the watch, or the
/// Application documents of the resources directory), and the applies and deletions the
/// backend makes once the batch is done. A deleted Application counts as present until a
/// later snapshot no longer lists it: Argo CD's finalizer removes what it applied first.
struct BatchApplications<'a> {
    names: &'a BTreeSet<String>,
    observed: &'a BTreeMap<String, status::AppObservation>,
    apply: Vec<serde_json::Value>,
    delete: Vec<(String, String)>,
}

impl Applications for BatchApplications<'_> {
    fn apply(&mut self, application: &serde_json::Value) -> Result<(), String> {
        self.apply.push(application.clone());
        Ok(())
    }

    fn delete(&mut self, namespace: &str, name: &str) -> Result<(), String> {
        self.delete.push((namespace.to_owned(), name.to_owned()));
        Ok(())
    }

    fn exists(&mut self, namespace: &str, name: &str) -> Result<bool, String> {
        Ok(self.names.contains(&format!("{namespace}/{name}")))
    }

    fn state(&self, shop_set: &str) -> Option<String> {
        let seen = self.observed.get(shop_set)?;
        Some(format!(
            "{}, {}",
            seen.sync.as_deref().unwrap_or("Unknown"),
            seen.health.as_deref().unwrap_or("Unknown")
        ))
    }
}
