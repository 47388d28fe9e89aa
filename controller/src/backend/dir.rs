//! The embedded mode: resources from a directory of YAML files instead of the API server,
//! watched by polling, and status written to one file beside them. Argo CD's view comes from
//! any `argoproj.io` Application documents in the directory (a person or a script can copy
//! them there); without them every ShopSet reports its Application missing. The status file is
//! JSON, keyed by kind and name, with the last 100 events.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Value, json};
use shopset_crds::{ShopSetStatus, TierStatus};

use crate::reconcile::Report;
use crate::snapshot::{SinceLast, Snapshot};

/// The status file's name, inside the resources directory unless given.
pub const STATUS_FILE: &str = "shopset-status.json";

/// The events kept in the status file.
const KEPT_EVENTS: usize = 100;

/// A directory of resources.
#[derive(Debug, Clone)]
pub struct DirBackend {
    dir: PathBuf,
    status_file: PathBuf,
    /// The status file as last read or written: only this process writes it, so it is read
    /// from disk once.
    cached: std::sync::Arc<std::sync::Mutex<Option<StatusFile>>>,
    /// The documents of the last read, to parse only those that changed.
    reader: std::sync::Arc<std::sync::Mutex<shopset_engine::files::DocumentReader>>,
    /// The ShopSets as last read, to read again only those that changed.
    memo: std::sync::Arc<std::sync::Mutex<crate::snapshot::SnapshotMemo>>,
}

/// What the status file holds.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusFile {
    #[serde(default)]
    tiers: BTreeMap<String, TierStatus>,
    #[serde(default)]
    shop_sets: BTreeMap<String, ShopSetStatus>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    shops: BTreeMap<String, shopset_crds::ShopStatus>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    preview_policies: BTreeMap<String, shopset_crds::PreviewPolicyStatus>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    notification_policies: BTreeMap<String, shopset_crds::NotificationPolicyStatus>,
    #[serde(default)]
    events: Vec<Value>,
}

impl DirBackend {
    /// Resources under `dir`; status in `status_file` (default: `dir/shopset-status.json`).
    #[must_use]
    pub fn new(dir: PathBuf, status_file: Option<PathBuf>) -> Self {
        let status_file = status_file.unwrap_or_else(|| dir.join(STATUS_FILE));
        Self {
            dir,
            status_file,
            cached: std::sync::Arc::default(),
            reader: std::sync::Arc::default(),
            memo: std::sync::Arc::default(),
        }
    }

    /// The status file.
    #[must_use]
    pub fn status_file(&self) -> &Path {
        &self.status_file
    }

    fn read_status(&self) -> StatusFile {
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cached
            .get_or_insert_with(|| {
                std::fs::read_to_string(&self.status_file)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default()
            })
            .clone()
    }

    /// Reads every resource now (parsing again only the documents that changed), with what
    /// changed since the last snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let (docs, changed) = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .read(
                std::slice::from_ref(&self.dir),
                std::slice::from_ref(&self.status_file),
            );
        let mut snapshot = Snapshot::from_objects_memo(
            docs.documents()
                .map(|(file, doc)| (file.to_owned(), doc, None)),
            &mut self
                .memo
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        snapshot.since_last = changed.map_or(SinceLast::Unknown, SinceLast::Changed);
        for (file, message) in &docs.unreadable {
            snapshot.resources.add_unreadable(file, message);
        }
        let status = self.read_status();
        snapshot.shop_set_statuses = status.shop_sets;
        snapshot.tier_statuses = status.tiers;
        snapshot.shop_statuses = status.shops;
        snapshot.notification_statuses = status.notification_policies;
        snapshot
    }

    /// Writes the statuses and events of a batch into the status file (crash-safe, see
    /// [`replace_file`]), keeping what other batches wrote.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, report: &Report, now: &str) -> std::io::Result<()> {
        if report.statuses.shop_sets.is_empty()
            && report.statuses.tiers.is_empty()
            && report.statuses.shops.is_empty()
            && report.notes.is_empty()
            && report.previews.is_empty()
            && report.notifications.is_empty()
        {
            return Ok(());
        }
        let mut file = self.read_status();
        file.shop_sets.extend(report.statuses.shop_sets.clone());
        file.tiers.extend(report.statuses.tiers.clone());
        file.shops.extend(report.statuses.shops.clone());
        file.preview_policies.extend(report.previews.clone());
        file.notification_policies
            .extend(report.notifications.clone());
        // No cluster here: what a preview's Application needs is said, for a person (or a
        // script) to do; the Application documents of the directory are Argo CD's view.
        let by_hand = report
            .apply_applications
            .iter()
            .map(|app| {
                (
                    "ApplyApplication",
                    format!(
                        "kubectl apply -f - <<'EOF'\n{}EOF",
                        shopset_render::yaml::to_string(app)
                    ),
                )
            })
            .chain(report.delete_applications.iter().map(|(ns, name)| {
                (
                    "DeleteApplication",
                    format!("kubectl delete application -n {ns} {name} --wait"),
                )
            }));
        for (reason, message) in by_hand {
            file.events.push(json!({
                "time": now,
                "type": "Normal",
                "object": "PreviewPolicy",
                "reason": reason,
                "message": message,
            }));
        }
        for n in &report.notes {
            file.events.push(json!({
                "time": now,
                "type": if n.warning { "Warning" } else { "Normal" },
                "object": format!("{}/{}", n.kind, n.name),
                "reason": n.reason,
                "message": n.message,
            }));
        }
        let excess = file.events.len().saturating_sub(KEPT_EVENTS);
        file.events.drain(..excess);
        // JSON (which YAML readers read too): at 10,000 ShopSets the file is several
        // megabytes, which JSON reads and writes at once.
        let mut text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        text.push('\n');
        replace_file(&self.status_file, text.as_bytes())?;
        *self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(file);
        Ok(())
    }

    /// A cheap fingerprint of the directory (names, sizes, modification times), to notice
    /// changes by polling.
    #[must_use]
    pub fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path == self.status_file || path.extension().is_some_and(|e| e == "tmp") {
                    continue;
                }
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(path);
                } else {
                    out.push((path, meta.len(), meta.modified().ok()));
                }
            }
        }
        out.sort();
        out
    }
}

/// Replaces `file` with `bytes` so that a reader, or the next start after a crash at any
/// instant, finds either the old complete file or the new one, never a part: the bytes go to a
/// temporary file in the same directory (so the rename cannot cross file systems), which is
/// synced, then renamed over `file`; the directory is synced so the rename itself is durable.
fn replace_file(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = file.with_extension("json.tmp");
    let mut out = std::fs::File::create(&tmp)?;
    if shopset_engine::fault::armed("status-mid-write") {
        out.write_all(&bytes[..bytes.len() / 2])?;
        shopset_engine::fault::fault("status-mid-write");
    }
    out.write_all(bytes)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&tmp, file)?;
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}
