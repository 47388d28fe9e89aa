//! The promotion verdict into a tier, for the app and the configuration at once: the one
//! answer the controller records as the `Promotable` condition, `shopctl status` prints and
//! `shopctl promote` acts on. Carrying a promotion out (push, or pull request) is here too, so
//! no binary decides how a promotion reaches a branch.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use shopset_crds::conditions::{reasons, types};
use shopset_crds::{Condition, PromotionMode, TierStatus};

use crate::ops::promote::{self, PromotionError, PromotionPlan, PullRequestOutcome, Subject};
use crate::ops::status::Statuses;
use crate::repos::Repos;
use crate::resources::Resources;

/// Where promotion pull requests are opened.
#[derive(Debug, Clone, Default)]
pub struct ForgeSettings {
    /// GitHub's API.
    pub api: String,
    /// A token.
    pub token: Option<shopset_git::Secret>,
}

/// The verdict into one tier.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Promoted from.
    pub from: String,
    /// Promoted into.
    pub to: String,
    /// The app commit's promotion.
    pub app: Result<PromotionPlan, PromotionError>,
    /// The configuration commits' promotion.
    pub config: Result<PromotionPlan, PromotionError>,
}

/// What `Promotable` says, as a condition's status, reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// `True` or `False`.
    pub status: &'static str,
    /// One of [`reasons::UP_TO_DATE`], [`reasons::GATE_HOLDS`], [`reasons::GATE_NOT_MET`].
    pub reason: &'static str,
    /// For people.
    pub message: String,
}

impl Verdict {
    /// The plan of one subject.
    ///
    /// # Errors
    /// Why it could not be planned.
    pub fn plan(&self, subject: Subject) -> Result<&PromotionPlan, &PromotionError> {
        match subject {
            Subject::App => self.app.as_ref(),
            Subject::Config => self.config.as_ref(),
        }
    }

    /// The app candidate, when one was found.
    #[must_use]
    pub fn candidate(&self) -> Option<&str> {
        self.app.as_ref().ok().map(|p| p.candidate.as_str())
    }

    /// The tier already runs the app candidate.
    #[must_use]
    pub fn up_to_date(&self) -> bool {
        self.app.as_ref().is_ok_and(|p| p.up_to_date)
    }

    /// Why the candidate may not be promoted: the app gate's reasons, and what stops either
    /// subject from being planned (a tier reading no configuration repository has nothing to
    /// promote there, which is no reason). Empty: the gate holds.
    #[must_use]
    pub fn reasons(&self) -> Vec<String> {
        let mut out = match &self.app {
            Ok(plan) => plan.gate.reasons.clone(),
            Err(e) => vec![e.to_string()],
        };
        if let Err(e) = &self.config
            && !e.nothing_to_promote()
        {
            out.push(e.to_string());
        }
        out
    }

    /// Remarks worth showing beside the verdict (a pin that keeps the tier where it is).
    #[must_use]
    pub fn notes(&self) -> Vec<String> {
        self.app
            .as_ref()
            .map(|p| p.notes.clone())
            .unwrap_or_default()
    }

    /// Something may be promoted now.
    #[must_use]
    pub fn promotable(&self) -> bool {
        !self.up_to_date() && self.reasons().is_empty()
    }

    /// The `Promotable` condition of the tier promoted from.
    #[must_use]
    pub fn judgement(&self) -> Judgement {
        let candidate = self.candidate();
        if self.up_to_date() {
            Judgement {
                status: "False",
                reason: reasons::UP_TO_DATE,
                message: format!("{} already runs {}", self.to, candidate.unwrap_or("it")),
            }
        } else if self.reasons().is_empty() {
            Judgement {
                status: "True",
                reason: reasons::GATE_HOLDS,
                message: format!(
                    "{} may be promoted to {}",
                    candidate.unwrap_or("the candidate"),
                    self.to
                ),
            }
        } else {
            Judgement {
                status: "False",
                reason: reasons::GATE_NOT_MET,
                message: self.reasons().join("; "),
            }
        }
    }
}

