//! One writer per tier branch: a `coordination.k8s.io/v1` Lease per branch decides which
//! replica writes it. Replicas also keep a member Lease each, so every replica knows how many
//! are alive and takes at most its share of the branches: tiers spread over replicas. A
//! replica that cannot renew a lease stops writing that branch at once (it checks its own
//! deadline before every write, not the API server's copy).
//!
//! [`decide`] is the whole policy and is pure; [`KubeLeases`] is the thin glue.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{ListParams, PostParams};

/// Label on every Lease of ours.
const LEASE_LABEL: &str = "shopset.dev/lease";
/// Annotation naming the branch of a branch Lease.
const BRANCH_ANNOTATION: &str = "shopset.dev/branch";

/// A Lease as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// Holder, if any.
    pub holder: Option<String>,
    /// Last renewal.
    pub renewed: Option<Timestamp>,
    /// Validity after renewal, in seconds.
    pub duration: i32,
}

impl LeaseView {
    fn live(&self, now: Timestamp) -> bool {
        self.holder.as_deref().is_some_and(|h| !h.is_empty())
            && self
                .renewed
                .is_some_and(|r| r + SignedDuration::from_secs(i64::from(self.duration)) > now)
    }
}

/// What to do with one branch's Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Take it (free or expired).
    Acquire(String),
    /// Keep it.
    Renew(String),
    /// Give it up (this replica holds more than its share).
    Release(String),
}

/// The policy: keep what I hold up to my share, take free branches up to my share, release
/// the excess. `members` is the number of live replicas (me included).
#[must_use]
pub fn decide(
    me: &str,
    now: Timestamp,
    branches: &BTreeSet<String>,
    leases: &BTreeMap<String, LeaseView>,
    members: usize,
) -> Vec<Action> {
    let share = branches.len().div_ceil(members.max(1));
    let mine: Vec<&String> = branches
        .iter()
        .filter(|b| {
            leases
                .get(*b)
                .is_some_and(|l| l.live(now) && l.holder.as_deref() == Some(me))
        })
        .collect();
    let mut out = Vec::new();
    for (i, b) in mine.iter().enumerate() {
        if i < share {
            out.push(Action::Renew((*b).clone()));
        } else {
            out.push(Action::Release((*b).clone()));
        }
    }
    let mut held = mine.len().min(share);
    for b in branches {
        if held >= share {
            break;
        }
        if leases.get(b).is_none_or(|l| !l.live(now)) {
            out.push(Action::Acquire(b.clone()));
            held += 1;
        }
    }
    out
}

/// A DNS-1123 name for a Lease: readable prefix plus a hash, so any branch name fits.
#[must_use]
pub fn lease_name(prefix: &str, key: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let readable: String = key
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{prefix}-{}-{hash:08x}", readable.trim_matches('-'))
}

/// The branches this replica may write, with the local deadline of each.
#[derive(Debug, Clone, Default)]
pub struct Held(Arc<RwLock<BTreeMap<String, Instant>>>);

impl Held {
    /// Whether this replica may write `branch` now.
    #[must_use]
    pub fn writable(&self, branch: &str) -> bool {
        self.deadline(branch).is_some()
    }

    /// Until when this replica may write `branch` (`None`: not now).
    #[must_use]
    pub fn deadline(&self, branch: &str) -> Option<Instant> {
        self.0.read().ok().and_then(|h| {
            h.get(branch)
                .copied()
                .filter(|deadline| Instant::now() < *deadline)
        })
    }

