//! What the dashboard shows, computed once per change: the tiers (the same overview `shopctl
//! status -o json` prints) and one row per ShopSet, sorted by name, which queries filter and
//! page.

use std::collections::BTreeMap;

use serde::Serialize;
use shopset_engine::Resources;
use shopset_engine::ops::log::Activity;
use shopset_engine::ops::overview::TierOverview;
use shopset_engine::ops::shops::ShopsReport;
use shopset_engine::ops::status::Statuses;

/// The rows a page holds by default, and at most.
pub const PAGE_SIZE: usize = 50;
/// The most rows one page may ask for.
pub const MAX_PAGE_SIZE: usize = 200;
/// The ShopSets named per tier as not ready, at most (the rest are counted).
pub const NOT_READY_SHOWN: usize = 10;

/// One ShopSet, as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopSetRow {
    /// Its name.
    pub name: String,
    /// Its tier.
    pub tier: String,
    /// Where it is placed (its status), when known.
    pub failure_domain: Option<String>,
    /// Its directory in the tier branch.
    pub path: Option<String>,
    /// The system commit it was last committed in.
    pub system_commit: Option<String>,
    /// Argo CD's sync status.
    pub sync: Option<String>,
    /// Argo CD's health.
    pub health: Option<String>,
    /// [`state`] of the row: `Ready`, or the first condition that is not true.
    pub state: String,
    /// Why, when not ready.
    pub message: String,
}

/// Its state: `Ready` when every condition holds, else the first one that does not
/// (`Rendered`, `Committed`, `Synced`, `Healthy`), or `Unknown` without a status.
fn state(status: Option<&shopset_crds::ShopSetStatus>) -> (String, String) {
    let Some(status) = status else {
        return ("Unknown".into(), "no status yet".into());
    };
    match status
        .conditions
        .iter()
        .find(|c| c.type_ != "Ready" && c.status != "True")
    {
        Some(c) => (format!("Not{}", c.type_), c.message.clone()),
        None if status.conditions.is_empty() => ("Unknown".into(), "no conditions".into()),
        None => ("Ready".into(), String::new()),
    }
}

/// A tier on the home page: its overview, with its not-ready ShopSets cut to a few.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierCard {
    /// The tier's overview (what `shopctl status -o json` prints for it, `notReady` cut).
    #[serde(flatten)]
    pub overview: TierOverview,
    /// How many ShopSets are not ready in all (`notReady` names at most
    /// [`NOT_READY_SHOWN`]).
    pub not_ready_count: usize,
    /// What a person runs to act on it, as `shopctl` commands.
    pub commands: Vec<String>,
}

/// The dashboard's data at one moment.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    /// When it was computed (RFC 3339).
    pub generated: String,
    /// Where the statuses came from.
    pub source: String,
    /// The tiers, in the order of their chain.
    pub tiers: Vec<TierCard>,
    /// Every ShopSet, by name: served a page at a time, never whole.
    #[serde(skip)]
    pub shop_sets: Vec<ShopSetRow>,
    /// Every Shop, in name order.
    pub shops: Vec<ShopRow>,
    /// Each host, with the place of its Shop in `shops`.
    #[serde(skip)]
    pub hosts: BTreeMap<String, usize>,
    /// Every FailureDomain, in name order.
    pub failure_domains: Vec<DomainRow>,
    /// What happened on the tier branches, newest first (the last commits of each).
    pub activity: Vec<Activity>,
    /// The previews the preview branches hold.
    pub previews: Vec<PreviewRow>,
    /// Where each tier branch is read for the ShopSet pages, by tier.
    #[serde(skip)]
    pub branches: BTreeMap<String, BranchAt>,
}

/// A tier branch as the view saw it: the repository on disk (read with a handle of its own,
/// beside the writer) and the tip then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchAt {
    /// The repository (the system repository itself when local, else its cache).
    pub repository: std::path::PathBuf,
    /// The branch's tip when the view was built.
    pub commit: String,
}

/// A preview, as the previews page lists it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRow {
    /// Its PreviewPolicy.
    pub policy: String,
    /// The pull request's number.
    pub number: u64,
    /// The pull request's page.
    pub pull_request: String,
    /// The head commit deployed.
    pub commit: String,
    /// Its host.
    pub host: String,
    /// First deployed (RFC 3339).
    pub deployed: String,
    /// Its head commit deployed (RFC 3339).
    pub pushed: String,
    /// When it goes, by the policy's rules (RFC 3339; the keep label is GitHub's and not
    /// counted here).
    pub expires: String,
    /// Scaled to zero.
    pub asleep: bool,
}

