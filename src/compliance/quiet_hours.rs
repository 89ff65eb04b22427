//! When a proactive text may be sent: the recipient's local time window and frequency caps.
//!
//! Proactive means not a reply to the customer's own message in the open conversation
//! (abandoned cart, post-purchase, reminders). Replies are customer-initiated and are not
//! held back (README "Compliance").
//!
//! - Federal: 8:00–21:00 at the called party's location (47 CFR 64.1200(c)(1)).
//! - States narrow it, some cap messages per 24 h on one subject: the table in
//!   `data/state_windows.tsv`, each row with its source.
//! - The recipient's time zone: the customer profile's, else the NANP area code's from
//!   libphonenumber's time-zone map (`data/nanp_timezones.txt`, Apache-2.0; longest prefix;
//!   when a code spans several zones the text must be allowed in every one of them), else
//!   every US zone at once.
//! - The state: from the area code (libphonenumber's geocoding, `data/nanp_states.txt`: its
//!   area-code lines, plus 203, 310, 713, 718 and 905, which the geocoding names only at
//!   longer prefixes, all in one state); unknown means every state's rules at once (the
//!   strictest US window).
//!
//! A text outside its window is deferred to the next allowed minute, never dropped.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::ConsentKind;

const TIMEZONES: &str = include_str!("data/nanp_timezones.txt");
const STATES: &str = include_str!("data/nanp_states.txt");
const RULES: &str = include_str!("data/state_windows.tsv");

/// Every US time zone, for numbers whose zone is unknown.
const US_ZONES: &[Tz] = &[
    chrono_tz::America::New_York,
    chrono_tz::America::Chicago,
    chrono_tz::America::Denver,
    chrono_tz::America::Phoenix,
    chrono_tz::America::Los_Angeles,
    chrono_tz::America::Anchorage,
    chrono_tz::Pacific::Honolulu,
];

/// Minutes after local midnight: [start, end).
type Window = (u32, u32);

/// A frequency cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub max: usize,
    pub hours: i64,
    /// Counts only messages on the same subject (Florida, Oklahoma, Maryland).
    pub same_subject: bool,
}

/// One jurisdiction's rule: a window per day of the week (`None`: no texts that day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub jurisdiction: String,
    /// Monday..Sunday.
    pub days: [Option<Window>; 7],
    pub caps: Vec<Cap>,
    /// No texts on US federal holidays (Alabama, Louisiana, Rhode Island).
    pub closed_on_holidays: bool,
}

impl Rule {
    /// The rule that satisfies both: the later start, the earlier end, every cap.
    fn intersect(&self, other: &Rule) -> Rule {
        let mut days = [None; 7];
        for (d, slot) in days.iter_mut().enumerate() {
            *slot = match (self.days[d], other.days[d]) {
                (Some((a1, b1)), Some((a2, b2))) if a1.max(a2) < b1.min(b2) => Some((a1.max(a2), b1.min(b2))),
                _ => None,
            };
        }
        let mut caps = self.caps.clone();
        caps.extend(other.caps.iter().copied());
        Rule {
            jurisdiction: format!("{}+{}", self.jurisdiction, other.jurisdiction),
            days,
            caps,
            closed_on_holidays: self.closed_on_holidays || other.closed_on_holidays,
        }
    }

    fn allows_local(&self, date: NaiveDate, minute: u32) -> bool {
        if self.closed_on_holidays && is_us_holiday(date) {
            return false;
        }
        match self.days[date.weekday().num_days_from_monday() as usize] {
            Some((start, end)) => minute >= start && minute < end,
            None => false,
        }
    }
}

/// The `n`th (1-based) `weekday` of a month; `n = 0` means the last.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    if n == 0 {
        let last = NaiveDate::from_ymd_opt(year, month + 1, 1)
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("valid date"))
            - Duration::days(1);
        let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        return last - Duration::days(i64::from(back));
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).expect("valid weekday of month")
}

/// US federal holidays (5 U.S.C. 6103), with the observed day when one falls on a weekend
/// (Saturday → Friday, Sunday → Monday); both days count. The state statutes that bar
/// holiday texts (Alabama, Louisiana, Rhode Island) name "legal holidays", which include
/// these; state-only holidays are not in this list (README, "Compliance").
pub fn is_us_holiday(date: NaiveDate) -> bool {
    // New Year's Day on a Saturday is observed on December 31 of the year before.
    federal_holidays(date.year()).contains(&date) || federal_holidays(date.year() + 1).contains(&date)
}

