//! Planning a campaign (docs/campaigns.md, "Planning"): every member of its segment, page by
//! page, gets a send time at its local window (consent first, then quiet hours and state laws,
//! the caps, smart sending measured back from that time) or a skip with its reason; the dry
//! run's figures (SMS segments, cost, drain time) are summed on the way.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use super::campaign::{Campaign, Due, PAGE, render};
use super::segment::Segment;
use crate::compliance::quiet_hours;
use crate::domain::{ConsentKind, Phone, SendClass, ab, segments as sms_segments};
use crate::store::segments::{Member, members_page};
use crate::store::{Db, outbox};

/// What a composed text is counted as before it is written: one GSM-7 segment.
const COMPOSED_SAMPLE: &str = "a composed text";

/// The dry run's figures (and a created campaign's plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanSummary {
    pub segment: String,
    pub members: i64,
    pub planned: i64,
    /// Skipped members by reason.
    pub skipped: BTreeMap<String, i64>,
    pub segments_per_text: MinMax,
    pub total_segments: i64,
    pub estimated_cost: f64,
    pub currency: String,
    pub first_send_at: Option<DateTime<Utc>>,
    pub last_send_at: Option<DateTime<Utc>>,
    /// How long handing the planned texts over takes at the campaign's rate.
    pub drain_seconds: f64,
}

/// The fewest and most SMS segments of one recipient's text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MinMax {
    pub min: i64,
    pub max: i64,
}

/// What planning decided for one member.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub phone: String,
    pub customer_id: i64,
    /// The send time, or why the member is skipped.
    pub outcome: Result<DateTime<Utc>, String>,
    pub arm: Option<String>,
    pub segments: i64,
}

/// What planning needs besides the campaign.
pub struct Planner<'a> {
    pub db: &'a Db,
    pub now: DateTime<Utc>,
    /// `flows.smart_sending`.
    pub smart_sending: chrono::Duration,
    pub cost_per_segment: f64,
    pub currency: &'a str,
}

/// The reasons planning records (docs/campaigns.md, "Planning").
pub mod reason {
    pub const NO_MARKETING_CONSENT: &str = "no marketing consent: the number has not opted in";
    pub const OPTED_OUT: &str = "opted out";
    pub const ON_HOLD: &str = "on hold: a reviewer is deciding a possible opt-out";
    pub const NO_SEND_TIME: &str = "no allowed send time within two weeks";
    pub const SMART_SENDING: &str = "smart sending: a promotional text went out within the window";
    pub const EMPTY_TEXT: &str = "the text rendered empty";
}

