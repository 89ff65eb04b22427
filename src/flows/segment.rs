//! Segments (docs/campaigns.md): named sets of customers defined by conditions over what the
//! store knows. A segment is a TOML file in `segments.dir` or JSON sent to the API; both read
//! into [`Segment`], which [`Segment::filter`] turns into the store's query at a given time.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::file::FlowError;
use crate::compliance::quiet_hours;
use crate::domain::duration;
use crate::store::segments::{ConsentFilter, Filter};

/// A segment as written: every condition optional, all of them must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `opted_in`, `not_opted_out` (the default) or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bought: Option<Bought>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_spent: Option<Spent>,
    /// A date (`2026-06-01`) or an RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_order_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replied_within: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub area_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in_flow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventCondition>,
}

/// `bought = { category = "Women's Shoes", within = "90d" }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bought {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// `total_spent = { at_least = 100, below = 500 }`, in the store's currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
}

/// `event = { name = "Viewed Product", within = "30d" }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCondition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

impl Segment {
    /// Every problem with the segment's values (empty: it is usable).
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            problems.push(format!("name: letters, digits, _ and - only, got {:?}", self.name));
        }
        if let Some(c) = &self.consent
            && !["opted_in", "not_opted_out", "any"].contains(&c.as_str())
        {
            problems.push(format!("consent: expected opted_in, not_opted_out or any, got {c:?}"));
        }
        let mut duration = |key: &str, d: &Option<String>| {
            if let Some(d) = d
                && let Err(e) = duration::parse(d)
            {
                problems.push(format!("{key}: {e}"));
            }
        };
        duration("bought.within", &self.bought.as_ref().and_then(|b| b.within.clone()));
        duration("replied_within", &self.replied_within);
        duration("event.within", &self.event.as_ref().and_then(|e| e.within.clone()));
        if let Some(t) = &self.last_order_before
            && let Err(e) = parse_time(t)
        {
            problems.push(format!("last_order_before: {e}"));
        }
        if let Some(s) = &self.total_spent
            && [s.at_least, s.below].iter().flatten().any(|v| !v.is_finite() || *v < 0.0)
        {
            problems.push("total_spent: amounts must be numbers of at least 0".into());
        }
        for code in &self.area_codes {
            if code.len() != 3 || !code.chars().all(|c| c.is_ascii_digit()) {
                problems.push(format!("area_codes: expected three digits, got {code:?}"));
            }
        }
        for state in &self.states {
            if quiet_hours::area_codes_of(state).is_empty() {
                problems.push(format!("states: {state:?} is not a US state code with area codes"));
            }
        }
        if self.event.as_ref().is_some_and(|e| e.name.trim().is_empty()) {
            problems.push("event.name: must not be empty".into());
        }
        problems
    }

    /// The store's query for this segment evaluated at `now`. Call [`Segment::check`] first:
    /// values it reports are ignored here.
    pub fn filter(&self, now: DateTime<Utc>) -> Filter {
        let ago = |d: &Option<String>| {
            d.as_deref()
                .and_then(|d| duration::parse(d).ok())
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now - d)
        };
        let mut area_codes = self.area_codes.clone();
        // `states` and `area_codes` together: the number must be in both.
        let state_codes: Vec<String> = self.states.iter().flat_map(|s| quiet_hours::area_codes_of(s)).collect();
        if !self.states.is_empty() {
            area_codes = if area_codes.is_empty() {
                state_codes
            } else {
                area_codes.into_iter().filter(|c| state_codes.contains(c)).collect()
            };
            if area_codes.is_empty() {
                // No number can be in both: a code that matches nothing.
                area_codes.push("none".into());
            }
        }
        Filter {
            consent: match self.consent.as_deref() {
                Some("opted_in") => ConsentFilter::OptedIn,
                Some("any") => ConsentFilter::Any,
                _ => ConsentFilter::NotOptedOut,
            },
            bought: self.bought.as_ref().map(|b| (b.category.clone(), ago(&b.within))),
            spent_at_least_cents: self.total_spent.as_ref().and_then(|s| s.at_least).map(to_cents),
            spent_below_cents: self.total_spent.as_ref().and_then(|s| s.below).map(to_cents),
            last_order_before: self.last_order_before.as_deref().and_then(|t| parse_time(t).ok()),
            replied_since: ago(&self.replied_within),
            area_codes,
            in_flow: self.in_flow.clone(),
            not_in_flow: self.not_in_flow.clone(),
            event: self.event.as_ref().map(|e| (e.name.clone(), ago(&e.within))),
        }
    }
}

fn to_cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

/// A date (midnight UTC) or an RFC 3339 time.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("expected a date (2026-06-01) or an RFC 3339 time, got {text:?}"))
}

/// Reads and checks a segment file; its problems, each with its line.
pub fn parse(file: &Path, text: &str) -> Result<Segment, Vec<FlowError>> {
    let error = |line: usize, message: String| FlowError { file: file.to_path_buf(), line, message };
    let segment: Segment = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        vec![error(line, e.message().to_string())]
    })?;
    let problems = segment.check();
    if problems.is_empty() {
        return Ok(segment);
    }
    Err(problems
        .into_iter()
        .map(|p| {
            // The line of the key the problem names.
            let key = p.split([':', '.']).next().unwrap_or_default();
            let line = text.lines().position(|l| l.trim_start().starts_with(key)).map_or(1, |i| i + 1);
            error(line, p)
        })
        .collect())
}

