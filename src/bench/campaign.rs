//! `backtalk bench campaign`: a campaign to a 1,000,000-customer segment, on SQLite and (with
//! `--postgres`) PostgreSQL.
//!
//! 1. **Data.** N synthetic customers with random US numbers (every area code of the state
//!    table), consent drawn once (opted in 75%, opted out 10%, none 15%), 5% with a profile
//!    time zone, 40% with an order in the last year, 2% with a promotional text in the last
//!    48 hours (smart sending). Written in bulk; not timed as part of the figures.
//! 2. **Planning**, `--runs` times: the segment (every customer, with `total_spent ≥ 0`
//!    evaluated for each) read page by page and every member planned by `flows::campaign`'s
//!    code: consent, quiet hours and caps at the recipient's local time, smart sending, A/B arm,
//!    SMS segments; the plan written to `campaign_recipients`. Beside it, in the same run, the
//!    floor: reading every customer's id and phone page by page with no condition. Peak memory
//!    is the process's high-water mark reset before each plan (Linux `clear_refs`).
//! 3. **Draining**: the whole server (`App`, its job workers, the sender with every check)
//!    with a provider that records when each text reaches it, the plan handed over at each
//!    `--rates` value for `--drain-seconds`; the rate measured at the provider after three
//!    seconds of warm-up.
//!
//! The clock is fixed at a Tuesday 18:00 UTC (inside every US window) so the plan's texts are
//! due at once and the figures do not depend on when the benchmark runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::app::{App, BuildOptions, bind};
use crate::clock::{Clock, FixedClock};
use crate::compliance::quiet_hours;
use crate::config::Config;
use crate::flows::campaign::{CampaignSpec, Planner, create};
use crate::flows::segment::{Segment, Spent};
use crate::sms::{Accepted, OutgoingSms, SendError, SmsProvider};
use crate::store::Db;
use crate::store::synthetic::{self, Cell};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub recipients: usize,
    pub seed: u64,
    /// A PostgreSQL admin URL: the same benchmark on a fresh database there too.
    pub postgres: Option<String>,
    pub runs: usize,
    pub drain_seconds: u64,
    pub rates: Vec<f64>,
}

const FIRST: [&str; 8] = ["Ana", "Ben", "Carla", "Dev", "Elena", "Farah", "Gus", "Hana"];
const LAST: [&str; 8] = ["Diaz", "Okafor", "Rossi", "Patel", "Novak", "Haddad", "Berg", "Sato"];
const TEXT: &str = "Hi {{ customer.first_name }}, our winter sale starts today: 20% off boots. Reply SHOP for bestsellers. Reply STOP to opt out.";

/// A provider that records when each text reaches it. Its message ids are unique across
/// recorders (each drain has its own, on the same database).
struct Recorder {
    prefix: u64,
    sent: Mutex<Vec<Instant>>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder { prefix: rand::random(), sent: Mutex::default() }
    }
}

#[async_trait]
impl SmsProvider for Recorder {
    async fn send(&self, _sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let mut sent = self.sent.lock().expect("recorder lock");
        sent.push(Instant::now());
        Ok(Accepted { provider_sid: format!("SM{:016x}{:016x}", self.prefix, sent.len()) })
    }

    fn sender_label(&self) -> String {
        "+15005550006".into()
    }
}

