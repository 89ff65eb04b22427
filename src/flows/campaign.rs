//! Campaigns (docs/campaigns.md): one text, or an A/B test of texts, to a segment. This file
//! reads and checks a campaign and plans it: every member of the segment once, with its send
//! time or the reason it is skipped (consent, quiet hours and caps, smart sending), and the
//! dry run's figures (counts, SMS segments, cost). [`super::dispatch`] then hands the planned
//! texts to the sender at the campaign's rate.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::file::{AbTest, Metric, Reply, Variant};
pub use super::planner::{Decision, MinMax, PlanSummary, Planner, reason};
use super::segment::Segment;
use crate::domain::{SendClass, ab};
use crate::store::Db;
use crate::store::campaigns::{self as store, NewRecipient};

/// Members read (and recipients written) per page: bounded memory for any segment size.
pub(super) const PAGE: i64 = 5_000;

/// A campaign as written (API JSON or a TOML file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    pub segment: String,
    /// `promotional` (the default) or `transactional`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestSpec>,
    /// RFC 3339: every text due then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// `2026-12-10T10:00`: due at that time in each recipient's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_time: Option<String>,
    /// Messages per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<Reply>,
    /// A goal the writer (the model or the offline responder) turns into each recipient's
    /// text when it is handed to the sender, under the reply guard (docs/flows.md, "Compose
    /// steps"): instead of `text` or `variants`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<String>,
}

/// One arm of a campaign's A/B test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    #[serde(default = "one")]
    pub weight: u32,
    /// The arm's text, or with `compose`, none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// A goal the arm's text is written from, for each recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<String>,
}

fn one() -> u32 {
    1
}

/// `test = { metric = "reply_rate", ends = "…" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    #[serde(default = "reply_rate")]
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<String>,
    /// The share of recipients in the test (`0.2`): the rest wait `decide_after`, then get
    /// the winner if the gate has called one, else their own arm. None: everyone is in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<f64>,
    /// How long after its own planned time the rest's text waits for the test (default 2h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_after: Option<String>,
}

/// A campaign's test pool: who is in the test, and how long the rest wait for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    /// The share of recipients in the test, above 0 and below 1.
    pub share: f64,
    pub decide_after: chrono::Duration,
}

impl Pool {
    /// True when `phone` is in the test of `test` (a stable hash: the same number is in or
    /// out of a test however often it is planned).
    pub fn includes(&self, test: &str, phone: &str) -> bool {
        let in_pool = (self.share * 10_000.0).round() as u32;
        ab::assign(&format!("{test}:pool"), phone, &[in_pool, 10_000 - in_pool]) == 0
    }
}

fn reply_rate() -> Metric {
    Metric::ReplyRate
}

/// When a campaign's texts are due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Due {
    Now,
    At(DateTime<Utc>),
    /// This local time in each recipient's zone.
    Local(NaiveDateTime),
}

/// A checked campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub name: String,
    pub segment: String,
    pub class: SendClass,
    /// One variant, or the A/B test's arms.
    pub variants: Vec<Variant>,
    /// The test, named `campaign:{name}`, when there are variants.
    pub test: Option<AbTest>,
    /// The test's pool, when only a share of the recipients is in it.
    pub pool: Option<Pool>,
    pub due: Due,
    pub rate: f64,
    pub replies: Vec<Reply>,
    /// The goal each recipient's text is written from (then `variants` holds one empty arm).
    pub compose: Option<String>,
    /// The spec as given, kept with the campaign.
    pub spec: CampaignSpec,
}

impl Campaign {
    /// The subject its texts are counted under by the caps, and the name of its runs.
    pub fn subject(&self) -> String {
        subject_of(&self.name)
    }
}

/// `campaign:{name}`: the subject of a campaign's texts, its test's and its runs' name.
pub fn subject_of(name: &str) -> String {
    format!("campaign:{name}")
}

