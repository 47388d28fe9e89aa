//! The shops benchmark: 100,000 shops over 1,000 ShopSets (by default) through the real
//! assignment and routing-table renderer, in process. Figures, each beside a baseline measured
//! in the same run: assigning beside copying the same rows (what a lookup of recorded
//! assignments costs at the least), and rendering the table beside serialising the same rows
//! as compact JSON. It prints figures; it asserts nothing about time.
//!
//! `cargo bench -p shopset-tests --bench shops -- 100000 1000` (shops, ShopSets).

use std::collections::BTreeMap;
use std::time::Instant;

use shopset_render::assignment::{self, Candidate, ShopRequest};
use shopset_render::routing::{self, ShopRoute, ShopSetRoute};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn timed<T>(rounds: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..rounds {
        let start = Instant::now();
        last = Some(f());
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    (median(times), last.expect("one round at least"))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shops_n = args.first().copied().unwrap_or(100_000);
    let sets_n = args.get(1).copied().unwrap_or(1_000);
    let capacity = u32::try_from(shops_n * 2 / sets_n + 1).unwrap_or(u32::MAX);
    let names: Vec<String> = (0..shops_n).map(|i| format!("shop-{i:06}")).collect();
    let candidates: BTreeMap<String, Candidate<'_>> = (0..sets_n)
        .map(|i| {
            (
                format!("ss-{i:04}"),
                Candidate {
                    pool: "default",
                    capacity,
                    accept_new: true,
                    dedicated_to: None,
                    ready: true,
                },
            )
        })
        .collect();
    fn new(recorded: Option<(&str, u64)>) -> ShopRequest<'_> {
        ShopRequest {
            pool: "default",
            weight: 1,
            pin: None,
            isolate: false,
            recorded,
        }
    }
    let cold: BTreeMap<String, ShopRequest<'_>> =
        names.iter().map(|n| (n.clone(), new(None))).collect();

    // Cold: every shop new.
    let (cold_ms, first) = timed(3, || assignment::assign(&cold, &candidates));
    let placed: BTreeMap<String, String> = first
        .shops
        .iter()
        .map(|(n, o)| {
            let a = o.assigned.as_ref().expect("room for every shop");
            ((*n).to_owned(), a.shop_set.to_owned())
        })
        .collect();
    let max = *first.load.values().max().unwrap_or(&0);
    #[allow(clippy::cast_precision_loss)]
    let balance = max as f64 / (shops_n as f64 / sets_n as f64);

    // One shop added: every other one recorded.
    let mut warm: BTreeMap<String, ShopRequest<'_>> = placed
        .iter()
        .map(|(n, s)| (n.clone(), new(Some((s.as_str(), 0)))))
        .collect();
    warm.insert("shop-new".into(), new(None));
    let (added_ms, after) = timed(5, || assignment::assign(&warm, &candidates));
    let moved = placed
        .iter()
        .filter(|(n, s)| {
            after.shops[n.as_str()]
                .assigned
                .as_ref()
                .map(|a| a.shop_set)
                != Some(s.as_str())
        })
        .count();
    let (copy_ms, copied) = timed(5, || {
        warm.iter()
            .map(|(n, r)| (n.as_str(), r.recorded.map(|(s, _)| s)))
            .collect::<BTreeMap<_, _>>()
    });

    // The routing table of all of them.
    let rows: BTreeMap<String, ShopRoute> = placed
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                ShopRoute {
                    shop_set: s.clone(),
                    epoch: 0,
                    hosts: vec![format!("{n}.example.com")],
                },
            )
        })
        .collect();
    let sets: BTreeMap<String, ShopSetRoute> = candidates
        .keys()
        .map(|n| {
            (
                n.clone(),
                ShopSetRoute {
                    failure_domain: "east".into(),
                    upstream: Some(format!("http://{n}.east.internal")),
                    shift: None,
                },
            )
        })
        .collect();
    let (table_ms, files) = timed(3, || routing::files("tier-0", &rows, &sets));
    let (json_ms, json) = timed(3, || serde_json::to_vec(&rows).expect("JSON"));
    let largest = files.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();

    println!("shops benchmark: {shops_n} shops over {sets_n} ShopSets of capacity {capacity}");
    println!("  assign, all new          {cold_ms:>9.1} ms   max/avg load {balance:.3}");
    println!(
        "  assign, one shop added   {added_ms:>9.1} ms   copying the recorded rows: {copy_ms:.1} ms (x{:.1}); shops moved: {moved}; rows {}",
        added_ms / copy_ms.max(1e-9),
        copied.len()
    );
    println!(
        "  routing table            {table_ms:>9.1} ms   compact JSON of the rows: {json_ms:.1} ms (x{:.1}, {} KiB)",
        table_ms / json_ms.max(1e-9),
        json.len() / 1024
    );
    println!(
        "  files                    {:>9}      largest {} KiB (limit {} KiB), all {} KiB",
        files.len(),
        largest / 1024,
        routing::MAX_TABLE_BYTES / 1024,
        total / 1024
    );
}
