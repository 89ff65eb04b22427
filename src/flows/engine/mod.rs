//! Running flows: a stored event starts runs (entry limits checked) and ends waiting ones
//! (exits matched by key); each run's steps run in a job, and each wait is the due time of the
//! job for the step after it. Everything a step does (its texts, the next step's job, the
//! run's new step) commits in one transaction with the job's completion, so a `kill -9`
//! anywhere repeats a step at most in full and never half: the run's step is the fence.
//!
//! Sending is the sender's business: a flow's text is an outbox row with the flow's class,
//! and the sender checks marketing consent, smart sending, quiet hours and caps when it is
//! due (`sms::sender`), recording every skip with its reason on the row.

mod decide;
mod send;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use self::send::{Body, Text, too_late};
use super::branch::Target;
use super::compose::{Composed, Composer};
use super::file::{Flow, Step};
use super::set::FlowSet;
use crate::clock::Clock;
use crate::domain::flow::{EventContext, RunContext};
use crate::domain::{ConsentKind, Phone, duration};
use crate::jobs::{KIND_FLOW_STEP, Waker};
use crate::store::ab as ab_store;
use crate::store::commerce::EventRow;
use crate::store::flows::{self as runs, NewRun, Next, RunRow, status};
use crate::store::jobs::{self, JobRow, complete_job, enqueue_job_at};
use crate::store::{Db, Tx, commerce, consent, crm};

/// The payload of a `flow_step` job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StepJob {
    pub run: i64,
    pub step: i32,
    /// The run goes on at a compose step here, queued by the job before it (which did not
    /// wait): no wait ends at this job.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compose: bool,
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
    /// Writes compose steps' texts (`None`: a run reaching one ends, saying so).
    pub composer: Option<Arc<dyn Composer>>,
    /// Where branches find segment files (`segments.dir`; the API's segments are in the
    /// database).
    pub segments_dir: std::path::PathBuf,
}

