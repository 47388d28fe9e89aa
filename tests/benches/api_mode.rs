//! The controller in API mode at scale (issue 17, point 4): the release `shopset-controller`
//! binary against the fake API server (its own runtime, on 127.0.0.1) holding the example's
//! resources plus N ShopSets, writing to the example's system repository. Figures: start to
//! the first batch pushed (every tier branch moved) and done (`/readyz`), and for five changes
//! of one ShopSet (a `kubectl apply` of it) the time to its commit on the tier branch, and the
//! API requests of that batch, by verb and resource (status writes must follow the statuses
//! that changed, not N). It prints figures; it asserts nothing about time.
//!
//! `cargo bench -p shopset-tests --bench api_mode -- 10000` (ShopSets; 10,000 by default).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use shopset_tests::controller::{Controller, eventually};
use shopset_tests::fake_api::FakeApi;
use shopset_tests::{quickstart_without_shops, tip};

const NS: &str = "shopset-system";

fn shop_set(i: usize, changed: Option<usize>) -> serde_json::Value {
    let mut spec = json!({"tier": format!("tier-{}", i % 3), "configuration": "standard"});
    if let Some(round) = changed {
        spec["overrides"] = json!({"values": {"CHANGED": round.to_string()}});
    }
    json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "ShopSet",
           "metadata": {"name": format!("s{i:06}"), "namespace": NS}, "spec": spec})
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let (_tmp, dir) = quickstart_without_shops();
    let resources = dir.join("resources");
    let domains = resources.join("failure-domains.yaml");
    let text = std::fs::read_to_string(&domains).unwrap();
    std::fs::write(&domains, text.replace("capacity: 50", "capacity: 100000")).unwrap();
    let api = FakeApi::start();
    api.load_resources(&resources, NS);
    let loaded = Instant::now();
    for i in 0..n {
        api.apply_object(shop_set(i, None));
    }
    println!(
        "API mode: {n} ShopSets (+ the example's 8) in the fake API server, loaded in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );
    let system = dir.join("system.git");
    // Built before the clock starts.
    shopset_tests::controller::binary();
    let started = Instant::now();
    // When every tier branch has its first commit: the first batch pushed (its statuses and
    // events are written after).
    let pushed = {
        let system = system.clone();
        let tiers = ["tier-0", "tier-1", "tier-2"];
        let before: Vec<Option<String>> = tiers.iter().map(|t| tip(&system, t)).collect();
        std::thread::spawn(move || {
            eventually(Duration::from_secs(300), || {
                tiers
                    .iter()
                    .zip(&before)
                    .all(|(t, b)| tip(&system, t) != *b)
                    .then(|| started.elapsed())
            })
        })
    };
    let controller = Controller::start_in_cluster(&api, &dir, "a", NS, &["--poll-seconds", "3600"]);
    let ready = started.elapsed();
    if let Some(p) = pushed.join().ok().flatten() {
        println!(
            "start -> first batch pushed (every tier branch written): {:.2} s",
            p.as_secs_f64()
        );
    }
    println!(
        "start -> first batch done, its statuses and events written (/readyz): {:.2} s",
        ready.as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut times = Vec::new();
    for round in 1..=5 {
        let before = tip(&system, "tier-0");
        api.clear_requests();
        let t = Instant::now();
        if std::env::var_os("SHOPSET_BENCH_LOG").is_some() {
            // To line the change up with the kept log's timestamps.
            eprintln!("change {round} applied at {}", jiff::Timestamp::now());
        }
        api.apply_object(shop_set(0, Some(round)));
        eventually(Duration::from_secs(60), || {
            (tip(&system, "tier-0") != before).then_some(())
        })
        .expect("the change is committed");
        let took = t.elapsed().as_secs_f64() * 1000.0;
        times.push(took);
        // The batch's status writes come after the push.
        std::thread::sleep(Duration::from_millis(1500));
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for r in api.requests() {
            let what = format!(
                "{} {}{}",
                r.verb,
                r.resource,
                r.subresource.map_or(String::new(), |s| format!("/{s}"))
            );
            *by.entry(what).or_default() += 1;
        }
        let shown: Vec<String> = by.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "change {round}: applied -> commit on tier-0 in {took:.0} ms; requests: {}",
            shown.join(", ")
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "change -> commit: median {:.0} ms, max {:.0} ms (of 5)",
        times[2], times[4]
    );
    drop(controller);
    // `SHOPSET_BENCH_LOG=FILE` keeps the controller's log (for the timeline of its batches).
    if let Some(keep) = std::env::var_os("SHOPSET_BENCH_LOG") {
        let _ = std::fs::copy(dir.join("a.log"), keep);
    }
}
