//! `backtalk flows simulate --events FILE`: replays events through the flows on a virtual
//! clock and reports every text with its local send time and every skip with its reason.
//!
//! The same code path as production: a real (temporary) SQLite database with the migrations,
//! events stored by the events API's `track`, the flow engine's jobs and the sender's
//! consent, smart sending, quiet-hours and cap checks, run from the same job queue. Only the
//! clock is virtual: it jumps to the next event or the next due job, and the queue is claimed
//! as of that time ([`VirtualClock`] maps a due time to itself), so a week of waits replays
//! in a second. Texts go to a provider that accepts them and sends nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::engine::{Engine, StepJob};
use super::set::FlowSet;
use crate::clock::Clock;
use crate::commerce::events::{TrackEvent, parse_request, track};
use crate::compliance::quiet_hours;
use crate::domain::{OutboxStatus, Phone};
use crate::jobs::{KIND_FLOW_EVENT, KIND_FLOW_STEP, KIND_SEND, Waker};
use crate::sms::outbound::SendJob;
use crate::sms::sender::Sender;
use crate::sms::{Accepted, OutgoingSms, SendError, SmsProvider};
use crate::store::commerce::FlowEventJob;
use crate::store::jobs::{JobRow, bury_job, claim_job_due_by};
use crate::store::{Db, flows as runs, outbox};

/// A clock that is where the simulation put it; the job queue runs on it too.
pub struct VirtualClock(Mutex<DateTime<Utc>>);

impl VirtualClock {
    pub fn at(t: DateTime<Utc>) -> VirtualClock {
        VirtualClock(Mutex::new(t))
    }
    /// Moves the clock forward to `t` (never back).
    pub fn advance_to(&self, t: DateTime<Utc>) {
        let mut now = self.0.lock().expect("clock lock");
        if t > *now {
            *now = t;
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
    fn queue_ms(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp_millis()
    }
}

/// Accepts every text and sends nothing.
struct NoSend(std::sync::atomic::AtomicU64);

#[async_trait]
impl SmsProvider for NoSend {
    async fn send(&self, _sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Accepted { provider_sid: format!("SIM{n:010}") })
    }
    fn sender_label(&self) -> String {
        "simulation".into()
    }
}

/// What happened, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub at: DateTime<Utc>,
    pub phone: Option<Phone>,
    pub what: What,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// An event was stored.
    Event(String),
    /// A flow's text was sent (outbox row `outbox`).
    Sent { flow: String, text: String, outbox: i64 },
    /// A text waits (quiet hours, a cap) until this time.
    Deferred { flow: String, until: DateTime<Utc>, outbox: i64 },
    /// A text (outbox row `outbox`) or an entry (`None`) did not happen, and why.
    Skipped { flow: String, reason: String, outbox: Option<i64> },
    /// A run ended before its last step, and why.
    Exited { flow: String, reason: String },
}

/// Totals of a simulation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub events: usize,
    pub sent: usize,
    pub deferred: usize,
    pub skipped: usize,
    pub exited: usize,
    /// Each job run, with its kind and wall-clock milliseconds (the benchmark's figures).
    pub job_ms: Vec<(String, f64)>,
}

/// The options of a simulation.
pub struct Options {
    /// The events: JSON Lines (or one JSON array) in the events API's shape, each with a
    /// `timestamp`.
    pub events: PathBuf,
    /// Load the demo store's customers (all opted in) first.
    pub demo: bool,
    /// Smart sending window.
    pub smart_sending: chrono::Duration,
    /// Stop at this time (default: 30 days after the last event).
    pub until: Option<DateTime<Utc>>,
    /// What compose and branch steps draw on.
    pub sources: Sources,
}

/// What a simulation draws on beyond the flows: the writer of compose steps (none: a run
/// reaching one ends, saying so), the folder of segment files (branches, campaigns), and the
/// campaigns to run.
#[derive(Clone, Default)]
pub struct Sources {
    pub composer: Option<Arc<dyn super::compose::Composer>>,
    pub segments_dir: PathBuf,
    /// Each is created (its segment counted and every member planned) at its `send_at`, or
    /// at the first event when it has none.
    pub campaigns: Vec<super::campaign::CampaignSpec>,
}