impl CampaignSpec {
    /// Checks the spec; every problem as `field: why`.
    pub fn check(&self, default_rate: f64) -> Result<Campaign, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut problem = |field: &str, why: String| problems.push((field.to_string(), why));
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            problem("name", format!("letters, digits, _ and - only, got {:?}", self.name));
        }
        if self.segment.trim().is_empty() {
            problem("segment", "a segment's name is required".into());
        }
        let compose = self.compose.as_deref().map(str::trim).map(str::to_string);
        if compose.as_deref().is_some_and(str::is_empty) {
            problem("compose", "the goal is empty".into());
        }
        if compose.is_some() && (self.text.is_some() || !self.variants.is_empty()) {
            problem("compose", "give a text, variants or a compose goal: one of them".into());
        }
        let class = match self.class.as_deref() {
            None | Some("promotional") => SendClass::Promotional,
            Some("transactional") => SendClass::Transactional,
            Some(other) => {
                problem("class", format!("expected promotional or transactional, got {other:?}"));
                SendClass::Promotional
            }
        };
        let variants: Vec<Variant> = match (&self.text, self.variants.is_empty()) {
            (Some(text), true) => vec![Variant { name: "a".into(), weight: 1, text: text.clone(), composed: false }],
            (None, false) => self
                .variants
                .iter()
                .map(|v| match &v.compose {
                    Some(goal) => {
                        Variant { name: v.name.clone(), weight: v.weight, text: goal.trim().into(), composed: true }
                    }
                    None => Variant { name: v.name.clone(), weight: v.weight, text: v.text.clone(), composed: false },
                })
                .collect(),
            (Some(_), false) => {
                problem("text", "give text or variants, not both".into());
                vec![]
            }
            (None, true) => {
                if compose.is_none() {
                    problem("text", "a text, variants or a compose goal is required".into());
                }
                // A composed text: one arm, written per recipient.
                vec![Variant { name: "a".into(), weight: 1, text: compose.clone().unwrap_or_default(), composed: true }]
            }
        };
        let templates = minijinja::Environment::new();
        for (i, v) in variants.iter().enumerate() {
            let field = if self.variants.is_empty() { "text".to_string() } else { format!("variants[{i}]") };
            if let Some(spec) = self.variants.get(i)
                && spec.compose.is_some() != spec.text.is_empty()
            {
                problem(&field, "an arm has a text or a compose goal: one of them".into());
            }
            if v.composed {
                if v.text.is_empty() && compose.is_none() {
                    problem(&field, "the compose goal is empty".into());
                }
            } else if v.text.trim().is_empty() {
                problem(&field, "the text is empty".into());
            } else if let Err(e) = templates.template_from_str(&v.text) {
                problem(&field, format!("the template does not parse: {e}"));
            }
            // minijinja finds an unknown filter or method only when it renders: render once
            // for a sample customer, so such a text is refused now and not at each recipient.
            else if let Err(e) = render_for(&v.text, "+12025550100", Some("Sample Customer")) {
                problem(&field, format!("the template does not render: {e}"));
            }
            if v.weight == 0 {
                problem(&field, "weight must be at least 1".into());
            }
            if variants.iter().filter(|w| w.name == v.name).count() > 1 {
                problem(&field, format!("the variant name {:?} is used twice", v.name));
            }
        }
        for (i, r) in self.replies.iter().enumerate() {
            if crate::domain::flow::normalise(&r.pattern).is_empty() {
                problem(&format!("replies[{i}]"), "match must have a letter or digit".into());
            }
            if let Some(Err(e)) = r.text.as_deref().map(|t| render_for(t, "+12025550100", Some("Sample Customer"))) {
                problem(&format!("replies[{i}]"), format!("the template does not render: {e}"));
            }
        }
        let ends = match self.test.as_ref().and_then(|t| t.ends.as_deref()) {
            Some(t) => match DateTime::parse_from_rfc3339(t) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    problem("test", format!("ends: expected an RFC 3339 time, got {t:?}"));
                    None
                }
            },
            None => None,
        };
        if self.test.is_some() && self.variants.len() < 2 {
            problem("test", "an A/B test needs at least two variants".into());
        }
        let pool = match self.test.as_ref().and_then(|t| t.pool) {
            None => None,
            Some(share) if share > 0.0 && share < 1.0 => {
                let after = self.test.as_ref().and_then(|t| t.decide_after.as_deref()).unwrap_or("2h");
                match crate::domain::duration::parse(after) {
                    Ok(d) => Some(Pool { share, decide_after: chrono::Duration::from_std(d).unwrap_or_default() }),
                    Err(e) => {
                        problem("test", format!("decide_after: {e}"));
                        None
                    }
                }
            }
            Some(share) => {
                problem("test", format!("pool: a share above 0 and below 1 (0.2 for 20%), got {share}"));
                None
            }
        };
        if self.test.as_ref().is_some_and(|t| t.decide_after.is_some() && t.pool.is_none()) {
            problem("test", "decide_after belongs to a test with a pool".into());
        }
        let test = (self.variants.len() >= 2).then(|| AbTest {
            name: subject_of(&self.name),
            metric: self.test.as_ref().map_or(Metric::ReplyRate, |t| t.metric),
            ends,
        });
        let due = match (&self.send_at, &self.local_time) {
            (None, None) => Due::Now,
            (Some(at), None) => match DateTime::parse_from_rfc3339(at) {
                Ok(t) => Due::At(t.with_timezone(&Utc)),
                Err(_) => {
                    problem("send_at", format!("expected an RFC 3339 time with its offset, got {at:?}"));
                    Due::Now
                }
            },
            (None, Some(local)) => match parse_local(local) {
                Some(t) => Due::Local(t),
                None => {
                    problem(
                        "local_time",
                        format!("expected a local date and time such as 2026-12-10T10:00, got {local:?}"),
                    );
                    Due::Now
                }
            },
            (Some(_), Some(_)) => {
                problem("send_at", "give send_at or local_time, not both".into());
                Due::Now
            }
        };
        let rate = self.rate.unwrap_or(default_rate);
        if !(rate > 0.0 && rate.is_finite() && rate <= 10_000.0) {
            problem("rate", format!("expected messages per second above 0 and at most 10000, got {rate}"));
        } else if rate > default_rate {
            // The number cannot send faster than its throughput, whatever one campaign asks.
            problem(
                "rate",
                format!(
                    "{rate}/s is above campaigns.rate ({default_rate}/s), what the sending number sends: \
                     raise campaigns.rate for a toll-free number or a short code"
                ),
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Campaign {
            name: self.name.clone(),
            segment: self.segment.clone(),
            class,
            variants,
            test,
            pool,
            due,
            rate,
            replies: self.replies.clone(),
            compose,
            spec: self.clone(),
        })
    }
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// Why a campaign cannot be planned: its problems (`field`, why), or the store failing.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{}", .0.iter().map(|(f, why)| format!("{f}: {why}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Checks the spec and finds its segment (in `segments_dir` or the API's).
pub async fn resolve(
    db: &Db,
    segments_dir: &std::path::Path,
    spec: &CampaignSpec,
    default_rate: f64,
) -> Result<(Campaign, Segment), Refused> {
    let campaign = spec.check(default_rate).map_err(Refused::Invalid)?;
    match super::segment::find(db, segments_dir, &campaign.segment).await? {
        Some((segment, _)) => Ok((campaign, segment)),
        None => Err(Refused::Invalid(vec![("segment".into(), format!("names no segment: {:?}", campaign.segment))])),
    }
}