/// What a step job did: where the run goes next, whether it queued a text, and whether the
/// next job goes on at a compose step without a wait.
struct Ran {
    next: Next,
    sent: bool,
    compose_next: bool,
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
        let flow = self.flows.named(&run.flow);
        // A text to write (a compose step, a composed arm) is written before the transaction:
        // the writer may take seconds. Not for a run that ends here anyway (an opt-out, an
        // exit, a reply, the send window): the transaction decides that again.
        let writes = flow.as_ref().and_then(|f| f.steps.get(run.step as usize)).filter(|step| match step {
            Step::Compose { .. } => true,
            Step::Send { variants, test: Some(_), .. } => variants.iter().any(|v| v.composed),
            _ => false,
        });
        let writes = match (writes, &flow) {
            (Some(step), Some(flow)) if !self.ends_here(flow, &run, now, at.compose).await? => Some(step),
            _ => None,
        };
        let prepared = match writes {
            Some(Step::Compose { goal, .. }) => Prepared { arm: None, composed: Some(self.compose(&run, goal).await?) },
            Some(Step::Send { variants, test: Some(test), .. }) if variants.iter().any(|v| v.composed) => {
                let (arm, decided) = self.arm(test, variants, run.id, &run.phone, now).await?;
                let composed = match &variants[arm] {
                    v if v.composed => Some(self.compose(&run, &v.text).await?),
                    _ => None,
                };
                Prepared { arm: Some((arm, decided)), composed }
            }
            _ => Prepared::default(),
        };
        let mut tx = self.db.begin().await?;
        let Ran { next, sent, compose_next } = match &flow {
            None => Ran { next: exited(run.step, "the flow file is gone".into()), sent: false, compose_next: false },
            Some(flow) => self.run_steps(&mut tx, flow, &run, now, at.compose, prepared).await?,
        };
        if !runs::advance(&mut tx, run.id, run.step, &next, now).await? {
            // The run moved on meanwhile. The write connection is released before the job is
            // completed in a transaction of its own (SQLite has one writer).
            tx.rollback().await?;
            return self.complete(job).await;
        }
        if let Some(due) = next.due_at {
            let payload = serde_json::to_string(&StepJob { run: run.id, step: next.step, compose: compose_next })?;
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

    /// True when the run ends before its current step: an opt-out or exit event, the wait
    /// just ended deciding so, or the send window past. Read in a transaction rolled back at
    /// once: the step's own transaction decides it again.
    async fn ends_here(&self, flow: &Flow, run: &RunRow, now: DateTime<Utc>, resumed: bool) -> anyhow::Result<bool> {
        let context: RunContext = serde_json::from_str(&run.context).unwrap_or_default();
        let mut tx = self.db.begin().await?;
        let ends = self.exit_reason(&mut tx, flow, run, &context).await?.is_some()
            || (!resumed && self.wait_ended(&mut tx, flow, run, &context, now).await?.is_some())
            || too_late(flow, run, now)?.is_some();
        tx.rollback().await?;
        Ok(ends)
    }

    /// Runs steps from the run's current one up to the next wait or the end: where the run
    /// goes next, and whether a text was queued. `resumed`: the job goes on at a step with a
    /// text to write (no wait ends here); `prepared`: what was decided and written for the
    /// step the run is at, before the transaction.
    async fn run_steps(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        run: &RunRow,
        now: DateTime<Utc>,
        resumed: bool,
        mut prepared: Prepared,
    ) -> anyhow::Result<Ran> {
        let context: RunContext = serde_json::from_str(&run.context).unwrap_or_default();
        let ran = |next: Next, sent: bool| Ran { next, sent, compose_next: false };
        if let Some(reason) = self.exit_reason(tx, flow, run, &context).await? {
            return Ok(ran(exited(run.step, reason), false));
        }
        if !resumed && let Some(reason) = self.wait_ended(tx, flow, run, &context, now).await? {
            return Ok(ran(exited(run.step, reason), false));
        }
        let mut step = run.step;
        let mut sent = false;
        while let Some(current) = flow.steps.get(step as usize) {
            let index = step;
            step += 1;
            match current {
                Step::Wait(d) => return Ok(ran(waiting(step, now + chrono::Duration::from_std(*d)?), sent)),
                Step::WaitRelative { property, offset, before } => {
                    let Some(anchor) = time_property(&context, property) else {
                        return Ok(ran(exited(step, format!("the event has no time in {property:?}")), sent));
                    };
                    let offset = chrono::Duration::from_std(*offset)?;
                    let due = if *before { anchor - offset } else { anchor + offset };
                    if due > now {
                        return Ok(ran(waiting(step, due), sent));
                    }
                }
                Step::Send { variants, replies, test } => {
                    if let Some(reason) = too_late(flow, run, now)? {
                        return Ok(ran(exited(step, reason), sent));
                    }
                    let (arm, decided) = match (test, prepared.arm.take().filter(|_| index == run.step)) {
                        (Some(_), Some(prepared)) => prepared,
                        (Some(test), None) => self.arm(test, variants, run.id, &run.phone, now).await?,
                        (None, _) => (0, None),
                    };
                    let mut arm = arm;
                    if let (Some(test), Some(reason)) = (test, decided) {
                        let stored = ab_store::set_winner(tx, &test.name, &variants[arm].name, reason, now).await?;
                        info!(test = %test.name, arm = %stored, reason, "a/b test decided");
                        // Another worker decided first: its winner, unless a text is written.
                        if let Some(i) = variants.iter().position(|v| v.name == stored)
                            && !variants[i].composed
                            && !variants[arm].composed
                        {
                            arm = i;
                        }
                    }
                    let variant = &variants[arm];
                    let written;
                    let body = if variant.composed {
                        // Written before the transaction only when the run was at this step;
                        // reached later in the job, the step becomes a job of its own.
                        match prepared.composed.take().filter(|_| index == run.step) {
                            Some(Composed::Text(text)) => {
                                written = text;
                                Body::Written(&written)
                            }
                            Some(Composed::Refused(reason)) => return Ok(ran(exited(step, reason), sent)),
                            None => return Ok(Ran { next: waiting(index, now), sent, compose_next: true }),
                        }
                    } else {
                        Body::Template(&variant.text)
                    };
                    let text =
                        Text { body, replies, ab: test.as_ref().map(|t| (t.name.as_str(), variant.name.as_str())) };
                    match self.send(tx, flow, run, &context, text).await? {
                        Ok(()) => sent = true,
                        Err(reason) => return Ok(ran(exited(step, reason), sent)),
                    }
                }
                Step::Compose { replies, .. } => {
                    if let Some(reason) = too_late(flow, run, now)? {
                        return Ok(ran(exited(step, reason), sent));
                    }
                    // Written before this job's transaction only when the run was at this step;
                    // reached later in the job, the step becomes a job of its own, due now.
                    let Some(composed) = prepared.composed.take().filter(|_| index == run.step) else {
                        return Ok(Ran { next: waiting(index, now), sent, compose_next: true });
                    };
                    let text = match composed {
                        Composed::Text(text) => text,
                        Composed::Refused(reason) => return Ok(ran(exited(step, reason), sent)),
                    };
                    let text = Text { body: Body::Written(&text), replies, ab: None };
                    match self.send(tx, flow, run, &context, text).await? {
                        Ok(()) => sent = true,
                        Err(reason) => return Ok(ran(exited(step, reason), sent)),
                    }
                }
                Step::Branch { arms, otherwise } => {
                    let mut to = *otherwise;
                    for arm in arms {
                        match self.holds(tx, &arm.condition, run, &context, now).await? {
                            Ok(true) => {
                                to = arm.then;
                                break;
                            }
                            Ok(false) => {}
                            Err(reason) => return Ok(ran(exited(step, reason), sent)),
                        }
                    }
                    match to {
                        Target::Step(i) => step = i as i32,
                        Target::End => break,
                    }
                }
                // The step job after it is the timeout; an awaited event pulls it sooner
                // (`on_event`), and `wait_ended` decides there which it was.
                Step::WaitFor(w) => {
                    // An awaited event already stored since the trigger: no wait.
                    if let Some(name) = &w.event
                        && self.event_came(tx, name, w.key.as_deref(), run, &context).await?
                    {
                        continue;
                    }
                    return Ok(ran(waiting(step, now + chrono::Duration::from_std(w.timeout)?), sent));
                }
            }
        }
        Ok(ran(Next { step, status: status::DONE, due_at: None, reason: None }, sent))
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
            Some(name) => self.event_came(tx, name, w.key.as_deref(), run, context).await?,
            None => {
                let began = run.due_at.unwrap_or(now) - chrono::Duration::from_std(w.timeout)?;
                let replied = runs::replied_to_run(tx, &run.phone, run.id, began).await?;
                if replied && !w.continue_on_reply {
                    return Ok(Some("replied".into()));
                }
                replied
            }
        };
        if came {
            return Ok(None);
        }
        Ok((!w.continue_on_timeout).then(|| format!("timed out waiting for {}", w.describe())))
    }

    /// True when an event named `name` (with `key`, its property equal to the trigger's) is
    /// stored for the customer since the run's trigger (a `wait_for`, a branch).
    async fn event_came(
        &self,
        tx: &mut Tx,
        name: &str,
        key: Option<&str>,
        run: &RunRow,
        context: &RunContext,
    ) -> anyhow::Result<bool> {
        let since =
            DateTime::parse_from_rfc3339(&context.event.occurred_at).map(|t| t.to_utc()).unwrap_or(run.started_at);
        let names = [name.to_string()];
        for (_, properties) in runs::events_since(tx, &names, run.customer_id, &run.phone, since).await? {
            let properties: serde_json::Value = serde_json::from_str(&properties).unwrap_or_default();
            if key_matches(key, context, &properties) {
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

/// What the step job decided and wrote for the step the run is at, before its transaction:
/// the arm of an A/B test with a composed arm (and the reason, when a winner was decided
/// then), and a written text.
#[derive(Default)]
struct Prepared {
    arm: Option<(usize, Option<&'static str>)>,
    composed: Option<Composed>,
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
    let payload = serde_json::to_string(&StepJob { run: id, step: 0, compose: false })?;
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