/// The verdict into `to`: both subjects planned on the same statuses, repositories and
/// clock.
#[must_use]
pub fn verdict(
    resources: &Resources,
    statuses: &Statuses,
    repos: &mut Repos,
    to: &str,
    now: Timestamp,
) -> Verdict {
    let from = resources
        .tiers
        .get(to)
        .and_then(|t| t.spec.promotes_from.clone())
        .unwrap_or_default();
    let app = promote::plan(resources, statuses, repos, to, Subject::App, now);
    let config = promote::plan(resources, statuses, repos, to, Subject::Config, now);
    Verdict {
        from,
        to: to.to_owned(),
        app,
        config,
    }
}

/// How a promotion reached the tier's branch.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum Carried {
    /// Fast-forward pushes.
    Push,
    /// A pull request (merged by fast-forward when asked and allowed).
    PullRequest(PullRequestOutcome),
}

impl Carried {
    /// The branch now holds the candidate.
    #[must_use]
    pub fn landed(&self) -> bool {
        match self {
            Self::Push => true,
            Self::PullRequest(pr) => pr.merged,
        }
    }
}

/// Carries a planned promotion out as the Tier's policy says: fast-forward pushes, or a pull
/// request on the forge (merged by fast-forward when `merge`).
///
/// # Errors
/// A push refused or failed, or the forge refused.
pub fn carry_out(
    plan: &PromotionPlan,
    resources: &Resources,
    repos: &mut Repos,
    forge: &ForgeSettings,
    merge: bool,
) -> Result<Carried, PromotionError> {
    let by_pull_request = resources
        .tiers
        .get(&plan.to)
        .is_some_and(|t| t.spec.promotion.mode == PromotionMode::PullRequest);
    if !by_pull_request {
        promote::promote(plan, repos)?;
        return Ok(Carried::Push);
    }
    let url = plan
        .moves
        .first()
        .map(promote::Move::url)
        .unwrap_or_default();
    let github = shopset_git::forge::GitHub::new(&forge.api, url, forge.token.as_ref())
        .map_err(|e| PromotionError::Forge(e.to_string()))?;
    promote::promote_by_pull_request(plan, &github, merge).map(Carried::PullRequest)
}

/// A verdict, and the automatic promotions it allowed.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The verdict, before any promotion.
    pub verdict: Verdict,
    /// The automatic promotion, when one was attempted: the first failure, or success.
    pub promoted: Option<Result<(), PromotionError>>,
}

/// Judges the gates into `targets` (tier, automatic?) and, where the policy is automatic and
/// the gate holds, promotes each subject: by push, or by a pull request merged by
/// fast-forward.
pub fn judge(
    resources: &Resources,
    statuses: &Statuses,
    repos: &mut Repos,
    targets: &[(String, bool)],
    forge: &ForgeSettings,
    now: Timestamp,
) -> Vec<Judged> {
    let mut out = Vec::new();
    for (to, auto) in targets {
        let verdict = verdict(resources, statuses, repos, to, now);
        let mut promoted: Option<Result<(), PromotionError>> = None;
        if *auto {
            for plan in [&verdict.app, &verdict.config].into_iter().flatten() {
                if !plan.gate.open || plan.up_to_date {
                    continue;
                }
                let result = carry_out(plan, resources, repos, forge, true).map(|_| ());
                match &result {
                    Ok(()) => {
                        tracing::info!(from = %plan.from, to = %to, subject = ?plan.subject, candidate = %plan.candidate, "promoted");
                    }
                    Err(e) => {
                        tracing::warn!(to = %to, subject = ?plan.subject, error = %e, "promotion failed");
                    }
                }
                if promoted.as_ref().is_none_or(Result::is_ok) {
                    promoted = Some(result);
                }
            }
        }
        out.push(Judged { verdict, promoted });
    }
    out
}

/// Records the verdict on the status of the tier promoted from (`promotable` and the
/// `Promotable` condition). The condition's transition time stays while its status does: it
/// is taken from `stored` (the status as recorded before; `status` may be computed afresh,
/// without the condition), else from `status`.
pub fn record(status: &mut TierStatus, stored: Option<&TierStatus>, verdict: &Verdict, now: &Time) {
    let judgement = verdict.judgement();
    status.promotable = Some(verdict.promotable());
    let kept = stored
        .into_iter()
        .chain([&*status])
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == types::PROMOTABLE && c.status == judgement.status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != types::PROMOTABLE);
    status.conditions.push(Condition {
        type_: types::PROMOTABLE.into(),
        status: judgement.status.into(),
        reason: judgement.reason.into(),
        message: judgement.message,
        last_transition_time: kept,
        observed_generation: status.observed_generation,
    });
}

