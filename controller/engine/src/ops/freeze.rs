//! Freeze windows: recurring times when nothing is promoted. A window opens at every minute
//! its cron schedule names (in its time zone) and lasts its duration. Pure: the caller passes
//! `now`. A window that cannot be read freezes (it fails closed) and says why. The last start
//! before now is computed directly, a day at a time (at most 33 days), not minute by minute.

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use shopset_crds::FreezeWindow;
use shopset_crds::names;

/// The longest window, in minutes (31 days).
const MAX_MINUTES: u64 = 31 * 24 * 60;

/// One cron field: the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    allowed: Vec<bool>,
    any: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(text: &str, names: &[&str], first: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(first + u32::try_from(i).unwrap_or(0));
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not a number or a name"))
}

fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Field, String> {
    let mut allowed = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {s:?} is not a positive number"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, min)?, value(b, names, min)?)
        } else {
            let v = value(range, names, min)?;
            (v, if step > 1 { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{range:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            allowed[v as usize] = true;
            v += step;
        }
    }
    Ok(Field {
        allowed,
        any: text == "*",
    })
}

/// A parsed five-field cron schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    minute: Field,
    hour: Field,
    day: Field,
    month: Field,
    weekday: Field,
}

impl Schedule {
    /// Parses `minute hour day-of-month month day-of-week`.
    ///
    /// # Errors
    /// Not five fields, or a field out of range.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!(
                "{text:?}: expected five fields (minute hour day month weekday)"
            ));
        };
        // Sunday is 0 or 7.
        let mut weekday = field(weekday, 0, 7, &DAYS)?;
        if weekday.allowed[7] {
            weekday.allowed[0] = true;
        }
        Ok(Self {
            minute: field(minute, 0, 59, &[])?,
            hour: field(hour, 0, 23, &[])?,
            day: field(day, 1, 31, &[])?,
            month: field(month, 1, 12, &MONTHS)?,
            weekday,
        })
    }

    /// Whether the schedule names this local minute.
    fn matches(&self, t: &jiff::civil::DateTime) -> bool {
        let at = |f: &Field, v: i8| usize::try_from(v).is_ok_and(|v| f.allowed[v]);
        self.matches_day(t.date()) && at(&self.minute, t.minute()) && at(&self.hour, t.hour())
    }

    /// Whether the schedule names this local day (its month, and its day of the month or of
    /// the week: when both are restricted, either may match, as cron has it).
    fn matches_day(&self, d: jiff::civil::Date) -> bool {
        let at = |f: &Field, v: i8| usize::try_from(v).is_ok_and(|v| f.allowed[v]);
        let weekday = match d.weekday() {
            Weekday::Sunday => 0,
            w => w.to_monday_one_offset(),
        };
        let day_ok = if self.day.any || self.weekday.any {
            at(&self.day, d.day()) && at(&self.weekday, weekday)
        } else {
            at(&self.day, d.day()) || at(&self.weekday, weekday)
        };
        at(&self.month, d.month()) && day_ok
    }

    /// The local times of day the schedule names (on a day it names), latest first.
    fn times(&self) -> impl Iterator<Item = (i8, i8)> + '_ {
        (0..=23i8)
            .rev()
            .filter(|h| self.hour.allowed[*h as usize])
            .flat_map(move |h| {
                (0..=59i8)
                    .rev()
                    .filter(|m| self.minute.allowed[*m as usize])
                    .map(move |m| (h, m))
            })
    }
}

/// The instants a local minute names in `tz`, latest first: none in a gap (the clocks jumped
/// over it), two in a fold (they went back over it).
fn instants(tz: &TimeZone, t: jiff::civil::DateTime) -> Vec<Timestamp> {
    use jiff::tz::AmbiguousOffset;
    let at = |offset: jiff::tz::Offset| offset.to_timestamp(t).ok();
    match tz.to_ambiguous_timestamp(t).offset() {
        AmbiguousOffset::Unambiguous { offset } => at(offset).into_iter().collect(),
        AmbiguousOffset::Gap { .. } => Vec::new(),
        AmbiguousOffset::Fold { before, after } => {
            let mut both: Vec<Timestamp> = [at(before), at(after)].into_iter().flatten().collect();
            both.sort_unstable_by(|a, b| b.cmp(a));
            both
        }
    }
}

