//! Business hours: when a person can answer, and SLA arithmetic that counts only those hours.
//!
//! Pure: the instant is always passed in (no clock, no IO). Each day of the week has at most
//! one opening (`09:00-18:00`, `00:00-24:00` for all day, empty for closed), in the local time
//! of an IANA time zone, so daylight-saving changes move the opening in UTC, not in local time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::config::BusinessHoursConfig;

/// Days searched for an opening before giving up (a schedule has at least one open day, so
/// eight days always find one; the bound only guards the loops).
const SEARCH_DAYS: i64 = 8;

/// The week's opening hours in one time zone, or always open.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    /// `None`: always open (`business_hours.enabled = false`).
    schedule: Option<Schedule>,
}

#[derive(Debug, Clone)]
struct Schedule {
    tz: Tz,
    label: String,
    /// Monday first; (open, close) in minutes since local midnight, close up to 1440.
    days: crate::config::WeekHours,
}

impl BusinessHours {
    /// Always open: every instant is inside hours and SLA minutes are wall-clock minutes.
    pub fn always_open() -> BusinessHours {
        BusinessHours { schedule: None }
    }

    /// Reads `[business_hours]`; the error names the bad key (`business_hours.monday`).
    pub fn from_config(c: &BusinessHoursConfig) -> Result<BusinessHours, (String, String)> {
        if !c.enabled {
            return Ok(BusinessHours::always_open());
        }
        let (tz, days) = c.parsed()?;
        let label = if c.timezone_label.is_empty() { c.timezone.clone() } else { c.timezone_label.clone() };
        Ok(BusinessHours { schedule: Some(Schedule { tz, label, days }) })
    }

    /// Whether a person is expected to be at work at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.next_open(t) == t
    }

    /// `t` itself when open, else the next opening.
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let Some(s) = &self.schedule else { return t };
        for (open, close) in s.intervals_from(t) {
            if close > t {
                return open.max(t);
            }
        }
        t
    }

    /// `t` plus `minutes` of open time: the clock stops outside hours (nights, weekends),
    /// and a day's length follows daylight-saving changes.
    pub fn add_business_minutes(&self, t: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let Some(s) = &self.schedule else { return t + Duration::minutes(minutes) };
        let mut left = Duration::minutes(minutes.max(0));
        let mut cursor = t;
        // Each pass covers a week, which holds at least one open minute.
        let weeks = minutes.max(0) + 2;
        for _ in 0..weeks {
            for (open, close) in s.intervals_from(cursor) {
                if close <= cursor {
                    continue;
                }
                let start = open.max(cursor);
                if close - start >= left {
                    return start + left;
                }
                left -= close - start;
                cursor = close;
            }
        }
        cursor + left
    }

    /// The opening `at`, as a customer reads it from `now`: "today at 9:00 AM ET",
    /// "tomorrow at 9:00 AM ET", "Monday at 9:00 AM ET".
    pub fn describe(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let Some(s) = &self.schedule else { return "shortly".into() };
        let local = at.with_timezone(&s.tz);
        let today = now.with_timezone(&s.tz).date_naive();
        let day = match (local.date_naive() - today).num_days() {
            0 => "today".to_string(),
            1 => "tomorrow".to_string(),
            _ => weekday_name(local.weekday()).to_string(),
        };
        format!("{day} at {} {}", local.format("%-I:%M %p"), s.label).trim_end().to_string()
    }
}

impl Schedule {
    /// The openings in UTC from the local day of `t` on, for [`SEARCH_DAYS`] days.
    fn intervals_from(&self, t: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let first = t.with_timezone(&self.tz).date_naive();
        (0..SEARCH_DAYS).filter_map(move |n| {
            let date = first + Duration::days(n);
            let (open, close) = self.days[date.weekday().num_days_from_monday() as usize]?;
            Some((self.instant(date, open), self.instant(date, close)))
        })
    }

