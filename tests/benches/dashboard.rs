//! The dashboard's budgets at fleet size: each page's and API answer's first response time and
//! size, served over HTTP on 127.0.0.1 from a view of N ShopSets in memory (a third of them not
//! ready), beside a baseline measured in the same run: the whole ShopSet list as one JSON
//! answer, what a dashboard that does not page would send. It prints figures; it asserts
//! nothing about time.
//!
//! A ShopSet's page reads its files and history from git per request: for it, tier-0's branch
//! is a real repository (made with `git fast-import`) of its ShopSets, four files each, and 200
//! commits that change one ShopSet at a time.
//!
//! `cargo bench -p shopset-tests --bench dashboard -- 10000` (ShopSets; ten shops each).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use shopset_engine::ops::status::Statuses;
use shopset_engine::{Repos, Resources};
use shopset_tests::controller::request;

fn resources(n: usize) -> Resources {
    let mut docs = Vec::new();
    for t in 0..3 {
        let from = if t == 0 {
            String::new()
        } else {
            format!("  promotesFrom: tier-{}\n", t - 1)
        };
        docs.push(format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-{t}}}\nspec:\n{from}  app: {{url: /nonexistent/app.git}}\n  system: {{url: /nonexistent/system.git}}\n"
        ));
    }
    docs.push("apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {name: plan}\nspec: {inline: {values: {A: \"1\"}}}\n".into());
    for fd in ["east", "west"] {
        docs.push(format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: {fd}}}\nspec: {{destination: {{name: {fd}-1}}}}\n"
        ));
    }
    for i in 0..n {
        docs.push(format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-{i:05}}}\nspec: {{tier: tier-{}, configuration: plan}}\n",
            i % 3
        ));
    }
    let mut r = Resources::default();
    r.add_text("bench.yaml", &docs.join("---\n"));
    r
}

fn statuses(resources: &Resources) -> Statuses {
    let mut out = Statuses::default();
    for (i, name) in resources.shop_sets.keys().enumerate() {
        let healthy = if i % 3 == 0 { "Degraded" } else { "Healthy" };
        let status: shopset_crds::ShopSetStatus = serde_json::from_value(serde_json::json!({
            "failureDomain": if i % 2 == 0 { "east" } else { "west" },
            "branch": format!("tier-{}", i % 3),
            "path": shopset_render::layout::shopset_dir(name),
            "systemCommit": "a".repeat(40),
            "sync": "Synced",
            "health": healthy,
            "conditions": [
                {"type": "Synced", "status": "True", "reason": "Synced", "message": "synced",
                 "lastTransitionTime": "2026-12-05T00:00:00Z"},
                {"type": "Healthy", "status": if i % 3 == 0 { "False" } else { "True" },
                 "reason": healthy, "message": "as Argo CD reports it",
                 "lastTransitionTime": "2026-12-05T00:00:00Z"},
            ],
        }))
        .expect("a status");
        out.shop_sets.insert(name.clone(), status);
    }
    out
}

/// Ten shops a ShopSet, as the tier branches would record them.
fn shops(resources: &Resources) -> shopset_engine::ops::shops::ShopsReport {
    let mut report = shopset_engine::ops::shops::ShopsReport::default();
    for (i, (name, s)) in resources.shop_sets.iter().enumerate() {
        let domain = if i % 2 == 0 { "east" } else { "west" };
        report.placed.insert(name.clone(), domain.to_owned());
        for k in 0..10 {
            let shop = format!("s-{:07}", i * 10 + k);
            report.shops.push(shopset_engine::ops::shops::ShopLine {
                hosts: vec![format!("{shop}.example.com")],
                shop,
                shop_set: Some(name.clone()),
                tier: Some(s.spec.tier.clone()),
                failure_domain: Some(domain.to_owned()),
                epoch: 0,
                by: Some(shopset_crds::AssignedBy::Rule),
                phase: shopset_crds::ShopPhase::Assigned,
                pool: Some("default".into()),
                weight: 1,
                warming: None,
                draining: None,
            });
        }
    }
    report.shops.sort_by(|a, b| a.shop.cmp(&b.shop));
    report
}

/// The first response's time (the best of `rounds`) and size.
fn first_response(port: u16, path: &str, rounds: usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let (code, body) = request(port, "GET", path, &[], b"");
        best = best.min(started.elapsed());
        assert_eq!(code, 200, "{path}");
        size = body.len();
    }
    (best, size)
}

