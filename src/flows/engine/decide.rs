//! What a step decides: the A/B arm a customer gets, whether a branch's condition holds, and
//! the text a compose step's writer returns. The run itself is [`super`]'s.

use chrono::{DateTime, Utc};

use super::Engine;
use crate::domain::flow::{RunContext, normalise};
use crate::domain::{Phone, ab};
use crate::flows::branch::Condition;
use crate::flows::compose::{ComposeRequest, Composed};
use crate::flows::file::{AbTest, Variant};
use crate::store::ab as ab_store;
use crate::store::flows::{self as runs, RunRow};
use crate::store::{Tx, crm};

impl Engine {
    /// The arm of an A/B test this customer gets: the winner once there is one; else, once
    /// every arm has 500 recipients, the winner if the gate now passes; after the end date
    /// the leader; else the customer's own arm by the stable hash (`domain::ab`). With the
    /// arm, the reason when it is a winner decided now (the caller records it).
    pub(super) async fn arm(
        &self,
        test: &AbTest,
        variants: &[Variant],
        run_id: i64,
        phone: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(usize, Option<&'static str>)> {
        let index_of = |name: &str| variants.iter().position(|v| v.name == name);
        if let Some((arm, _, _)) = ab_store::winner(&self.db, &test.name).await?
            && let Some(i) = index_of(&arm)
        {
            return Ok((i, None));
        }
        let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
        let recipients = ab_store::recipients(&self.db, &test.name).await?;
        let ended = test.ends.is_some_and(|end| now >= end);
        let enough = names.iter().all(|n| recipients.get(*n).copied().unwrap_or(0) >= ab::MIN_RECIPIENTS_PER_ARM);
        // Once every arm has its 500, the gate is looked at for one run in 50 (it reads every
        // recipient's outcome), and at every send after the end date until decided.
        if ended || (enough && run_id % 50 == 0) {
            let standings = crate::flows::ab::standings(&self.db, test, variants).await?;
            let arms: Vec<ab::ArmCount> = standings.iter().map(|s| s.count).collect();
            let probabilities: Vec<f64> = standings.iter().map(|s| s.win_probability).collect();
            let decided = match ab::winner(&arms, &probabilities) {
                Some(i) => Some((i, "gate")),
                None if ended => Some((ab::leader(&arms, test.metric.lower_is_better()), "end date")),
                None => None,
            };
            if let Some((i, reason)) = decided {
                return Ok((i, Some(reason)));
            }
        }
        let weights: Vec<u32> = variants.iter().map(|v| v.weight).collect();
        Ok((ab::assign(&test.name, phone, &weights), None))
    }

    /// The compose step's text for this run, from the composer.
    pub(super) async fn compose(&self, run: &RunRow, goal: &str) -> anyhow::Result<Composed> {
        let Some(composer) = &self.composer else {
            return Ok(Composed::Refused("compose: no writer is configured".into()));
        };
        let phone = Phone::parse(&run.phone).map_err(|e| anyhow::anyhow!("flow run {}: {e}", run.id))?;
        let context: RunContext = serde_json::from_str(&run.context).unwrap_or_default();
        let request = ComposeRequest { flow: &run.flow, goal, phone: &phone, context: &context };
        composer.compose(&request).await
    }

    /// Whether a branch's condition holds for the run; `Err(reason)` ends the run (a segment
    /// that does not exist).
    pub(super) async fn holds(
        &self,
        tx: &mut Tx,
        c: &Condition,
        run: &RunRow,
        context: &RunContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<bool, String>> {
        if let Some(p) = &c.property
            && !p.holds(&context.event.properties)
        {
            return Ok(Ok(false));
        }
        if c.replied.is_some() || !c.reply.is_empty() {
            let reply = runs::latest_reply_to_run(tx, &run.phone, run.id, run.started_at).await?;
            if c.replied.is_some_and(|r| r != reply.is_some()) {
                return Ok(Ok(false));
            }
            if !c.reply.is_empty() && !reply.is_some_and(|r| c.reply.contains(&normalise(&r))) {
                return Ok(Ok(false));
            }
        }
        if let Some((name, key)) = &c.event
            && !self.event_came(tx, name, key.as_deref(), run, context).await?
        {
            return Ok(Ok(false));
        }
        if let Some(name) = &c.segment {
            let Some((segment, _)) = crate::flows::segment::find(&self.db, &self.segments_dir, name).await? else {
                return Ok(Err(format!("branch: no segment named {name:?}")));
            };
            if !self.in_segment(&segment, run, now).await? {
                return Ok(Ok(false));
            }
        }
        Ok(Ok(true))
    }

    /// True when the run's customer is in `segment` now, as a campaign would count them.
    async fn in_segment(
        &self,
        segment: &crate::flows::segment::Segment,
        run: &RunRow,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let id = match run.customer_id {
            Some(id) => Some(id),
            None => match Phone::parse(&run.phone) {
                Ok(phone) => crm::customer_by_phone(&self.db, &phone).await?.map(|c| c.id),
                Err(_) => None,
            },
        };
        let Some(id) = id else { return Ok(false) };
        let page = crate::store::segments::members_page(&self.db, &segment.filter(now), id - 1, 1).await?;
        match page.first().filter(|m| m.customer_id == id) {
            Some(member) => Ok(crate::flows::segment::consent_holds(
                segment,
                crate::flows::segment::settled_consent(&self.db, member).await?,
            )),
            None => Ok(false),
        }
    }
}