/// Keeps on `status` the verdict recorded on `stored` (by whoever judged the gate out of the
/// tier last).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::promote::Gate;

    fn plan(up_to_date: bool, reasons: &[&str]) -> PromotionPlan {
        PromotionPlan {
            from: "tier-0".into(),
            to: "tier-1".into(),
            subject: Subject::App,
            candidate: "c1".into(),
            moves: Vec::new(),
            up_to_date,
            gate: Gate {
                open: reasons.is_empty(),
                reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
            },
            commands: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn verdict(
        app: Result<PromotionPlan, PromotionError>,
        config: Result<PromotionPlan, PromotionError>,
    ) -> Verdict {
        Verdict {
            from: "tier-0".into(),
            to: "tier-1".into(),
            app,
            config,
        }
    }

    #[test]
    fn a_tier_without_configuration_repositories_is_judged_on_the_app() {
        let v = verdict(
            Ok(plan(false, &[])),
            Err(PromotionError::NoConfiguration("tier-0".into())),
        );
        assert!(v.promotable());
        assert_eq!(v.judgement().reason, reasons::GATE_HOLDS);
        assert_eq!(v.judgement().message, "c1 may be promoted to tier-1");
    }

    #[test]
    fn a_configuration_that_cannot_be_promoted_closes_the_gate() {
        let v = verdict(
            Ok(plan(false, &[])),
            Err(PromotionError::NotFastForward(
                "not a fast-forward: x".into(),
            )),
        );
        assert!(!v.promotable());
        let j = v.judgement();
        assert_eq!((j.status, j.reason), ("False", reasons::GATE_NOT_MET));
        assert_eq!(j.message, "not a fast-forward: x");
    }

    #[test]
    fn up_to_date_wins_over_reasons() {
        let v = verdict(
            Ok(plan(true, &["tier-0 has no status"])),
            Err(PromotionError::NoConfiguration("tier-0".into())),
        );
        assert!(!v.promotable());
        assert_eq!(v.judgement().reason, reasons::UP_TO_DATE);
        assert_eq!(v.judgement().message, "tier-1 already runs c1");
    }

    #[test]
    fn every_reason_is_listed() {
        let v = verdict(
            Ok(plan(false, &["held", "soaking"])),
            Err(PromotionError::Repository("unreachable".into())),
        );
        assert_eq!(v.reasons(), ["held", "soaking", "unreachable"]);
        assert_eq!(v.judgement().message, "held; soaking; unreachable");
    }

    #[test]
    fn recording_keeps_the_transition_time_while_the_status_stays() {
        let mut status = TierStatus::default();
        let first = Time(Timestamp::constant(1_000, 0));
        let later = Time(Timestamp::constant(2_000, 0));
        let holds = verdict(
            Ok(plan(false, &[])),
            Err(PromotionError::NoConfiguration("tier-0".into())),
        );
        record(&mut status, None, &holds, &first);
        record(&mut status, None, &holds, &later);
        assert_eq!(status.promotable, Some(true));
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(status.conditions[0].last_transition_time, first);
        // A status computed afresh (without the condition) keeps the stored one's time.
        let stored = status.clone();
        let mut fresh = TierStatus::default();
        record(&mut fresh, Some(&stored), &holds, &later);
        assert_eq!(
            fresh, stored,
            "nothing changed: the same status, to the byte"
        );
        let closed = verdict(Ok(plan(false, &["held"])), Ok(plan(true, &[])));
        record(&mut status, None, &closed, &later);
        assert_eq!(status.promotable, Some(false));
        assert_eq!(status.conditions[0].last_transition_time, later);
        assert_eq!(status.conditions[0].reason, reasons::GATE_NOT_MET);
        let mut fresh = TierStatus::default();
        record(&mut fresh, Some(&stored), &closed, &later);
        assert_eq!(
            fresh.conditions[0].last_transition_time, later,
            "the status moved: a new transition time"
        );
    }
}
