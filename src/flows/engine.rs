//! Running flows: a stored event starts runs (entry limits checked) and ends waiting ones
//! (exits matched by key); each run's steps run in a job, and each wait is the due time of the
//! job for the step after it. Everything a step does (its texts, the next step's job, the
//! run's new step) commits in one transaction with the job's completion, so a `kill -9`
//! anywhere repeats a step at most in full and never half: the run's step is the fence.
//!
//! Sending is the sender's business: a flow's text is an outbox row with the flow's class,
//! and the sender checks marketing consent, smart sending, quiet hours and caps when it is
//! due (`sms::sender`), recording every skip with its reason on the row.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use super::file::{AbTest, Flow, Step, Variant, WaitFor};
use super::set::FlowSet;
use crate::clock::Clock;
use crate::domain::flow::{EventContext, Menu, MenuChoice, RunContext, normalise};
use crate::domain::{ConsentKind, OutboxKind, Phone, ab, duration};
use crate::jobs::{KIND_FLOW_STEP, Waker};
use crate::sms::outbound::{OutboundText, queue_text_at};
use crate::store::ab as ab_store;
use crate::store::commerce::EventRow;
use crate::store::flows::{self as runs, NewRun, Next, RunRow, status};
use crate::store::jobs::{self, JobRow, complete_job, enqueue_job_at};
use crate::store::{Db, Tx, commerce, consent, conversations, crm};

/// The payload of a `flow_step` job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StepJob {
    pub run: i64,
    pub step: i32,
}

/// Runs flows.
pub struct Engine {
    pub db: Db,
    pub flows: Arc<FlowSet>,
    /// What time it is (a virtual clock in `flows simulate`).
    pub clock: Arc<dyn Clock>,
    /// Attempts of the jobs it queues.
    pub max_attempts: i32,
    /// Woken when a step queued a text or a step due now.
    pub waker: Waker,
}

/// What one event did to the flows, for logs and `flows simulate`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EventOutcome {
    /// Runs started: `(flow, run id)`.
    pub entered: Vec<(String, i64)>,
    /// Entries refused: `(flow, reason)`.
    pub skipped: Vec<(String, String)>,
    /// Runs ended by this event: `(flow, run id)`.
    pub exited: Vec<(String, i64)>,
}

impl Engine {
    /// Starts and ends runs on stored event `event_id`, and completes `job`.
    pub async fn on_event(&self, job: &JobRow, event_id: i64) -> anyhow::Result<EventOutcome> {
        let mut outcome = EventOutcome::default();
        let Some(event) = commerce::event(&self.db, event_id).await? else {
            self.complete(job).await?;
            return Ok(outcome);
        };
        let flows = self.flows.current();
        let now = self.clock.now();
        let phone = self.phone_of(&event).await?;
        let context = RunContext {
            event: EventContext {
                name: event.name.clone(),
                properties: serde_json::from_str(&event.properties).unwrap_or_default(),
                occurred_at: event.occurred_at.to_rfc3339(),
            },
        };
        let mut tx = self.db.begin().await?;
        for flow in flows.iter().filter(|f| f.triggers.contains(&event.name)) {
            let entry = Entering { event: &event, context: &context, phone: phone.as_ref() };
            match enter(&mut tx, flow, entry, now, self.clock.queue_ms(now), self.max_attempts).await? {
                Entry::Entered(id) => outcome.entered.push((flow.name.clone(), id)),
                Entry::Skipped(reason) => outcome.skipped.push((flow.name.clone(), reason)),
                Entry::AlreadyRan => {}
            }
        }
        if let Some(phone) = &phone {
            for flow in flows.iter() {
                let Some(exit) = flow.exits.iter().find(|x| x.event == event.name) else { continue };
                for run in runs::waiting_runs(&mut tx, &flow.name, event.customer_id, phone.as_str()).await? {
                    let trigger: RunContext = serde_json::from_str(&run.context).unwrap_or_default();
                    if run.trigger_event != event.id
                        && key_matches(exit.key.as_deref(), &trigger, &context.event.properties)
                        && runs::exit_run(&mut tx, run.id, &format!("exit: {}", event.name), now).await?
                    {
                        outcome.exited.push((flow.name.clone(), run.id));
                    }
                }
            }
        }
        if let Some(phone) = &phone {
            self.end_waits(&mut tx, &flows, &event, &context, phone).await?;
        }
        if !complete_job(&mut tx, job.id, job.attempts).await? {
            return Ok(EventOutcome::default());
        }
        tx.commit().await?;
        if !outcome.entered.is_empty() {
            self.waker.wake();
        }
        info!(
            event = event.id,
            name = %event.name,
            entered = outcome.entered.len(),
            skipped = outcome.skipped.len(),
            exited = outcome.exited.len(),
            "flows looked at an event"
        );
        Ok(outcome)
    }