    /// The branches held now.
    #[must_use]
    pub fn branches(&self) -> BTreeSet<String> {
        self.0
            .read()
            .map(|h| {
                h.iter()
                    .filter(|(_, d)| Instant::now() < **d)
                    .map(|(b, _)| b.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn set(&self, branch: &str, deadline: Option<Instant>) {
        if let Ok(mut h) = self.0.write() {
            match deadline {
                Some(d) => {
                    h.insert(branch.to_owned(), d);
                }
                None => {
                    h.remove(branch);
                }
            }
        }
    }
}

/// Leases in the API server.
#[derive(Clone)]
pub struct KubeLeases {
    api: Api<Lease>,
    me: String,
    duration: Duration,
    /// What this replica holds.
    pub held: Held,
}

fn view(lease: &Lease) -> LeaseView {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseView {
        holder: spec.holder_identity,
        renewed: spec.renew_time.map(|t| t.0),
        duration: spec.lease_duration_seconds.unwrap_or(15),
    }
}

impl KubeLeases {
    /// Leases in `api`'s namespace, held as `me` for `duration`.
    #[must_use]
    pub fn new(api: Api<Lease>, me: String, duration: Duration) -> Self {
        Self {
            api,
            me,
            duration,
            held: Held::default(),
        }
    }

    fn lease(&self, name: String, kind: &str, branch: Option<&str>, holder: Option<&str>) -> Lease {
        let now = MicroTime(Timestamp::now());
        Lease {
            metadata: ObjectMeta {
                name: Some(name),
                labels: Some(
                    [
                        (LEASE_LABEL.to_owned(), kind.to_owned()),
                        (
                            "app.kubernetes.io/managed-by".to_owned(),
                            "shopset".to_owned(),
                        ),
                    ]
                    .into(),
                ),
                annotations: branch.map(|b| [(BRANCH_ANNOTATION.to_owned(), b.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(15)),
                acquire_time: holder.map(|_| now.clone()),
                renew_time: holder.map(|_| now),
                ..LeaseSpec::default()
            }),
        }
    }

    /// Writes `wanted` over the stored Lease `name` (compare-and-swap on its
    /// resourceVersion), or creates it. False when another replica got there first.
    async fn put(&self, name: &str, current: Option<&Lease>, mut wanted: Lease) -> bool {
        match current {
            None => self
                .api
                .create(&PostParams::default(), &wanted)
                .await
                .is_ok(),
            Some(current) => {
                wanted.metadata.resource_version = current.metadata.resource_version.clone();
                if let (Some(w), Some(c)) = (wanted.spec.as_mut(), current.spec.as_ref())
                    && w.holder_identity == c.holder_identity
                {
                    w.acquire_time = c.acquire_time.clone();
                }
                self.api
                    .replace(name, &PostParams::default(), &wanted)
                    .await
                    .is_ok()
            }
        }
    }

    /// One round: renew my member Lease, then renew, take or release branch Leases. Returns
    /// the branches newly taken.
    ///
    /// # Errors
    /// The Leases could not be listed.
    pub async fn round(&self, branches: &BTreeSet<String>) -> Result<Vec<String>, kube::Error> {
        let started = Instant::now();
        let member_name = lease_name("shopset-member", &self.me);
        let all = self
            .api
            .list(&ListParams::default().labels(LEASE_LABEL))
            .await?;
        let by_name: BTreeMap<String, &Lease> = all
            .items
            .iter()
            .filter_map(|l| l.metadata.name.clone().map(|n| (n, l)))
            .collect();
        let member = self.lease(member_name.clone(), "member", None, Some(&self.me));
        self.put(&member_name, by_name.get(&member_name).copied(), member)
            .await;
        let now = Timestamp::now();
        let members = all
            .items
            .iter()
            .filter(|l| {
                l.metadata
                    .labels
                    .as_ref()
                    .and_then(|m| m.get(LEASE_LABEL))
                    .map(String::as_str)
                    == Some("member")
                    && view(l).live(now)
                    && l.metadata.name.as_deref() != Some(&member_name)
            })
            .count()
            + 1;
        let views: BTreeMap<String, LeaseView> = branches
            .iter()
            .filter_map(|b| {
                by_name
                    .get(&lease_name("shopset-branch", b))
                    .map(|l| (b.clone(), view(l)))
            })
            .collect();
        let deadline = started + self.duration.mul_f32(0.8);
        let mut taken = Vec::new();
        for action in decide(&self.me, now, branches, &views, members) {
            match action {
                Action::Renew(b) | Action::Acquire(b) => {
                    let name = lease_name("shopset-branch", &b);
                    let wanted = self.lease(name.clone(), "branch", Some(&b), Some(&self.me));
                    let was_mine = self.held.writable(&b);
                    if self.put(&name, by_name.get(&name).copied(), wanted).await {
                        self.held.set(&b, Some(deadline));
                        if !was_mine {
                            tracing::info!(branch = %b, "lease taken");
                            taken.push(b);
                        }
                    } else {
                        if was_mine {
                            tracing::warn!(branch = %b, "lease lost: no longer writing this branch");
                        }
                        self.held.set(&b, None);
                    }
                }
                Action::Release(b) => {
                    self.held.set(&b, None);
                    let name = lease_name("shopset-branch", &b);
                    let wanted = self.lease(name.clone(), "branch", Some(&b), None);
                    self.put(&name, by_name.get(&name).copied(), wanted).await;
                    tracing::info!(branch = %b, "lease released to share the tiers");
                }
            }
        }
        // Branches no longer known are not written.
        for b in self.held.branches() {
            if !branches.contains(&b) {
                self.held.set(&b, None);
            }
        }
        Ok(taken)
    }

    /// Gives every held Lease back (on shutdown), so another replica takes over at once.
    pub async fn release_all(&self) {
        let all = self
            .api
            .list(&ListParams::default().labels(LEASE_LABEL))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        for b in self.held.branches() {
            self.held.set(&b, None);
            let name = lease_name("shopset-branch", &b);
            let current = all
                .iter()
                .find(|l| l.metadata.name.as_deref() == Some(&name));
            let wanted = self.lease(name.clone(), "branch", Some(&b), None);
            self.put(&name, current, wanted).await;
        }
        let member_name = lease_name("shopset-member", &self.me);
        let _ = self
            .api
            .delete(&member_name, &kube::api::DeleteParams::default())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, age: i64) -> LeaseView {
        LeaseView {
            holder: Some(holder.into()),
            renewed: Some(Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1000 - age)),
            duration: 15,
        }
    }

    fn branches(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("tier-{i}")).collect()
    }

    const NOW: Timestamp = Timestamp::constant(1000, 0);

    #[test]
    fn a_lone_replica_takes_every_branch() {
        let actions = decide("a", NOW, &branches(3), &BTreeMap::new(), 1);
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, Action::Acquire(_)))
                .count(),
            3
        );
    }

