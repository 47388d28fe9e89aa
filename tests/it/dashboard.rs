//! The dashboard, served by `shopctl dashboard` from the quickstart's repositories and
//! resources: its JSON says what `shopctl status -o json` says, ShopSets are filtered and paged
//! on the server, and the pages load nothing from elsewhere.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;
use shopset_tests::controller::{eventually, free_port, request};
use shopset_tests::{ok, quickstart, shopctl_command};

struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn get(&self, path: &str) -> (u16, String) {
        request(self.port, "GET", path, &[], b"")
    }

    fn json(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

fn serve(resources: &str, cache: &str) -> Served {
    let port = free_port();
    let child = shopctl_command()
        .args(["--cache-dir", cache, "dashboard", "-f", resources])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("shopctl dashboard runs");
    let served = Served { child, port };
    eventually(Duration::from_secs(120), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the dashboard listens");
    served
}

#[test]
fn the_dashboard_says_what_status_says_pages_shopsets_and_loads_nothing_from_elsewhere() {
    let (_tmp, dir) = quickstart();
    let resources = dir.join("resources").display().to_string();
    let cache = dir.join("cache").display().to_string();
    let served = serve(&resources, &cache);

    // The tiers: the same overview as `shopctl status -o json`.
    let api = served.json("/api/v1/tiers");
    let out = shopctl_command()
        .args([
            "--cache-dir",
            &cache,
            "status",
            "-o",
            "json",
            "-f",
            &resources,
        ])
        .output()
        .expect("shopctl status");
    let status: Value = serde_json::from_str(&ok(&out)).expect("status JSON");
    let tiers = api["tiers"].as_array().expect("tiers");
    let by_status = status.as_array().expect("tiers");
    assert_eq!(tiers.len(), by_status.len());
    assert!(tiers.len() >= 3);
    for (a, b) in tiers.iter().zip(by_status) {
        for field in [
            "tier",
            "branch",
            "promotesFrom",
            "appBranchTip",
            "appRunning",
            "systemCommit",
            "shopSets",
            "synced",
            "healthy",
            "promotable",
            "gate",
            "hold",
            "pin",
        ] {
            assert_eq!(a[field], b[field], "{}: {field}", b["tier"]);
        }
    }
    assert!(
        api["source"].as_str().is_some_and(|s| !s.is_empty()),
        "where the statuses come from: {api}"
    );

    // ShopSets: filtered and paged on the server, with counts beside each filter.
    let all = served.json("/api/v1/shopsets");
    let total = all["total"].as_u64().expect("total");
    assert!(total >= 8, "{all}");
    let tier0: u64 = tiers[0]["shopSets"].as_u64().expect("count");
    let first = served.json("/api/v1/shopsets?tier=tier-0&size=1");
    assert_eq!(first["matched"].as_u64(), Some(tier0), "{first}");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
    assert!(tier0 >= 2, "two pages of one");
    assert_eq!(first["facets"]["tiers"]["tier-0"].as_u64(), Some(tier0));
    let second = served.json("/api/v1/shopsets?tier=tier-0&size=1&page=2");
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (a, b) = (names(&first), names(&second));
    assert!(a.iter().all(|n| !b.contains(n)), "{a:?} {b:?}");
    assert!(
        a.windows(2).all(|w| w[0] < w[1]) && a.last() < b.first(),
        "{a:?} {b:?}"
    );
    assert!(
        first["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["tier"] == "tier-0")
    );
    let one = &a[0];
    assert_eq!(
        served.json(&format!("/api/v1/shopsets/{one}"))["name"],
        one.as_str()
    );
    assert_eq!(served.get("/api/v1/shopsets/no-such-shopset").0, 404);

    // The pages: every tier, the numbers the JSON gives, no script, nothing from elsewhere.
    let (code, home) = served.get("/");
    assert_eq!(code, 200);
    for t in tiers {
        let name = t["tier"].as_str().expect("name");
        assert!(home.contains(&format!("data-tier=\"{name}\"")), "{name}");
        let card = home
            .split(&format!("data-tier=\"{name}\""))
            .nth(1)
            .expect("its card");
        assert!(
            card.contains(&format!(
                "<span class=\"shopsets\">{}</span>",
                t["shopSets"]
            )),
            "{name}"
        );
    }
    let (code, list) = served.get("/shopsets?tier=tier-0&size=1");
    assert_eq!(code, 200);
    for n in &a {
        assert!(list.contains(&format!("data-shopset=\"{n}\"")), "{n}");
    }
    assert!(list.contains("rel=\"next\""), "a second page is linked");
    for page in [&home, &list] {
        assert!(page.len() < 200 * 1024);
        assert!(!page.contains("<script"), "no script");
        for attr in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "@import",
            "url(",
        ] {
            assert!(!page.contains(attr), "an external asset: {attr}");
        }
    }
}

#[test]
fn the_controller_serves_the_dashboard_from_its_last_batch() {
    use shopset_tests::controller::Controller;
    let (_tmp, dir) = quickstart();
    let resources = dir.join("resources");
    let port = free_port();
    let c = Controller::start(
        &[
            "--resources-dir",
            &resources.display().to_string(),
            "--cache-dir",
            &dir.join("controller-cache").display().to_string(),
            "--debounce-ms",
            "50",
            "--dashboard-listen",
            &format!("127.0.0.1:{port}"),
        ],
        &[],
        &dir.join("controller.log"),
    );
    // Once the first batch is done, the tiers and every ShopSet with the status it wrote.
    let api = eventually(Duration::from_secs(60), || {
        let (code, body) = request(port, "GET", "/api/v1/tiers", &[], b"");
        let v: Value = serde_json::from_str(&body).ok()?;
        (code == 200 && v["tiers"].as_array().is_some_and(|t| t.len() == 3)).then_some(v)
    })
    .unwrap_or_else(|| panic!("no dashboard; log:\n{}", c.log_text()));
    let status_file: Value = serde_json::from_str(
        &std::fs::read_to_string(resources.join("shopset-status.json")).expect("status file"),
    )
    .expect("JSON");
    for t in api["tiers"].as_array().into_iter().flatten() {
        let name = t["tier"].as_str().expect("name");
        assert_eq!(
            t["systemCommit"],
            Value::String(shopset_tests::rev(&dir.join("system.git"), name)),
            "{name}"
        );
    }
    let (_, body) = request(port, "GET", "/api/v1/shopsets?size=200", &[], b"");
    let page: Value = serde_json::from_str(&body).expect("JSON");
    let written = status_file["shopSets"].as_object().expect("statuses");
    assert_eq!(page["total"].as_u64(), Some(written.len() as u64), "{page}");
    for row in page["items"].as_array().into_iter().flatten() {
        let name = row["name"].as_str().expect("name");
        assert_eq!(row["systemCommit"], written[name]["systemCommit"], "{name}");
        assert_eq!(
            row["failureDomain"], written[name]["failureDomain"],
            "{name}"
        );
    }
}

/// Headless Chromium from Debian's package: the page's DOM once loaded, and what it logged.
fn chromium(args: &[&str], url: &str) -> (String, String) {
    let profile = tempfile::tempdir().expect("a profile");
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn in_a_real_browser_each_page_loads_cleanly_shows_the_json_numbers_and_pages() {
    let version = std::process::Command::new("chromium")
        .arg("--version")
        .output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "chromium (Debian's package) is required by this test and is not installed"
    );
    let (_tmp, dir) = quickstart();
    let resources = dir.join("resources").display().to_string();
    let cache = dir.join("cache").display().to_string();
    let served = serve(&resources, &cache);
    let base = format!("http://127.0.0.1:{}", served.port);
    let api = served.json("/api/v1/tiers");
    let shots = shopset_tests::root().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots directory");
    // A shop of the example, looked up by one of its hosts (in capitals: hosts match in any
    // case).
    let shops = served.json("/api/v1/shops?size=200");
    let shop = shops["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["shopSet"].is_string())
        .expect("an assigned shop")
        .clone();
    let host = shop["hosts"][0]
        .as_str()
        .expect("a host")
        .to_ascii_uppercase();
    let by_host = format!("/shops?q={host}");
    for (name, path) in [
        ("tiers", "/"),
        ("shopsets", "/shopsets"),
        (
            "shopsets-tier-0-page-2",
            "/shopsets?tier=tier-0&size=1&page=2",
        ),
        ("shop-by-host", by_host.as_str()),
        ("failure-domains", "/failure-domains"),
        ("shopset-canary", "/shopsets/canary"),
        ("activity", "/activity"),
        ("previews", "/previews"),
    ] {
        let url = format!("{base}{path}");
        let (dom, log) = chromium(&["--dump-dom"], &url);
        let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "{path}: console: {console:?}");
        assert!(dom.contains("<main>"), "{path}: {dom}");
        let shot = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1280,900",
                "--hide-scrollbars",
            ],
            &url,
        );
        let png = std::fs::read(&shot).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}");
        match name {
            "tiers" => {
                // Each tier's numbers, as the browser shows them, are the JSON's.
                for t in api["tiers"].as_array().into_iter().flatten() {
                    let tier = t["tier"].as_str().expect("name");
                    let card = dom
                        .split(&format!("data-tier=\"{tier}\""))
                        .nth(1)
                        .expect("its card");
                    for (class, field) in [
                        ("shopsets", "shopSets"),
                        ("synced", "synced"),
                        ("healthy", "healthy"),
                    ] {
                        let shown = card
                            .split(&format!("<span class=\"{class}\">"))
                            .nth(1)
                            .and_then(|s| s.split('<').next())
                            .expect("shown");
                        let want = t[field]
                            .as_i64()
                            .map_or_else(|| "-".to_owned(), |n| n.to_string());
                        assert_eq!(shown, want, "{tier}: {field}");
                    }
                }
            }
            "shop-by-host" => {
                // The shop found by its host, and the ShopSet serving it, as the JSON says.
                let found = served.json(&format!("/api/v1/shops?q={host}"));
                assert_eq!(found["byHost"]["name"], shop["name"], "{found}");
                let serving = shop["shopSet"].as_str().expect("its ShopSet");
                assert!(
                    dom.contains(&format!(
                        "<p class=\"by-host\">served by ShopSet <strong>{serving}</strong>"
                    )),
                    "{dom}"
                );
                let name = shop["name"].as_str().expect("a name");
                assert!(dom.contains(&format!("data-shop=\"{name}\"")), "{dom}");
            }
            "failure-domains" => {
                // Each domain's counts, as shown, are the JSON's; together they hold every
                // placed ShopSet.
                let api = served.json("/api/v1/failure-domains");
                let domains = api["failureDomains"].as_array().expect("domains");
                assert!(!domains.is_empty());
                assert_eq!(dom.matches("<tr data-domain=").count(), domains.len());
                for d in domains {
                    let name = d["name"].as_str().expect("a name");
                    let row = dom
                        .split(&format!("data-domain=\"{name}\""))
                        .nth(1)
                        .and_then(|r| r.split("</tr>").next())
                        .expect("its row");
                    for (class, field) in [("placed", "shopSets"), ("shops", "shops")] {
                        let shown = row
                            .split(&format!("class=\"{class}\">"))
                            .nth(1)
                            .and_then(|s| s.split('<').next())
                            .expect("shown");
                        assert_eq!(shown, d[field].to_string(), "{name}: {field}");
                    }
                }
                let placed: u64 = domains
                    .iter()
                    .map(|d| d["shopSets"].as_u64().unwrap_or(0))
                    .sum();
                let all = served.json("/api/v1/shopsets");
                let with_domain = all["facets"]["domains"]
                    .as_object()
                    .expect("domains")
                    .iter()
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(_, v)| v.as_u64().unwrap_or(0))
                    .sum::<u64>();
                assert_eq!(placed, with_domain);
                assert!(placed >= 8, "the example's ShopSets are placed: {api}");
            }
            "shopset-canary" => {
                // Its files and history, as the JSON lists them.
                let f = served.json("/api/v1/shopsets/canary/files");
                let files = f["files"].as_array().expect("files");
                assert!(!files.is_empty(), "{f}");
                let shown = dom
                    .split("<span class=\"files\">")
                    .nth(1)
                    .and_then(|s| s.split('<').next())
                    .expect("the count");
                assert_eq!(shown, files.len().to_string());
                for file in files {
                    let path = file["path"].as_str().expect("a path");
                    assert!(dom.contains(&format!("data-file=\"{path}\"")), "{path}");
                }
                assert!(
                    files.iter().any(|f| f["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("canary/kustomization.yaml"))),
                    "{f}"
                );
                let history = f["history"].as_array().expect("history");
                assert!(!history.is_empty(), "the commit that added it: {f}");
                assert_eq!(dom.matches("<tr class=\"change\">").count(), history.len());
            }
            "activity" => {
                let a = served.json("/api/v1/activity");
                let rows = a["activity"].as_array().expect("activity");
                // The quickstart commits to each of the three tier branches.
                let tiers: std::collections::BTreeSet<&str> =
                    rows.iter().filter_map(|r| r["tier"].as_str()).collect();
                assert_eq!(tiers.len(), 3, "{a}");
                assert_eq!(dom.matches("<tr class=\"activity\"").count(), rows.len());
                let times: Vec<i64> = rows.iter().filter_map(|r| r["time"].as_i64()).collect();
                assert!(
                    times.windows(2).all(|w| w[0] >= w[1]),
                    "newest first: {times:?}"
                );
            }
            "previews" => {
                let p = served.json("/api/v1/previews");
                let n = p["previews"].as_array().expect("previews").len();
                assert!(
                    dom.contains(&format!("<span class=\"previews\">{n}</span>")),
                    "{dom}"
                );
                assert_eq!(dom.matches("<tr data-preview=").count(), n);
            }
            "shopsets" => {
                let all = served.json("/api/v1/shopsets");
                let rows = dom.matches("<tr data-shopset=").count();
                assert_eq!(rows as u64, all["total"].as_u64().expect("total").min(50));
            }
            _ => {
                // Filtered and paged: the second ShopSet of tier-0, a link back to the first.
                let second = served.json("/api/v1/shopsets?tier=tier-0&size=1&page=2");
                let want = second["items"][0]["name"].as_str().expect("a row");
                assert_eq!(dom.matches("<tr data-shopset=").count(), 1);
                assert!(dom.contains(&format!("data-shopset=\"{want}\"")), "{dom}");
                assert!(dom.contains("rel=\"prev\""));
                assert!(
                    dom.contains("<option value=\"tier-0\" selected=\"\">"),
                    "{dom}"
                );
            }
        }
    }
}