/// One backend's figures.
struct Report {
    backend: &'static str,
    generate_secs: f64,
    members: i64,
    planned: i64,
    skipped: Vec<(String, i64)>,
    plan_secs: Vec<f64>,
    scan_secs: Vec<f64>,
    segment_secs: Vec<f64>,
    peak_mib: Vec<f64>,
    /// (configured, measured) messages per second.
    drains: Vec<(f64, f64)>,
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let mut reports = vec![bench_backend("SQLite", None, &o).await?];
    if let Some(admin) = &o.postgres {
        reports.push(bench_backend("PostgreSQL", Some(admin), &o).await?);
    }
    println!("\ncampaign to {} customers (seed {}), medians of {} runs:", o.recipients, o.seed, o.runs);
    for r in &reports {
        let plan = median(&r.plan_secs);
        let scan = median(&r.scan_secs);
        println!("\n{}: data written in {:.1} s", r.backend, r.generate_secs);
        println!("  members {}, planned {}, skipped {:?}", r.members, r.planned, r.skipped);
        println!(
            "  segment evaluation + send planning + plan written: {plan:.1} s median (runs {:?}), {:.0} members/s",
            r.plan_secs.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>(),
            r.members as f64 / plan
        );
        println!(
            "  floor, reading every customer's id and phone: {scan:.2} s median; planning is {:.1}x it",
            plan / scan
        );
        println!(
            "  of which the segment's query alone (members with consent, latest promotional text, spend): {:.1} s median",
            median(&r.segment_secs)
        );
        println!("  peak memory while planning: {:.0} MiB median (runs {:?})", median(&r.peak_mib), r.peak_mib);
        println!(
            "  limits: <= 60 s {}, <= 500 MB {}",
            pass(plan <= 60.0),
            pass(median(&r.peak_mib) * 1.048_576 <= 500.0)
        );
        for (want, got) in &r.drains {
            println!(
                "  drain at {want}/s: {got:.2}/s measured at the provider ({:+.1}%) {}",
                (got / want - 1.0) * 100.0,
                pass((got / want - 1.0).abs() <= 0.05)
            );
        }
    }
    Ok(())
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    super::percentile(&s, 50.0)
}

async fn bench_backend(backend: &'static str, admin: Option<&str>, o: &Options) -> anyhow::Result<Report> {
    let scratch = tempfile::tempdir()?;
    let db_name = format!("backtalk_bench_{}", std::process::id());
    let url = match admin {
        None => format!("sqlite://{}", scratch.path().join("bench.db").display()),
        Some(admin) => synthetic::create_postgres_database(admin, &db_name).await?,
    };
    let result = bench_on(backend, &url, scratch.path(), o).await;
    if let Some(admin) = admin {
        synthetic::drop_postgres_database(admin, &db_name).await?;
    }
    result
}

async fn bench_on(backend: &'static str, url: &str, dir: &std::path::Path, o: &Options) -> anyhow::Result<Report> {
    let db = Db::connect(url).await?;
    let clock = Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2026, 12, 8, 18, 0, 0).single().expect("valid time")));
    let now = clock.now();
    println!("{backend}: writing {} customers…", o.recipients);
    let started = Instant::now();
    // A large page cache while writing (SQLite), back to the default before measuring.
    synthetic::set_write_cache_kib(&db, 512 * 1024).await?;
    generate(&db, o.recipients, o.seed, now).await?;
    synthetic::set_write_cache_kib(&db, 2_000).await?;
    let generate_secs = started.elapsed().as_secs_f64();
    // A fresh pool for the measurements: nothing of the writing phase's connections kept.
    db.close().await;
    let db = Db::connect(url).await?;
    println!("{backend}: data written in {generate_secs:.0} s; resident memory now {:.0} MiB", current_rss_mib());
    let segment = Segment {
        name: "everyone".into(),
        consent: Some("any".into()),
        total_spent: Some(Spent { at_least: Some(0.0), below: None }),
        ..Segment::default()
    };
    let planner =
        Planner { db: &db, now, smart_sending: chrono::Duration::hours(24), cost_per_segment: 0.0083, currency: "USD" };
    let mut report = Report {
        backend,
        generate_secs,
        members: 0,
        planned: 0,
        skipped: vec![],
        plan_secs: vec![],
        scan_secs: vec![],
        segment_secs: vec![],
        peak_mib: vec![],
        drains: vec![],
    };
    let mut last_campaign = None;
    for run in 0..o.runs {
        let started = Instant::now();
        let scanned = synthetic::scan_customers(&db, 5_000).await?;
        report.scan_secs.push(started.elapsed().as_secs_f64());
        // The segment's query alone, page by page: what evaluation costs before planning.
        let started = Instant::now();
        let filter = segment.filter(now);
        let mut after = 0;
        while let Some(last) = crate::store::segments::members_page(&db, &filter, after, 5_000).await?.last() {
            after = last.customer_id;
        }
        report.segment_secs.push(started.elapsed().as_secs_f64());
        let spec = CampaignSpec {
            name: format!("bench-{run}"),
            segment: "everyone".into(),
            text: Some(TEXT.into()),
            rate: Some(1.0),
            ..CampaignSpec::default()
        };
        let campaign = spec.check(1.0).map_err(|p| anyhow::anyhow!("{p:?}"))?;
        reset_peak_memory();
        let started = Instant::now();
        let (id, summary) = create(&planner, &campaign, &segment).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = started.elapsed().as_secs_f64();
        let peak = super::retrieval::peak_rss_mib().unwrap_or(f64::NAN);
        println!(
            "{backend} run {}: {} members planned in {secs:.1} s (peak {peak:.0} MiB); floor scan of {scanned} in {:.2} s",
            run + 1,
            summary.members,
            report.scan_secs[run]
        );
        report.plan_secs.push(secs);
        report.peak_mib.push(peak);
        report.members = summary.members;
        report.planned = summary.planned;
        report.skipped = summary.skipped.into_iter().collect();
        if let Some(previous) = last_campaign.replace(id) {
            crate::store::campaigns::delete_campaign(&db, previous).await?;
        }
    }
    db.close().await;
    if let Some(id) = last_campaign {
        for rate in &o.rates {
            let measured = drain(url, dir, clock.clone(), id, *rate, o.drain_seconds).await?;
            println!("{backend}: drained at {rate}/s configured: {measured:.2}/s at the provider");
            report.drains.push((*rate, measured));
        }
    }
    Ok(report)
}

