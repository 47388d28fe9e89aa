//! The repositories a run touches: one persistent cache each, fetched once per run (and again
//! after a rejected push), with the credentials that belong to each URL.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use shopset_git::{Cache, Credentials, GitError, PushOutcome, Repo};
use shopset_render::TierInputs;
use shopset_render::base::BaseCatalog;

use crate::base::BaseError;

/// Open, fetched repositories by URL.
pub struct Repos {
    cache: Cache,
    default_credentials: Credentials,
    credentials: BTreeMap<String, Credentials>,
    fetched: BTreeMap<String, Repo>,
    /// Recorded inputs already parsed, by the system commit that holds them: a commit never
    /// changes, so an entry is never stale. A long-running process plans on them warm.
    inputs: BTreeMap<String, Arc<TierInputs>>,
    /// The commits of `inputs` (with their tier), oldest first.
    inputs_order: Vec<(String, String)>,
    /// Whether a system commit's tree is a pure rendering of its recorded inputs, by commit.
    renderings: BTreeMap<String, bool>,
    /// What the base holds, by app repository, commit and path (a commit never changes).
    catalogs: BTreeMap<(String, String, String), Arc<BaseCatalog>>,
    /// Packing the loose objects of a cache, by URL: at most one at a time each, never
    /// waited for ([`Repos::housekeep`]).
    packing: BTreeMap<String, std::process::Child>,
    /// How many loose objects a cache may gather before they are packed.
    loose_threshold: usize,
    /// What the last sync leaves for the next one to plan from ([`crate::ops::warm`]).
    pub(crate) warm: Option<crate::ops::warm::Warm>,
    /// The tip each poller (a tier) saw last, by poller, URL and branch
    /// ([`Repos::fetch_moved`]).
    polled: BTreeMap<(String, String, String), Option<String>>,
}

/// How many parsed inputs [`Repos`] keeps (a few per tier branch is plenty).
const INPUTS_KEPT: usize = 64;

/// How many parsed inputs of one tier [`Repos`] keeps.
const INPUTS_KEPT_A_TIER: usize = 2;