    #[test]
    fn a_second_replica_gets_a_share_and_the_first_releases_it() {
        let held: BTreeMap<String, LeaseView> = branches(3)
            .into_iter()
            .map(|b| (b, lease("a", 1)))
            .collect();
        let a = decide("a", NOW, &branches(3), &held, 2);
        assert_eq!(
            a,
            vec![
                Action::Renew("tier-0".into()),
                Action::Renew("tier-1".into()),
                Action::Release("tier-2".into())
            ]
        );
        // b sees all three live: it takes nothing until a releases.
        assert!(decide("b", NOW, &branches(3), &held, 2).is_empty());
        let mut released = held.clone();
        released.insert(
            "tier-2".into(),
            LeaseView {
                holder: None,
                renewed: None,
                duration: 15,
            },
        );
        assert_eq!(
            decide("b", NOW, &branches(3), &released, 2),
            vec![Action::Acquire("tier-2".into())]
        );
    }

    #[test]
    fn an_expired_holder_loses_its_branches() {
        let held: BTreeMap<String, LeaseView> = branches(2)
            .into_iter()
            .map(|b| (b, lease("dead", 60)))
            .collect();
        let actions = decide("b", NOW, &branches(2), &held, 1);
        assert_eq!(actions.len(), 2);
        assert!(actions.iter().all(|a| matches!(a, Action::Acquire(_))));
    }

    #[test]
    fn lease_names_are_dns_names() {
        let n = lease_name("shopset-branch", "Release/Tier_0");
        assert!(n.starts_with("shopset-branch-release-tier-0-"), "{n}");
        assert!(n.len() <= 63);
        assert_ne!(n, lease_name("shopset-branch", "release/tier-0"));
    }
}
