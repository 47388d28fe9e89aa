//! `shopctl preview`: a pull request's preview up, down, and the list, by hand: the engine's
//! `ops::preview` functions, as the controller calls them for a PreviewPolicy.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Value, json};
use shopset_engine::Resources;
use shopset_engine::ops::preview::{self, Applications, Down, Pull};
use shopset_engine::ops::sync::TierOutcome;

use super::Context;
use crate::cli::{Format, PreviewCommand};
use crate::cluster::{Cluster, ClusterArgs};
use crate::load::Source;

/// Argo CD's Applications in the cluster of the kubeconfig.
pub struct KubeApplications(pub Cluster);

impl Applications for KubeApplications {
    fn apply(&mut self, _application: &Value) -> Result<(), String> {
        Err("shopctl prints the Application for kubectl apply; it applies nothing".into())
    }

    fn delete(&mut self, namespace: &str, name: &str) -> Result<(), String> {
        self.0
            .delete_application(namespace, name)
            .map_err(|e| e.to_string())
    }

    fn exists(&mut self, namespace: &str, name: &str) -> Result<bool, String> {
        self.0
            .application_exists(namespace, name)
            .map_err(|e| e.to_string())
    }

    fn state(&self, _shop_set: &str) -> Option<String> {
        None
    }
}

/// The policy named, or the only one.
fn policy_name(resources: &Resources, named: Option<&String>) -> anyhow::Result<String> {
    if let Some(name) = named {
        return Ok(name.clone());
    }
    let all: Vec<&String> = resources.preview_policies.keys().collect();
    match all[..] {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!("no PreviewPolicy among the resources"),
        _ => anyhow::bail!("several PreviewPolicies ({all:?}): name one with --policy"),
    }
}