impl std::fmt::Debug for Repos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repos")
            .field(
                "fetched",
                &self
                    .fetched
                    .keys()
                    .map(|u| shopset_git::redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Whether a URL names a repository on this machine (a path or `file://`).
#[must_use]
pub fn is_local(url: &str) -> bool {
    url.starts_with("file://") || (!url.contains("://") && !url.contains('@'))
}

impl Repos {
    /// Repositories cached under `cache_dir`.
    #[must_use]
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache: Cache::new(cache_dir),
            default_credentials: Credentials::default(),
            credentials: BTreeMap::new(),
            fetched: BTreeMap::new(),
            inputs: BTreeMap::new(),
            inputs_order: Vec::new(),
            renderings: BTreeMap::new(),
            catalogs: BTreeMap::new(),
            packing: BTreeMap::new(),
            loose_threshold: shopset_git::DEFAULT_LOOSE_THRESHOLD,
            warm: None,
            polled: BTreeMap::new(),
        }
    }

    /// Packs a cache's loose objects once git estimates more than `threshold` of them (default
    /// [`shopset_git::DEFAULT_LOOSE_THRESHOLD`], git's own).
    #[must_use]
    pub const fn with_loose_threshold(mut self, threshold: usize) -> Self {
        self.loose_threshold = threshold;
        self
    }

    /// Housekeeping after a fetch or a push: when the cache of `url` holds more loose objects
    /// than the threshold and is not being packed already, starts packing them in another
    /// process and goes on (a write never waits for it). Finished packings are reaped here.
    fn housekeep(&mut self, url: &str) {
        self.packing
            .retain(|_, child| matches!(child.try_wait(), Ok(None)));
        if self.packing.contains_key(url) {
            return;
        }
        let Some(repo) = self.fetched.get(url) else {
            return;
        };
        let loose = repo.loose_objects_estimate();
        if loose <= self.loose_threshold {
            return;
        }
        match repo.spawn_pack_loose() {
            Ok(child) => {
                tracing::info!(cache = %repo.location(), loose, "packing the cache's loose objects");
                self.packing.insert(url.to_owned(), child);
            }
            Err(e) => tracing::warn!(cache = %repo.location(), error = %e, "cannot pack the cache"),
        }
    }

    /// Waits for every packing started by [`Repos::housekeep`] (tests and benchmarks).
    pub fn finish_housekeeping(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.packing) {
            let _ = child.wait();
        }
    }

    /// Uses `default` for every URL without its own entry in `per_url`.
    #[must_use]
    pub fn with_credentials(
        mut self,
        default: Credentials,
        per_url: BTreeMap<String, Credentials>,
    ) -> Self {
        self.default_credentials = default;
        self.credentials = per_url;
        self
    }

    /// Replaces the per-URL credentials (the resources naming them changed).
    pub fn set_url_credentials(&mut self, per_url: BTreeMap<String, Credentials>) {
        self.credentials = per_url;
    }

    fn creds(&self, url: &str) -> &Credentials {
        self.credentials
            .get(url)
            .unwrap_or(&self.default_credentials)
    }

    /// The cache of `url`, fetched during this run.
    ///
    /// # Errors
    /// The fetch failed (after one rebuild of a damaged cache).
    pub fn read(&mut self, url: &str) -> Result<&Repo, GitError> {
        if !self.fetched.contains_key(url) {
            // Resources are checked when read; this is the last line before the network.
            if let Err(message) = shopset_render::url_without_password(url) {
                return Err(GitError::Transport {
                    url: shopset_git::redact_url(url),
                    action: "fetch".into(),
                    message,
                    auth: true,
                });
            }
            tracing::info!(target: crate::PROGRESS, "fetching {}", shopset_git::redact_url(url));
            let repo = self.cache.open(url)?;
            let repo = match repo.fetch(url, self.creds(url)) {
                Ok(()) => repo,
                Err(GitError::Transport { message, .. }) if looks_damaged(&message) => {
                    let repo = self.cache.rebuild(url)?;
                    repo.fetch(url, self.creds(url))?;
                    repo
                }
                Err(e) => return Err(e),
            };
            self.fetched.insert(url.to_owned(), repo);
            self.housekeep(url);
        }
        Ok(&self.fetched[url])
    }

    /// Fetches every repository again on next use: a long-running process calls this before
    /// each batch, so each batch sees the remotes as they are now.
    pub fn forget_all(&mut self) {
        self.fetched.clear();
    }

    /// Whether the last sync left `tier` settled: planned quietly (nothing waiting for time or
    /// for Argo CD, no problem) and written or found unchanged. A settled tier whose
    /// repositories did not move has nothing to sync.
    #[must_use]
    pub fn settled(&self, tier: &str) -> bool {
        self.warm.as_ref().is_some_and(|w| w.knows(tier))
    }

    /// Fetches the branch `branch` of each of `urls` again, and says whether any tip moved
    /// since `poller` (a tier) last looked, or could not be read (the sync then says why). A
    /// poller's first look counts as a move. Compared with what this poller saw, not with the
    /// last fetch: another tier's poll or a sync may have fetched the new tip first.
    pub fn fetch_moved(&mut self, poller: &str, urls: &[String], branch: &str) -> bool {
        let mut moved = false;
        for url in urls {
            self.forget(url);
            match self.tip(url, branch) {
                Ok(now) => {
                    let key = (poller.to_owned(), url.clone(), branch.to_owned());
                    let before = self.polled.insert(key, now.clone());
                    moved |= before != Some(now);
                }
                Err(_) => moved = true,
            }
        }
        moved
    }

    /// Fetches `url` again (the next [`Repos::read`] sees the new tips).
    pub fn forget(&mut self, url: &str) {
        self.fetched.remove(url);
    }

    /// The tip of `branch` in `url`, as last fetched.
    ///
    /// # Errors
    /// The fetch failed.
    pub fn tip(&mut self, url: &str, branch: &str) -> Result<Option<String>, GitError> {
        self.read(url)?.remote_tip(branch)
    }

    /// A system repository: a local one is created (bare) when it does not exist yet; `None`
    /// when it does not exist and `create` is false.
    ///
    /// # Errors
    /// It cannot be created or fetched.
    pub fn system(&mut self, url: &str, create: bool) -> Result<Option<&Repo>, GitError> {
        if is_local(url) {
            let path = shopset_git::local_path(url)?;
            if !path.exists() {
                if !create {
                    return Ok(None);
                }
                Repo::open_or_init_bare(&path)?;
            }
        }
        self.read(url).map(Some)
    }

    /// Where the repository of `url` is read: itself when it is local, its cache otherwise
    /// (to open a handle of one's own, for reading beside the writer).
    #[must_use]
    pub fn location_of(&self, url: &str) -> std::path::PathBuf {
        if is_local(url)
            && let Ok(path) = shopset_git::local_path(url)
        {
            return path;
        }
        self.cache.path_of(url)
    }

    /// The inputs recorded in the system commit `commit`, if parsed before.
    #[must_use]
    pub fn parsed_inputs(&self, commit: &str) -> Option<Arc<TierInputs>> {
        self.inputs.get(commit).cloned()
    }

    /// Keeps the inputs recorded in the system commit `commit` (read, or just written), with
    /// the newest of the same tier before it ([`INPUTS_KEPT_A_TIER`] in all): at 100,000
    /// ShopSets a tier's inputs weigh about 100 MB, and only its tip and the one before serve.
    pub fn keep_inputs(&mut self, commit: &str, inputs: Arc<TierInputs>) {
        if self.inputs.len() >= INPUTS_KEPT {
            self.inputs.clear();
            self.inputs_order.clear();
        }
        let tier = inputs.tier.name.clone();
        if self.inputs.insert(commit.to_owned(), inputs).is_none() {
            self.inputs_order.push((tier.clone(), commit.to_owned()));
        }
        let same: Vec<usize> = (0..self.inputs_order.len())
            .filter(|i| self.inputs_order[*i].0 == tier)
            .collect();
        if same.len() > INPUTS_KEPT_A_TIER {
            let (_, oldest) = self.inputs_order.remove(same[0]);
            self.inputs.remove(&oldest);
        }
    }

    /// What the base at `path` of the app repository `url` holds at `commit`.
    ///
    /// # Errors
    /// The repository cannot be fetched, or has no such commit or no kustomization there.
    pub fn base_catalog(
        &mut self,
        url: &str,
        commit: &str,
        path: &str,
    ) -> Result<Arc<BaseCatalog>, BaseError> {
        let key = (url.to_owned(), commit.to_owned(), path.to_owned());
        if let Some(catalog) = self.catalogs.get(&key) {
            return Ok(Arc::clone(catalog));
        }
        let repo = self
            .read(url)
            .map_err(|e| BaseError::Fetch(e.to_string()))?;
        let catalog = Arc::new(crate::base::read(repo, commit, path)?);
        if self.catalogs.len() >= INPUTS_KEPT {
            self.catalogs.clear();
        }
        self.catalogs.insert(key, Arc::clone(&catalog));
        Ok(catalog)
    }

    /// Whether the system commit `commit` (tree `tree_id`) of `url` is exactly what `inputs`
    /// render to. Established by content, once per commit: rendered and compared the first
    /// time, then remembered in memory and in the cache (a marker inside the cached
    /// repository's directory, which only this product writes).
    pub fn is_rendering(
        &mut self,
        url: &str,
        commit: &str,
        tree_id: &str,
        inputs: &TierInputs,
    ) -> bool {
        if let Some(known) = self.renderings.get(commit) {
            return *known;
        }
        let marker = self.rendering_marker(url, commit);
        let verdict = marker.is_file() || {
            let rendered = shopset_render::render_tier(inputs)
                .ok()
                .and_then(|tree| self.system(url, false).ok()??.write_tree(&tree).ok());
            let same = rendered.as_deref() == Some(tree_id);
            if same {
                self.mark_rendering(url, commit);
            }
            same
        };
        self.renderings.insert(commit.to_owned(), verdict);
        verdict
    }

    /// Records that `commit` of `url` is a rendering of its recorded inputs (it was just
    /// written by this product).
    pub fn mark_rendering(&mut self, url: &str, commit: &str) {
        let marker = self.rendering_marker(url, commit);
        if let Some(dir) = marker.parent() {
            // Only a cache: when it cannot be written, the commit is checked again next time.
            let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&marker, b""));
        }
        self.renderings.insert(commit.to_owned(), true);
    }

    fn rendering_marker(&self, url: &str, commit: &str) -> PathBuf {
        // Inside the cached repository's directory, which git leaves alone; by layout
        // version, so that a commit a renderer of another layout wrote is checked again.
        self.cache
            .path_of(url)
            .join("shopset-renderings")
            .join(shopset_render::LAYOUT_VERSION)
            .join(commit)
    }

    /// Makes sure `commit` of `url` is in the cache: when no branch brought it (the head of a
    /// pull request from a fork), fetches pull request `number`'s head.
    ///
    /// # Errors
    /// Neither a branch nor the pull request's head has it.
    pub fn have_pull_head(&mut self, url: &str, number: u64, commit: &str) -> Result<(), GitError> {
        let creds = self.creds(url).clone();
        let repo = self.read(url)?;
        if repo.tree_id(commit).is_ok() {
            return Ok(());
        }
        tracing::info!(target: crate::PROGRESS, "fetching the head of pull request {number} from {}", shopset_git::redact_url(url));
        repo.fetch_pull_head(url, &creds, number)?;
        repo.tree_id(commit).map(|_| ())
    }

    /// Deletes `branch` of `url`, leaving a tag `tag` at `commit` first when given.
    ///
    /// # Errors
    /// The server refused, or git could not talk to it.
    pub fn delete_branch(
        &mut self,
        url: &str,
        branch: &str,
        tag: Option<(&str, &str)>,
    ) -> Result<(), GitError> {
        let creds = self.creds(url).clone();
        let repo = self.read(url)?;
        if let Some((commit, tag)) = tag {
            repo.push_tag(url, &creds, commit, tag)?;
        }
        tracing::info!(target: crate::PROGRESS, "deleting branch {branch} of {}", shopset_git::redact_url(url));
        repo.delete_branch(url, &creds, branch)
    }

    /// Pushes `commit` to `branch` of `url`, fast-forward only.
    ///
    /// # Errors
    /// git could not talk to the server.
    pub fn push(&mut self, url: &str, commit: &str, branch: &str) -> Result<PushOutcome, GitError> {
        let creds = self.creds(url).clone();
        tracing::info!(target: crate::PROGRESS, "pushing {commit} to {branch} of {}", shopset_git::redact_url(url));
        let outcome = self.read(url)?.push(url, &creds, commit, branch)?;
        self.housekeep(url);
        Ok(outcome)
    }
}