/// A bare repository whose branch `tier-0` holds `names`' directories (where a tier branch
/// puts them, `shopsets/<shard>/<name>`, four files each), then `commits` commits that each change one ShopSet's value (`shop-00042` one
/// in ten). Returns its path and the branch's tip.
fn branch(
    dir: &std::path::Path,
    names: &[&String],
    commits: usize,
) -> (std::path::PathBuf, String) {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let repo = dir.join("system.git");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(args)
            .output()
            .expect("git runs")
    };
    let init = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare"])
        .arg(&repo)
        .status()
        .expect("git init");
    assert!(init.success());
    let mut script = String::new();
    let file = |s: &mut String, path: &str, text: &str| {
        let _ = write!(s, "M 100644 inline {path}\ndata {}\n{text}\n", text.len());
    };
    for c in 0..=commits {
        let message = format!("bench commit {c:04}");
        let _ = write!(
            script,
            "commit refs/heads/tier-0\ncommitter bench <bench@example.com> {} +0000\ndata {}\n{message}\n",
            1_700_000_000 + c,
            message.len()
        );
        if c == 0 {
            for name in names {
                let dir = shopset_render::layout::shopset_dir(name);
                let kustomization = format!(
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {name}\nresources:\n- ../../base\n- isolation/namespace.yaml\nconfigMapGenerator:\n- name: shop-config\n  files:\n  - values/A\n  - values/B\n"
                );
                file(
                    &mut script,
                    &format!("{dir}/kustomization.yaml"),
                    &kustomization,
                );
                file(&mut script, &format!("{dir}/values/A"), "1");
                file(&mut script, &format!("{dir}/values/B"), "two");
                let ns = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
                file(&mut script, &format!("{dir}/isolation/namespace.yaml"), &ns);
            }
        } else {
            let name = if c % 10 == 0 {
                "shop-00042".to_owned()
            } else {
                names[(c * 7919) % names.len()].clone()
            };
            let dir = shopset_render::layout::shopset_dir(&name);
            file(&mut script, &format!("{dir}/values/A"), &c.to_string());
        }
    }
    let mut import = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&repo)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import");
    import
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("the import");
    assert!(import.wait().expect("fast-import ends").success());
    let tip = String::from_utf8_lossy(&git(&["rev-parse", "tier-0"]).stdout)
        .trim()
        .to_owned();
    (repo, tip)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let resources = resources(n);
    assert_eq!(
        resources.shop_sets.len(),
        n,
        "{:?}",
        resources.errors.first()
    );
    let statuses = statuses(&resources);
    let tmp = tempfile::tempdir().expect("tmp");
    let mut repos = Repos::new(tmp.path());
    // What the tier branches record (read by the caller; here made up front).
    let report = shops(&resources);
    let started = Instant::now();
    let tiers = shopset_engine::ops::overview::overview(
        &resources,
        &statuses,
        &mut repos,
        k8s_openapi::jiff::Timestamp::now(),
    );
    let view = shopset_dashboard::View::new(
        &resources,
        &statuses,
        tiers,
        &report,
        "now".into(),
        "bench".into(),
    );
    let built = started.elapsed();
    let mut view = view;
    let tier0: Vec<&String> = resources
        .shop_sets
        .iter()
        .filter(|(_, s)| s.spec.tier == "tier-0")
        .map(|(name, _)| name)
        .collect();
    let import = Instant::now();
    let (repository, commit) = branch(tmp.path(), &tier0, 200);
    println!(
        "tier-0's branch: {} ShopSets, 201 commits, made in {:.1} s",
        tier0.len(),
        import.elapsed().as_secs_f64()
    );
    view.branches.insert(
        "tier-0".into(),
        shopset_dashboard::view::BranchAt { repository, commit },
    );
    // The baseline: every row at once.
    let everything = serde_json::to_string(&view.shop_sets).expect("JSON");

    let shared: shopset_dashboard::Shared = Arc::new(RwLock::new(Arc::new(view)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("address").port();
    let app = shopset_dashboard::router(shared);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, app).await;
        });
    });
    let baseline_started = Instant::now();
    let baseline_bytes = everything.len();
    let _ = serde_json::from_str::<serde_json::Value>(&everything).expect("JSON");
    let baseline_parse = baseline_started.elapsed();

    println!(
        "dashboard at {n} ShopSets and {} shops (view built in {:.1} ms, once per batch)",
        n * 10,
        built.as_secs_f64() * 1e3
    );
    println!(
        "baseline, every ShopSet in one answer: {:.0} KiB (parsing it alone: {:.1} ms)",
        baseline_bytes as f64 / 1024.0,
        baseline_parse.as_secs_f64() * 1e3
    );
    println!(
        "{:<52} {:>10} {:>10} {:>12}",
        "page", "first ms", "KiB", "of baseline"
    );
    let last = n.div_ceil(50);
    for path in [
        "/".to_owned(),
        "/shopsets".to_owned(),
        "/shopsets?tier=tier-0&state=NotHealthy".to_owned(),
        format!("/shopsets?page={last}"),
        "/shopsets?prefix=shop-099".to_owned(),
        "/api/v1/tiers".to_owned(),
        "/api/v1/shopsets".to_owned(),
        "/api/v1/shopsets?domain=west&size=200".to_owned(),
        "/api/v1/shopsets/shop-00042".to_owned(),
        "/shopsets/shop-00042".to_owned(),
        "/api/v1/shopsets/shop-00042/files".to_owned(),
        "/shopsets/shop-00003".to_owned(),
        "/activity".to_owned(),
        "/previews".to_owned(),
        "/shops".to_owned(),
        "/shops?q=S-0042042.EXAMPLE.COM".to_owned(),
        "/shops?q=s-00420".to_owned(),
        "/failure-domains".to_owned(),
        "/api/v1/shops?q=s-0042042.example.com".to_owned(),
        "/api/v1/failure-domains".to_owned(),
    ] {
        let (time, size) = first_response(port, &path, 5);
        println!(
            "{path:<52} {:>10.2} {:>10.1} {:>11.1}%",
            time.as_secs_f64() * 1e3,
            size as f64 / 1024.0,
            100.0 * size as f64 / baseline_bytes as f64
        );
    }
    println!("budgets: each first response <= 200 ms and <= 200 KiB; no page lists every ShopSet");
}