/// The federal holidays of `year` and their observed days (which may fall in the year before).
fn federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d).expect("valid date");
    let mut days = vec![
        fixed(1, 1),
        nth_weekday(year, 1, Weekday::Mon, 3),
        nth_weekday(year, 2, Weekday::Mon, 3),
        nth_weekday(year, 5, Weekday::Mon, 0),
        fixed(6, 19),
        fixed(7, 4),
        nth_weekday(year, 9, Weekday::Mon, 1),
        nth_weekday(year, 10, Weekday::Mon, 2),
        fixed(11, 11),
        nth_weekday(year, 11, Weekday::Thu, 4),
        fixed(12, 25),
    ];
    let observed: Vec<NaiveDate> = days
        .iter()
        .filter_map(|d| match d.weekday() {
            Weekday::Sat => Some(*d - Duration::days(1)),
            Weekday::Sun => Some(*d + Duration::days(1)),
            _ => None,
        })
        .collect();
    days.extend(observed);
    days
}

/// What applies to one recipient.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    /// The text must be allowed in every one of these zones.
    pub zones: Vec<Tz>,
    pub rule: Rule,
}

impl SendPolicy {
    /// True when `t` is inside the window in every zone.
    pub fn allows(&self, t: DateTime<Utc>) -> bool {
        self.zones.iter().all(|tz| {
            let local = t.with_timezone(tz);
            self.rule.allows_local(local.date_naive(), local.hour() * 60 + local.minute())
        })
    }

    /// The first instant at or after `t` inside the window (whole minutes); `None` if there
    /// is none within two weeks (a rule with no allowed day).
    pub fn next_allowed(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.allows(t) {
            return Some(t);
        }
        // Windows open on whole local minutes, and every US offset is a whole number of
        // quarter hours, so stepping quarter hours from a UTC quarter hour finds each opening.
        let mut candidate = t.with_second(0)?.with_nanosecond(0)?;
        candidate += Duration::minutes(15 - i64::from(candidate.minute() % 15));
        let limit = t + Duration::days(14);
        while candidate < limit {
            if self.allows(candidate) {
                return Some(candidate);
            }
            candidate += Duration::minutes(15);
        }
        None
    }

    /// When a proactive text may go out, given the recipient's other proactive sends
    /// (`(time, subject)`, earlier or already scheduled later): inside the window and, in
    /// every span of a cap's length around it, under the cap. `None`: not within two weeks.
    pub fn schedule(
        &self,
        t: DateTime<Utc>,
        subject: &str,
        others: &[(DateTime<Utc>, String)],
    ) -> Option<DateTime<Utc>> {
        let limit = t + Duration::days(14);
        let mut candidate = self.next_allowed(t)?;
        while candidate < limit {
            if self.rule.caps.iter().all(|cap| cap_allows(cap, candidate, subject, others)) {
                return Some(candidate);
            }
            candidate = self.next_allowed(candidate + Duration::minutes(15))?;
        }
        None
    }
}

/// True when a send at `c` keeps every window of `cap.hours` that contains it at or under
/// `cap.max` sends.
fn cap_allows(cap: &Cap, c: DateTime<Utc>, subject: &str, others: &[(DateTime<Utc>, String)]) -> bool {
    let window = Duration::hours(cap.hours);
    let counted: Vec<DateTime<Utc>> = others
        .iter()
        .filter(|(at, s)| (!cap.same_subject || s == subject) && (*at - c).abs() < window)
        .map(|(at, _)| *at)
        .collect();
    // Windows containing c start in (c - window, c]; the fullest starts at c - window + ε, at
    // one of the counted sends before c, or just early enough to reach one after c (a send
    // recorded by a clock ahead of ours).
    let starts = std::iter::once(c - window + Duration::seconds(1))
        .chain(counted.iter().map(|at| if *at <= c { *at } else { *at - window + Duration::seconds(1) }));
    starts.into_iter().all(|start| {
        let inside = counted.iter().filter(|at| **at >= start && **at < start + window).count();
        inside < cap.max
    })
}