/// The latest instant at or before `until` (a whole minute) and after `until - minutes` at
/// which the schedule names the local minute in `tz`. Walks back a day at a time (at most 34
/// days for the longest window) and, on a day the schedule names, straight to its latest
/// named minute in range: no minute-by-minute walk. Once a day gives one, the day before is
/// looked at too (a change of offset near midnight can order two days' minutes the other way).
fn last_start(
    schedule: &Schedule,
    tz: &TimeZone,
    until: Timestamp,
    minutes: u64,
) -> Option<Timestamp> {
    let earliest = until - jiff::SignedDuration::from_mins(i64::try_from(minutes).ok()? - 1);
    let in_range = |i: &Timestamp| *i <= until && *i >= earliest;
    let local = until.to_zoned(tz.clone()).datetime();
    let minute_of_day = |h: i8, m: i8| i32::from(h) * 60 + i32::from(m);
    // No change of offset from a day before `until` to three hours after it (most days):
    // local minutes and instants run in the same order there.
    let steady = tz
        .following(until - jiff::SignedDuration::from_hours(27))
        .next()
        .is_none_or(|t| t.timestamp() > until + jiff::SignedDuration::from_hours(3));
    // The latest named minute of `date` in range. Local minutes and instants run in the same
    // order except across a change of offset (at most a few hours, usually one): on the day
    // of `until`, minutes up to three hours after its local time are looked at, and after the
    // first one in range, two more hours of earlier minutes.
    let latest_of = |date: jiff::civil::Date, first: bool| -> Option<Timestamp> {
        if !schedule.matches_day(date) {
            return None;
        }
        let after = if first {
            minute_of_day(local.hour(), local.minute()) + if steady { 0 } else { 180 }
        } else {
            i32::MAX
        };
        let mut best: Option<(Timestamp, i32)> = None;
        for (h, m) in schedule.times() {
            let here = minute_of_day(h, m);
            if here > after {
                continue;
            }
            if best.is_some_and(|(_, at)| steady || here < at - 120) {
                break;
            }
            let candidates = instants(tz, date.at(h, m, 0, 0));
            if let Some(found) = candidates.iter().copied().find(in_range) {
                best = Some(best.map_or((found, here), |(b, at)| (b.max(found), at)));
            } else if candidates
                .iter()
                .any(|c| *c + jiff::SignedDuration::from_hours(3) < earliest)
            {
                // Before the window by more than any change of offset: so is every earlier
                // minute.
                break;
            }
        }
        best.map(|(t, _)| t)
    };
    let mut date = until.to_zoned(tz.clone()).datetime().date();
    let mut found: Option<Timestamp> = None;
    for day in 0..=minutes.div_ceil(24 * 60) + 2 {
        if found.is_some() && steady {
            return found;
        }
        let day = latest_of(date, day == 0);
        if found.is_some() {
            return found.max(day);
        }
        found = day;
        date = date.yesterday().ok()?;
    }
    found
}

/// The window `now` falls in, as a reason, or `None`.
#[must_use]
pub fn frozen(windows: &[FreezeWindow], now: Timestamp) -> Option<String> {
    for w in windows {
        match open_window(w, now) {
            Ok(Some(until)) => {
                return Some(format!(
                    "in the freeze window {:?} ({} long, {}) until {until}",
                    w.schedule,
                    w.duration,
                    w.time_zone.as_deref().unwrap_or("UTC")
                ));
            }
            Ok(None) => {}
            Err(e) => {
                return Some(format!(
                    "freeze window {:?} cannot be read: {e}",
                    w.schedule
                ));
            }
        }
    }
    None
}