/// Reads the events file: every problem names its line.
pub fn read_events(path: &Path) -> anyhow::Result<Vec<TrackEvent>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut events = Vec::new();
    let trimmed = text.trim_start();
    let values: Vec<(usize, Value)> = if trimmed.starts_with('[') {
        let all: Vec<Value> =
            serde_json::from_str(trimmed).with_context(|| format!("{}: not a JSON array", path.display()))?;
        all.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect()
    } else {
        let mut values = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value =
                serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
            values.push((n + 1, value));
        }
        values
    };
    for (n, value) in values {
        if value.get("timestamp").is_none() {
            anyhow::bail!(
                "{}:{n}: timestamp is required in a simulation (RFC 3339, e.g. 2026-12-08T15:00:00Z)",
                path.display()
            );
        }
        let parsed =
            parse_request(value).map_err(|e| anyhow::anyhow!("{}:{n}: {}: {}", path.display(), e.field, e.message))?;
        events.extend(parsed);
    }
    events.sort_by_key(|e| e.timestamp);
    Ok(events)
}

/// Runs the simulation of `options.events` in `db` (a fresh database) with `flows`; returns
/// what happened.
pub async fn simulate(db: &Db, flows: FlowSet, options: &Options) -> anyhow::Result<(Vec<Line>, Summary)> {
    let events = read_events(&options.events)?;
    anyhow::ensure!(!events.is_empty(), "{}: no events", options.events.display());
    if options.demo {
        crate::demo::load_crm(db).await?;
    }
    let progress = progress_bar();
    let result =
        simulate_events(db, flows, events, options.smart_sending, options.until, &options.sources, &progress).await;
    progress.finish_and_clear();
    result
}

/// A bar over the events replayed, on standard error when it is a terminal (hidden otherwise).
pub fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events")
            .expect("valid progress template"),
    );
    bar
}

/// Runs the simulation of `events` (sorted by time) in `db` with `flows`.
pub async fn simulate_events(
    db: &Db,
    flows: FlowSet,
    events: Vec<TrackEvent>,
    smart_sending: chrono::Duration,
    until: Option<DateTime<Utc>>,
    sources: &Sources,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(Vec<Line>, Summary)> {
    progress.set_length(events.len() as u64);
    let Some(first) = events.first().map(|e| e.timestamp) else { anyhow::bail!("no events") };
    let until = until.unwrap_or(events.last().expect("not empty").timestamp + chrono::Duration::days(30));
    let clock = Arc::new(VirtualClock::at(first));
    let engine = Engine {
        db: db.clone(),
        flows: Arc::new(flows),
        clock: clock.clone(),
        max_attempts: 5,
        waker: Waker::default(),
        composer: sources.composer.clone(),
        segments_dir: sources.segments_dir.clone(),
    };
    let sender = Sender {
        db: db.clone(),
        provider: Arc::new(NoSend(Default::default())),
        clock: clock.clone(),
        smart_sending,
        links: None,
    };
    let mut lines = Vec::new();
    let mut job_ms = Vec::new();
    let mut pending = events.into_iter().peekable();
    let mut campaigns = campaigns_by_creation(&sources.campaigns, first)?;
    let mut dispatcher = super::dispatch::Dispatcher::unlimited(db.clone(), clock.clone(), sources.composer.clone());
    loop {
        let next_job = crate::store::jobs::next_due_ms(db).await?;
        let next_event = pending.peek().map(|e| e.timestamp.timestamp_millis());
        let next_campaign = campaigns.first().map(|(at, _)| at.timestamp_millis());
        let next_handover = crate::store::campaigns::next_planned_ms(db).await?;
        // At one time: events first, then campaigns created, their texts handed over, jobs.
        let Some((at, kind)) = [
            (next_event, Next::Event),
            (next_campaign, Next::Campaign),
            (next_handover, Next::Handover),
            (next_job, Next::Job),
        ]
        .into_iter()
        .filter_map(|(at, kind)| at.map(|at| (at, kind)))
        .min() else {
            break;
        };
        if kind == Next::Campaign {
            let (created, spec) = campaigns.remove(0);
            clock.advance_to(created);
            lines.extend(create_campaign(db, &spec, sources, clock.now(), smart_sending).await?);
            continue;
        }
        if kind == Next::Handover {
            let due = DateTime::from_timestamp_millis(at).unwrap_or(until);
            if due > until {
                break;
            }
            clock.advance_to(due);
            let handed = dispatcher.tick().await?;
            if handed == 0 && crate::store::campaigns::next_planned_ms(db).await? == Some(at) {
                anyhow::bail!("campaign texts due at {due} could not be handed over (see the log)");
            }
            continue;
        }
        let event_first = kind == Next::Event;
        if event_first {
            let event = pending.next().expect("peeked");
            clock.advance_to(event.timestamp);
            track(db, std::slice::from_ref(&event)).await.map_err(|e| anyhow::anyhow!("event {}: {e}", event.id))?;
            lines.push(Line { at: clock.now(), phone: event.who.phone.clone(), what: What::Event(event.name.clone()) });
            progress.inc(1);
            continue;
        }
        let due = DateTime::from_timestamp_millis(next_job.expect("a job is due")).unwrap_or(until);
        if due > until {
            break;
        }
        clock.advance_to(due);
        let Some(job) = claim_job_due_by(db, 60_000, clock.now().timestamp_millis()).await? else { continue };
        let started = std::time::Instant::now();
        run_job(db, &engine, &sender, &job, clock.now(), &mut lines).await?;
        job_ms.push((job.kind.clone(), started.elapsed().as_secs_f64() * 1000.0));
    }
    let mut summary = Summary { job_ms, ..Summary::default() };
    for line in &lines {
        match line.what {
            What::Event(_) => summary.events += 1,
            What::Sent { .. } => summary.sent += 1,
            What::Deferred { .. } => summary.deferred += 1,
            What::Skipped { .. } => summary.skipped += 1,
            What::Exited { .. } => summary.exited += 1,
        }
    }
    Ok((lines, summary))
}

/// What the simulation does next, in this order at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Event,
    Campaign,
    Handover,
    Job,
}

