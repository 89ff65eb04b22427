//! `backtalk bench flows`: a large random replay through `flows simulate`'s code path (the
//! events API's `track`, the flow engine, the job queue, the sender's consent, smart sending,
//! quiet-hours and cap checks) on a virtual clock, then every rule checked on what was sent:
//!
//! - random NANP numbers (every US area code of the state table, random exchange and line),
//!   each with a fixed consent drawn once (opted in 75%, opted out 10%, none 15%), carried by
//!   its first event;
//! - events at random minutes of two weeks: carts (a promotional flow: wait 1 h, text), parcel
//!   updates (a transactional flow: text at once), and conversions that end a cart by its id;
//! - then, from the outbox: texts sent outside the recipient's window, to a number without the
//!   consent its class needs, within 24 h of another promotional text, over a state's cap; texts
//!   left pending; deferred texts and what became of each; any text sent twice.
//!
//! Figures: events and texts per second, the flow engine's cost per job (median and p99 of the
//! event and step jobs), and peak memory. The check is the point; `tests/api/flows.rs` runs a
//! smaller replay of the same generator.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::commerce::events::{TrackEvent, parse_request};
use crate::compliance::quiet_hours;
use crate::domain::{OutboxStatus, SendClass};
use crate::flows::file::parse;
use crate::flows::set::FlowSet;
use crate::flows::simulate::{Summary, What, simulate_events};
use crate::store::Db;

const CART_FLOW: &str = r#"name = "cart"
class = "promotional"
trigger = { event = "Checkout Started" }
exit = [{ event = "Cart Converted", match = "checkout_id" }]
[[steps]]
wait = "1h"
[[steps]]
send = "Still thinking about your cart? Reply with any question."
"#;

const PARCEL_FLOW: &str = r#"name = "parcel"
class = "transactional"
trigger = { event = "Parcel Update" }
[[steps]]
send = "Your parcel is on its way."
"#;

/// A number's consent for the whole replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    OptedIn,
    OptedOut,
    None,
}

/// Random events for `count` flow triggers over `numbers` numbers, sorted by time.
pub fn random_events(count: usize, numbers: usize, seed: u64) -> (Vec<TrackEvent>, HashMap<String, Consent>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let areas = quiet_hours::us_area_codes();
    let start = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).single().expect("valid time");
    let mut phones = Vec::with_capacity(numbers);
    let mut seen = HashSet::new();
    while phones.len() < numbers {
        let area = &areas[rng.random_range(0..areas.len())];
        let phone = format!("+1{area}{}{:04}", rng.random_range(200..1000), rng.random_range(0..10_000));
        if seen.insert(phone.clone()) {
            phones.push(phone);
        }
    }
    let consent: HashMap<String, Consent> = phones
        .iter()
        .map(|p| {
            let c = match rng.random_range(0..100) {
                0..75 => Consent::OptedIn,
                75..85 => Consent::OptedOut,
                _ => Consent::None,
            };
            (p.clone(), c)
        })
        .collect();
    let mut raw: Vec<(DateTime<Utc>, String, serde_json::Value)> = Vec::with_capacity(count + count / 10);
    // Ordered, so the same seed draws the same conversions.
    let mut carts: BTreeMap<String, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
    for n in 0..count {
        let phone = phones[rng.random_range(0..phones.len())].clone();
        let at = start + Duration::minutes(rng.random_range(0..14 * 24 * 60));
        if rng.random_range(0..100) < 75 {
            let cart = format!("k{n}");
            carts.entry(phone.clone()).or_default().push((at, cart.clone()));
            raw.push((at, phone, json!({"event": "Checkout Started", "properties": {"checkout_id": cart}})));
        } else {
            raw.push((at, phone, json!({"event": "Parcel Update", "properties": {"parcel": n}})));
        }
    }
    // A third of carts convert within two hours: some before the reminder, some after.
    let conversions: Vec<_> = carts
        .iter()
        .flat_map(|(phone, list)| list.iter().map(move |(at, cart)| (phone.clone(), *at, cart.clone())))
        .collect();
    for (phone, at, cart) in conversions {
        if rng.random_range(0..3) == 0 {
            let when = at + Duration::minutes(rng.random_range(1..120));
            raw.push((when, phone, json!({"event": "Cart Converted", "properties": {"checkout_id": cart}})));
        }
    }
    raw.sort_by_key(|e| e.0);
    let mut first = HashSet::new();
    let events = raw
        .into_iter()
        .enumerate()
        .map(|(i, (at, phone, mut body))| {
            if first.insert(phone.clone()) {
                let props = body["properties"].as_object_mut().expect("an object");
                match consent[&phone] {
                    Consent::OptedIn => props.insert("sms_consent".into(), "opted_in".into()),
                    Consent::OptedOut => props.insert("sms_consent".into(), "opted_out".into()),
                    Consent::None => None,
                };
            }
            body["id"] = json!(format!("e{i}"));
            body["phone"] = json!(phone);
            body["timestamp"] = json!(at.to_rfc3339());
            parse_request(body).expect("a generated event is valid").remove(0)
        })
        .collect();
    (events, consent)
}

