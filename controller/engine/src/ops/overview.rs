//! What `shopctl status` shows: per tier, the app and configuration commits at the tips of its
//! branches and the ones it runs, what Argo CD reports, whether it may be promoted into (and
//! why not), its hold and its pin. Reads git; writes nothing.

use k8s_openapi::jiff::Timestamp;
use shopset_crds::conditions::types;

use crate::ops::promote::HOLD_ANNOTATION;
use crate::ops::status::Statuses;
use crate::problem::Problem;
use crate::repos::Repos;
use crate::resources::Resources;

/// One configuration of a tier: the commit at its branch tip and the one rendered.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigCommits {
    /// The Configuration.
    pub name: String,
    /// At the tip of the tier's branch of its repository.
    pub branch_tip: Option<String>,
    /// In the tier's rendering.
    pub running: Option<String>,
}

/// One tier.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierOverview {
    /// The Tier.
    pub tier: String,
    /// Its branch.
    pub branch: String,
    /// The tier it promotes from.
    pub promotes_from: Option<String>,
    /// The app commit at the tip of its branch.
    pub app_branch_tip: Option<String>,
    /// The app commit it runs (the base of its system branch).
    pub app_running: Option<String>,
    /// The commit at the tip of its system branch.
    pub system_commit: Option<String>,
    /// Configurations read from repositories.
    pub configurations: Vec<ConfigCommits>,
    /// ShopSets rendered.
    pub shop_sets: usize,
    /// Synced at the system commit, per the status.
    pub synced: Option<i32>,
    /// Healthy, per the status.
    pub healthy: Option<i32>,
    /// ShopSets not Ready, with why.
    pub not_ready: Vec<String>,
    /// Its predecessor's candidate may be promoted into it now.
    pub promotable: Option<bool>,
    /// Why not, or what is in the way.
    pub gate: Vec<String>,
    /// Its hold.
    pub hold: Option<String>,
    /// Its pin.
    pub pin: Option<String>,
    /// The app commits between what it runs and its predecessor's candidate.
    pub incoming: Option<crate::ops::promote::Incoming>,
    /// Its freeze windows (`schedule for duration (time zone)`).
    pub freeze_windows: Vec<String>,
    /// The freeze window it is in now, if any.
    pub frozen: Option<String>,
    /// Problems reading it.
    pub problems: Vec<Problem>,
}

/// The overview of every tier.
#[must_use]
pub fn overview(
    resources: &Resources,
    statuses: &Statuses,
    repos: &mut Repos,
    now: Timestamp,
) -> Vec<TierOverview> {
    let mut out = Vec::new();
    let findings = crate::checks::tiers(resources);
    for (name, sourced) in &resources.tiers {
        let spec = &sourced.spec;
        let branch = spec.branch_or(name).to_owned();
        let mut o = TierOverview {
            tier: name.clone(),
            branch: branch.clone(),
            promotes_from: spec.promotes_from.clone(),
            app_branch_tip: None,
            app_running: None,
            system_commit: None,
            configurations: Vec::new(),
            shop_sets: 0,
            synced: statuses.tiers.get(name).and_then(|s| s.synced),
            healthy: statuses.tiers.get(name).and_then(|s| s.healthy),
            not_ready: Vec::new(),
            promotable: None,
            gate: Vec::new(),
            hold: resources
                .tier_annotations
                .get(name)
                .and_then(|a| a.get(HOLD_ANNOTATION))
                .cloned(),
            pin: spec.pin.as_ref().map(|p| {
                format!(
                    "{} ({})",
                    p.app_commit,
                    p.reason.as_deref().unwrap_or("no reason given")
                )
            }),
            freeze_windows: spec
                .promotion
                .freeze_windows
                .iter()
                .map(|w| {
                    format!(
                        "{} for {} ({})",
                        w.schedule,
                        w.duration,
                        w.time_zone.as_deref().unwrap_or("UTC")
                    )
                })
                .collect(),
            frozen: crate::ops::freeze::frozen(&spec.promotion.freeze_windows, now),
            incoming: None,
            problems: findings
                .problems
                .iter()
                .filter(|p| p.is_about("Tier", name))
                .cloned()
                .collect(),
        };
        match repos.tip(&spec.app.url, &branch) {
            Ok(tip) => o.app_branch_tip = tip,
            Err(e) => o
                .problems
                .push(Problem::about("Tier", name, format!("app repository: {e}"))),
        }
        let inputs = match repos.system(&spec.system.url, false) {
            Ok(Some(repo)) => match repo.remote_tip(&branch) {
                Ok(Some(tip)) => {
                    o.system_commit = Some(tip.clone());
                    crate::repos::read_recorded(repo, &tip).ok().flatten()
                }
                Ok(None) => None,
                Err(e) => {
                    o.problems.push(Problem::about(
                        "Tier",
                        name,
                        format!("system repository: {e}"),
                    ));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                o.problems.push(Problem::about(
                    "Tier",
                    name,
                    format!("system repository: {e}"),
                ));
                None
            }
        };
        if let Some(inputs) = &inputs {
            o.app_running = Some(inputs.app_commit.clone());
            o.shop_sets = inputs.shop_sets.len();
            for shop_set in inputs.shop_sets.keys() {
                let ready = statuses
                    .shop_sets
                    .get(shop_set)
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == types::READY));
                match ready {
                    Some(c) if c.status == "True" => {}
                    Some(c) => o.not_ready.push(format!("{shop_set}: {}", c.message)),
                    None => o.not_ready.push(format!("{shop_set}: no status")),
                }
            }
            for (config, resolved) in &inputs.configurations {
                if let Some(source) = &resolved.source {
                    o.configurations.push(ConfigCommits {
                        name: config.clone(),
                        branch_tip: repos.tip(&source.url, &branch).ok().flatten(),
                        running: Some(source.commit.clone()),
                    });
                }
            }
        }
        if spec.promotes_from.is_some() {
            let verdict = crate::ops::verdict::verdict(resources, statuses, repos, name, now);
            o.promotable = Some(verdict.promotable());
            if verdict.up_to_date() {
                o.gate
                    .push(format!("up to date: {branch} is at the candidate"));
            } else {
                o.gate = verdict.reasons();
            }
            o.gate.extend(verdict.notes());
            o.incoming = verdict
                .app
                .as_ref()
                .ok()
                .and_then(|p| p.moves.first())
                .and_then(|m| m.incoming.clone());
        }
        out.push(o);
    }
    out
}