    /// Local `date` plus `minutes` as a UTC instant: in a daylight-saving gap the time moves
    /// forward to the first that exists; in a repeated hour the first is taken.
    fn instant(&self, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
        let mut naive: NaiveDateTime = date.and_time(NaiveTime::MIN) + Duration::minutes(minutes as i64);
        for _ in 0..4 {
            if let Some(t) = self.tz.from_local_datetime(&naive).earliest() {
                return t.with_timezone(&Utc);
            }
            naive += Duration::minutes(30);
        }
        Utc.from_utc_datetime(&naive)
    }
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_hours() -> BusinessHours {
        BusinessHours::from_config(&BusinessHoursConfig::default()).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn inside_hours_is_open_and_adds_plain_minutes() {
        let h = default_hours();
        // Wednesday 2026-12-02 10:00 EST = 15:00 UTC.
        let t = utc("2026-12-02T15:00:00Z");
        assert!(h.is_open(t));
        assert_eq!(h.next_open(t), t);
        assert_eq!(h.add_business_minutes(t, 15), utc("2026-12-02T15:15:00Z"));
        // Closing is exclusive, opening inclusive.
        assert!(!h.is_open(utc("2026-12-02T23:00:00Z")));
        assert!(h.is_open(utc("2026-12-02T14:00:00Z")));
    }

    #[test]
    fn a_weekday_evening_waits_for_the_next_morning() {
        let h = default_hours();
        // Tuesday 2026-12-01 20:48 EST (01:48 UTC Wednesday).
        let t = utc("2026-12-02T01:48:00Z");
        assert!(!h.is_open(t));
        assert_eq!(h.next_open(t), utc("2026-12-02T14:00:00Z"));
        assert_eq!(h.add_business_minutes(t, 15), utc("2026-12-02T14:15:00Z"));
        assert_eq!(h.describe(h.next_open(t), t), "tomorrow at 9:00 AM ET");
    }

    #[test]
    fn an_sla_spills_over_the_closing_into_the_next_day() {
        let h = default_hours();
        // Wednesday 17:30 EST + 120 business minutes = 30 today + 90 from Thursday 9:00.
        let t = utc("2026-12-02T22:30:00Z");
        assert_eq!(h.add_business_minutes(t, 120), utc("2026-12-03T15:30:00Z"));
    }

    #[test]
    fn a_friday_evening_waits_for_monday() {
        let h = default_hours();
        // Friday 2026-12-04 19:00 EST.
        let t = utc("2026-12-05T00:00:00Z");
        assert_eq!(h.next_open(t), utc("2026-12-07T14:00:00Z"));
        assert_eq!(h.add_business_minutes(t, 120), utc("2026-12-07T16:00:00Z"));
        assert_eq!(h.describe(h.next_open(t), t), "Monday at 9:00 AM ET");
        // Saturday is closed too.
        assert!(!h.is_open(utc("2026-12-05T15:00:00Z")));
    }

    #[test]
    fn daylight_saving_weekends_move_the_opening_in_utc() {
        let h = default_hours();
        // Clocks go forward on Sunday 2026-03-08: Friday 9:00 is EST (14:00 UTC),
        // Monday 9:00 is EDT (13:00 UTC).
        let friday_evening = utc("2026-03-06T23:30:00Z");
        assert_eq!(h.next_open(friday_evening), utc("2026-03-09T13:00:00Z"));
        assert_eq!(h.add_business_minutes(friday_evening, 15), utc("2026-03-09T13:15:00Z"));
        // And back on Sunday 2026-11-01: Monday 9:00 EST is 14:00 UTC.
        let friday = utc("2026-10-30T21:00:00Z"); // 17:00 EDT, an hour before closing
        assert_eq!(h.add_business_minutes(friday, 120), utc("2026-11-02T15:00:00Z"));
    }

    #[test]
    fn all_day_and_always_open() {
        let mut c =
            BusinessHoursConfig { saturday: "00:00-24:00".into(), sunday: "00:00-24:00".into(), ..Default::default() };
        let h = BusinessHours::from_config(&c).unwrap();
        assert!(h.is_open(utc("2026-12-06T04:00:00Z")));
        // Saturday 23:50 runs on into Sunday without a gap at midnight; Friday night waits
        // for Saturday's opening at midnight.
        assert_eq!(h.add_business_minutes(utc("2026-12-06T04:50:00Z"), 20), utc("2026-12-06T05:10:00Z"));
        assert_eq!(h.add_business_minutes(utc("2026-12-05T04:50:00Z"), 20), utc("2026-12-05T05:20:00Z"));
        let always = BusinessHours::always_open();
        let t = utc("2026-12-06T04:00:00Z");
        assert!(always.is_open(t));
        assert_eq!(always.add_business_minutes(t, 15), t + Duration::minutes(15));
        c.enabled = false;
        assert!(BusinessHours::from_config(&c).unwrap().is_open(t));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let c = BusinessHoursConfig { timezone: "Mars/Olympus".into(), ..Default::default() };
        assert_eq!(BusinessHours::from_config(&c).unwrap_err().0, "business_hours.timezone");
        for bad in ["9-18", "09:00", "18:00-09:00", "09:00-25:00", "09:75-10:00"] {
            let c = BusinessHoursConfig { tuesday: bad.into(), ..Default::default() };
            assert_eq!(BusinessHours::from_config(&c).unwrap_err().0, "business_hours.tuesday", "{bad}");
        }
        let mut c = BusinessHoursConfig::default();
        for day in [&mut c.monday, &mut c.tuesday, &mut c.wednesday, &mut c.thursday, &mut c.friday] {
            day.clear();
        }
        assert!(BusinessHours::from_config(&c).is_err());
    }
}