/// A text sent: when, whether promotional, its subject (the flow: caps may count per subject).
type Sent = (DateTime<Utc>, bool, String);

/// What the replay did and every rule it broke (each count must be 0).
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub events: usize,
    pub sent: usize,
    pub sent_promotional: usize,
    pub sent_transactional: usize,
    /// Skips by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Texts deferred at least once, and what became of them.
    pub deferred: usize,
    pub deferred_then_sent: usize,
    pub deferred_then_skipped: usize,
    pub outside_window: usize,
    pub without_consent: usize,
    pub smart_sending_breaks: usize,
    pub cap_breaks: usize,
    pub left_pending: usize,
    pub sent_twice: usize,
}

impl Check {
    /// Every rule held.
    pub fn holds(&self) -> bool {
        self.outside_window == 0
            && self.without_consent == 0
            && self.smart_sending_breaks == 0
            && self.cap_breaks == 0
            && self.left_pending == 0
            && self.sent_twice == 0
            && self.deferred == self.deferred_then_sent + self.deferred_then_skipped
    }
}

/// Replays `count` random triggers in `db` (a fresh database) and checks the outcome.
pub async fn replay(
    db: &Db,
    count: usize,
    seed: u64,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(Check, Summary)> {
    let (events, consent) = random_events(count, (count / 3).max(1), seed);
    let flows = vec![
        parse(std::path::Path::new("cart.toml"), CART_FLOW).map_err(|e| anyhow::anyhow!("{e:?}"))?,
        parse(std::path::Path::new("parcel.toml"), PARCEL_FLOW).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    ];
    let event_count = events.len();
    let (lines, summary) =
        simulate_events(db, FlowSet::fixed(flows), events, Duration::hours(24), None, &Default::default(), progress)
            .await?;
    let mut check = Check { events: event_count, ..Check::default() };
    let mut sent_ids = HashMap::<i64, usize>::new();
    let mut deferred = HashSet::new();
    for line in &lines {
        match &line.what {
            What::Sent { outbox, .. } => *sent_ids.entry(*outbox).or_default() += 1,
            What::Deferred { outbox, .. } => {
                deferred.insert(*outbox);
            }
            What::Skipped { reason, .. } => *check.skipped.entry(reason_kind(reason)).or_default() += 1,
            _ => {}
        }
    }
    check.sent_twice = sent_ids.values().filter(|n| **n > 1).count();
    let rows = crate::store::flows::all_flow_texts(db).await?;
    let mut by_phone: HashMap<&str, Vec<Sent>> = HashMap::new();
    for text in &rows {
        let (id, phone, class, status, sent_at, subject) =
            (&text.id, &text.to_phone, &text.class, &text.status, &text.sent_at, &text.subject);
        let status: OutboxStatus = status.parse()?;
        let promotional = class.as_deref() == Some(SendClass::Promotional.as_str());
        if deferred.contains(id) {
            check.deferred += 1;
            match status {
                OutboxStatus::Sent => check.deferred_then_sent += 1,
                OutboxStatus::Suppressed => check.deferred_then_skipped += 1,
                _ => {}
            }
        }
        match status {
            OutboxStatus::Pending | OutboxStatus::Sending => check.left_pending += 1,
            OutboxStatus::Sent => {
                let at = sent_at.ok_or_else(|| anyhow::anyhow!("outbox {id} sent without sent_at"))?;
                check.sent += 1;
                if promotional {
                    check.sent_promotional += 1;
                } else {
                    check.sent_transactional += 1;
                }
                if !quiet_hours::policy_for(phone, None).allows(at) {
                    check.outside_window += 1;
                }
                let allowed = match consent.get(phone.as_str()).copied().unwrap_or(Consent::None) {
                    Consent::OptedIn => true,
                    Consent::OptedOut => false,
                    Consent::None => !promotional,
                };
                if !allowed {
                    check.without_consent += 1;
                }
                by_phone.entry(phone.as_str()).or_default().push((
                    at,
                    promotional,
                    subject.clone().unwrap_or_default(),
                ));
            }
            _ => {}
        }
    }
    for (phone, sends) in &mut by_phone {
        sends.sort_by_key(|s| s.0);
        let promotional: Vec<DateTime<Utc>> = sends.iter().filter(|s| s.1).map(|s| s.0).collect();
        check.smart_sending_breaks += promotional.windows(2).filter(|w| w[1] - w[0] < Duration::hours(24)).count();
        for cap in &quiet_hours::policy_for(phone, None).rule.caps {
            for (i, (at, _, subject)) in sends.iter().enumerate() {
                let inside = sends[i..]
                    .iter()
                    .filter(|(t, _, s)| *t - *at < Duration::hours(cap.hours) && (!cap.same_subject || s == subject))
                    .count();
                if inside > cap.max {
                    check.cap_breaks += 1;
                }
            }
        }
    }
    Ok((check, summary))
}

/// A skip's reason without its details ("smart sending", "no marketing consent", …).
fn reason_kind(reason: &str) -> String {
    reason.split(':').next().unwrap_or(reason).trim().to_string()
}

/// The baseline: what the queue itself costs per job (enqueue, claim, complete a job that
/// does nothing), in the same database, milliseconds each, sorted.
async fn bare_jobs(db: &Db, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let mut tx = db.begin().await?;
        crate::store::jobs::enqueue_job_at(&mut tx, "bench_noop", "{}", Some(&format!("noop:{i}")), 1, 0).await?;
        tx.commit().await?;
        let job = crate::store::jobs::claim_job_due_by(db, 60_000, 0).await?.expect("the job just queued");
        let mut tx = db.begin().await?;
        crate::store::jobs::complete_job(&mut tx, job.id, job.attempts).await?;
        tx.commit().await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

/// `backtalk bench flows --events N`.
pub async fn run(count: usize, seed: u64) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let db = Db::connect(&format!("sqlite://{}", scratch.path().join("bench.db").display())).await?;
    let bare = bare_jobs(&db, 2_000).await?;
    let bare_p50 = super::percentile(&bare, 50.0);
    let started = Instant::now();
    let progress = crate::flows::simulate::progress_bar();
    let (check, summary) = replay(&db, count, seed, &progress).await?;
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let mut per_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (kind, ms) in &summary.job_ms {
        per_kind.entry(kind.as_str()).or_default().push(*ms);
    }
    println!("flows replay: {} events ({count} triggers, seed {seed}) in {secs:.1} s on SQLite", check.events);
    println!("  {:>10.0} events/s, {:.0} texts sent/s", check.events as f64 / secs, check.sent as f64 / secs);
    println!(
        "  sent {} ({} promotional, {} transactional); deferred {} (then sent {}, then skipped {})",
        check.sent,
        check.sent_promotional,
        check.sent_transactional,
        check.deferred,
        check.deferred_then_sent,
        check.deferred_then_skipped
    );
    for (reason, n) in &check.skipped {
        println!("  skipped {n:>7}  {reason}");
    }
    println!(
        "  broken: outside window {}, without consent {}, smart sending {}, caps {}, left pending {}, sent twice {}",
        check.outside_window,
        check.without_consent,
        check.smart_sending_breaks,
        check.cap_breaks,
        check.left_pending,
        check.sent_twice
    );
    let mut figures = serde_json::Map::new();
    for (kind, ms) in &mut per_kind {
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (super::percentile(ms, 50.0), super::percentile(ms, 99.0));
        println!(
            "  job {kind:<11} n={:>7}  p50 {p50:.3} ms  p99 {p99:.3} ms  ({:.1}x a bare job's p50)",
            ms.len(),
            p50 / bare_p50
        );
        figures.insert(format!("{kind}_p50_ms"), json!(p50));
        figures.insert(format!("{kind}_p99_ms"), json!(p99));
    }
    println!(
        "  baseline: a bare job (enqueue, claim, complete) n={} p50 {bare_p50:.3} ms p99 {:.3} ms",
        bare.len(),
        super::percentile(&bare, 99.0)
    );
    figures.insert("bare_job_p50_ms".into(), json!(bare_p50));
    let rss = super::retrieval::peak_rss_mib();
    if let Some(rss) = rss {
        println!("  peak RSS {rss:.0} MiB");
    }
    let mut out = json!({
        "bench": "flows", "events": check.events, "seconds": secs, "sent": check.sent,
        "deferred": check.deferred, "outside_window": check.outside_window,
        "without_consent": check.without_consent, "smart_sending_breaks": check.smart_sending_breaks,
        "cap_breaks": check.cap_breaks, "left_pending": check.left_pending, "sent_twice": check.sent_twice,
        "peak_rss_mib": rss, "holds": check.holds(),
    });
    out.as_object_mut().expect("an object").extend(figures);
    println!("{out}");
    anyhow::ensure!(check.holds(), "a rule was broken: {check:?}");
    Ok(())
}