fn open_window(w: &FreezeWindow, now: Timestamp) -> Result<Option<Timestamp>, String> {
    let schedule = Schedule::parse(&w.schedule)?;
    let (minutes, tz, start_of_minute) = window_bounds(w, now)?;
    // Every start lasts as long: the latest start before now is the one that ends last.
    let until = last_start(&schedule, &tz, start_of_minute, minutes)
        .map(|t| t + jiff::SignedDuration::from_secs(duration_seconds(w)));
    Ok(until.filter(|until| *until > now))
}

fn duration_seconds(w: &FreezeWindow) -> i64 {
    i64::try_from(names::duration_seconds(&w.duration).unwrap_or(0)).unwrap_or(0)
}

/// The window's length in whole minutes, its time zone, and `now` rounded down to the minute.
fn window_bounds(w: &FreezeWindow, now: Timestamp) -> Result<(u64, TimeZone, Timestamp), String> {
    let minutes = names::duration_seconds(&w.duration)
        .map(|s| s.div_ceil(60))
        .filter(|m| (1..=MAX_MINUTES).contains(m))
        .ok_or_else(|| format!("duration {:?}: expected 1s to 31 days", w.duration))?;
    let tz = TimeZone::get(w.time_zone.as_deref().unwrap_or("UTC"))
        .map_err(|e| format!("time zone: {e}"))?;
    let start_of_minute = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60))
        .map_err(|e| e.to_string())?;
    Ok((minutes, tz, start_of_minute))
}

/// The same answer as [`frozen`]'s, found the way it was before: minute by minute back from
/// `now`, up to 44,640 steps a window. The reference the tests and the benchmark compare the
/// direct computation with.
#[doc(hidden)]
#[must_use]
pub fn open_until_by_minutes(w: &FreezeWindow, now: Timestamp) -> Option<Timestamp> {
    let schedule = Schedule::parse(&w.schedule).ok()?;
    let (minutes, tz, start_of_minute) = window_bounds(w, now).ok()?;
    for back in 0..minutes {
        let back = i64::try_from(back).unwrap_or(i64::MAX);
        let t = start_of_minute - jiff::SignedDuration::from_mins(back);
        if schedule.matches(&t.to_zoned(tz.clone()).datetime()) {
            let until = t + jiff::SignedDuration::from_secs(duration_seconds(w));
            if until > now {
                return Some(until);
            }
        }
    }
    None
}