/// One Shop, as the dashboard lists it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopRow {
    /// `metadata.name`.
    pub name: String,
    /// Its hosts.
    pub hosts: Vec<String>,
    /// Its pool.
    pub pool: String,
    /// Its weight.
    pub weight: u32,
    /// The ShopSet serving it (status).
    pub shop_set: Option<String>,
    /// Its tier (status).
    pub tier: Option<String>,
    /// The failure domain of its ShopSet.
    pub failure_domain: Option<String>,
    /// Its phase (`Assigned`, `Warming`, `Pending`, ...).
    pub phase: String,
    /// One more for each move.
    pub epoch: u64,
    /// The messages of its conditions that are not True.
    pub message: String,
}

/// One FailureDomain, with what is placed in it and the migrations that concern it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainRow {
    /// `metadata.name`.
    pub name: String,
    /// The Argo CD destination (a cluster's name or server).
    pub destination: String,
    /// How many ShopSets it may hold, if limited.
    pub capacity: Option<i64>,
    /// New ShopSets are not placed in it.
    pub cordoned: bool,
    /// ShopSets placed in it.
    pub shop_sets: usize,
    /// Shops their ShopSets serve.
    pub shops: usize,
    /// Their ShopSets not Ready.
    pub not_ready: usize,
    /// Migrations from or to it: `name: phase (moved/selected), from -> to`.
    pub migrations: Vec<String>,
}

