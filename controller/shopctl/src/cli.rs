//! Arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Every action of the shopset controller, by hand: render ShopSets into a system repository
/// that Argo CD applies.
#[derive(Debug, Parser)]
#[command(name = "shopctl", version, about)]
pub struct Cli {
    /// Log more to stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// No progress messages on stderr (problems are still reported).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Repository caches (one bare mirror per repository, fetched incrementally).
    #[arg(long, global = true, env = "SHOPSET_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Directory of mounted Secrets: `<dir>/<secretRef name>/{url|host,username,password,sshPrivateKey,known_hosts}`;
    /// `url` (a URL prefix) or `host` (`host[:port]`) says where a Secret may be sent.
    #[arg(long, global = true, env = "SHOPSET_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// HTTPS user name for repositories without a Secret.
    #[arg(
        long,
        global = true,
        env = "SHOPSET_GIT_USERNAME",
        hide_env_values = true
    )]
    pub git_username: Option<String>,
    /// File holding the HTTPS password or token for repositories without a Secret.
    #[arg(long, global = true, env = "SHOPSET_GIT_PASSWORD_FILE")]
    pub git_password_file: Option<PathBuf>,
    /// SSH private key for repositories without a Secret.
    #[arg(long, global = true, env = "SHOPSET_GIT_SSH_KEY")]
    pub git_ssh_key: Option<PathBuf>,
    /// The only host (`host` or `host:port`) the --git-password-file and --git-ssh-key
    /// credentials are sent to; required with either.
    #[arg(long, global = true, env = "SHOPSET_GIT_CREDENTIALS_HOST")]
    pub git_credentials_host: Option<String>,
    /// SSH known-hosts file.
    #[arg(long, global = true, env = "SHOPSET_GIT_KNOWN_HOSTS")]
    pub git_known_hosts: Option<PathBuf>,
    /// Accept any SSH host key. Insecure: for tests and first contact only.
    #[arg(long, global = true, env = "SHOPSET_GIT_INSECURE_SKIP_HOST_KEY_CHECK")]
    pub insecure_skip_host_key_check: bool,
    /// Sign commits with this SSH private key.
    #[arg(
        long,
        global = true,
        env = "SHOPSET_SIGN_SSH_KEY",
        conflicts_with = "sign_gpg_key"
    )]
    pub sign_ssh_key: Option<PathBuf>,
    /// Sign commits with this GPG key id.
    #[arg(long, global = true, env = "SHOPSET_SIGN_GPG_KEY")]
    pub sign_gpg_key: Option<String>,
    /// The cluster, for commands given no `-f`.
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every tier of the resources and commit each changed tier branch to the system
    /// repository its Tier names (one commit per changed branch; none when nothing changed).
    Sync {
        /// Resource files or directories (YAML; directories are read recursively). Without
        /// them, the resources are read from the cluster: the controller's work, by hand.
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Print the plan; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Go ahead although the sync removes more of a tier's ShopSets than its
        /// `spec.safety.maxRemovals` allows (default: more than 10% and more than 2); without
        /// it such a sync stops and writes nothing for that tier.
        #[arg(long)]
        confirm_removals: bool,
        #[command(flatten)]
        author: AuthorArgs,
    },
    /// Render into a directory instead: one sub-directory per tier branch, with the app
    /// repository materialised as `base/`, ready for `kubectl kustomize` and `diff -r`.
    Render {
        /// Resource files or directories.
        #[arg(short = 'f', long = "filename", conflicts_with = "inputs")]
        files: Vec<PathBuf>,
        /// Recorded inputs (`.shopset/inputs.yaml` of a branch) to render again.
        #[arg(long, required_unless_present = "files")]
        inputs: Vec<PathBuf>,
        /// Directory to write into.
        #[arg(long = "out", short = 'd', visible_alias = "output-dir")]
        out: PathBuf,
    },
    /// Promote a tier: fast-forward its branch of the app repository to the exact app commit
    /// its predecessor runs, when the gate holds, then render the tier on it. Exit code 3:
    /// the gate does not hold (nothing was done).
    Promote {
        /// The tier to promote into (its `spec.promotesFrom` names where the candidate runs).
        tier: String,
        /// Resource files or directories (default: the cluster's resources and statuses).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Offline, the status the gate reads, as the controller's directory mode writes it
        /// (default: `shopset-status.json` in the first directory given with -f).
        #[arg(long)]
        status_file: Option<PathBuf>,
        /// Print the plan and the equivalent git command; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Promote the configuration commits instead of the app commit.
        #[arg(long)]
        config: bool,
        /// In pull-request mode, merge the pull request (by fast-forward) once it is open.
        #[arg(long)]
        merge: bool,
        /// GitHub's API (pull-request mode).
        #[arg(
            long,
            env = "SHOPSET_GITHUB_API",
            default_value = "https://api.github.com"
        )]
        github_api: String,
        /// File holding a GitHub token (pull-request mode).
        #[arg(long, env = "SHOPSET_GITHUB_TOKEN_FILE")]
        github_token_file: Option<PathBuf>,
        #[command(flatten)]
        author: AuthorArgs,
    },
    /// Per tier: the app and configuration commits at the branch tips and the ones running,
    /// what Argo CD reports (from the statuses the controller wrote), whether it may be
    /// promoted into and why not,
    /// its hold and its pin.
    Status {
        /// Resource files or directories (default: the cluster's resources and statuses).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Offline, the status file (default: `shopset-status.json` in the first directory
        /// given).
        #[arg(long)]
        status_file: Option<PathBuf>,
    },
    /// Check each tier branch: render its tip again from the tip's `.shopset/inputs.yaml` and
    /// report, path by path, what a person changed by hand (drift), and what a sync of the
    /// current resources would change (pending), ShopSet by ShopSet. Exit code 4: drift or
    /// pending changes; 0: every tip is a pure rendering of the resources; 1: an error.
    Verify {
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Show a short diff of each file that was changed by hand.
        #[arg(long)]
        diff: bool,
    },
    /// The unified diff, per tier branch, of what a sync would commit (the files' bytes), for
    /// review before a sync. Writes nothing. Exit code 0: nothing would change; 4: a sync would
    /// change something; 1: an error (a resource or a repository could not be used; the
    /// diff of the rest is still printed).
    Diff {
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Per file, the lines added and removed, and the totals, instead of the diff.
        #[arg(long)]
        stat: bool,
        /// Print at most this many lines of diff (rows with --stat); the files that do not fit
        /// are counted in a last line. 0: no limit.
        #[arg(long, default_value_t = 2000)]
        max_lines: usize,
    },
    /// A tier's system branch history as deployments: when, which app commit, which
    /// configuration commits, which ShopSets changed; a person's commits are marked by hand.
    Log {
        /// The tier.
        tier: String,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// List at most this many commits, newest first.
        #[arg(long, default_value_t = 20)]
        max_count: usize,
    },
    /// Hold a tier: nothing promotes into it until it is released.
    Hold {
        /// The tier.
        tier: String,
        /// Why (recorded on the Tier).
        #[arg(long, default_value = "held by hand")]
        reason: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Release a held tier.
    Release {
        /// The tier.
        tier: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Approve a candidate app commit for promotion into a tier that requires approval.
    Approve {
        /// The tier.
        tier: String,
        /// The candidate commit (full id; for --config, the configuration commits, comma-separated).
        commit: String,
        /// Approve configuration commits instead of an app commit.
        #[arg(long)]
        config: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Roll a tier back: pin it to an earlier app commit (default: the one it ran before) and
    /// hold it, so automatic promotion does not undo the rollback; then render it.
    Rollback {
        /// The tier.
        tier: String,
        /// The app commit to run (full id).
        #[arg(long)]
        to: Option<String>,
        /// Why (recorded on the pin and the hold).
        #[arg(long, default_value = "rolled back by hand")]
        reason: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Unpin a tier: it follows its app branch again (the hold stays until `release`).
    Unpin {
        /// The tier.
        tier: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Switch a ShopSet's maintenance mode.
    Maintenance {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// The ShopSet.
        shopset: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Cordon a failure domain: automatic placement stops choosing it (what is placed there
    /// stays). The first step of moving work off a cluster.
    Cordon {
        /// The FailureDomain.
        domain: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Uncordon a failure domain: automatic placement may choose it again.
    Uncordon {
        /// The FailureDomain.
        domain: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Migrations between failure domains: where each is, and its next commit, computed as
    /// the controller computes them.
    Migrate {
        #[command(subcommand)]
        what: MigrateCommand,
    },
    /// Shops: which ShopSet serves each, where a host goes, and how full the ShopSets are,
    /// read from the tier branches (they record every assignment), so it works with the
    /// controller down.
    Shop {
        #[command(subcommand)]
        what: ShopCommand,
    },
    /// Previews of pull requests: each a ShopSet `pr-<n>` on its own system branch
    /// `preview/pr-<n>` (what the controller does for a PreviewPolicy, by hand).
    Preview {
        #[command(subcommand)]
        what: PreviewCommand,
    },
    /// Notifications (NotificationPolicy): send a test message to a channel.
    Notify {
        #[command(subcommand)]
        what: NotifyCommand,
    },
    /// Serve the read-only dashboard (tiers, ShopSets filtered and paged, and its JSON API
    /// under /api/v1) from the repositories and the resources, as the controller would, for
    /// when it is down. Stops on Ctrl-C.
    Dashboard {
        /// Resource files or directories (default: the cluster's resources and statuses).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Offline, the status file (default: `shopset-status.json` in the first directory
        /// given).
        #[arg(long)]
        status_file: Option<PathBuf>,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
    },
    /// Print the CustomResourceDefinitions, or write them into a directory.
    Crds {
        /// Directory to write one file per CRD and a kustomization.yaml into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the embedded example end to end: create app and configuration repositories in DIR,
    /// write the example resources, and sync them into DIR/system.git.
    Quickstart {
        /// Where to create everything.
        #[arg(long, default_value = "shopset-quickstart")]
        dir: PathBuf,
    },
}

/// The author of the system commits a command writes.
#[derive(Debug, clap::Args)]
pub struct AuthorArgs {
    /// Author name of the system commits.
    #[arg(long, env = "SHOPCTL_AUTHOR_NAME", default_value = "shopset")]
    pub author_name: String,
    /// Author e-mail of the system commits.
    #[arg(
        long,
        env = "SHOPCTL_AUTHOR_EMAIL",
        default_value = "shopset@localhost"
    )]
    pub author_email: String,
}

impl Default for AuthorArgs {
    fn default() -> Self {
        Self {
            author_name: "shopset".into(),
            author_email: "shopset@localhost".into(),
        }
    }
}

/// Where the resources of an editing command are, and whether to only say what would change.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// Resource files or directories: the resource is changed in its file (default: in the
    /// cluster).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// Print the change and the kubectl command that makes it; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub author: AuthorArgs,
}

/// `shopctl migrate ...`.
#[derive(Debug, clap::Subcommand)]
pub enum MigrateCommand {
    /// Where a Migration is: its step, each ShopSet in flight with its phase and what its
    /// next phase waits for, and the `argocd app wait` to run before the next step.
    Status {
        /// The Migration.
        migration: String,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
    },
    /// Make the Migration's next commit: each ShopSet in flight one phase further where the
    /// phase before took effect, and new ShopSets as the step and the in-flight limit allow.
    /// It is the sync the controller makes (with anything else pending), so the bytes are
    /// the same.
    Step {
        /// The Migration.
        migration: String,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Print the plan; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        author: AuthorArgs,
    },
    /// Approve the steps of a Migration up to STEP (1 is the first).
    Approve {
        /// The Migration.
        migration: String,
        /// The last step approved.
        step: u32,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Abort a Migration: its ShopSets in flight walk back their phases, one a commit, to
    /// the bytes they had; those already moved stay (a Migration the other way moves them
    /// back).
    Abort {
        /// The Migration.
        migration: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

/// `shopctl notify ...`.
#[derive(Debug, clap::Subcommand)]
pub enum NotifyCommand {
    /// Send a test message to CHANNEL of a NotificationPolicy (nothing is recorded). Its
    /// Secret is read from `--secrets-dir` (`<dir>/<name>/token` or `secret`). A GitHub
    /// channel checks that its token reads the API (a commit status needs a commit).
    Test {
        /// The channel's name.
        channel: String,
        /// The NotificationPolicy (default: the only one).
        #[arg(long)]
        policy: Option<String>,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
    },
}

/// `shopctl preview ...`.
#[derive(Debug, clap::Subcommand)]
pub enum PreviewCommand {
    /// Render pull request N's preview at commit SHA on `preview/pr-<n>` (the first commit
    /// creates the branch, a new SHA moves its gitlink in one commit) and print the
    /// `kubectl apply` of its Application.
    Up {
        /// The pull request's number.
        #[arg(long)]
        pr: u64,
        /// The pull request's head commit (40 hex digits).
        #[arg(long)]
        sha: String,
        /// The pull request's page, recorded in the branch.
        #[arg(long, default_value = "")]
        url: String,
        /// Scale it to zero (what the controller does after the policy's `sleepAfter`); without
        /// it, the preview is awake (a sleeping one wakes).
        #[arg(long)]
        sleep: bool,
        /// The PreviewPolicy (default: the only one).
        #[arg(long)]
        policy: Option<String>,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        author: AuthorArgs,
    },
    /// Remove pull request N's preview, in order: delete its Application, wait until Argo CD
    /// has removed it (and, through its finalizer, everything it applied), then delete the
    /// branch (a tag left first when the policy says `archive`).
    Down {
        /// The pull request's number.
        number: u64,
        /// The PreviewPolicy (default: the only one).
        #[arg(long)]
        policy: Option<String>,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// You deleted the Application (`kubectl delete application --wait`) and it is gone:
        /// delete the branch without asking the cluster.
        #[arg(long)]
        application_gone: bool,
        /// How long to wait for Argo CD to remove the Application, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// The previews the branches hold: number, commit, host, deployed, last push, expiry.
    List {
        /// The PreviewPolicy (default: the only one).
        #[arg(long)]
        policy: Option<String>,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
    },
}

/// `shopctl shop ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ShopCommand {
    /// Every shop: its ShopSet, tier, failure domain and phase (pending: no branch records it
    /// yet).
    List {
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Only the shops of this ShopSet.
        #[arg(long)]
        shop_set: Option<String>,
        /// Only the shops of this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Only the shops of this tier.
        #[arg(long)]
        tier: Option<String>,
    },
    /// Which ShopSet serves this host. Exit code 1: no shop has it.
    Where {
        /// The host (`shop.example.com`).
        host: String,
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
    },
    /// Move a shop to another ShopSet: its pin (`spec.shopSet`) changes, then the sync moves
    /// it in three commits (warm, switch, settle), each once Argo CD reports the one before
    /// in effect. A move into a ShopSet in maintenance, over capacity, across tiers (unless
    /// the shop's `spec.allowTierChange`) or in a freeze window is refused, with the reason.
    Move {
        /// The shop.
        shop: String,
        /// The ShopSet to move it to.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Add a shop: the sync assigns it to a ShopSet of its pool by the rule (or its pin).
    Add {
        /// The shop (a DNS label).
        shop: String,
        /// Its hosts, the primary one first (repeat the flag).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Its pool (default: `default`).
        #[arg(long)]
        pool: Option<String>,
        /// Its load (default 1).
        #[arg(long)]
        weight: Option<u32>,
        /// Pin it to this ShopSet.
        #[arg(long)]
        shop_set: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Remove a shop: its rows leave the routing table (through the mass-move stop).
    Remove {
        /// The shop.
        shop: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Give a shop a ShopSet of its own (`spec.isolate`): the sync renders one named like the
    /// shop, in its tier, a copy of the ShopSet it is on dedicated to it, and moves the shop
    /// into it in three commits as `move` does.
    Isolate {
        /// The shop.
        shop: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Per pool and ShopSet: load, capacity, utilisation, and how many more shops of weight 1
    /// fit.
    Capacity {
        /// Resource files or directories (default: the cluster's resources).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
    },
}
