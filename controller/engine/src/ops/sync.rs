//! Flow 1 (and 2, 3): commit the planned tree of every tier branch to its system repository.

use shopset_git::{CommitMeta, CommitOutcome};
use shopset_render::layout;

use crate::ops::plan::{Summary, TierPlan};
use crate::repos::Repos;

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
}

/// What happened to one tier branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierOutcome {
    /// The branch already had this tree.
    Unchanged {
        /// Its tip.
        commit: String,
    },
    /// A commit was written.
    Committed {
        /// The previous tip.
        parent: Option<String>,
        /// The new tip.
        commit: String,
    },
    /// Nothing was written (dry run).
    Planned,
    /// The branch could not be written.
    Failed {
        /// Why.
        error: String,
    },
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
    } = &plan.summary;
    let mut subject = format!(
        "shopset: {}: {} added, {} changed, {} removed",
        plan.tier,
        added.len(),
        changed.len(),
        removed.len()
    );
    if let Some(from) = base_from {
        subject.push_str(&format!(", base {} -> {}", short(from), short(base_to)));
    }
    let mut body = String::new();
    list("Added", added, &mut body);
    list("Changed", changed, &mut body);
    list("Removed", removed, &mut body);
    list(
        "Kept at last rendered version (invalid input)",
        kept,
        &mut body,
    );
    if let Some(from) = base_from {
        body.push_str(&format!("Base moved: {from} -> {base_to}\n"));
    }
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

/// Commits a planned tier to its branch (no commit when the tree is unchanged).
pub fn commit_tier(plan: &TierPlan, repos: &mut Repos, author: &Author) -> TierOutcome {
    let result = repos
        .system(&plan.system_url)
        .map_err(|e| e.to_string())
        .and_then(|repo| {
            let meta = CommitMeta {
                message: commit_message(plan, author),
                name: author.name.clone(),
                email: author.email.clone(),
                time: author.time,
            };
            repo.commit_tree(
                &plan.branch,
                plan.previous_tip.as_deref(),
                &plan.tree,
                &meta,
            )
            .map_err(|e| e.to_string())
        });
    match result {
        Ok(CommitOutcome::Unchanged { commit }) => TierOutcome::Unchanged { commit },
        Ok(CommitOutcome::Committed { parent, commit }) => {
            tracing::info!(tier = %plan.tier, branch = %plan.branch, %commit, "committed");
            TierOutcome::Committed { parent, commit }
        }
        Err(error) => TierOutcome::Failed { error },
    }
}