/// A recipient's text: the template over `customer` (`name`, `first_name`, `phone`), with
/// runs of spaces made one.
pub fn render(
    env: &minijinja::Environment<'_>,
    template: &str,
    phone: &str,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let name = name.unwrap_or_default();
    let vars = json!({
        "customer": {
            "name": name,
            "first_name": name.split_whitespace().next().unwrap_or_default(),
            "phone": phone,
        }
    });
    let text = env.get_template(template)?.render(minijinja::Value::from(minijinja::value::Serde(&vars)))?;
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// [`render`] for one text.
pub fn render_for(text: &str, phone: &str, name: Option<&str>) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("text", text)?;
    render(&env, "text", phone, name)
}

/// What creating a campaign can run into besides the store failing.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a campaign named {0:?} exists already")]
    NameTaken(String),
    #[error("campaign {0} was cancelled while it was being planned")]
    CancelledWhilePlanning(i64),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Creates the campaign: plans every member, saving each page, then schedules it. On an
/// error midway the campaign and its recipients are removed: nothing half-planned is sent.
pub async fn create(
    planner: &Planner<'_>,
    campaign: &Campaign,
    segment: &Segment,
) -> Result<(i64, PlanSummary), CreateError> {
    let definition = serde_json::to_string(&campaign.spec).map_err(anyhow::Error::from)?;
    let Some(id) =
        store::insert_campaign(planner.db, &campaign.name, &campaign.segment, &definition, campaign.rate, planner.now)
            .await?
    else {
        return Err(CreateError::NameTaken(campaign.name.clone()));
    };
    let planned = planner
        .plan(campaign, segment, |decisions| async move {
            let rows: Vec<NewRecipient> = decisions
                .into_iter()
                .map(|d| NewRecipient {
                    customer_id: d.customer_id,
                    phone: d.phone,
                    send_at_ms: d.outcome.as_ref().ok().map(|t| t.timestamp_millis()),
                    reason: d.outcome.err(),
                    arm: d.arm,
                    segments: d.segments,
                })
                .collect();
            store::insert_recipients(planner.db, id, &rows).await
        })
        .await;
    match planned {
        Ok(summary) => {
            if !store::finish_planning(planner.db, id, &summary_figures(&summary), planner.now).await? {
                return Err(CreateError::CancelledWhilePlanning(id));
            }
            Ok((id, summary))
        }
        Err(e) => {
            store::delete_campaign(planner.db, id).await?;
            Err(CreateError::Store(e))
        }
    }
}

