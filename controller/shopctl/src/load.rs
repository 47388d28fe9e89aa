//! Where the resources are: files and directories (offline), or a cluster.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shopset_engine::Resources;
use shopset_engine::ops::observe::Gathered;
use shopset_engine::ops::status::Statuses;

use crate::cluster::{Cluster, ClusterArgs};

/// Reads every resource in `paths`. Unreadable files are reported in the result, as errors
/// that make the set incomplete.
pub fn resources(paths: &[PathBuf]) -> Resources {
    shopset_engine::files::read_documents(paths, &[]).resources()
}

/// The resources a command works on.
pub enum Source {
    /// Resource files and directories; statuses from the controller's directory-mode status
    /// file.
    Files(Vec<PathBuf>),
    /// The API server.
    Cluster(Cluster),
}

impl Source {
    /// Files when any are given, else the cluster.
    ///
    /// # Errors
    /// No files and no cluster to connect to.
    pub fn new(files: &[PathBuf], cluster: &ClusterArgs) -> anyhow::Result<Self> {
        if files.is_empty() {
            Ok(Self::Cluster(Cluster::connect(cluster)?))
        } else {
            Ok(Self::Files(files.to_vec()))
        }
    }

    /// The resources.
    ///
    /// # Errors
    /// The cluster could not be read.
    pub fn resources(&self) -> anyhow::Result<Resources> {
        match self {
            Self::Files(files) => Ok(resources(files)),
            Self::Cluster(cluster) => cluster.read().map(|(r, _)| r),
        }
    }

    /// The resources and their statuses (offline, from `status_file`, default
    /// `shopset-status.json` in the first directory given), with the generations and Argo CD
    /// Applications a status computation needs: from the Application documents among the files, or listed from the
    /// cluster. `None` when there are none to read.
    ///
    /// # Errors
    /// The cluster or the status file could not be read.
    pub fn read_all(
        &self,
        status_file: Option<&Path>,
    ) -> anyhow::Result<(Resources, Statuses, Option<Gathered>)> {
        match self {
            Self::Files(files) => {
                let docs = shopset_engine::files::read_documents(files, &[]);
                let gathered = Gathered::from_documents(docs.documents.iter().map(|(_, d)| d));
                let statuses = status_from_file(files, status_file)?;
                let gathered = (gathered.application_count > 0).then_some(gathered);
                Ok((docs.resources(), statuses, gathered))
            }
            Self::Cluster(cluster) => cluster.read_all(),
        }
    }

    /// Applies a JSON merge patch to one resource: in the cluster, or in its file (where the
    /// other documents and the comments stay as they were). Returns where.
    ///
    /// # Errors
    /// No such resource, or it could not be written.
    pub fn change(&self, kind: &str, name: &str, patch: &Value) -> anyhow::Result<String> {
        match self {
            Self::Files(files) => {
                let file = shopset_engine::files::patch_resource(files, kind, name, patch)
                    .map_err(|e| anyhow::anyhow!(e))?;
                Ok(file.display().to_string())
            }
            Self::Cluster(cluster) => {
                cluster.patch(kind, name, patch)?;
                Ok(format!("{}/{kind}/{name}", cluster.namespace))
            }
        }
    }

    /// Creates or deletes a resource (offline: adds its document to `shops.yaml` in the
    /// first directory given, or to the first file; removes its document from its file).
    /// Returns where.
    ///
    /// # Errors
    /// The file or the API server refused it.
    pub fn lifecycle(
        &self,
        kind: &str,
        name: &str,
        what: &shopset_engine::ops::edit::Lifecycle,
    ) -> anyhow::Result<String> {
        use shopset_engine::ops::edit::Lifecycle;
        match (self, what) {
            (Self::Files(files), Lifecycle::Create(doc)) => {
                let first = files
                    .first()
                    .ok_or_else(|| anyhow::anyhow!("no resource file or directory given"))?;
                let file = shopset_engine::files::add_resource(first, "shops.yaml", doc)
                    .map_err(|e| anyhow::anyhow!(e))?;
                Ok(file.display().to_string())
            }
            (Self::Files(files), Lifecycle::Delete) => {
                let file = shopset_engine::files::delete_resource(files, kind, name)
                    .map_err(|e| anyhow::anyhow!(e))?;
                Ok(file.display().to_string())
            }
            (Self::Cluster(cluster), what) => {
                cluster.lifecycle(kind, name, what)?;
                Ok(format!("{}/{kind}/{name}", cluster.namespace))
            }
        }
    }

    /// `command` (a kubectl command line) with the namespace when in a cluster.
    pub fn kubectl(&self, command: &str) -> String {
        match self {
            Self::Files(_) => command.to_owned(),
            Self::Cluster(cluster) => format!("{command} -n {}", cluster.namespace),
        }
    }
}

/// Reads the statuses the controller's directory mode writes.
///
/// # Errors
/// The file is there but does not read.
pub fn status_from_file(files: &[PathBuf], status_file: Option<&Path>) -> anyhow::Result<Statuses> {
    let path = status_file.map(Path::to_owned).or_else(|| {
        files
            .iter()
            .find(|f| f.is_dir())
            .map(|d| d.join("shopset-status.json"))
            .filter(|p| p.exists())
    });
    let Some(path) = path else {
        return Ok(Statuses::default());
    };
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let field = |k: &str| v.get(k).cloned().unwrap_or_else(|| serde_json::json!({}));
    Ok(Statuses {
        shop_sets: serde_json::from_value(field("shopSets"))
            .map_err(|e| anyhow::anyhow!("{}: shopSets: {e}", path.display()))?,
        tiers: serde_json::from_value(field("tiers"))
            .map_err(|e| anyhow::anyhow!("{}: tiers: {e}", path.display()))?,
        shops: serde_json::from_value(field("shops"))
            .map_err(|e| anyhow::anyhow!("{}: shops: {e}", path.display()))?,
        migrations: serde_json::from_value(field("migrations"))
            .map_err(|e| anyhow::anyhow!("{}: migrations: {e}", path.display()))?,
    })
}
