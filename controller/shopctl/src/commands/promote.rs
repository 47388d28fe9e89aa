//! `shopctl promote`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;
use shopset_engine::ops::{promote, verdict};
use shopset_engine::{Author, SyncOptions};

use super::{Context, Done};
use crate::cli::Format;
use crate::load::Source;

/// What to promote, and how.
pub struct Request<'a> {
    /// Into this tier.
    pub tier: &'a str,
    /// Offline, the statuses.
    pub status_file: Option<&'a Path>,
    /// Plan only.
    pub dry_run: bool,
    /// The app or the configuration.
    pub subject: promote::Subject,
    /// Merge the pull request (pull-request mode).
    pub merge: bool,
    /// GitHub's API.
    pub github_api: &'a str,
    /// A GitHub token.
    pub github_token_file: Option<&'a Path>,
}

pub fn run(
    ctx: &Context,
    format: Format,
    source: &Source,
    request: &Request<'_>,
    author: &Author,
) -> anyhow::Result<Done> {
    let Request {
        tier,
        status_file,
        dry_run,
        subject,
        ..
    } = *request;
    let super::Observed {
        resources,
        mut repos,
        statuses,
        from,
    } = ctx.statuses(source, status_file)?;
    super::report_problems(
        &resources
            .errors
            .iter()
            .map(shopset_engine::Problem::from)
            .collect::<Vec<_>>(),
    );
    let now = k8s_openapi::jiff::Timestamp::now();
    let verdict = verdict::verdict(&resources, &statuses, &mut repos, tier, now);
    let plan = verdict
        .plan(subject)
        .map_err(|e| anyhow::anyhow!("promote {tier}: {e}"))?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} -> {}: {} candidate {}",
        plan.from,
        plan.to,
        match subject {
            promote::Subject::App => "app",
            promote::Subject::Config => "configuration",
        },
        plan.candidate,
    );
    for m in &plan.moves {
        let _ = writeln!(
            text,
            "  {} {}: {} -> {}",
            m.repository,
            m.branch,
            m.current.as_deref().unwrap_or("nothing"),
            m.commit
        );
    }
    for note in &plan.notes {
        let _ = writeln!(text, "note: {note}");
    }
    let _ = writeln!(text, "statuses: {from}");
    let (state, done) = if plan.up_to_date {
        ("up to date", Done::Ok)
    } else if !plan.gate.open {
        for r in &plan.gate.reasons {
            let _ = writeln!(text, "gate: {r}");
        }
        ("gate not met", Done::GateNotMet)
    } else if dry_run {
        let _ = writeln!(text, "gate: holds; by hand:");
        for c in &plan.commands {
            let _ = writeln!(text, "  {c}");
        }
        ("planned", Done::Ok)
    } else {
        let forge = verdict::ForgeSettings {
            api: request.github_api.to_owned(),
            token: match request.github_token_file {
                Some(f) => Some(shopset_git::Secret::new(
                    std::fs::read_to_string(f)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
                        .trim()
                        .to_owned(),
                )),
                None => None,
            },
        };
        let carried = verdict::carry_out(plan, &resources, &mut repos, &forge, request.merge)
            .map_err(|e| anyhow::anyhow!("promote {tier}: {e}"))?;
        if let verdict::Carried::PullRequest(pr) = &carried {
            let _ = writeln!(
                text,
                "pull request #{} ({}) from {}{}",
                pr.number,
                pr.url,
                pr.head,
                if pr.merged {
                    ", merged by fast-forward"
                } else {
                    ", waiting for a merge"
                }
            );
        }
        if carried.landed() {
            ("promoted", Done::Ok)
        } else {
            ("pull request open", Done::Ok)
        }
    };
    let _ = writeln!(text, "{state}");
    let mut system = serde_json::Value::Null;
    // Flow 2: the tier's system branch follows the promoted commit. Up to date, too: a run
    // killed after the push, before this sync, left the system branch behind, and this rerun
    // finishes the promotion (a sync with nothing to do writes nothing).
    if state == "promoted" || (state == "up to date" && !dry_run) {
        let options = SyncOptions {
            tiers: Some([tier.to_owned()].into()),
            ..SyncOptions::default()
        };
        let outcome = super::sync::sync(ctx, &resources, &options, author);
        text.push_str(&outcome.text);
        system = outcome.json;
        if !outcome.ok {
            super::report_problems(&outcome.problems);
            crate::output::print(
                format,
                &text,
                &json!({ "state": state, "plan": plan, "system": system, "statusSource": from }),
            );
            return Ok(Done::Failed);
        }
    }
    crate::output::print(
        format,
        &text,
        &json!({ "state": state, "plan": plan, "system": system, "statusSource": from }),
    );
    Ok(done)
}