pub fn run(
    ctx: &Context,
    format: Format,
    what: &PreviewCommand,
    cluster: &ClusterArgs,
    source: &dyn Fn(&[PathBuf]) -> anyhow::Result<Source>,
) -> anyhow::Result<bool> {
    match what {
        PreviewCommand::Up {
            pr,
            sha,
            url,
            sleep,
            policy,
            files,
            author,
        } => {
            let resources = source(files)?.resources()?;
            super::report_problems(&resources_problems(&resources));
            let name = policy_name(&resources, policy.as_ref())?;
            let mut repos = ctx.repos(&resources);
            let pull = Pull {
                number: *pr,
                state: "open".into(),
                merged: false,
                head_sha: sha.clone(),
                base: String::new(),
                labels: Vec::new(),
                url: url.clone(),
            };
            let author = ctx.author(author);
            let done = match preview::up(&resources, &mut repos, &author, &name, &pull, *sleep) {
                Ok(done) => done,
                Err(problems) => {
                    super::report_problems(&problems);
                    return Ok(false);
                }
            };
            let branch = shopset_crds::preview::preview_branch(*pr);
            let commit = match &done.result.outcome {
                TierOutcome::Committed { commit, .. } => format!("committed {commit}"),
                TierOutcome::Unchanged { commit } => format!(
                    "unchanged at {}",
                    commit.as_deref().unwrap_or("(no commit)")
                ),
                other => format!("{other:?}"),
            };
            let mut text = format!("preview of pull request {pr} on {branch}: {commit}\n");
            if let Some(app) = &done.application {
                let _ = write!(
                    text,
                    "Apply its Application (the branch holds it as bootstrap/{tier}.yaml):\n\n\
                     kubectl apply -f - <<'EOF'\n{yaml}EOF\n",
                    tier = shopset_crds::preview::preview_tier(*pr),
                    yaml = shopset_render::yaml::to_string(app),
                );
            }
            let value = json!({
                "number": pr,
                "branch": branch,
                "outcome": commit,
                "application": done.application,
            });
            crate::output::print(format, &text, &value);
            Ok(true)
        }
        PreviewCommand::Down {
            number,
            policy,
            files,
            application_gone,
            timeout,
        } => {
            let resources = source(files)?.resources()?;
            let name = policy_name(&resources, policy.as_ref())?;
            let mut repos = ctx.repos(&resources);
            let mut apps = if *application_gone {
                None
            } else {
                Some(KubeApplications(Cluster::connect(cluster).map_err(
                    |e| {
                        anyhow::anyhow!(
                            "{e}: the Application must be gone before the branch is deleted; \
                         delete it with `kubectl delete application --wait`, then run this \
                         again with --application-gone"
                        )
                    },
                )?))
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(*timeout);
            loop {
                let step = preview::down(
                    &resources,
                    &mut repos,
                    apps.as_mut().map(|a| a as &mut dyn Applications),
                    &name,
                    *number,
                );
                match step {
                    Ok(Down::WaitingForApplication { application }) => {
                        if std::time::Instant::now() >= deadline {
                            anyhow::bail!(
                                "Application {application} is still there after {timeout} s: \
                                 the branch is kept; run this again once Argo CD has removed it"
                            );
                        }
                        tracing::info!(target: shopset_engine::PROGRESS, "waiting for Argo CD to remove Application {application}");
                        std::thread::sleep(std::time::Duration::from_secs(2));
                    }
                    Ok(Down::Removed { tip, tag }) => {
                        let text = format!(
                            "preview of pull request {number} removed: branch {} deleted at \
                             {tip}{}\n",
                            shopset_crds::preview::preview_branch(*number),
                            tag.as_ref()
                                .map(|t| format!(", tagged {t}"))
                                .unwrap_or_default()
                        );
                        crate::output::print(
                            format,
                            &text,
                            &json!({ "number": number, "removed": tip, "tag": tag }),
                        );
                        return Ok(true);
                    }
                    Ok(Down::Absent) => {
                        crate::output::print(
                            format,
                            &format!("no preview of pull request {number}\n"),
                            &json!({ "number": number, "removed": null }),
                        );
                        return Ok(true);
                    }
                    Err(problem) => {
                        super::report_problems(&[problem]);
                        return Ok(false);
                    }
                }
            }
        }
        PreviewCommand::List { policy, files } => {
            let resources = source(files)?.resources()?;
            let name = policy_name(&resources, policy.as_ref())?;
            let mut repos = ctx.repos(&resources);
            let spec = &resources.preview_policies[&name].spec;
            let annotations = resources.preview_annotations.get(&name);
            let existing = match preview::existing(&resources, &mut repos, &name) {
                Ok(e) => e,
                Err(problem) => {
                    super::report_problems(&[problem]);
                    return Ok(false);
                }
            };
            let mut text = format!(
                "{:<6} {:<12} {:<21} {:<21} {:<21} {}\n",
                "PR", "COMMIT", "DEPLOYED", "LAST PUSH", "EXPIRES", "URL"
            );
            let mut rows = Vec::new();
            for e in &existing {
                let p = e.preview();
                // The keep label is GitHub's: not known here.
                let expires = preview::timestamp(preview::expires_at(spec, annotations, e, false));
                let _ = writeln!(
                    text,
                    "{:<6} {:<12} {:<21} {:<21} {:<21} https://{}",
                    e.number,
                    &e.head_sha()[..12],
                    preview::timestamp(e.deployed_at),
                    preview::timestamp(e.pushed_at),
                    expires,
                    p.host
                );
                rows.push(json!({
                    "number": e.number,
                    "headSha": e.head_sha(),
                    "branchTip": e.tip,
                    "deployedAt": preview::timestamp(e.deployed_at),
                    "pushedAt": preview::timestamp(e.pushed_at),
                    "expiresAt": expires,
                    "url": format!("https://{}", p.host),
                    "pullRequest": p.pull_request,
                }));
            }
            crate::output::print(format, &text, &Value::Array(rows));
            Ok(true)
        }
    }
}

fn resources_problems(resources: &Resources) -> Vec<shopset_engine::Problem> {
    resources
        .errors
        .iter()
        .filter(|e| e.kind == "PreviewPolicy")
        .map(shopset_engine::Problem::from)
        .collect()
}