/// The campaigns with the time each is created: its `send_at`, else `first` (the first
/// event's time), earliest first.
fn campaigns_by_creation(
    specs: &[super::campaign::CampaignSpec],
    first: DateTime<Utc>,
) -> anyhow::Result<Vec<(DateTime<Utc>, super::campaign::CampaignSpec)>> {
    let mut out = Vec::new();
    for spec in specs {
        let at = match spec.send_at.as_deref() {
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map_err(|e| anyhow::anyhow!("campaign {}: send_at {t:?}: {e}", spec.name))?
                .to_utc()
                .max(first),
            None => first,
        };
        out.push((at, spec.clone()));
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}

/// Creates a campaign as the API does (checked, its segment found, every member planned) at
/// `now`; a line for each member it skips, with the reason.
async fn create_campaign(
    db: &Db,
    spec: &super::campaign::CampaignSpec,
    sources: &Sources,
    now: DateTime<Utc>,
    smart_sending: chrono::Duration,
) -> anyhow::Result<Vec<Line>> {
    use super::campaign::{Planner, create, subject_of};
    // A simulation does not time the sends: any rate is accepted.
    let campaign = spec.check(10_000.0).map_err(|problems| {
        let problems: Vec<String> = problems.iter().map(|(field, why)| format!("{field}: {why}")).collect();
        anyhow::anyhow!("campaign {}: {}", spec.name, problems.join("; "))
    })?;
    let Some((segment, _)) = super::segment::find(db, &sources.segments_dir, &campaign.segment).await? else {
        anyhow::bail!(
            "campaign {}: no segment named {:?} in {}",
            spec.name,
            campaign.segment,
            sources.segments_dir.display()
        );
    };
    let planner = Planner { db, now, smart_sending, cost_per_segment: 0.0, currency: "USD" };
    let (id, _) =
        create(&planner, &campaign, &segment).await.map_err(|e| anyhow::anyhow!("campaign {}: {e}", spec.name))?;
    let flow = subject_of(&campaign.name);
    Ok(crate::store::campaigns::skipped_recipients(db, id)
        .await?
        .into_iter()
        .map(|(phone, reason)| Line {
            at: now,
            phone: Phone::parse(&phone).ok(),
            what: What::Skipped { flow: flow.clone(), reason, outbox: None },
        })
        .collect())
}

/// Runs one job as a worker would, and notes what it did.
async fn run_job(
    db: &Db,
    engine: &Engine,
    sender: &Sender,
    job: &JobRow,
    now: DateTime<Utc>,
    lines: &mut Vec<Line>,
) -> anyhow::Result<()> {
    let result: anyhow::Result<()> = match job.kind.as_str() {
        KIND_FLOW_EVENT => {
            let event = serde_json::from_str::<FlowEventJob>(&job.payload)?.event;
            let outcome = engine.on_event(job, event).await?;
            let phone = crate::store::commerce::event(db, event)
                .await?
                .and_then(|e| e.phone)
                .and_then(|p| Phone::parse(&p).ok());
            for (flow, reason) in outcome.skipped {
                lines.push(Line { at: now, phone: phone.clone(), what: What::Skipped { flow, reason, outbox: None } });
            }
            for (flow, run) in outcome.exited {
                let reason = runs::run(db, run).await?.and_then(|r| r.reason).unwrap_or_default();
                lines.push(Line { at: now, phone: phone.clone(), what: What::Exited { flow, reason } });
            }
            Ok(())
        }
        KIND_FLOW_STEP => {
            let step: StepJob = serde_json::from_str(&job.payload)?;
            let before = runs::run(db, step.run).await?.map(|r| r.status);
            engine.on_step(job, step).await?;
            if let Some(run) = runs::run(db, step.run).await?
                && run.status == runs::status::EXITED
                && before.as_deref() == Some(runs::status::WAITING)
            {
                let phone = Phone::parse(&run.phone).ok();
                let reason = run.reason.unwrap_or_default();
                lines.push(Line { at: now, phone, what: What::Exited { flow: run.flow, reason } });
            }
            Ok(())
        }
        KIND_SEND => {
            let outbox_id = serde_json::from_str::<SendJob>(&job.payload)?.outbox_id;
            sender.deliver(job, outbox_id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let row = outbox::outbox_row(db, outbox_id).await?;
            let flow = row.subject.clone().unwrap_or_default();
            let outbox = Some(row.id);
            let what = match row.status {
                OutboxStatus::Sent | OutboxStatus::Delivered => {
                    Some(What::Sent { flow, text: row.body.clone(), outbox: row.id })
                }
                OutboxStatus::Suppressed => {
                    Some(What::Skipped { flow, reason: row.error.clone().unwrap_or_default(), outbox })
                }
                OutboxStatus::Pending => {
                    let until =
                        crate::store::jobs::job_run_at_ms(db, job.id).await?.and_then(DateTime::from_timestamp_millis);
                    until.map(|until| What::Deferred { flow, until, outbox: row.id })
                }
                _ => {
                    let reason = format!("{}: {}", row.status, row.error.unwrap_or_default());
                    Some(What::Skipped { flow, reason, outbox })
                }
            };
            if let Some(what) = what {
                lines.push(Line { at: now, phone: Some(row.to_phone), what });
            }
            Ok(())
        }
        // Nothing else runs in a simulation (no webhook endpoints, no inbound turns).
        _ => {
            let mut tx = db.begin().await?;
            crate::store::jobs::complete_job(&mut tx, job.id, job.attempts).await?;
            tx.commit().await?;
            Ok(())
        }
    };
    if let Err(e) = result {
        // A job that fails in a simulation would be retried in production; here it is
        // reported and set aside so the replay ends.
        let mut tx = db.begin().await?;
        bury_job(&mut tx, job.id, job.attempts, &format!("{e:#}")).await?;
        tx.commit().await?;
        eprintln!("job {} ({}) failed: {e:#}", job.id, job.kind);
    }
    Ok(())
}

/// One report line: the recipient's local time, the masked number, what happened.
pub fn format_line(line: &Line) -> String {
    let zone = line.phone.as_ref().and_then(|p| quiet_hours::policy_for(p.as_str(), None).zones.first().copied());
    let local = |t: DateTime<Utc>| match zone {
        Some(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        None => t.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let who = line.phone.as_ref().map_or_else(|| "-".to_string(), Phone::masked);
    let what = match &line.what {
        What::Event(name) => format!("event     {name}"),
        What::Sent { flow, text, .. } => format!("sent      {flow}: {text}"),
        What::Deferred { flow, until, .. } => {
            format!("deferred  {flow}: outside the recipient's hours or over a cap, until {}", local(*until))
        }
        What::Skipped { flow, reason, .. } => format!("skipped   {flow}: {reason}"),
        What::Exited { flow, reason } => format!("exited    {flow}: {reason}"),
    };
    format!("{}  {who:<14}  {what}", local(line.at))
}