impl View {
    /// The view of `tiers` (the overview), of the ShopSets of `resources` with their
    /// `statuses`, and of `shops` (the shops and placements as the tier branches record
    /// them: a ShopSet without a status still shows its failure domain).
    #[must_use]
    pub fn new(
        resources: &Resources,
        statuses: &Statuses,
        tiers: Vec<TierOverview>,
        shops: &ShopsReport,
        generated: String,
        source: String,
    ) -> Self {
        let shop_sets: Vec<ShopSetRow> = resources
            .shop_sets
            .iter()
            .map(|(name, s)| {
                let status = statuses.shop_sets.get(name);
                let (state, message) = state(status);
                ShopSetRow {
                    name: name.clone(),
                    tier: s.spec.tier.clone(),
                    failure_domain: status
                        .and_then(|s| s.failure_domain.clone())
                        .or_else(|| shops.placed.get(name).cloned()),
                    path: status.and_then(|s| s.path.clone()),
                    system_commit: status.and_then(|s| s.system_commit.clone()),
                    sync: status.and_then(|s| s.sync.clone()),
                    health: status.and_then(|s| s.health.clone()),
                    state,
                    message,
                }
            })
            .collect();
        let shops: Vec<ShopRow> = shops
            .shops
            .iter()
            .map(|line| {
                let status = statuses.shops.get(&line.shop);
                let phase = match (&line.warming, &line.draining) {
                    (Some(to), _) => format!("Warming ({to})"),
                    (_, Some(from)) => format!("Draining ({from})"),
                    _ => format!("{:?}", line.phase),
                };
                ShopRow {
                    name: line.shop.clone(),
                    hosts: line.hosts.clone(),
                    pool: line.pool.clone().unwrap_or_default(),
                    weight: line.weight,
                    shop_set: line.shop_set.clone(),
                    tier: line.tier.clone(),
                    failure_domain: line.failure_domain.clone(),
                    phase,
                    epoch: line.epoch,
                    message: status
                        .map(|s| {
                            s.conditions
                                .iter()
                                .filter(|c| c.status != "True")
                                .map(|c| c.message.clone())
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        let hosts = shops
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.hosts.iter().map(move |h| (h.clone(), i)))
            .collect();
        let failure_domains = domains(resources, statuses, &shop_sets, &shops);
        let tiers = tiers
            .into_iter()
            .map(|mut overview| {
                let not_ready_count = overview.not_ready.len();
                overview.not_ready.truncate(NOT_READY_SHOWN);
                let commands = commands(&overview);
                TierCard {
                    overview,
                    not_ready_count,
                    commands,
                }
            })
            .collect();
        Self {
            generated,
            source,
            tiers,
            shop_sets,
            shops,
            hosts,
            failure_domains,
            activity: Vec::new(),
            previews: Vec::new(),
            branches: BTreeMap::new(),
        }
    }

    /// The whole view, read from the repositories: the tiers' overview, the shops, the
    /// activity of the last [`ACTIVITY_PER_TIER`] commits of each tier branch, the previews,
    /// and where the ShopSet pages read their files. What the controller builds after each
    /// batch and `shopctl dashboard` once.
    #[must_use]
    pub fn build(
        resources: &Resources,
        statuses: &Statuses,
        repos: &mut shopset_engine::Repos,
        now: jiff::Timestamp,
        source: String,
    ) -> Self {
        let tiers = shopset_engine::ops::overview::overview(resources, statuses, repos, now);
        let shops = shopset_engine::ops::shops::report(resources, repos);
        let mut view = Self::new(
            resources,
            statuses,
            tiers,
            &shops,
            now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            source,
        );
        view.activity = shopset_engine::ops::log::activity(resources, repos, ACTIVITY_PER_TIER);
        view.previews = previews(resources, repos);
        for (tier, t) in &resources.tiers {
            let url = &t.spec.system.url;
            let branch = t.spec.branch_or(tier);
            if let Ok(Some(commit)) = repos.tip(url, branch) {
                let repository = repos.location_of(url);
                view.branches
                    .insert(tier.clone(), BranchAt { repository, commit });
            }
        }
        view
    }
}

/// The commits of each tier branch the activity page shows.
pub const ACTIVITY_PER_TIER: usize = 20;

fn previews(resources: &Resources, repos: &mut shopset_engine::Repos) -> Vec<PreviewRow> {
    use shopset_engine::ops::preview;
    let mut out = Vec::new();
    for (name, policy) in &resources.preview_policies {
        let Ok(existing) = preview::existing(resources, repos, name) else {
            continue;
        };
        let annotations = resources.preview_annotations.get(name);
        for e in &existing {
            let p = e.preview();
            out.push(PreviewRow {
                policy: name.clone(),
                number: e.number,
                pull_request: p.pull_request.clone(),
                commit: e.head_sha().to_owned(),
                host: p.host.clone(),
                deployed: preview::timestamp(e.deployed_at),
                pushed: preview::timestamp(e.pushed_at),
                expires: preview::timestamp(preview::expires_at(
                    &policy.spec,
                    annotations,
                    e,
                    false,
                )),
                asleep: p.asleep,
            });
        }
    }
    out
}

/// Each FailureDomain's row: one walk of the ShopSets and one of the Shops.
fn domains(
    resources: &Resources,
    statuses: &Statuses,
    shop_sets: &[ShopSetRow],
    shops: &[ShopRow],
) -> Vec<DomainRow> {
    let mut rows: BTreeMap<&str, DomainRow> = resources
        .failure_domains
        .iter()
        .map(|(name, fd)| {
            let d = &fd.spec.destination;
            let destination = d
                .name
                .clone()
                .or_else(|| d.server.clone())
                .unwrap_or_default();
            (
                name.as_str(),
                DomainRow {
                    name: name.clone(),
                    destination,
                    capacity: fd.spec.capacity,
                    cordoned: fd.spec.cordoned,
                    ..DomainRow::default()
                },
            )
        })
        .collect();
    for s in shop_sets {
        if let Some(row) = s.failure_domain.as_deref().and_then(|d| rows.get_mut(d)) {
            row.shop_sets += 1;
            row.not_ready += usize::from(s.state != "Ready");
        }
    }
    for s in shops {
        if let Some(row) = s.failure_domain.as_deref().and_then(|d| rows.get_mut(d)) {
            row.shops += 1;
        }
    }
    for (name, m) in &resources.migrations {
        let status = statuses.migrations.get(name);
        let line = format!(
            "{name}: {} ({}/{} moved), {} -> {}",
            status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending"),
            status.map_or(0, |s| s.moved),
            status.map_or(0, |s| s.selected),
            m.spec.from,
            m.spec.to
        );
        for d in [&m.spec.from, &m.spec.to] {
            if let Some(row) = rows.get_mut(d.as_str()) {
                row.migrations.push(line.clone());
            }
        }
    }
    rows.into_values().collect()
}

/// What a Shop lookup asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopQuery {
    /// A host (exact, any case) or the start of a Shop's name.
    #[serde(default)]
    pub q: Option<String>,
    /// The page, from 1.
    #[serde(default)]
    pub page: Option<usize>,
    /// Rows a page (default [`PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]).
    #[serde(default)]
    pub size: Option<usize>,
}

/// One page of Shops.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopPage<'a> {
    /// Shops in all.
    pub total: usize,
    /// Shops found.
    pub matched: usize,
    /// This page, from 1.
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
    /// Rows a page.
    pub size: usize,
    /// The Shop whose host is exactly the one asked for, when there is one.
    pub by_host: Option<&'a ShopRow>,
    /// This page's rows.
    pub items: Vec<&'a ShopRow>,
}

/// The Shops `query` finds: the one with that host (looked up, not searched), or those whose
/// name starts with it (a range of the name-ordered list: no walk of every Shop).
#[must_use]
pub fn shops<'a>(view: &'a View, query: &ShopQuery) -> ShopPage<'a> {
    let size = query.size.unwrap_or(PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    let page = query.page.unwrap_or(1).max(1);
    let q = query.q.as_deref().unwrap_or("").trim();
    // An exact host (hosts are lower case: the schema refuses others), else the wildcard
    // `*.parent` that covers it.
    let host = q.to_ascii_lowercase();
    let by_host = view
        .hosts
        .get(&host)
        .or_else(|| {
            let parent = host.split_once('.')?.1;
            view.hosts.get(&format!("*.{parent}"))
        })
        .map(|i| &view.shops[*i]);
    let start = view.shops.partition_point(|s| s.name.as_str() < q);
    let end = start + view.shops[start..].partition_point(|s| s.name.starts_with(q));
    let found = &view.shops[start..end];
    let skip = ((page - 1) * size).min(found.len());
    ShopPage {
        total: view.shops.len(),
        matched: found.len(),
        page,
        pages: found.len().div_ceil(size).max(1),
        size,
        by_host,
        items: found[skip..].iter().take(size).collect(),
    }
}

/// What a person would run for a tier, shown rather than done (the dashboard is read-only).
fn commands(t: &TierOverview) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(from) = &t.promotes_from {
        if t.promotable == Some(true) {
            out.push(format!("shopctl promote {}  # from {from}", t.tier));
        }
        out.push(format!("shopctl promote {} --dry-run", t.tier));
    }
    if t.hold.is_some() {
        out.push(format!(
            "kubectl annotate tier {} shopset.dev/hold-  # release it",
            t.tier
        ));
    }
    out.push(format!("shopctl log {}", t.tier));
    out
}

