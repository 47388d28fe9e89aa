//! One module per command; each turns arguments into engine calls and prints the result.
//! `run` returns `Ok(false)` when the command finished but something in it failed.

mod crds;
mod dashboard;
mod diff;
mod edit;
mod log;
mod migrate;
mod notify;
mod preview;
mod promote;
mod quickstart;
mod render;
mod shop;
mod status;
mod sync;
mod verify;

use std::path::PathBuf;

use shopset_engine::ops::{self, edit::Change};
use shopset_engine::{Repos, Resources};
use shopset_git::{Credentials, Scope, Secret, Signer};

use crate::cli::{AuthorArgs, Cli, Command, EditArgs, MigrateCommand, ShopCommand};
use crate::load::Source;

/// The runtime settings every command shares.
pub struct Context {
    cache_dir: PathBuf,
    secrets_dir: Option<PathBuf>,
    default_credentials: Credentials,
    signer: Option<Signer>,
}

impl Context {
    fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let cache_dir = cli.cache_dir.clone().unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir)
                .join("shopset")
        });
        let password = match &cli.git_password_file {
            Some(file) => Some(Secret::new(
                std::fs::read_to_string(file)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
            )),
            None => None,
        };
        if (password.is_some() || cli.git_ssh_key.is_some()) && cli.git_credentials_host.is_none() {
            anyhow::bail!(
                "--git-password-file and --git-ssh-key need --git-credentials-host HOST: the \
                 host (or host:port) they may be sent to; they are never sent anywhere else"
            );
        }
        let signer = match (&cli.sign_ssh_key, &cli.sign_gpg_key) {
            (Some(key), _) => Some(Signer::Ssh { key: key.clone() }),
            (None, Some(key_id)) => Some(Signer::Gpg {
                key_id: key_id.clone(),
                homedir: None,
            }),
            (None, None) => None,
        };
        Ok(Self {
            cache_dir,
            secrets_dir: cli.secrets_dir.clone(),
            default_credentials: Credentials {
                username: cli.git_username.clone(),
                password,
                ssh_key: cli.git_ssh_key.clone(),
                known_hosts: cli.git_known_hosts.clone(),
                insecure_skip_host_key_check: cli.insecure_skip_host_key_check,
                scope: cli.git_credentials_host.clone().map(Scope::Host),
                origin: "--git-password-file/--git-ssh-key".into(),
                unusable: None,
            },
            signer,
        })
    }

    /// Repositories, with the credentials each resource names.
    fn repos(&self, resources: &Resources) -> Repos {
        let per_url = self
            .secrets_dir
            .as_deref()
            .map(|dir| shopset_engine::repos::credentials_for(resources, dir))
            .unwrap_or_default();
        Repos::new(&self.cache_dir).with_credentials(self.default_credentials.clone(), per_url)
    }

    /// The resources, the repositories and the statuses the promotion gate reads: computed
    /// now from the tier branches and Argo CD's Applications when any can be read (Application
    /// documents among the files, or in the cluster), so that with the controller down they
    /// describe what runs; otherwise the statuses the controller last wrote.
    fn statuses(
        &self,
        source: &Source,
        status_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Observed> {
        let (resources, written, gathered) = source.read_all(status_file)?;
        let mut repos = self.repos(&resources);
        let (statuses, from) = match gathered.filter(|g| g.application_count > 0) {
            Some(gathered) => {
                let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now(),
                );
                let computed =
                    ops::observe::observe(&resources, &mut repos, &gathered, &written, &now);
                let mut statuses = written;
                statuses.shop_sets.extend(computed.shop_sets);
                statuses.tiers.extend(computed.tiers);
                let count = gathered.application_count;
                (statuses, ops::observe::StatusSource::Applications { count })
            }
            None => (written, ops::observe::StatusSource::Written),
        };
        tracing::info!(target: shopset_engine::PROGRESS, "statuses: {from}");
        Ok(Observed {
            resources,
            repos,
            statuses,
            from,
        })
    }

    fn author(&self, args: &AuthorArgs) -> shopset_engine::Author {
        shopset_engine::Author {
            name: args.author_name.clone(),
            email: args.author_email.clone(),
            producer: format!("shopctl/{}", env!("CARGO_PKG_VERSION")),
            time: None,
            signer: self.signer.clone(),
        }
    }
}