    /// Pulls forward the step job of every run waiting (`wait_for`) for this event, its key
    /// matching: the run goes on now instead of at the timeout.
    async fn end_waits(
        &self,
        tx: &mut Tx,
        flows: &[Flow],
        event: &EventRow,
        context: &RunContext,
        phone: &Phone,
    ) -> anyhow::Result<()> {
        for flow in flows {
            let awaits = |i: usize| matches!(flow.steps.get(i), Some(Step::WaitFor(w)) if w.event.as_deref() == Some(event.name.as_str()));
            if !(0..flow.steps.len()).any(awaits) {
                continue;
            }
            for run in runs::waiting_runs(tx, &flow.name, event.customer_id, phone.as_str()).await? {
                let Some(Step::WaitFor(w)) =
                    usize::try_from(run.step - 1).ok().filter(|i| awaits(*i)).and_then(|i| flow.steps.get(i))
                else {
                    continue;
                };
                let trigger: RunContext = serde_json::from_str(&run.context).unwrap_or_default();
                if run.trigger_event != event.id && key_matches(w.key.as_deref(), &trigger, &context.event.properties) {
                    let key = format!("flow:{}:{}", run.id, run.step);
                    jobs::run_job_sooner(tx, &key, self.clock.queue_ms(self.clock.now())).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs the due step of a run, and the steps after it up to the next wait; completes `job`.
    pub async fn on_step(&self, job: &JobRow, at: StepJob) -> anyhow::Result<()> {
        let Some(run) = runs::run(&self.db, at.run).await? else {
            return self.complete(job).await;
        };
        if run.status != status::WAITING || run.step != at.step {
            debug!(run = run.id, "flow step already taken");
            return self.complete(job).await;
        }
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let (next, sent) = match self.flows.named(&run.flow) {
            None => (exited(run.step, "the flow file is gone".into()), false),
            Some(flow) => self.run_steps(&mut tx, &flow, &run, now).await?,
        };
        if !runs::advance(&mut tx, run.id, run.step, &next, now).await? {
            return self.complete(job).await;
        }
        if let Some(due) = next.due_at {
            let payload = serde_json::to_string(&StepJob { run: run.id, step: next.step })?;
            let key = format!("flow:{}:{}", run.id, next.step);
            let run_at = self.clock.queue_ms(due);
            enqueue_job_at(&mut tx, KIND_FLOW_STEP, &payload, Some(&key), self.max_attempts, run_at).await?;
        }
        if !complete_job(&mut tx, job.id, job.attempts).await? {
            return Ok(());
        }
        tx.commit().await?;
        if sent || next.due_at.is_some_and(|d| d <= now) {
            self.waker.wake();
        }
        let reason = next.reason.as_deref().unwrap_or("");
        info!(run = run.id, flow = %run.flow, step = next.step, status = next.status, reason, "flow step ran");
        Ok(())
    }

    /// Runs steps from the run's current one up to the next wait or the end: where the run
    /// goes next, and whether a text was queued.
    async fn run_steps(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        run: &RunRow,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Next, bool)> {
        let context: RunContext = serde_json::from_str(&run.context).unwrap_or_default();
        if let Some(reason) = self.exit_reason(tx, flow, run, &context).await? {
            return Ok((exited(run.step, reason), false));
        }
        if let Some(reason) = self.wait_ended(tx, flow, run, &context, now).await? {
            return Ok((exited(run.step, reason), false));
        }
        let mut step = run.step;
        let mut sent = false;
        while let Some(current) = flow.steps.get(step as usize) {
            step += 1;
            match current {
                Step::Wait(d) => return Ok((waiting(step, now + chrono::Duration::from_std(*d)?), sent)),
                Step::WaitRelative { property, offset, before } => {
                    let Some(anchor) = time_property(&context, property) else {
                        return Ok((exited(step, format!("the event has no time in {property:?}")), sent));
                    };
                    let offset = chrono::Duration::from_std(*offset)?;
                    let due = if *before { anchor - offset } else { anchor + offset };
                    if due > now {
                        return Ok((waiting(step, due), sent));
                    }
                }
                Step::Send { variants, replies, test } => {
                    if let Some(within) = flow.send_within
                        && now - run.started_at > chrono::Duration::from_std(within)?
                    {
                        let reason =
                            format!("send window ended: not within {} of the trigger", duration::format(within));
                        return Ok((exited(step, reason), sent));
                    }
                    let arm = match test {
                        Some(test) => self.arm(tx, test, variants, run.id, &run.phone, now).await?,
                        None => 0,
                    };
                    let variant = &variants[arm];
                    let text = Text {
                        template: &variant.text,
                        replies,
                        ab: test.as_ref().map(|t| (t.name.as_str(), variant.name.as_str())),
                    };
                    match self.send(tx, flow, run, &context, text).await? {
                        Ok(()) => sent = true,
                        Err(reason) => return Ok((exited(step, reason), sent)),
                    }
                }
                // The step job after it is the timeout; an awaited event pulls it sooner
                // (`on_event`), and `wait_ended` decides there which it was.
                Step::WaitFor(w) => {
                    // An awaited event already stored since the trigger: no wait.
                    if w.event.is_some() && self.awaited_event_came(tx, w, run, &context).await? {
                        continue;
                    }
                    return Ok((waiting(step, now + chrono::Duration::from_std(w.timeout)?), sent));
                }
                // Not built yet (docs/flows.md): the run stops here rather than sending a
                // text nobody wrote.
                Step::Compose(_) => return Ok((exited(step, "compose steps are not built yet".into()), sent)),
            }
        }
        Ok((Next { step, status: status::DONE, due_at: None, reason: None }, sent))
    }

    /// When the run comes out of a `wait_for` (the step before its current one): why it ends
    /// there, or `None` to go on. The awaited event (stored since the trigger, its key
    /// matching) goes on; a reply ends the run ("replied": the conversation has it); a
    /// timeout goes on or ends as the step says.
    async fn wait_ended(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        run: &RunRow,
        context: &RunContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        let Some(Step::WaitFor(w)) = usize::try_from(run.step - 1).ok().and_then(|i| flow.steps.get(i)) else {
            return Ok(None);
        };
        let came = match &w.event {
            Some(_) => self.awaited_event_came(tx, w, run, context).await?,
            None => {
                let began = run.due_at.unwrap_or(now) - chrono::Duration::from_std(w.timeout)?;
                if runs::replied_to_run(tx, &run.phone, run.id, began).await? {
                    return Ok(Some("replied".into()));
                }
                false
            }
        };
        if came {
            return Ok(None);
        }
        Ok((!w.continue_on_timeout).then(|| format!("timed out waiting for {}", w.describe())))
    }

    /// True when an event the `wait_for` awaits (its key matching the trigger's) is stored
    /// since the run's trigger.
    async fn awaited_event_came(
        &self,
        tx: &mut Tx,
        w: &WaitFor,
        run: &RunRow,
        context: &RunContext,
    ) -> anyhow::Result<bool> {
        let Some(name) = &w.event else { return Ok(false) };
        let since =
            DateTime::parse_from_rfc3339(&context.event.occurred_at).map(|t| t.to_utc()).unwrap_or(run.started_at);
        let names = [name.clone()];
        for (_, properties) in runs::events_since(tx, &names, run.customer_id, &run.phone, since).await? {
            let properties: serde_json::Value = serde_json::from_str(&properties).unwrap_or_default();
            if key_matches(w.key.as_deref(), context, &properties) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Why the run ends before this step: an opt-out, or an exit event already stored
    /// (events can be applied out of order, so exits are checked again at each step).
    async fn exit_reason(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        run: &RunRow,
        context: &RunContext,
    ) -> anyhow::Result<Option<String>> {
        let phone = Phone::parse(&run.phone).map_err(|e| anyhow::anyhow!("flow run {}: {e}", run.id))?;
        if matches!(consent::latest_consent_in_tx(tx, &phone).await?, Some(ConsentKind::OptOut)) {
            return Ok(Some("opted out".into()));
        }
        let names: Vec<String> = flow.exits.iter().map(|x| x.event.clone()).collect();
        let since =
            DateTime::parse_from_rfc3339(&context.event.occurred_at).map(|t| t.to_utc()).unwrap_or(run.started_at);
        for (name, properties) in runs::events_since(tx, &names, run.customer_id, &run.phone, since).await? {
            let properties: serde_json::Value = serde_json::from_str(&properties).unwrap_or_default();
            let exit = flow.exits.iter().find(|x| x.event == name).expect("names come from the exits");
            if key_matches(exit.key.as_deref(), context, &properties) {
                return Ok(Some(format!("exit: {name}")));
            }
        }
        Ok(None)
    }

    /// Queues the step's text; `Err(reason)` when there is nothing fit to send.
    async fn send(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        run: &RunRow,
        context: &RunContext,
        text: Text<'_>,
    ) -> anyhow::Result<Result<(), String>> {
        let Text { template, replies, ab } = text;
        let phone = Phone::parse(&run.phone).map_err(|e| anyhow::anyhow!("flow run {}: {e}", run.id))?;
        let customer = crm::customer_by_phone(&self.db, &phone).await?;
        let name = customer.as_ref().and_then(|c| c.name.clone()).unwrap_or_default();
        let vars = minijinja::context! {
            customer => minijinja::context! {
                name => name.clone(),
                first_name => name.split_whitespace().next().unwrap_or_default(),
            },
            event => minijinja::Value::from(minijinja::value::Serde(&context.event)),
        };
        let env = minijinja::Environment::new();
        let render = |t: &str| -> Result<String, String> {
            let text = env.render_str(t, &vars).map_err(|e| format!("the text did not render: {e}"))?;
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() { Err("the text rendered empty".into()) } else { Ok(text) }
        };
        let body = match render(template) {
            Ok(body) => body,
            Err(reason) => {
                warn!(run = run.id, flow = %flow.name, %reason, "flow text not sent");
                return Ok(Err(reason));
            }
        };
        let mut choices = Vec::new();
        for reply in replies {
            let text = match reply.text.as_deref().map(render).transpose() {
                Ok(text) => text,
                Err(reason) => return Ok(Err(format!("a reply's {reason}"))),
            };
            choices.push(MenuChoice {
                pattern: normalise(&reply.pattern),
                text,
                event: reply.event.clone(),
                handoff: reply.handoff,
                opt_in: reply.opt_in,
            });
        }
        let customer_id = match customer {
            Some(c) => c.id,
            None => crm::ensure_customer(tx, &phone).await?,
        };
        let conversation_id = conversations::ensure_conversation(tx, &phone, customer_id).await?;
        let text = OutboundText {
            conversation_id,
            to_phone: &phone,
            body: &body,
            kind: OutboxKind::Proactive,
            subject: Some(&flow.name),
            in_reply_to: None,
            flow_run_id: Some(run.id),
            class: Some(flow.class),
            send_by: flow.send_within.and_then(|w| chrono::Duration::from_std(w).ok()).map(|w| run.started_at + w),
        };
        let queued = queue_text_at(tx, &text, self.max_attempts, self.clock.queue_ms(self.clock.now())).await?;
        if let (Some(outbox_id), Some((test, arm))) = (queued, ab) {
            crate::store::ab::tag_outbox(tx, outbox_id, test, arm).await?;
        }
        let menu = (!choices.is_empty()).then(|| Menu { text: body.clone(), choices });
        runs::set_menu(tx, run.id, menu.as_ref().map(crate::store::json_text).as_deref()).await?;
        Ok(Ok(()))
    }

    /// The arm of an A/B test this customer gets: the winner once there is one; else, once
    /// every arm has 500 recipients, the winner if the gate now passes; after the end date
    /// the leader; else the customer's own arm by the stable hash (`domain::ab`).
    async fn arm(
        &self,
        tx: &mut Tx,
        test: &AbTest,
        variants: &[Variant],
        run_id: i64,
        phone: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let index_of = |name: &str| variants.iter().position(|v| v.name == name);
        if let Some((arm, _, _)) = ab_store::winner(&self.db, &test.name).await?
            && let Some(i) = index_of(&arm)
        {
            return Ok(i);
        }
        let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
        let recipients = ab_store::recipients(&self.db, &test.name).await?;
        let ended = test.ends.is_some_and(|end| now >= end);
        let enough = names.iter().all(|n| recipients.get(*n).copied().unwrap_or(0) >= ab::MIN_RECIPIENTS_PER_ARM);
        // Once every arm has its 500, the gate is looked at for one run in 50 (it reads every
        // recipient's outcome), and at every send after the end date until decided.
        if ended || (enough && run_id % 50 == 0) {
            let standings = super::ab::standings(&self.db, test, variants).await?;
            let arms: Vec<ab::ArmCount> = standings.iter().map(|s| s.count).collect();
            let probabilities: Vec<f64> = standings.iter().map(|s| s.win_probability).collect();
            let decided = match ab::winner(&arms, &probabilities) {
                Some(i) => Some((i, "gate")),
                None if ended => Some((ab::leader(&arms, test.metric.lower_is_better()), "end date")),
                None => None,
            };
            if let Some((i, reason)) = decided {
                let arm = ab_store::set_winner(tx, &test.name, names[i], reason, now).await?;
                info!(test = %test.name, arm = %arm, reason, "a/b test decided");
                return Ok(index_of(&arm).unwrap_or(i));
            }
        }
        let weights: Vec<u32> = variants.iter().map(|v| v.weight).collect();
        Ok(ab::assign(&test.name, phone, &weights))
    }

    async fn phone_of(&self, event: &EventRow) -> anyhow::Result<Option<Phone>> {
        if let Some(phone) = event.phone.as_deref().and_then(|p| Phone::parse(p).ok()) {
            return Ok(Some(phone));
        }
        match event.customer_id {
            Some(id) => Ok(crm::customer_by_id(&self.db, id).await?.map(|c| c.phone)),
            None => Ok(None),
        }
    }

    async fn complete(&self, job: &JobRow) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if complete_job(&mut tx, job.id, job.attempts).await? {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// A send step's text as chosen for one run.
struct Text<'a> {
    template: &'a str,
    replies: &'a [super::file::Reply],
    /// The A/B test and arm it is sent in.
    ab: Option<(&'a str, &'a str)>,
}

enum Entry {
    Entered(i64),
    Skipped(String),
    /// This event already started a run of this flow (the job ran twice).
    AlreadyRan,
}

/// What enters a flow: the stored event, its context for the run, its customer's number.
#[derive(Clone, Copy)]
struct Entering<'a> {
    event: &'a EventRow,
    context: &'a RunContext,
    phone: Option<&'a Phone>,
}

/// Starts `flow` for the event's customer unless an entry rule says no; a refused entry is
/// recorded as a `skipped` run with its reason.
async fn enter(
    tx: &mut Tx,
    flow: &Flow,
    entering: Entering<'_>,
    now: DateTime<Utc>,
    now_ms: i64,
    max_attempts: i32,
) -> anyhow::Result<Entry> {
    let Entering { event, context, phone } = entering;
    let mut skip = None;
    match phone {
        None => skip = Some("no phone number for the event's customer".to_string()),
        Some(phone) => {
            if let Some(once_per) = flow.once_per {
                let last = runs::last_entry(tx, &flow.name, event.customer_id, phone.as_str()).await?;
                if last.is_some_and(|at| now - at < chrono::Duration::from_std(once_per).unwrap_or_default()) {
                    skip = Some(format!("entered within once_per ({})", duration::format(once_per)));
                }
            }
        }
    }
    let run = NewRun {
        flow: &flow.name,
        trigger_event: event.id,
        customer_id: event.customer_id,
        phone: phone.map_or("", |p| p.as_str()),
        context: &crate::store::json_text(context),
        status: if skip.is_some() { status::SKIPPED } else { status::WAITING },
        reason: skip.as_deref(),
        at: now,
    };
    let Some(id) = runs::insert_run(tx, &run).await? else { return Ok(Entry::AlreadyRan) };
    if let Some(reason) = skip {
        return Ok(Entry::Skipped(reason));
    }
    let payload = serde_json::to_string(&StepJob { run: id, step: 0 })?;
    enqueue_job_at(tx, KIND_FLOW_STEP, &payload, Some(&format!("flow:{id}:0")), max_attempts, now_ms).await?;
    Ok(Entry::Entered(id))
}

fn waiting(step: i32, due: DateTime<Utc>) -> Next {
    Next { step, status: status::WAITING, due_at: Some(due), reason: None }
}

fn exited(step: i32, reason: String) -> Next {
    Next { step, status: status::EXITED, due_at: None, reason: Some(reason) }
}

/// True when an exit event ends this run: no key, or the key's value is the same in the
/// exit event and the trigger (compared as text: `"c1"` and `c1`, `1001` and `"1001"`).
fn key_matches(key: Option<&str>, trigger: &RunContext, exit_properties: &serde_json::Value) -> bool {
    let Some(key) = key else { return true };
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match (text(trigger.event.properties.get(key)), text(exit_properties.get(key))) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The time in the trigger event's property (RFC 3339).
fn time_property(context: &RunContext, property: &str) -> Option<DateTime<Utc>> {
    let text = context.event.properties.get(property)?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}