/// What the sender does with a proactive text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProactiveDecision {
    /// The recipient opted out, or is on hold: never send.
    Suppress,
    /// Send at this time (now, or deferred).
    SendAt(DateTime<Utc>),
    /// No allowed time within two weeks: a person should look.
    NeedsPerson,
}

/// The sender's decision for a proactive text to a recipient whose latest consent event is
/// `consent` (47 CFR 64.1200(a)(10): opted out means nothing but the one confirmation; a
/// possible opt-out holds everything proactive until a person decides).
pub fn decide(
    policy: &SendPolicy,
    consent: Option<ConsentKind>,
    now: DateTime<Utc>,
    subject: &str,
    others: &[(DateTime<Utc>, String)],
) -> ProactiveDecision {
    if matches!(consent, Some(ConsentKind::OptOut | ConsentKind::Hold)) {
        return ProactiveDecision::Suppress;
    }
    match policy.schedule(now, subject, others) {
        Some(at) => ProactiveDecision::SendAt(at),
        None => ProactiveDecision::NeedsPerson,
    }
}

struct Tables {
    /// NANP prefix digits ("1305", "1605201") → zones.
    zones: HashMap<String, Vec<Tz>>,
    /// "1305" → state code.
    states: HashMap<String, String>,
    rules: HashMap<String, Rule>,
    /// Every state rule at once, for unknown states.
    strictest: Rule,
}

fn parse_window(s: &str) -> Option<Window> {
    let (a, b) = s.split_once('-')?;
    let minutes = |hm: &str| -> Option<u32> {
        let (h, m) = hm.split_once(':')?;
        Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
    };
    Some((minutes(a)?, minutes(b)?))
}

const STATE_CODES: &[(&str, &str)] = &[
    ("Alabama", "AL"),
    ("Alaska", "AK"),
    ("Arizona", "AZ"),
    ("Arkansas", "AR"),
    ("California", "CA"),
    ("Colorado", "CO"),
    ("Connecticut", "CT"),
    ("Delaware", "DE"),
    ("Florida", "FL"),
    ("Georgia", "GA"),
    ("Hawaii", "HI"),
    ("Idaho", "ID"),
    ("Illinois", "IL"),
    ("Indiana", "IN"),
    ("Iowa", "IA"),
    ("Kansas", "KS"),
    ("Kentucky", "KY"),
    ("Louisiana", "LA"),
    ("Maine", "ME"),
    ("Maryland", "MD"),
    ("Massachusetts", "MA"),
    ("Michigan", "MI"),
    ("Minnesota", "MN"),
    ("Mississippi", "MS"),
    ("Missouri", "MO"),
    ("Montana", "MT"),
    ("Nebraska", "NE"),
    ("Nevada", "NV"),
    ("New Hampshire", "NH"),
    ("New Jersey", "NJ"),
    ("New Mexico", "NM"),
    ("New York", "NY"),
    ("North Carolina", "NC"),
    ("North Dakota", "ND"),
    ("Ohio", "OH"),
    ("Oklahoma", "OK"),
    ("Oregon", "OR"),
    ("Pennsylvania", "PA"),
    ("Rhode Island", "RI"),
    ("South Carolina", "SC"),
    ("South Dakota", "SD"),
    ("Tennessee", "TN"),
    ("Texas", "TX"),
    ("Utah", "UT"),
    ("Vermont", "VT"),
    ("Virginia", "VA"),
    ("Washington State", "WA"),
    ("Washington D.C.", "DC"),
    ("West Virginia", "WV"),
    ("Wisconsin", "WI"),
    ("Wyoming", "WY"),
];