fn summary_figures(s: &PlanSummary) -> store::Figures {
    store::Figures {
        members: s.members,
        planned: s.planned,
        total_segments: s.total_segments,
        estimated_cost: s.estimated_cost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::planner::local_instant;

    fn spec() -> CampaignSpec {
        CampaignSpec {
            name: "launch".into(),
            segment: "all".into(),
            text: Some("Hi".into()),
            ..CampaignSpec::default()
        }
    }

    fn fields(spec: CampaignSpec) -> Vec<String> {
        spec.check(1.0).err().unwrap_or_default().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_campaign_is_checked_field_by_field() {
        assert!(spec().check(1.0).is_ok());
        assert!(
            CampaignSpec { compose: Some("Tell them about the sale.".into()), text: None, ..spec() }.check(1.0).is_ok()
        );
        assert_eq!(fields(CampaignSpec { compose: Some("sell".into()), ..spec() }), ["compose"]);
        assert_eq!(fields(CampaignSpec { compose: Some(" ".into()), text: None, ..spec() }), ["compose"]);
        assert_eq!(fields(CampaignSpec { send_at: Some("tomorrow".into()), ..spec() }), ["send_at"]);
        assert_eq!(fields(CampaignSpec { local_time: Some("10am".into()), ..spec() }), ["local_time"]);
        assert_eq!(fields(CampaignSpec { rate: Some(0.0), ..spec() }), ["rate"]);
        assert_eq!(fields(CampaignSpec { text: Some("{{ customer.".into()), ..spec() }), ["text"]);
        assert_eq!(fields(CampaignSpec { class: Some("marketing".into()), ..spec() }), ["class"]);
        // minijinja finds an unknown method only when it renders.
        assert_eq!(fields(CampaignSpec { text: Some("{{ customer.first_name.shout() }}".into()), ..spec() }), ["text"]);
        let both = CampaignSpec {
            variants: vec![VariantSpec { name: "a".into(), weight: 1, text: "A".into(), compose: None }],
            ..spec()
        };
        assert_eq!(fields(both), ["text"]);
        let one_arm = CampaignSpec {
            text: None,
            variants: vec![VariantSpec { name: "a".into(), weight: 1, text: "A".into(), compose: None }],
            test: Some(TestSpec { metric: Metric::ReplyRate, ends: None, pool: None, decide_after: None }),
            ..spec()
        };
        assert_eq!(fields(one_arm), ["test"]);
    }

    #[test]
    fn variants_make_a_test_named_after_the_campaign() {
        let c = CampaignSpec {
            text: None,
            variants: vec![
                VariantSpec { name: "short".into(), weight: 1, text: "A".into(), compose: None },
                VariantSpec { name: "long".into(), weight: 3, text: "B".into(), compose: None },
            ],
            ..spec()
        }
        .check(1.0)
        .unwrap();
        assert_eq!(c.test.unwrap().name, "campaign:launch");
        assert_eq!(c.variants.iter().map(|v| v.weight).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(c.rate, 1.0, "the default rate");
    }

    #[test]
    fn a_local_time_skipped_by_the_clock_change_is_taken_an_hour_later() {
        let ny = chrono_tz::America::New_York;
        // 2027-03-14 02:30 does not exist in New York (clocks jump from 2:00 to 3:00 EDT).
        let gap = NaiveDateTime::parse_from_str("2027-03-14T02:30", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(local_instant(&ny, gap).unwrap().to_rfc3339(), "2027-03-14T07:30:00+00:00");
        let winter = NaiveDateTime::parse_from_str("2026-12-10T10:00", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(local_instant(&ny, winter).unwrap().to_rfc3339(), "2026-12-10T15:00:00+00:00");
    }
}