impl<'a> Planner<'a> {
    /// A planner with the configured smart-sending window and price, at `now`.
    pub fn new(db: &'a Db, config: &'a crate::config::Config, now: DateTime<Utc>) -> Planner<'a> {
        Planner {
            db,
            now,
            smart_sending: config.smart_sending(),
            cost_per_segment: config.campaigns.cost_per_segment,
            currency: &config.campaigns.currency,
        }
    }

    /// Plans every member of `segment` for `campaign`, page by page; each page's decisions go
    /// to `page` (which saves them, or not in a dry run). Returns the figures.
    pub async fn plan<F, Fut>(&self, campaign: &Campaign, segment: &Segment, mut page: F) -> anyhow::Result<PlanSummary>
    where
        F: FnMut(Vec<Decision>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let filter = segment.filter(self.now);
        let mut env = minijinja::Environment::new();
        for v in campaign.variants.iter().filter(|v| !v.composed) {
            env.add_template(&v.name, &v.text)?;
        }
        let weights: Vec<u32> = campaign.variants.iter().map(|v| v.weight).collect();
        let subject = campaign.subject();
        let mut summary = PlanSummary {
            segment: segment.name.clone(),
            currency: self.currency.to_string(),
            segments_per_text: MinMax { min: i64::MAX, max: 0 },
            ..PlanSummary::default()
        };
        let mut after = 0;
        loop {
            let members = members_page(self.db, &filter, after, PAGE).await?;
            let Some(last) = members.last() else { break };
            after = last.customer_id;
            let mut decisions = Vec::with_capacity(members.len());
            for m in members {
                let consent = super::segment::settled_consent(self.db, &m).await?;
                // A released hold may give back an opt-out: the segment's consent filter again.
                if !super::segment::consent_holds(segment, consent) {
                    continue;
                }
                let history = match (m.proactive > 0, Phone::parse(&m.phone)) {
                    (true, Ok(p)) => outbox::proactive_history(self.db, &p, 0, self.now).await?,
                    _ => vec![],
                };
                // Outside a test pool, no arm yet: the dispatcher gives it when the text is due.
                let tested = match (&campaign.test, campaign.pool) {
                    (Some(t), Some(pool)) => pool.includes(&t.name, &m.phone),
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                let arm = campaign.test.as_ref().filter(|_| tested).map(|t| ab::assign(&t.name, &m.phone, &weights));
                let variant = &campaign.variants[arm.unwrap_or(0)];
                // A composed text is written when it is handed over: counted as the one segment
                // the writer is asked for.
                let body = match variant.composed {
                    true => COMPOSED_SAMPLE.to_string(),
                    false => render(&env, &variant.name, &m.phone, m.name.as_deref())?,
                };
                let segments = sms_segments::count_segments(&body).segments as i64;
                // The rest of a test pool wait for the test's result: their window, caps and
                // smart sending are measured at that later time.
                let delay = match campaign.pool {
                    Some(pool) if campaign.test.is_some() && !tested => pool.decide_after,
                    _ => chrono::Duration::zero(),
                };
                let outcome = if body.is_empty() {
                    Err(reason::EMPTY_TEXT.to_string())
                } else {
                    self.decide(campaign, &m, consent, &subject, &history, delay)
                };
                decisions.push(Decision {
                    phone: m.phone,
                    customer_id: m.customer_id,
                    outcome,
                    arm: arm.map(|_| variant.name.clone()),
                    segments,
                });
            }
            for d in &decisions {
                summary.members += 1;
                match &d.outcome {
                    Ok(at) => {
                        summary.planned += 1;
                        summary.total_segments += d.segments;
                        summary.segments_per_text.min = summary.segments_per_text.min.min(d.segments);
                        summary.segments_per_text.max = summary.segments_per_text.max.max(d.segments);
                        summary.first_send_at = Some(summary.first_send_at.map_or(*at, |f| f.min(*at)));
                        summary.last_send_at = Some(summary.last_send_at.map_or(*at, |l| l.max(*at)));
                    }
                    Err(why) => *summary.skipped.entry(why.clone()).or_default() += 1,
                }
            }
            page(decisions).await?;
        }
        if summary.planned == 0 {
            summary.segments_per_text.min = 0;
        }
        summary.estimated_cost = (summary.total_segments as f64 * self.cost_per_segment * 100.0).round() / 100.0;
        summary.drain_seconds = summary.planned as f64 / campaign.rate;
        Ok(summary)
    }

    /// The send time of one member, or why it gets no text (docs/campaigns.md, "Planning").
    fn decide(
        &self,
        campaign: &Campaign,
        m: &Member,
        consent: Option<ConsentKind>,
        subject: &str,
        history: &[(DateTime<Utc>, String)],
        delay: chrono::Duration,
    ) -> Result<DateTime<Utc>, String> {
        // TCPA: marketing texts need prior express written consent (47 CFR 64.1200(a)(2); CTIA
        // Messaging Principles §5.1); an opt-out ends everything but the confirmation
        // (47 CFR 64.1200(a)(10)); a possible opt-out holds proactive texts until decided.
        match (campaign.class, consent) {
            (_, Some(ConsentKind::OptOut)) => return Err(reason::OPTED_OUT.into()),
            (_, Some(ConsentKind::Hold)) => return Err(reason::ON_HOLD.into()),
            (SendClass::Promotional, Some(ConsentKind::OptIn)) | (SendClass::Transactional, _) => {}
            (SendClass::Promotional, _) => return Err(reason::NO_MARKETING_CONSENT.into()),
        }
        let policy = quiet_hours::policy_for(&m.phone, m.timezone.as_deref());
        let due = match campaign.due {
            Due::Now => self.now,
            Due::At(t) => t,
            Due::Local(local) => {
                policy.zones.iter().filter_map(|tz| local_instant(tz, local)).max().unwrap_or(self.now)
            }
        }
        .max(self.now)
            + delay;
        let at = policy.schedule(due, subject, history).ok_or_else(|| reason::NO_SEND_TIME.to_string())?;
        // Smart sending (Klaviyo's SMS default, 24 h): one promotional text per window.
        if campaign.class == SendClass::Promotional
            && m.last_promotional.is_some_and(|last| at - last < self.smart_sending)
        {
            return Err(reason::SMART_SENDING.into());
        }
        Ok(at)
    }
}

/// `local` in `tz`; a time skipped by a clock change is taken an hour later.
pub(super) fn local_instant(tz: &chrono_tz::Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(local + chrono::Duration::hours(1))).earliest())
        .map(|t| t.with_timezone(&Utc))
}
