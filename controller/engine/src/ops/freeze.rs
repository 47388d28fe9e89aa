//! Freeze windows: recurring times when nothing is promoted. A window opens at every minute
//! its cron schedule names (in its time zone) and lasts its duration. Pure: the caller passes
//! `now`. A window that cannot be read freezes (it fails closed) and says why.

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
        let weekday = match t.weekday() {
            Weekday::Sunday => 0,
            w => w.to_monday_one_offset(),
        };
        // Cron's rule: when both day fields are restricted, either may match.
        let day_ok = if self.day.any || self.weekday.any {
            at(&self.day, t.day()) && at(&self.weekday, weekday)
        } else {
            at(&self.day, t.day()) || at(&self.weekday, weekday)
        };
        at(&self.minute, t.minute())
            && at(&self.hour, t.hour())
            && at(&self.month, t.month())
            && day_ok
    }
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
    let minutes = names::duration_seconds(&w.duration)
        .map(|s| s.div_ceil(60))
        .filter(|m| *m <= MAX_MINUTES)
        .ok_or_else(|| format!("duration {:?}: expected 1s to 31 days", w.duration))?;
    let tz = TimeZone::get(w.time_zone.as_deref().unwrap_or("UTC"))
        .map_err(|e| format!("time zone: {e}"))?;
    let start_of_minute = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60))
        .map_err(|e| e.to_string())?;
    for back in 0..minutes {
        let back = i64::try_from(back).unwrap_or(i64::MAX);
        let t = start_of_minute - jiff::SignedDuration::from_mins(back);
        if schedule.matches(&t.to_zoned(tz.clone()).datetime()) {
            let until = t + jiff::SignedDuration::from_secs(
                i64::try_from(names::duration_seconds(&w.duration).unwrap_or(0)).unwrap_or(0),
            );
            if until > now {
                return Ok(Some(until));
            }
        }
    }
    Ok(None)
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
}