/// Every `*.toml` segment in `dir`, in file-name order, and every problem. A missing folder
/// has no segments.
pub fn load_dir(dir: &Path) -> anyhow::Result<(Vec<Segment>, Vec<FlowError>)> {
    let (mut segments, mut errors) = (Vec::<Segment>::new(), Vec::new());
    for (file, text) in super::file::toml_files(dir, "segments")? {
        match parse(&file, &text) {
            Ok(s) if segments.iter().any(|x| x.name == s.name) => errors.push(FlowError {
                file: file.clone(),
                line: 1,
                message: format!("the segment name {:?} is used twice", s.name),
            }),
            Ok(s) => segments.push(s),
            Err(mut found) => errors.append(&mut found),
        }
    }
    Ok((segments, errors))
}

/// Where a segment is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    File,
    Api,
}

/// Every segment: the folder's (files with errors left out), then the API's not named by a
/// file (a file wins).
pub async fn all(db: &crate::store::Db, dir: &Path) -> anyhow::Result<Vec<(Segment, Source)>> {
    let (files, errors) = load_dir(dir)?;
    for e in &errors {
        tracing::warn!(error = %e, "segment file left out");
    }
    let mut out: Vec<(Segment, Source)> = files.into_iter().map(|s| (s, Source::File)).collect();
    for (name, json) in crate::store::segments::stored_segments(db).await? {
        if out.iter().any(|(s, _)| s.name == name) {
            continue;
        }
        match serde_json::from_str::<Segment>(&json) {
            Ok(s) => out.push((s, Source::Api)),
            Err(e) => tracing::warn!(segment = %name, error = %e, "stored segment unreadable"),
        }
    }
    Ok(out)
}

/// The segment named `name`, from the folder or the API.
pub async fn find(db: &crate::store::Db, dir: &Path, name: &str) -> anyhow::Result<Option<(Segment, Source)>> {
    Ok(all(db, dir).await?.into_iter().find(|(s, _)| s.name == name))
}

/// How many customers are in the segment now (consent after a released hold settled, as
/// planning does).
pub async fn count(db: &crate::store::Db, segment: &Segment, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let filter = segment.filter(now);
    let (mut after, mut n) = (0, 0);
    loop {
        let page = crate::store::segments::members_page(db, &filter, after, 10_000).await?;
        let Some(last) = page.last() else { return Ok(n) };
        after = last.customer_id;
        for m in &page {
            if consent_holds(segment, settled_consent(db, m).await?) {
                n += 1;
            }
        }
    }
}

/// A member's consent as it holds: the latest ledger entry, except that a released hold gives
/// back the entry before it (one more lookup, only for those members).
pub async fn settled_consent(
    db: &crate::store::Db,
    m: &crate::store::segments::Member,
) -> anyhow::Result<Option<crate::domain::ConsentKind>> {
    match m.consent {
        Some(crate::domain::ConsentKind::HoldReleased) => match crate::domain::Phone::parse(&m.phone) {
            Ok(p) => crate::store::consent::settled_consent(db, &p).await,
            Err(_) => Ok(None),
        },
        other => Ok(other),
    }
}

/// True when a member's settled consent passes the segment's consent condition.
pub fn consent_holds(segment: &Segment, consent: Option<crate::domain::ConsentKind>) -> bool {
    use crate::domain::ConsentKind;
    match segment.consent.as_deref() {
        Some("opted_in") => consent == Some(ConsentKind::OptIn),
        Some("any") => true,
        _ => !matches!(consent, Some(ConsentKind::OptOut | ConsentKind::Hold)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_file_reads_and_its_errors_have_lines() {
        let ok = "name = \"fl\"\nconsent = \"opted_in\"\nbought = { category = \"Women's Shoes\", within = \"90d\" }\nstates = [\"FL\"]\n";
        let s = parse(Path::new("fl.toml"), ok).unwrap();
        assert_eq!(s.bought.unwrap().category.as_deref(), Some("Women's Shoes"));
        let bad = "name = \"fl\"\nconsent = \"yes\"\nreplied_within = \"soon\"\n";
        let errors = parse(Path::new("fl.toml"), bad).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3], "{errors:?}");
        let unknown = parse(Path::new("fl.toml"), "name = \"fl\"\n\nspent = 3\n").unwrap_err();
        assert_eq!(unknown[0].line, 3, "{unknown:?}");
    }

    #[test]
    fn states_become_their_area_codes_and_meet_area_codes() {
        let now = Utc::now();
        let fl = Segment { name: "x".into(), states: vec!["FL".into()], ..Default::default() };
        assert!(fl.filter(now).area_codes.contains(&"305".to_string()));
        let both = Segment { area_codes: vec!["212".into(), "305".into()], ..fl.clone() };
        assert_eq!(both.filter(now).area_codes, ["305"]);
        let none = Segment { area_codes: vec!["212".into()], ..fl };
        assert_eq!(none.filter(now).area_codes, ["none"]);
    }
}
