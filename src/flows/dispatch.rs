//! The campaign dispatcher: hands each campaign's planned texts to the sender in order of
//! planned time, none before its time, at most the campaign's `rate` per second, and all
//! campaigns together at most the sending number's (`campaigns.rate`): two token buckets,
//! each holding at most one second of sends, plus one. A US long code sends one segment a
//! second ("a US long code number can send one message segment per second", Twilio error
//! 21611); faster numbers set their own rate. Campaigns share the number oldest first.
//!
//! Handing a text over writes, in one transaction: the recipient's `queued` mark, a
//! `Campaign Text Queued` event (flows and segments can use it), a finished run named
//! `campaign:{name}` holding the reply menu (so a reply is answered like a flow's, by
//! `pipeline::flow_reply`), and the outbox row with its send job. The sender then checks
//! consent, quiet hours, caps and smart sending again when the job runs.
//!
//! One dispatcher per deployment: two would each send at the rate (the `planned` → `queued`
//! update keeps a text from being handed over twice, not the rate).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::campaign::{Campaign, CampaignSpec, render_for, subject_of};
use super::compose::{ComposeRequest, Composed, Composer};
use crate::clock::Clock;
use crate::compliance::quiet_hours;
use crate::domain::flow::{EventContext, Menu, MenuChoice, RunContext, normalise};
use crate::domain::{OutboxKind, Phone};
use crate::jobs::Waker;
use crate::sms::outbound::{OutboundText, queue_text_at};
use crate::store::campaigns::{self as store, CampaignRow, RecipientRow, status};
use crate::store::commerce::{NewEvent, insert_event};
use crate::store::flows::{self as runs, NewRun};
use crate::store::{Db, conversations, crm};

/// How often the dispatcher looks for due texts.
const TICK: Duration = Duration::from_millis(100);

/// How often a test pool without a winner is weighed again while the rest are due.
const POOL_RECHECK: Duration = Duration::from_secs(10);

/// The event recorded when a campaign's text is handed to the sender.
pub const QUEUED_EVENT: &str = "Campaign Text Queued";

/// Hands campaigns' texts to the sender.
pub struct Dispatcher {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub max_attempts: i32,
    pub waker: Waker,
    /// Writes the texts of campaigns with a compose goal (`None`: they are skipped, saying so).
    pub composer: Option<Arc<dyn Composer>>,
    /// The sending number's bucket, shared by the campaigns.
    sender: Bucket,
    /// Hand every due text over, whatever the rates (`flows simulate`: it reports planned
    /// times on a virtual clock, where real-time buckets mean nothing).
    unlimited: bool,
    /// When each campaign's test pool was last weighed without a winner (the standings read
    /// every recipient's outcome: at most once per [`POOL_RECHECK`]).
    pool_checked: HashMap<i64, Instant>,
    /// Per active campaign: sends allowed now, when that was counted, and the campaign as
    /// checked (its definition does not change once created: read and checked once).
    served: HashMap<i64, Served>,
}

struct Served {
    bucket: Bucket,
    campaign: Arc<Campaign>,
}

/// Sends allowed now at `rate` per second: at most a second of sends plus one banked (the
/// fraction a late tick leaves over is kept: capping at exactly one second's worth lost it,
/// and 1/s ran at 0.95/s).
struct Bucket {
    rate: f64,
    tokens: f64,
    counted: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket { rate, tokens: 1.0, counted: Instant::now() }
    }

    /// Refills for the time since the last count; the whole sends allowed now.
    fn refill(&mut self, now: Instant) -> i64 {
        self.tokens =
            (self.tokens + self.rate * now.duration_since(self.counted).as_secs_f64()).min(self.rate.max(1.0) + 1.0);
        self.counted = now;
        self.tokens.floor() as i64
    }
}