/// What the status and promotion commands read.
pub struct Observed {
    /// The resources.
    pub resources: Resources,
    /// Their repositories.
    pub repos: Repos,
    /// The statuses.
    pub statuses: shopset_engine::ops::status::Statuses,
    /// Where the statuses came from.
    pub from: ops::observe::StatusSource,
}

/// How a command ended.
pub enum Done {
    /// Everything done.
    Ok,
    /// Something failed (the rest was still done).
    Failed,
    /// A gate did not hold: nothing was done (exit code 3).
    GateNotMet,
    /// `verify` found drift or pending changes, or `diff` found that a sync would change
    /// something (exit code 4).
    Changes,
}

impl From<bool> for Done {
    fn from(ok: bool) -> Self {
        if ok { Self::Ok } else { Self::Failed }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Done> {
    let ctx = Context::from_cli(&cli)?;
    let format = cli.format;
    let source = |files: &[PathBuf]| Source::new(files, &cli.cluster);
    let change_one = |from: &Source, args: &EditArgs, change: Change| {
        let author = ctx.author(&args.author);
        edit::run(&ctx, format, from, args.dry_run, change, &author)
    };
    let ok = match &cli.command {
        Command::Sync {
            files,
            dry_run,
            confirm_removals,
            author,
        } => {
            let author = ctx.author(author);
            let options = shopset_engine::SyncOptions {
                dry_run: *dry_run,
                confirm_removals: *confirm_removals,
                ..Default::default()
            };
            sync::run(&ctx, format, &source(files)?, &options, &author)
        }
        Command::Render { files, inputs, out } => render::run(&ctx, format, files, inputs, out),
        Command::Crds { out } => crds::run(out.as_deref()),
        Command::Dashboard {
            files,
            status_file,
            listen,
        } => dashboard::run(&ctx, &source(files)?, status_file.as_deref(), *listen),
        Command::Preview { what } => preview::run(&ctx, format, what, &cli.cluster, &source),
        Command::Notify { what } => notify::run(&ctx, format, what, &source),
        Command::Status { files, status_file } => {
            status::run(&ctx, format, &source(files)?, status_file.as_deref())
        }
        Command::Verify { files, diff } => {
            return verify::run(&ctx, format, &source(files)?, *diff);
        }
        Command::Diff {
            files,
            stat,
            max_lines,
        } => {
            let max_lines = (*max_lines > 0).then_some(*max_lines);
            return diff::run(&ctx, format, &source(files)?, *stat, max_lines);
        }
        Command::Log {
            tier,
            files,
            max_count,
        } => log::run(&ctx, format, &source(files)?, tier, *max_count),
        Command::Shop {
            what:
                what @ (ShopCommand::Move {
                    shop, edit: args, ..
                }
                | ShopCommand::Isolate { shop, edit: args }),
        } => {
            let from = source(&args.files)?;
            let resources = from.resources()?;
            let report = ops::shops::report(&resources, &mut ctx.repos(&resources));
            let at = report
                .shops
                .iter()
                .find(|s| s.shop == *shop)
                .and_then(|s| s.shop_set.clone());
            let change = match what {
                ShopCommand::Move { to, .. } => {
                    ops::edit::move_shop(&resources, shop, to, at.as_deref())
                }
                _ => ops::edit::isolate_shop(&resources, shop, at.as_deref()),
            };
            return change_one(&from, args, change);
        }
        Command::Shop {
            what:
                ShopCommand::Add {
                    shop,
                    hosts,
                    pool,
                    weight,
                    shop_set,
                    edit: args,
                },
        } => {
            let from = source(&args.files)?;
            let new = ops::edit::NewShop {
                name: shop,
                hosts,
                pool: pool.as_deref(),
                weight: *weight,
                shop_set: shop_set.as_deref(),
            };
            let change = ops::edit::add_shop(&from.resources()?, &new)?;
            return change_one(&from, args, change);
        }
        Command::Shop {
            what: ShopCommand::Remove { shop, edit: args },
        } => {
            let from = source(&args.files)?;
            let change = ops::edit::remove_shop(&from.resources()?, shop)?;
            return change_one(&from, args, change);
        }
        Command::Shop { what } => shop::run(&ctx, format, what, &source),
        Command::Hold {
            tier,
            reason,
            edit: args,
        } => {
            let change = ops::edit::hold(tier, reason);
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Release { tier, edit: args } => {
            let change = ops::edit::release(tier);
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Approve {
            tier,
            commit,
            config,
            edit: args,
        } => {
            let change = ops::edit::approve(tier, commit, *config)?;
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Rollback {
            tier,
            to,
            reason,
            edit: args,
        } => {
            let from = source(&args.files)?;
            let target = match to {
                Some(commit) => commit.clone(),
                None => {
                    let resources = from.resources()?;
                    let mut repos = ctx.repos(&resources);
                    shopset_engine::ops::pin::previous_app_commit(&resources, &mut repos, tier)
                        .map_err(|e| anyhow::anyhow!("rollback {tier}: {e}"))?
                }
            };
            let change = ops::edit::rollback(tier, &target, reason)?;
            return change_one(&from, args, change);
        }
        Command::Unpin { tier, edit: args } => {
            let change = ops::edit::unpin(tier);
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Maintenance {
            state,
            shopset,
            edit: args,
        } => {
            let from = source(&args.files)?;
            let change = ops::edit::maintenance(&from.resources()?, shopset, state == "on");
            return change_one(&from, args, change);
        }
        Command::Migrate {
            what: MigrateCommand::Status { migration, files },
        } => migrate::status(&ctx, format, &source(files)?, migration),
        Command::Migrate {
            what:
                MigrateCommand::Step {
                    migration,
                    files,
                    dry_run,
                    author,
                },
        } => {
            let author = ctx.author(author);
            let options = shopset_engine::SyncOptions {
                dry_run: *dry_run,
                ..Default::default()
            };
            migrate::step(&ctx, format, &source(files)?, migration, &options, &author)
        }
        Command::Migrate {
            what:
                MigrateCommand::Approve {
                    migration,
                    step,
                    edit: args,
                },
        } => {
            let change = ops::edit::approve_migration_step(migration, *step);
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Migrate {
            what:
                MigrateCommand::Abort {
                    migration,
                    edit: args,
                },
        } => {
            let change = ops::edit::abort_migration(migration);
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Cordon { domain, edit: args } | Command::Uncordon { domain, edit: args } => {
            let on = matches!(&cli.command, Command::Cordon { .. });
            let change = ops::edit::cordon(domain, on);
            return change_one(&source(&args.files)?, args, change);
        }
        Command::Promote {
            tier,
            files,
            status_file,
            dry_run,
            config,
            merge,
            github_api,
            github_token_file,
            author,
        } => {
            let author = ctx.author(author);
            let subject = if *config {
                shopset_engine::ops::promote::Subject::Config
            } else {
                shopset_engine::ops::promote::Subject::App
            };
            let request = promote::Request {
                tier,
                status_file: status_file.as_deref(),
                dry_run: *dry_run,
                subject,
                merge: *merge,
                github_api,
                github_token_file: github_token_file.as_deref(),
            };
            return promote::run(&ctx, format, &source(files)?, &request, &author);
        }
        Command::Quickstart { dir } => quickstart::run(&ctx, format, dir),
    };
    ok.map(Done::from)
}

/// Problems go to stderr, one per line, each marked as an error or a warning.
fn report_problems(problems: &[shopset_engine::Problem]) {
    for p in problems {
        let label = if p.is_error() { "error" } else { "warning" };
        eprintln!("{label}: {p}");
    }
}