/// What a ShopSet list asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    /// Only this tier.
    #[serde(default)]
    pub tier: Option<String>,
    /// Only this failure domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Only this state (`Ready`, `NotSynced`, ...).
    #[serde(default)]
    pub state: Option<String>,
    /// Only names starting with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The page, from 1.
    #[serde(default)]
    pub page: Option<usize>,
    /// Rows a page (default [`PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]).
    #[serde(default)]
    pub size: Option<usize>,
}

impl Query {
    fn keeps(&self, row: &ShopSetRow) -> bool {
        let empty = |o: &Option<String>| o.as_deref().is_none_or(str::is_empty);
        (empty(&self.tier) || self.tier.as_deref() == Some(row.tier.as_str()))
            && (empty(&self.domain) || self.domain.as_deref() == row.failure_domain.as_deref())
            && (empty(&self.state) || self.state.as_deref() == Some(row.state.as_str()))
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| row.name.starts_with(p))
    }
}

/// One page of ShopSets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<'a> {
    /// ShopSets in all.
    pub total: usize,
    /// ShopSets the filters keep.
    pub matched: usize,
    /// This page, from 1.
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
    /// Rows a page.
    pub size: usize,
    /// This page's rows.
    pub items: Vec<&'a ShopSetRow>,
    /// Among the rows the other filters keep: how many per tier, per failure domain and per
    /// state (the counts beside each filter).
    pub facets: Facets,
}

/// Counts per value of each filter.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    /// By tier.
    pub tiers: BTreeMap<String, usize>,
    /// By failure domain.
    pub domains: BTreeMap<String, usize>,
    /// By state.
    pub states: BTreeMap<String, usize>,
}