impl Dispatcher {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        max_attempts: i32,
        waker: Waker,
        composer: Option<Arc<dyn Composer>>,
        sender_rate: f64,
    ) -> Dispatcher {
        Dispatcher {
            db,
            clock,
            max_attempts,
            waker,
            composer,
            sender: Bucket::new(sender_rate),
            unlimited: false,
            pool_checked: HashMap::new(),
            served: HashMap::new(),
        }
    }

    /// A dispatcher for `flows simulate`: every text due on the virtual clock is handed over
    /// at once, whatever the rates.
    pub fn unlimited(db: Db, clock: Arc<dyn Clock>, composer: Option<Arc<dyn Composer>>) -> Dispatcher {
        Dispatcher { unlimited: true, ..Dispatcher::new(db, clock, 5, Waker::default(), composer, 1.0) }
    }

    /// Runs until `cancel` fires.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            if let Err(e) = self.tick().await {
                warn!(error = %e, "campaign dispatch failed; trying again");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// One pass over the active campaigns; how many texts were handed over. A campaign that
    /// fails (its database writes, say) is logged and left for the next pass; the others go on.
    pub async fn tick(&mut self) -> anyhow::Result<usize> {
        let active = store::active(&self.db).await?;
        self.served.retain(|id, _| active.iter().any(|c| c.id == *id));
        self.sender.refill(Instant::now());
        let mut handed = 0;
        for c in active {
            match self.serve(&c).await {
                Ok(n) => handed += n,
                Err(e) => warn!(campaign = c.id, error = %e, "campaign dispatch failed; trying again"),
            }
        }
        Ok(handed)
    }

    /// Hands over what the campaign's rate allows now.
    async fn serve(&mut self, c: &CampaignRow) -> anyhow::Result<usize> {
        let now = Instant::now();
        let served = match self.served.entry(c.id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let spec: CampaignSpec = serde_json::from_str(&c.definition)?;
                let campaign =
                    spec.check(c.rate).map_err(|p| anyhow::anyhow!("campaign {} no longer checks: {p:?}", c.id))?;
                e.insert(Served { bucket: Bucket::new(c.rate), campaign: Arc::new(campaign) })
            }
        };
        let allowed = match self.unlimited {
            true => i64::from(i32::MAX),
            false => served.bucket.refill(now).min(self.sender.tokens.floor() as i64),
        };
        let campaign = served.campaign.clone();
        if allowed == 0 {
            return Ok(0);
        }
        // Planned times are on this clock (a test's fixed clock, or the system's).
        let due = store::due_recipients(&self.db, c.id, self.clock.now().timestamp_millis(), allowed).await?;
        if due.is_empty() {
            self.finish_if_done(c).await?;
            return Ok(0);
        }
        if c.status == status::SCHEDULED {
            store::set_status(&self.db, c.id, &[status::SCHEDULED], status::SENDING, self.clock.now()).await?;
        }
        // The rest of a test pool come due after the test: its winner, once per pass.
        let winner = match (&campaign.test, campaign.pool) {
            (Some(_), Some(_)) if due.iter().any(|r| r.arm.is_none()) => self.pool_winner(c.id, &campaign).await?,
            _ => None,
        };
        let due: Vec<RecipientRow> = due.iter().map(|r| self.arm_of(&campaign, r, winner.as_deref())).collect();
        // Composed texts are written before the hand-overs, the batch's all at once (the
        // model's calls overlap; its client bounds them), outside any transaction.
        // Only for recipients whose window is open now (the others are postponed unwritten);
        // a write that fails leaves its recipient planned for the next pass, not the batch.
        let written: Vec<Option<Composed>> = futures_util::future::join_all(due.iter().map(|r| async {
            let v = variant_of(&campaign, r);
            if !v.composed || self.recipient(r).await.ok().and_then(|(_, _, opens)| opens).is_some() {
                return None;
            }
            match self.write(c, &v.text, r).await {
                Ok(written) => Some(written),
                Err(e) => {
                    warn!(campaign = c.id, recipient = r.id, error = %e, "campaign text not written; trying again");
                    None
                }
            }
        }))
        .await;
        let mut handed = 0;
        for (r, written) in due.iter().zip(written) {
            match self.hand_over(c, &campaign, r, written).await? {
                Handover::Handed => handed += 1,
                // Its window closed meanwhile: it waits, planned, without using the rate.
                Handover::Postponed | Handover::Unwritten => continue,
                Handover::Skipped | Handover::Gone => {}
            }
            if let Some(served) = self.served.get_mut(&c.id) {
                served.bucket.tokens -= 1.0;
            }
            self.sender.tokens -= 1.0;
        }
        self.waker.wake();
        if (due.len() as i64) < allowed {
            self.finish_if_done(c).await?;
        }
        Ok(handed)
    }

    /// The winner of a campaign's test, for the rest of its pool: the one called already;
    /// else the gate's (every arm 500 recipients, one at 90% win probability, Klaviyo's);
    /// else, once `test.ends` has passed, the leader; else none (the test goes on, and each
    /// of the rest gets its own arm).
    async fn pool_winner(&mut self, id: i64, campaign: &Campaign) -> anyhow::Result<Option<String>> {
        let Some(test) = &campaign.test else { return Ok(None) };
        if let Some((arm, _, _)) = crate::store::ab::winner(&self.db, &test.name).await? {
            return Ok(Some(arm));
        }
        let now = self.clock.now();
        let ended = test.ends.is_some_and(|end| now >= end);
        if !ended && self.pool_checked.get(&id).is_some_and(|at| at.elapsed() < POOL_RECHECK) {
            return Ok(None);
        }
        self.pool_checked.insert(id, Instant::now());
        let standings = super::ab::standings(&self.db, test, &campaign.variants).await?;
        let arms: Vec<crate::domain::ab::ArmCount> = standings.iter().map(|s| s.count).collect();
        let probabilities: Vec<f64> = standings.iter().map(|s| s.win_probability).collect();
        let decided = match crate::domain::ab::winner(&arms, &probabilities) {
            Some(i) => Some((i, "gate")),
            None if test.ends.is_some_and(|end| now >= end) => {
                Some((crate::domain::ab::leader(&arms, test.metric.lower_is_better()), "end date"))
            }
            None => None,
        };
        let Some((i, reason)) = decided else { return Ok(None) };
        let mut tx = self.db.begin().await?;
        let arm = crate::store::ab::set_winner(&mut tx, &test.name, &campaign.variants[i].name, reason, now).await?;
        tx.commit().await?;
        info!(test = %test.name, arm = %arm, reason, "campaign test decided");
        Ok(Some(arm))
    }

    /// The recipient with its arm: its own (in the test pool, or without a test), else the
    /// winner, else the arm its number hashes to.
    fn arm_of(&self, campaign: &Campaign, r: &RecipientRow, winner: Option<&str>) -> RecipientRow {
        let mut r = r.clone();
        if let (None, Some(test)) = (&r.arm, &campaign.test) {
            let arm = winner.map(str::to_string).unwrap_or_else(|| {
                let weights: Vec<u32> = campaign.variants.iter().map(|v| v.weight).collect();
                campaign.variants[crate::domain::ab::assign(&test.name, &r.phone, &weights)].name.clone()
            });
            r.arm = Some(arm);
        }
        r
    }

    /// The recipient's number, its customer, and when its window opens if it is closed now
    /// (quiet hours at its local time, state laws included). No allowed time within two weeks
    /// counts as open: the sender then escalates the text to a person.
    async fn recipient(
        &self,
        r: &RecipientRow,
    ) -> anyhow::Result<(Phone, Option<crm::CustomerRow>, Option<chrono::DateTime<chrono::Utc>>)> {
        let phone = Phone::parse(&r.phone).map_err(|e| anyhow::anyhow!("campaign recipient {}: {e}", r.id))?;
        let customer = crm::customer_by_phone(&self.db, &phone).await?;
        let policy = quiet_hours::policy_for(phone.as_str(), customer.as_ref().and_then(|c| c.timezone.as_deref()));
        let now = self.clock.now();
        let opens = policy.next_allowed(now).filter(|at| *at > now);
        Ok((phone, customer, opens))
    }

    /// A composed text for recipient `r` of campaign `c`, from `goal`.
    async fn write(&self, c: &CampaignRow, goal: &str, r: &RecipientRow) -> anyhow::Result<Composed> {
        let Some(composer) = &self.composer else {
            return Ok(Composed::Refused("compose: no writer is configured".into()));
        };
        let phone = Phone::parse(&r.phone).map_err(|e| anyhow::anyhow!("campaign recipient {}: {e}", r.id))?;
        let properties = json!({ "campaign": c.name, "arm": r.arm });
        let context = RunContext {
            event: EventContext { name: QUEUED_EVENT.into(), properties, occurred_at: self.clock.now().to_rfc3339() },
        };
        let flow = subject_of(&c.name);
        composer.compose(&ComposeRequest { flow: &flow, goal, phone: &phone, context: &context }).await
    }

    /// Marks the campaign done once no recipient is left planned.
    async fn finish_if_done(&self, c: &CampaignRow) -> anyhow::Result<()> {
        if !store::any_planned(&self.db, c.id).await?
            && store::set_status(&self.db, c.id, &[status::SCHEDULED, status::SENDING], status::DONE, self.clock.now())
                .await?
        {
            info!(campaign = c.id, "campaign done");
        }
        Ok(())
    }

    /// Hands one recipient's text to the sender, unless its window is closed now (quiet hours
    /// at its local time: it is postponed to the opening, so texts deferred overnight do not
    /// all reach the provider at once when the window opens), or its text does not render.
    async fn hand_over(
        &self,
        c: &CampaignRow,
        campaign: &Campaign,
        r: &RecipientRow,
        written: Option<Composed>,
    ) -> anyhow::Result<Handover> {
        let (phone, customer, opens) = self.recipient(r).await?;
        if let Some(at) = opens {
            store::postpone(&self.db, r.id, at.timestamp_millis()).await?;
            return Ok(Handover::Postponed);
        }
        let name = customer.as_ref().and_then(|c| c.name.clone());
        let variant = variant_of(campaign, r);
        let body = match written {
            Some(Composed::Text(text)) => Ok(text),
            Some(Composed::Refused(reason)) => {
                warn!(campaign = c.id, recipient = r.id, %reason, "campaign text not written");
                store::skip(&self.db, r.id, &reason).await?;
                return Ok(Handover::Skipped);
            }
            // A goal is never rendered as a template: its text waits for the next pass.
            None if variant.composed => return Ok(Handover::Unwritten),
            None => render_for(&variant.text, phone.as_str(), name.as_deref()),
        };
        let rendered = body.and_then(|body| {
            let choices = campaign
                .replies
                .iter()
                .map(|reply| {
                    Ok(MenuChoice {
                        pattern: normalise(&reply.pattern),
                        text: reply
                            .text
                            .as_deref()
                            .map(|t| render_for(t, phone.as_str(), name.as_deref()))
                            .transpose()?,
                        event: reply.event.clone(),
                        handoff: reply.handoff,
                        opt_in: reply.opt_in,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((body, choices))
        });
        let (body, choices) = match rendered {
            Ok(rendered) => rendered,
            Err(e) => {
                let reason = format!("the text did not render: {e}");
                warn!(campaign = c.id, recipient = r.id, %reason, "campaign text skipped");
                store::skip(&self.db, r.id, &reason).await?;
                return Ok(Handover::Skipped);
            }
        };
        let class = campaign.class;
        let now = self.clock.now();
        let flow = subject_of(&c.name);
        let mut tx = self.db.begin().await?;
        if !store::mark_queued(&mut tx, r.id).await? {
            return Ok(Handover::Gone);
        }
        let customer_id = match customer {
            Some(c) => c.id,
            None => crm::ensure_customer(&mut tx, &phone).await?,
        };
        let properties = json!({ "campaign": c.name, "arm": r.arm });
        let event_id = format!("campaign:{}:{}", c.id, r.id);
        let properties_text = properties.to_string();
        let event = insert_event(
            &mut tx,
            &NewEvent {
                event_id: &event_id,
                name: QUEUED_EVENT,
                source: "campaign",
                customer_id: Some(customer_id),
                phone: Some(phone.as_str()),
                email: None,
                properties: &properties_text,
                occurred_at: now,
            },
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("campaign recipient {} was handed over before", r.id))?;
        let context =
            RunContext { event: EventContext { name: QUEUED_EVENT.into(), properties, occurred_at: now.to_rfc3339() } };
        let context_text = serde_json::to_string(&context)?;
        let run = runs::insert_run(
            &mut tx,
            &NewRun {
                flow: &flow,
                trigger_event: event,
                customer_id: Some(customer_id),
                phone: phone.as_str(),
                context: &context_text,
                status: runs::status::DONE,
                reason: None,
                at: now,
            },
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("campaign recipient {} has a run already", r.id))?;
        let menu = (!choices.is_empty()).then(|| Menu { text: body.clone(), choices });
        runs::set_menu(&mut tx, run, menu.as_ref().map(crate::store::json_text).as_deref()).await?;
        let conversation_id = conversations::ensure_conversation(&mut tx, &phone, customer_id).await?;
        let text = OutboundText {
            conversation_id,
            to_phone: &phone,
            body: &body,
            kind: OutboxKind::Proactive,
            subject: Some(&flow),
            in_reply_to: None,
            flow_run_id: Some(run),
            class: Some(class),
            send_by: None,
            media_url: None,
        };
        let outbox_id = queue_text_at(&mut tx, &text, self.max_attempts, self.clock.queue_ms(now)).await?;
        if let (Some(id), Some(arm)) = (outbox_id, r.arm.as_deref()) {
            crate::store::ab::tag_outbox(&mut tx, id, &flow, arm).await?;
        }
        store::set_outbox(&mut tx, r.id, outbox_id).await?;
        if let Some(arm) = r.arm.as_deref().filter(|_| campaign.pool.is_some()) {
            store::set_arm(&mut tx, r.id, arm).await?;
        }
        tx.commit().await?;
        Ok(Handover::Handed)
    }
}

/// The recipient's arm of the campaign (the first when it has none).
fn variant_of<'a>(campaign: &'a Campaign, r: &RecipientRow) -> &'a super::file::Variant {
    campaign.variants.iter().find(|v| Some(v.name.as_str()) == r.arm.as_deref()).unwrap_or(&campaign.variants[0])
}

/// What became of a recipient the dispatcher took.
enum Handover {
    /// Its text is with the sender.
    Handed,
    /// Its window is closed now: planned again for the opening.
    Postponed,
    /// Its text did not render, or the writer refused it: skipped with the reason.
    Skipped,
    /// Its text is written by the writer and was not (its window was closed when the batch
    /// was written, or the writer failed): it stays planned for the next pass.
    Unwritten,
    /// No longer planned (cancelled, handed over by another dispatcher) or the campaign paused.
    Gone,
}
