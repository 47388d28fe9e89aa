//! Runtime settings: flags with environment fallbacks. Behaviour lives in the resources.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The shopset controller: keeps every tier branch of the system repositories rendered from
/// the Tier, Configuration, ShopSet and FailureDomain resources.
#[derive(Debug, Clone, Parser)]
#[command(name = "shopset-controller", version, about)]
pub struct Args {
    /// Read resources from this directory of YAML files (watched) instead of the API server,
    /// and write status to a file beside them.
    #[arg(long, env = "SHOPSET_RESOURCES_DIR")]
    pub resources_dir: Option<PathBuf>,
    /// The status file of the directory mode (default: `<resources-dir>/shopset-status.json`).
    #[arg(long, env = "SHOPSET_STATUS_FILE")]
    pub status_file: Option<PathBuf>,
    /// The namespace whose resources are watched (API mode).
    #[arg(long, env = "SHOPSET_NAMESPACE", default_value = "shopset-system")]
    pub namespace: String,
    /// This replica's identity for leases (default: the pod name, else the host name and pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long a tier branch lease lasts without renewal, in seconds.
    #[arg(long, env = "SHOPSET_LEASE_SECONDS", default_value_t = 15)]
    pub lease_seconds: u64,
    /// Changes are batched into one commit per tier while they keep arriving (less than 25 ms
    /// apart), for at most this many milliseconds after the first.
    #[arg(long, env = "SHOPSET_DEBOUNCE_MS", default_value_t = 500)]
    pub debounce_ms: u64,
    /// Every tier is synced at least this often, in seconds (repository polling), unless its
    /// `spec.pollInterval` says otherwise.
    #[arg(long, env = "SHOPSET_POLL_SECONDS", default_value_t = 60)]
    pub poll_seconds: u64,
    /// How often the resources directory is checked for changes, in milliseconds.
    #[arg(long, env = "SHOPSET_DIR_POLL_MS", default_value_t = 25)]
    pub dir_poll_ms: u64,
    /// Address of the HTTP server (metrics, probes, webhooks).
    #[arg(long, env = "SHOPSET_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// File holding the shared secret of push webhooks (no webhooks without it).
    #[arg(long, env = "SHOPSET_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Logs as JSON lines.
    #[arg(long, env = "SHOPSET_LOG_JSON")]
    pub log_json: bool,
    /// Repository caches.
    #[arg(long, env = "SHOPSET_CACHE_DIR", default_value = "/var/cache/shopset")]
    pub cache_dir: PathBuf,
    /// Directory of mounted Secrets: `<dir>/<secretRef name>/{username,password,sshPrivateKey,known_hosts}`.
    #[arg(long, env = "SHOPSET_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// SSH known-hosts file for repositories without a Secret.
    #[arg(long, env = "SHOPSET_GIT_KNOWN_HOSTS")]
    pub git_known_hosts: Option<PathBuf>,
    /// Sign commits with this SSH private key.
    #[arg(long, env = "SHOPSET_SIGN_SSH_KEY")]
    pub sign_ssh_key: Option<PathBuf>,
    /// Commit author e-mail.
    #[arg(
        long,
        env = "SHOPSET_AUTHOR_EMAIL",
        default_value = "shopset-controller@localhost"
    )]
    pub author_email: String,
    /// GitHub's API, for tiers promoted by pull request.
    #[arg(
        long,
        env = "SHOPSET_GITHUB_API",
        default_value = "https://api.github.com"
    )]
    pub github_api: String,
    /// File holding a GitHub token, for tiers promoted by pull request.
    #[arg(long, env = "SHOPSET_GITHUB_TOKEN_FILE")]
    pub github_token_file: Option<PathBuf>,
    /// Serve the read-only dashboard (and its JSON API under /api/v1) on this address; off
    /// when not given. Its pages come from a view rebuilt after each batch, in memory.
    #[arg(long, env = "SHOPSET_DASHBOARD_LISTEN")]
    pub dashboard_listen: Option<SocketAddr>,
    /// Stop after one pass: the first batch, and the renders of the tiers it promoted (for
    /// scripts, tests and the quick start).
    #[arg(long)]
    pub once: bool,
}