/// The page `query` asks for: one walk over the rows (in name order), whatever the page.
#[must_use]
pub fn query<'a>(view: &'a View, query: &Query) -> Page<'a> {
    let size = query.size.unwrap_or(PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    let page = query.page.unwrap_or(1).max(1);
    let skip = (page - 1) * size;
    let mut matched = 0;
    let mut items = Vec::with_capacity(size);
    let mut facets = Facets::default();
    let without = |f: fn(&mut Query)| {
        let mut q = query.clone();
        f(&mut q);
        q
    };
    let (no_tier, no_domain, no_state) = (
        without(|q| q.tier = None),
        without(|q| q.domain = None),
        without(|q| q.state = None),
    );
    for row in &view.shop_sets {
        if no_tier.keeps(row) {
            *facets.tiers.entry(row.tier.clone()).or_default() += 1;
        }
        if no_domain.keeps(row) {
            let domain = row.failure_domain.clone().unwrap_or_default();
            *facets.domains.entry(domain).or_default() += 1;
        }
        if no_state.keeps(row) {
            *facets.states.entry(row.state.clone()).or_default() += 1;
        }
        if !query.keeps(row) {
            continue;
        }
        if matched >= skip && items.len() < size {
            items.push(row);
        }
        matched += 1;
    }
    Page {
        total: view.shop_sets.len(),
        matched,
        page,
        pages: matched.div_ceil(size).max(1),
        size,
        items,
        facets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn view(n: usize) -> View {
        let shop_sets = (0..n)
            .map(|i| ShopSetRow {
                name: format!("shop-{i:05}"),
                tier: format!("tier-{}", i % 3),
                failure_domain: Some(if i % 2 == 0 { "east" } else { "west" }.into()),
                path: Some(format!("shopsets/shop-{i:05}")),
                system_commit: Some("a".repeat(40)),
                sync: Some("Synced".into()),
                health: Some(if i % 7 == 0 { "Degraded" } else { "Healthy" }.into()),
                state: if i % 7 == 0 { "NotHealthy" } else { "Ready" }.into(),
                message: String::new(),
            })
            .collect();
        View {
            shop_sets,
            ..View::default()
        }
    }

    #[test]
    fn shops_are_found_by_host_or_name_prefix_a_page_at_a_time() {
        let mut v = view(0);
        v.shops = (0..500)
            .map(|i| ShopRow {
                name: format!("s-{i:04}"),
                hosts: vec![
                    format!("s-{i:04}.example.com"),
                    format!("WWW.Shop{i}.example"),
                ],
                shop_set: Some(format!("set-{}", i % 7)),
                ..ShopRow::default()
            })
            .collect();
        v.hosts = v
            .shops
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.hosts.iter().map(move |h| (h.to_ascii_lowercase(), i)))
            .collect();
        let found = |q: &str, page: usize| {
            shops(
                &v,
                &ShopQuery {
                    q: Some(q.into()),
                    page: Some(page),
                    size: Some(20),
                },
            )
        };
        let p = found("www.shop42.example", 1);
        assert_eq!(p.by_host.map(|s| s.name.as_str()), Some("s-0042"));
        assert_eq!(p.matched, 0, "no name starts with a host");
        let p = found("s-01", 2);
        assert_eq!((p.matched, p.pages, p.items.len()), (100, 5, 20));
        assert_eq!(p.items[0].name, "s-0120");
        assert!(p.by_host.is_none());
        let p = found("", 1);
        assert_eq!((p.total, p.matched, p.items.len()), (500, 500, 20));
        let p = found("nothing", 3);
        assert_eq!((p.matched, p.items.len()), (0, 0));
    }

    #[test]
    fn pages_filters_and_facets() {
        let v = view(1000);
        let p = query(&v, &Query::default());
        assert_eq!(
            (p.total, p.matched, p.page, p.pages, p.items.len()),
            (1000, 1000, 1, 20, 50)
        );
        assert_eq!(p.items[0].name, "shop-00000");
        let q = Query {
            tier: Some("tier-1".into()),
            state: Some("NotHealthy".into()),
            page: Some(2),
            size: Some(10),
            ..Query::default()
        };
        let p = query(&v, &q);
        let expected: Vec<String> = (0..1000)
            .filter(|i| i % 3 == 1 && i % 7 == 0)
            .map(|i| format!("shop-{i:05}"))
            .collect();
        assert_eq!(p.matched, expected.len());
        let names: Vec<&str> = p.items.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, expected[10..20.min(expected.len())]);
        // Each facet counts what the other filters keep.
        assert_eq!(p.facets.states["NotHealthy"], expected.len());
        assert_eq!(
            p.facets.states["Ready"],
            (0..1000).filter(|i| i % 3 == 1 && i % 7 != 0).count()
        );
        assert_eq!(
            p.facets.tiers["tier-0"],
            (0..1000).filter(|i| i % 3 == 0 && i % 7 == 0).count()
        );
        // A prefix, a page past the end, a size beyond the maximum.
        let q = Query {
            prefix: Some("shop-009".into()),
            page: Some(99),
            size: Some(10_000),
            ..Query::default()
        };
        let p = query(&v, &q);
        assert_eq!((p.matched, p.size, p.items.len()), (100, MAX_PAGE_SIZE, 0));
    }
}