/// Writes the synthetic store.
async fn generate(db: &Db, n: usize, seed: u64, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let codes = quiet_hours::us_area_codes();
    const BATCH: usize = 50_000;
    let phone = |i: usize| {
        // Injective for i < codes × 800 × 10,000: every number distinct.
        let code = &codes[i % codes.len()];
        let exchange = 200 + (i / codes.len()) % 800;
        let line = (i / (codes.len() * 800)) % 10_000;
        format!("+1{code}{exchange}{line:04}")
    };
    let first_customer = synthetic::max_id(db, "customers").await?;
    for start in (0..n).step_by(BATCH) {
        let rows: Vec<Vec<Cell>> = (start..(start + BATCH).min(n))
            .map(|i| {
                let name = format!("{} {}", FIRST[rng.random_range(0..8)], LAST[rng.random_range(0..8)]);
                let tz = if rng.random_bool(0.05) { Cell::Text("America/Chicago".into()) } else { Cell::Null };
                vec![Cell::Text(phone(i)), Cell::Text(name), tz, Cell::Time(now)]
            })
            .collect();
        synthetic::insert_rows(db, "customers", &["phone", "name", "timezone", "created_at"], &rows).await?;
    }
    let ids = synthetic::ids_after(db, "customers", first_customer).await?;
    for start in (0..n).step_by(BATCH) {
        let mut consent = Vec::new();
        let mut orders = Vec::new();
        for (i, id) in ids.iter().enumerate().take((start + BATCH).min(n)).skip(start) {
            let roll: f64 = rng.random();
            let kind = if roll < 0.75 {
                Some("opt_in")
            } else if roll < 0.85 {
                Some("opt_out")
            } else {
                None
            };
            if let Some(kind) = kind {
                consent.push(vec![
                    Cell::Text(phone(i)),
                    Cell::Text(kind.into()),
                    Cell::Text("bench".into()),
                    Cell::Text("marketing".into()),
                    Cell::Time(now - chrono::Duration::days(rng.random_range(1..300))),
                ]);
            }
            if rng.random_bool(0.4) {
                orders.push(vec![
                    Cell::Int(*id),
                    Cell::Text(format!("B{i}")),
                    Cell::Time(now - chrono::Duration::days(rng.random_range(1..365))),
                    Cell::Text("delivered".into()),
                    Cell::Int(rng.random_range(1_000..30_000)),
                    Cell::Text("USD".into()),
                ]);
            }
        }
        synthetic::insert_rows(db, "consent_events", &["phone", "kind", "source", "scope", "created_at"], &consent)
            .await?;
        synthetic::insert_rows(
            db,
            "orders",
            &["customer_id", "external_id", "ordered_at", "status", "total_cents", "currency"],
            &orders,
        )
        .await?;
    }
    // 2% got a promotional text in the last 48 hours: about half of them are held by smart
    // sending.
    let promoted: Vec<usize> = (0..n).filter(|_| rng.random_bool(0.02)).collect();
    let first_conversation = synthetic::max_id(db, "conversations").await?;
    let conversations: Vec<Vec<Cell>> = promoted
        .iter()
        .map(|i| {
            vec![Cell::Text(phone(*i)), Cell::Int(ids[*i]), Cell::Text("bot".into()), Cell::Time(now), Cell::Time(now)]
        })
        .collect();
    synthetic::insert_rows(
        db,
        "conversations",
        &["phone", "customer_id", "state", "created_at", "updated_at"],
        &conversations,
    )
    .await?;
    let conversation_ids = synthetic::ids_after(db, "conversations", first_conversation).await?;
    let texts: Vec<Vec<Cell>> = promoted
        .iter()
        .zip(&conversation_ids)
        .map(|(i, c)| {
            let at = now - chrono::Duration::minutes(rng.random_range(1..2_880));
            vec![
                Cell::Int(*c),
                Cell::Text(phone(*i)),
                Cell::Text("An earlier offer.".into()),
                Cell::Text("proactive".into()),
                Cell::Text("earlier".into()),
                Cell::Text("sent".into()),
                Cell::Time(at),
                Cell::Time(at),
                Cell::Text("promotional".into()),
            ]
        })
        .collect();
    synthetic::insert_rows(
        db,
        "outbox",
        &["conversation_id", "to_phone", "body", "kind", "subject", "status", "created_at", "sent_at", "class"],
        &texts,
    )
    .await?;
    Ok(())
}

