//! The freeze-window benchmark: the promotion gate asks, at every batch, whether now is in a
//! freeze window. Figures for the direct computation (a day at a time back to the last start)
//! beside the minute-by-minute walk it replaced (up to 44,640 steps a window), measured in the
//! same run on the same windows and instants. It prints figures; it asserts nothing about
//! time (only that both give the same answers).
//!
//! `cargo bench -p shopset-tests --bench freeze -- 200` (instants per window).

use std::time::Instant;

use shopset_crds::FreezeWindow;
use shopset_engine::ops::freeze::{open_until, open_until_by_minutes};

fn main() {
    let rounds: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let windows = [
        (
            "0 0 29 2 *",
            "744h",
            "UTC",
            "a leap-day window, not open (the walk's worst case)",
        ),
        ("0 18 * * FRI", "64h", "Europe/Berlin", "a weekend freeze"),
        (
            "0 9 1 * *",
            "168h",
            "America/New_York",
            "the first week of each month",
        ),
        (
            "*/5 * * * *",
            "1h",
            "Asia/Tokyo",
            "every five minutes, an hour long",
        ),
    ];
    let start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("an instant");
    println!("freeze windows: {rounds} instants each, spread over 2026");
    println!(
        "{:<55} {:>14} {:>16} {:>8}",
        "window", "direct µs/call", "by minutes µs/call", "ratio"
    );
    for (schedule, duration, zone, what) in windows {
        let w = FreezeWindow {
            schedule: schedule.into(),
            duration: duration.into(),
            time_zone: Some(zone.into()),
        };
        let instants: Vec<jiff::Timestamp> = (0..rounds)
            .map(|i| start + jiff::SignedDuration::from_secs(i * 157_681 % 31_536_000))
            .collect();
        let t = Instant::now();
        let direct: Vec<_> = instants.iter().map(|now| open_until(&w, *now)).collect();
        let direct_us = t.elapsed().as_secs_f64() * 1e6 / instants.len() as f64;
        let t = Instant::now();
        let walked: Vec<_> = instants
            .iter()
            .map(|now| open_until_by_minutes(&w, *now))
            .collect();
        let walked_us = t.elapsed().as_secs_f64() * 1e6 / instants.len() as f64;
        assert_eq!(direct, walked, "{schedule}: the two must agree");
        let open = direct.iter().filter(|o| o.is_some()).count();
        println!(
            "{:<55} {:>14.1} {:>16.1} {:>7.1}x",
            format!("{what} ({open} open)"),
            direct_us,
            walked_us,
            walked_us / direct_us.max(1e-9)
        );
    }
}
