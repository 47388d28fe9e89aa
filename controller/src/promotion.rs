//! Automatic promotion and the `Promotable` status: after each batch, the gate into every
//! tier this replica writes is evaluated on the fresh statuses; the verdict is recorded on the
//! tier promoted from, and a tier whose policy is automatic is promoted when it holds
//! (push mode: the exact candidate commit, fast-forward only).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use shopset_crds::conditions::types;
use shopset_crds::{Condition, PromotionMode, TierStatus};
use shopset_engine::ops::promote;
use shopset_engine::ops::status::Statuses;
use shopset_engine::{Repos, Resources};

use crate::reconcile::Note;

/// The gate into one tier.
#[derive(Debug, Clone)]
pub struct Gated {
    /// Promoted from.
    pub from: String,
    /// Promoted into.
    pub to: String,
    /// The candidate, when one was found.
    pub candidate: Option<String>,
    /// Already there.
    pub up_to_date: bool,
    /// Why not (empty: the gate holds).
    pub reasons: Vec<String>,
    /// The automatic promotion, when one was attempted.
    pub promoted: Option<Result<(), String>>,
}

/// Where pull requests are opened (pull-request mode).
#[derive(Debug, Clone, Default)]
pub struct ForgeSettings {
    /// GitHub's API.
    pub api: String,
    /// A token.
    pub token: Option<shopset_git::Secret>,
}

fn by_pull_request(
    plan: &promote::PromotionPlan,
    resources: &Resources,
    forge: &ForgeSettings,
) -> Result<(), String> {
    let url = match plan.subject {
        promote::Subject::App => resources
            .tiers
            .get(&plan.to)
            .map(|t| t.spec.app.url.clone())
            .unwrap_or_default(),
        promote::Subject::Config => plan
            .moves
            .first()
            .map(|m| m.repository.clone())
            .unwrap_or_default(),
    };
    let github = shopset_git::forge::GitHub::new(&forge.api, &url, forge.token.as_ref())
        .map_err(|e| e.to_string())?;
    promote::promote_by_pull_request(plan, &github, true).map(|pr| {
        tracing::info!(to = %plan.to, number = pr.number, url = %pr.url, merged = pr.merged, "pull request");
    })
}

/// Evaluates the gates into `targets` (tier, automatic?), promoting where allowed: by push,
/// or by a pull request merged by fast-forward.
pub fn evaluate(
    resources: &Resources,
    statuses: &Statuses,
    repos: &mut Repos,
    targets: &[(String, bool)],
    forge: &ForgeSettings,
    now: Timestamp,
) -> Vec<Gated> {
    let mut out = Vec::new();
    for (to, auto) in targets {
        let from = resources
            .tiers
            .get(to)
            .and_then(|t| t.spec.promotes_from.clone())
            .unwrap_or_default();
        let mut gated = Gated {
            from,
            to: to.clone(),
            candidate: None,
            up_to_date: false,
            reasons: Vec::new(),
            promoted: None,
        };
        for subject in [promote::Subject::App, promote::Subject::Config] {
            match promote::plan(resources, statuses, repos, to, subject, now) {
                Err(e) if subject == promote::Subject::Config => {
                    // A tier without configuration repositories has nothing to promote there.
                    if !e.contains("reads no configuration") {
                        gated.reasons.push(e);
                    }
                }
                Err(e) => gated.reasons.push(e),
                Ok(plan) => {
                    if subject == promote::Subject::App {
                        gated.candidate = Some(plan.candidate.clone());
                        gated.up_to_date = plan.up_to_date;
                        gated.reasons.clone_from(&plan.gate.reasons);
                    }
                    let push = resources
                        .tiers
                        .get(to)
                        .is_some_and(|t| t.spec.promotion.mode == PromotionMode::Push);
                    if *auto && plan.gate.open && !plan.up_to_date {
                        let result = if push {
                            promote::promote(&plan, repos)
                        } else {
                            by_pull_request(&plan, resources, forge)
                        };
                        match &result {
                            Ok(()) => {
                                tracing::info!(from = %plan.from, to = %to, ?subject, candidate = %plan.candidate, "promoted")
                            }
                            Err(e) => {
                                tracing::warn!(to = %to, ?subject, error = %e, "promotion failed")
                            }
                        }
                        if gated.promoted.as_ref().is_none_or(Result::is_ok) {
                            gated.promoted = Some(result);
                        }
                    }
                }
            }
        }
        out.push(gated);
    }
    out
}

/// Records the verdict on the status of the tier promoted from.
pub fn record(status: &mut TierStatus, gate: &Gated, now: &Time) {
    let open = gate.reasons.is_empty();
    status.promotable = Some(open && !gate.up_to_date);
    let (state, reason, message) = if gate.up_to_date {
        (
            "False",
            "UpToDate",
            format!(
                "{} already runs {}",
                gate.to,
                gate.candidate.as_deref().unwrap_or("it")
            ),
        )
    } else if open {
        (
            "True",
            "GateHolds",
            format!(
                "{} may be promoted to {}",
                gate.candidate.as_deref().unwrap_or("the candidate"),
                gate.to
            ),
        )
    } else {
        ("False", "GateNotMet", gate.reasons.join("; "))
    };
    let kept = status
        .conditions
        .iter()
        .find(|c| c.type_ == types::PROMOTABLE && c.status == state)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != types::PROMOTABLE);
    status.conditions.push(Condition {
        type_: types::PROMOTABLE.into(),
        status: state.into(),
        reason: reason.into(),
        message,
        last_transition_time: kept,
        observed_generation: status.observed_generation,
    });
}

/// Keeps the verdict another replica recorded on `status`.
pub fn carry_over(status: &mut TierStatus, stored: &TierStatus) {
    status.promotable = stored.promotable;
    if let Some(c) = stored
        .conditions
        .iter()
        .find(|c| c.type_ == types::PROMOTABLE)
    {
        status.conditions.retain(|c| c.type_ != types::PROMOTABLE);
        status.conditions.push(c.clone());
    }
}

/// The events of a promotion attempt.
#[must_use]
pub fn notes(gate: &Gated) -> Vec<Note> {
    match &gate.promoted {
        Some(Ok(())) => vec![Note {
            kind: "Tier",
            name: gate.to.clone(),
            warning: false,
            reason: "Promoted".into(),
            message: format!(
                "{} promoted from {}",
                gate.candidate.as_deref().unwrap_or_default(),
                gate.from
            ),
        }],
        Some(Err(e)) => vec![Note {
            kind: "Tier",
            name: gate.to.clone(),
            warning: true,
            reason: "PromotionFailed".into(),
            message: e.clone(),
        }],
        None => Vec::new(),
    }
}