/// "Palm Beach, FL" → FL; "Florida" → FL; Canadian provinces and others → None.
fn state_code(name: &str) -> Option<String> {
    if let Some((_, code)) = name.rsplit_once(", ")
        && code.len() == 2
    {
        return Some(code.to_string());
    }
    STATE_CODES.iter().find(|(n, _)| *n == name).map(|(_, c)| c.to_string())
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut zones = HashMap::new();
        for line in TIMEZONES.lines() {
            let Some((prefix, list)) = line.split_once('|') else { continue };
            // The bare "1" line lists every NANP zone: that is "unknown", not a match.
            if prefix == "1" {
                continue;
            }
            let tzs: Vec<Tz> = list.split('&').filter_map(|z| Tz::from_str(z).ok()).collect();
            if !tzs.is_empty() {
                zones.insert(prefix.to_string(), tzs);
            }
        }
        let states = STATES
            .lines()
            .filter_map(|l| l.split_once('|'))
            .filter_map(|(p, name)| state_code(name).map(|c| (p.to_string(), c)))
            .collect();
        let mut rules = HashMap::new();
        for line in RULES.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            assert!(f.len() >= 9, "state_windows.tsv: 9 columns expected in {line:?}");
            let day =
                |s: &str| if s == "-" { None } else { Some(parse_window(s).expect("state_windows.tsv: HH:MM-HH:MM")) };
            let (weekday, saturday, sunday) = (day(f[1]), day(f[2]), day(f[3]));
            let caps = if f[4] == "-" {
                vec![]
            } else {
                vec![Cap {
                    max: f[4].parse().expect("cap"),
                    hours: f[5].parse().expect("cap hours"),
                    same_subject: f[6] == "subject",
                }]
            };
            let days = [weekday, weekday, weekday, weekday, weekday, saturday, sunday];
            let closed_on_holidays = match f[7] {
                "closed" => true,
                "-" => false,
                other => panic!("state_windows.tsv: holidays column is closed or -, not {other:?}"),
            };
            rules.insert(f[0].to_string(), Rule { jurisdiction: f[0].to_string(), days, caps, closed_on_holidays });
        }
        let federal = rules.get("FEDERAL").expect("state_windows.tsv has a FEDERAL row").clone();
        let strictest = rules.values().fold(federal, |acc, r| acc.intersect(r));
        Tables { zones, states, rules, strictest }
    })
}

/// The US area codes the state table knows ("305", "212", …), sorted: what a benchmark draws
/// random NANP numbers from.
pub fn us_area_codes() -> Vec<String> {
    let mut codes: Vec<String> = tables().states.keys().filter(|p| p.len() == 4).map(|p| p[1..].to_string()).collect();
    codes.sort();
    codes
}

/// The US state ("FL") of a NANP number's area code, by the state table quiet hours use;
/// `None` for other numbers and unknown area codes.
pub fn state_of(phone: &str) -> Option<&'static str> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (digits.len() == 11 && digits.starts_with('1'))
        .then(|| tables().states.get(&digits[..4]).map(String::as_str))
        .flatten()
}

/// The area codes ("305", "786", …) the state table gives to a state, sorted; empty for an
/// unknown state code.
pub fn area_codes_of(state: &str) -> Vec<String> {
    let mut codes: Vec<String> = tables()
        .states
        .iter()
        .filter(|(prefix, s)| prefix.len() == 4 && s.eq_ignore_ascii_case(state))
        .map(|(prefix, _)| prefix[1..].to_string())
        .collect();
    codes.sort();
    codes
}