fn looks_damaged(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "corrupt",
        "bad object",
        "missing blob",
        "missing tree",
        "missing commit",
        "did not send all necessary objects",
        "unable to read",
        "loose object",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// The credentials each repository of `resources` names (`secretRef`), read from the
/// directory where the Secrets are mounted: `<secrets_dir>/<secret name>/<key>`. A Secret
/// declares where it may be sent (`url` or `host`); a URL it does not cover gets an error,
/// never the Secret (see [`Credentials::check_url`]). Only valid Secret names are read (the
/// resource naming another is invalid already), so a name never leaves `secrets_dir`.
#[must_use]
pub fn credentials_for(
    resources: &crate::Resources,
    secrets_dir: &std::path::Path,
) -> BTreeMap<String, Credentials> {
    let mut per_url = BTreeMap::new();
    let mut add = |url: &str, secret: Option<&shopset_crds::SecretRef>| {
        if let Some(secret) = secret
            && shopset_crds::names::secret_name(&secret.name).is_ok()
        {
            let dir = secrets_dir.join(&secret.name);
            per_url.insert(
                url.to_owned(),
                Credentials::from_secret_dir(&dir, format!("Secret {}", secret.name)),
            );
        }
    };
    for tier in resources.tiers.values() {
        add(&tier.spec.app.url, tier.spec.app.secret_ref.as_ref());
        add(&tier.spec.system.url, tier.spec.system.secret_ref.as_ref());
    }
    for config in resources.configurations.values() {
        if let Some(source) = &config.spec.source {
            add(&source.url, source.secret_ref.as_ref());
        }
    }
    per_url
}

/// The inputs recorded in the system commit `commit`: `.shopset/inputs.yaml` and, for a tier
/// with many shops, the files of shop rows it names (`shopset_render::record`). `Ok(None)`
/// when the commit records none.
///
/// # Errors
/// The repository cannot be read, or a recorded file is missing or not of its shape (the
/// message names the file).
pub fn read_recorded(repo: &Repo, commit: &str) -> Result<Option<TierInputs>, String> {
    let Some(bytes) = repo
        .read_file(commit, shopset_render::layout::INPUTS)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    shopset_render::record::read(&String::from_utf8_lossy(&bytes), &mut |path| {
        repo.read_file(commit, path).map_err(|e| e.to_string())
    })
    .map(Some)
}