/// This process's resident memory now (Linux `VmRSS`), in MiB.
fn current_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Resets this process's peak-memory mark (Linux: writing 5 to `clear_refs`), so the next
/// reading is the peak of what follows.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs the whole server on the plan at `rate` for `seconds`; the rate measured at the
/// provider (between the first and last arrival) after three seconds of warm-up.
async fn drain(
    url: &str,
    dir: &std::path::Path,
    clock: Arc<FixedClock>,
    campaign: i64,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<f64> {
    let db = Db::connect(url).await?;
    synthetic::reschedule_campaign(&db, campaign, rate).await?;
    db.close().await;
    let config = Config {
        data_dir: dir.join(format!("drain-{rate}")),
        database_url: url.to_string(),
        listen: "127.0.0.1:0".parse()?,
        // The sending number's throughput, shared by campaigns: this run's rate.
        campaigns: crate::config::CampaignsConfig { rate, ..Default::default() },
        ..Config::default()
    };
    let recorder = Arc::new(Recorder::new());
    let app =
        App::build(config, BuildOptions { demo: false, provider: Some(recorder.clone()), clock: Some(clock) }).await?;
    let listener = bind("127.0.0.1:0".parse()?).await?;
    let cancel = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, cancel.clone()));
    let warm_up = Duration::from_secs(3);
    tokio::time::sleep(warm_up).await;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // The rate between the first and the last arrival of the window: arrivals minus one over
    // the time between them (a count over the window is off by one arrival at 1/s).
    let arrivals: Vec<Instant> = recorder
        .sent
        .lock()
        .expect("recorder lock")
        .iter()
        .copied()
        .filter(|t| *t >= start && *t <= start + Duration::from_secs(seconds))
        .collect();
    cancel.cancel();
    let _ = server.await;
    // The next rate starts from a paused plan.
    let db = Db::connect(url).await?;
    crate::store::campaigns::set_status(&db, campaign, &["scheduled", "sending"], "paused", Utc::now()).await?;
    db.close().await;
    let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) else { return Ok(0.0) };
    let span = last.duration_since(*first).as_secs_f64();
    Ok(if span > 0.0 { (arrivals.len() - 1) as f64 / span } else { 0.0 })
}