/// The rule and zones for a recipient. `profile_tz` is the customer profile's IANA zone.
pub fn policy_for(phone: &str, profile_tz: Option<&str>) -> SendPolicy {
    let t = tables();
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let nanp = digits.len() == 11 && digits.starts_with('1');
    let area_zones =
        if nanp { (4..=digits.len()).rev().find_map(|n| t.zones.get(&digits[..n]).cloned()) } else { None };
    let zones = match profile_tz.and_then(|z| Tz::from_str(z).ok()) {
        Some(tz) => vec![tz],
        None => area_zones.unwrap_or_else(|| US_ZONES.to_vec()),
    };
    let federal = &t.rules["FEDERAL"];
    let rule = match nanp.then(|| t.states.get(&digits[..4])).flatten() {
        Some(state) => match t.rules.get(state) {
            Some(r) => federal.intersect(r),
            None => federal.clone(),
        },
        None => t.strictest.clone(),
    };
    SendPolicy { zones, rule }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn a_florida_number_gets_florida_hours_in_eastern_time() {
        let p = policy_for("+13055550100", None);
        assert_eq!(p.zones, vec![chrono_tz::America::New_York]);
        // 2026-11-23 is a Monday; 20:30 Eastern is past Florida's 20:00.
        assert!(!p.allows(utc(2026, 11, 24, 1, 30)));
        assert!(p.allows(utc(2026, 11, 24, 0, 30)));
        assert_eq!(p.next_allowed(utc(2026, 11, 24, 1, 30)), Some(utc(2026, 11, 24, 13, 0)));
    }

    #[test]
    fn texas_sundays_start_at_noon() {
        let p = policy_for("+15125550100", None);
        // Sunday 2026-11-22 10:00 Central = 16:00 UTC.
        assert!(!p.allows(utc(2026, 11, 22, 16, 0)));
        assert_eq!(p.next_allowed(utc(2026, 11, 22, 16, 0)), Some(utc(2026, 11, 22, 18, 0)));
    }

    #[test]
    fn an_area_code_spanning_zones_must_be_allowed_in_each() {
        // 605 (South Dakota) spans Central and Mountain: 8:00 Mountain is the later opening.
        let p = policy_for("+16055550100", None);
        assert!(p.zones.len() >= 2, "{:?}", p.zones);
        let opening = p.next_allowed(utc(2026, 11, 24, 12, 0)).unwrap();
        assert_eq!(opening, utc(2026, 11, 24, 15, 0));
    }

    #[test]
    fn area_codes_named_only_at_longer_prefixes_have_their_state() {
        // libphonenumber's geocoding names these only as "120320|Connecticut", "17132|Texas", …
        for (phone, state) in
            [("+12035550100", "CT"), ("+13105550100", "CA"), ("+17135550100", "TX"), ("+17185550100", "NY")]
        {
            assert_eq!(state_of(phone), Some(state), "{phone}");
        }
        assert!(area_codes_of("CT").contains(&"203".to_string()));
    }

    #[test]
    fn unknown_numbers_get_the_strictest_window_everywhere() {
        let p = policy_for("+18615550100", None);
        assert_eq!(p.zones.len(), US_ZONES.len());
        assert!(p.rule.days[6].is_none(), "no Sundays somewhere");
        assert!(!p.allows(utc(2026, 11, 24, 14, 0)), "9:00 Eastern is too early for Kentucky");
    }

    #[test]
    fn a_profile_time_zone_wins_over_the_area_code() {
        let p = policy_for("+13055550100", Some("America/Los_Angeles"));
        assert_eq!(p.zones, vec![chrono_tz::America::Los_Angeles]);
    }

    /// 10,000 proactive sends to random NANP numbers at random times over a year (DST
    /// changes included), some to opted-out numbers, processed in arrival order: none goes
    /// out of its window (checked against the federal 8:00–21:00 and Florida's 8:00–20:00
    /// directly, not through the policy), none to an opted-out number, every deferred one
    /// has a later time, and no Florida number gets a fourth text on one subject in 24 h.
    #[test]
    fn ten_thousand_random_proactive_sends_respect_windows_caps_and_opt_outs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
        let area_codes: Vec<String> = tables().zones.keys().filter(|p| p.len() == 4).cloned().collect();
        let phones: Vec<String> = (0..1500)
            .map(|i| {
                let npa = if i % 50 == 0 {
                    "1861".to_string()
                } else {
                    area_codes[rng.random_range(0..area_codes.len())].clone()
                };
                format!("+{npa}555{:04}", rng.random_range(0..10_000))
            })
            .collect();
        let opted_out: Vec<bool> = phones.iter().map(|_| rng.random_bool(0.15)).collect();
        let year = utc(2026, 1, 1, 0, 0);
        let mut requests: Vec<(DateTime<Utc>, usize, String)> = (0..10_000)
            .map(|_| {
                let at = year + Duration::seconds(rng.random_range(0..365 * 86_400));
                (
                    at,
                    rng.random_range(0..phones.len()),
                    ["cart", "welcome", "reminder"][rng.random_range(0..3)].to_string(),
                )
            })
            .collect();
        requests.sort();
        let mut sent: HashMap<usize, Vec<(DateTime<Utc>, String)>> = HashMap::new();
        let (mut deferred, mut suppressed, mut outside, mut to_opted_out) = (0, 0, 0, 0);
        for (at, who, subject) in &requests {
            let phone = &phones[*who];
            let policy = policy_for(phone, None);
            let consent = if opted_out[*who] { Some(ConsentKind::OptOut) } else { Some(ConsentKind::OptIn) };
            let others = sent.get(who).cloned().unwrap_or_default();
            match decide(&policy, consent, *at, subject, &others) {
                ProactiveDecision::Suppress => suppressed += 1,
                ProactiveDecision::NeedsPerson => panic!("no time found for {phone} at {at}"),
                ProactiveDecision::SendAt(send_at) => {
                    assert!(send_at >= *at, "a deferred text is sent later, never earlier");
                    if send_at > *at {
                        deferred += 1;
                    }
                    to_opted_out += usize::from(opted_out[*who]);
                    for tz in &policy.zones {
                        let local = send_at.with_timezone(tz);
                        let florida = policy.rule.jurisdiction.contains("FL");
                        let (open, close) = if florida { (8, 20) } else { (8, 21) };
                        if local.hour() < open || local.hour() >= close {
                            outside += 1;
                        }
                    }
                    sent.entry(*who).or_default().push((send_at, subject.clone()));
                }
            }
        }
        assert_eq!(outside, 0, "sent outside the recipient's window");
        assert_eq!(to_opted_out, 0, "sent to an opted-out number");
        assert!(suppressed > 1000 && deferred > 1000, "suppressed {suppressed}, deferred {deferred}");
        // Florida: at most 3 per 24 h on one subject, whatever order the sends were scheduled in.
        for (who, list) in &sent {
            if !policy_for(&phones[*who], None).rule.jurisdiction.contains("FL") {
                continue;
            }
            for subject in ["cart", "welcome", "reminder"] {
                let mut times: Vec<_> = list.iter().filter(|(_, s)| s == subject).map(|(t, _)| *t).collect();
                times.sort();
                for w in times.windows(4) {
                    assert!(w[3] - w[0] >= Duration::hours(24), "{} got 4 '{subject}' texts within 24 h", phones[*who]);
                }
            }
        }
    }

    #[test]
    fn florida_caps_three_texts_a_day_on_one_subject() {
        let p = policy_for("+13055550100", None);
        let t0 = utc(2026, 11, 24, 15, 0);
        let history: Vec<(DateTime<Utc>, String)> =
            (0..3).map(|i| (t0 + Duration::hours(i), "cart".to_string())).collect();
        let next = p.schedule(t0 + Duration::hours(3), "cart", &history).unwrap();
        assert_eq!(next, t0 + Duration::hours(24), "the first send leaves the rolling 24 h");
        assert!(p.allows(next));
        assert_eq!(p.schedule(t0 + Duration::hours(3), "welcome", &history), Some(t0 + Duration::hours(3)));
    }

    #[test]
    fn federal_holidays_and_their_observed_days() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        for holiday in [
            d(2026, 11, 26), // Thanksgiving: 4th Thursday
            d(2026, 5, 25),  // Memorial Day: last Monday
            d(2026, 1, 19),  // MLK Day: 3rd Monday
            d(2026, 7, 3),   // Independence Day on a Saturday, observed Friday
            d(2027, 12, 31), // New Year's Day 2028 is a Saturday: observed the Friday before
            d(2028, 12, 25),
        ] {
            assert!(is_us_holiday(holiday), "{holiday}");
        }
        for ordinary in [d(2026, 11, 25), d(2026, 5, 18), d(2026, 12, 31)] {
            assert!(!is_us_holiday(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn alabama_gets_nothing_on_thanksgiving_and_florida_does() {
        // 205: Birmingham, Alabama (Central time). Thanksgiving 2026 at 12:00 local.
        let noon_thanksgiving = utc(2026, 11, 26, 18, 0);
        let alabama = policy_for("+12055550100", None);
        assert!(!alabama.allows(noon_thanksgiving));
        let next = alabama.next_allowed(noon_thanksgiving).unwrap();
        assert_eq!(next, utc(2026, 11, 27, 14, 0), "Friday 8:00 in Birmingham");
        assert!(policy_for("+13055550100", None).allows(noon_thanksgiving), "Florida has no holiday rule");
    }

    #[test]
    fn sends_recorded_just_after_now_still_count_against_the_cap() {
        // Three sends stamped 20 minutes ahead of the deciding clock (another replica's clock,
        // or a test's fixed clock): a fourth now would make four within 24 h.
        let p = policy_for("+13055550100", None);
        let now = utc(2026, 11, 24, 15, 0);
        let history: Vec<(DateTime<Utc>, String)> =
            (0..3).map(|i| (now + Duration::minutes(20 + i), "cart".to_string())).collect();
        let next = p.schedule(now, "cart", &history).unwrap();
        assert!(next >= now + Duration::hours(24), "deferred to {next}");
    }
}