/// [`frozen`]'s answer for one window: when it closes, if `now` is in it.
#[doc(hidden)]
#[must_use]
pub fn open_until(w: &FreezeWindow, now: Timestamp) -> Option<Timestamp> {
    open_window(w, now).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(schedule: &str, duration: &str, tz: Option<&str>) -> FreezeWindow {
        FreezeWindow {
            schedule: schedule.into(),
            duration: duration.into(),
            time_zone: tz.map(Into::into),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn a_weekend_freeze_in_berlin() {
        // Fridays 18:00 Berlin time, for 64 hours (to Monday 10:00).
        let w = [window("0 18 * * FRI", "64h", Some("Europe/Berlin"))];
        // 2026-11-27 is a Friday; Berlin is UTC+1 in November.
        assert!(frozen(&w, at("2026-11-27T16:59:00Z")).is_none());
        let reason = frozen(&w, at("2026-11-27T17:00:00Z")).expect("frozen");
        assert!(reason.contains("until 2026-11-30T09:00:00Z"), "{reason}");
        assert!(frozen(&w, at("2026-11-29T12:00:00Z")).is_some());
        assert!(frozen(&w, at("2026-11-30T09:00:00Z")).is_none());
    }

    #[test]
    fn lists_ranges_steps_and_the_day_rule() {
        let s = Schedule::parse("*/15 9-17 * * MON-FRI").expect("parses");
        let t = |text: &str| at(text).to_zoned(TimeZone::UTC).datetime();
        assert!(s.matches(&t("2026-11-30T09:45:00Z")));
        assert!(!s.matches(&t("2026-11-30T09:50:00Z")));
        assert!(!s.matches(&t("2026-11-29T09:45:00Z")), "a Sunday");
        // Both day fields restricted: either matches (the 1st, or any Sunday).
        let s = Schedule::parse("0 0 1 * 0").expect("parses");
        assert!(s.matches(&t("2026-12-01T00:00:00Z")));
        assert!(s.matches(&t("2026-11-29T00:00:00Z")));
        assert!(!s.matches(&t("2026-11-30T00:00:00Z")));
        for bad in ["* * * *", "61 * * * *", "* * * * FUNDAY", "*/0 * * * *"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unreadable_window_fails_closed() {
        let w = [window("0 18 * * FRI", "64h", Some("Mars/Olympus"))];
        let reason = frozen(&w, at("2026-11-25T12:00:00Z")).expect("frozen");
        assert!(reason.contains("cannot be read"), "{reason}");
    }

    /// The direct computation gives the minute-by-minute walk's answer, over random
    /// schedules, durations, time zones with and without daylight saving (one with a
    /// 30-minute shift), and instants around their changes of offset.
    #[test]
    fn the_direct_computation_agrees_with_the_minute_walk() {
        let mut seed: u64 = 0x5eed_f00d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let zones = [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Tokyo",
            "America/Santiago",
        ];
        // Around the 2026 changes of offset in those zones, and elsewhere.
        let instants = [
            "2026-03-29T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-03-08T06:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-10-03T15:45:00Z",
            "2026-09-06T03:30:00Z",
            "2026-02-28T23:59:00Z",
            "2026-12-31T23:30:00Z",
        ];
        let pick = |next: &mut dyn FnMut(u64) -> u64, options: &[&str]| {
            options[usize::try_from(next(options.len() as u64)).unwrap()].to_owned()
        };
        let (mut checked, mut open) = (0, 0);
        for _ in 0..3000 {
            let minute = pick(&mut next, &["*", "0", "30", "*/15", "5-10", "59"]);
            let hour = pick(&mut next, &["*", "0", "1", "2", "3", "23", "9-17", "*/6"]);
            let day = pick(
                &mut next,
                &["*", "*", "*", "*", "1", "15", "29", "31", "1-7"],
            );
            let month = pick(
                &mut next,
                &["*", "*", "*", "*", "2", "3", "10", "11", "*/2"],
            );
            let weekday = pick(&mut next, &["*", "*", "*", "0", "FRI", "MON-FRI", "6"]);
            let schedule = format!("{minute} {hour} {day} {month} {weekday}");
            let duration = pick(
                &mut next,
                &[
                    "30s", "1m", "45m", "1h", "90m", "3h", "25h", "64h", "168h", "744h",
                ],
            );
            let zone = pick(&mut next, &zones);
            let base = at(&pick(&mut next, &instants));
            let now = base
                + jiff::SignedDuration::from_mins(i64::try_from(next(6 * 60)).unwrap() - 180)
                + jiff::SignedDuration::from_secs(i64::try_from(next(60)).unwrap());
            let w = window(&schedule, &duration, Some(&zone));
            let direct = open_until(&w, now);
            assert_eq!(
                direct,
                open_until_by_minutes(&w, now),
                "{schedule:?} for {duration} in {zone} at {now}"
            );
            open += usize::from(direct.is_some());
            checked += 1;
        }
        assert_eq!(checked, 3000);
        // And every ten minutes through eight hours around each change of offset, where a
        // local minute happens twice or never.
        for zone in zones {
            for base in instants {
                for step in 0..48 {
                    let now = at(base) + jiff::SignedDuration::from_mins(step * 10 - 240);
                    for schedule in ["*/10 * * * *", "30 2 * * *", "0 1 * * *", "15 1-3 * * *"] {
                        for duration in ["20m", "1h", "3h"] {
                            let w = window(schedule, duration, Some(zone));
                            assert_eq!(
                                open_until(&w, now),
                                open_until_by_minutes(&w, now),
                                "{schedule:?} for {duration} in {zone} at {now}"
                            );
                        }
                    }
                }
            }
        }
        // Both answers are common, so a wrong one could not hide.
        assert!((200..2800).contains(&open), "{open} of 3000 open");
    }
}
