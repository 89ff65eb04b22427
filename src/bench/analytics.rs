//! `backtalk bench analytics`: the summary over a million conversations and ten million
//! messages, and the attribution of 100,000 late orders, on SQLite and (with `--postgres`)
//! PostgreSQL (docs/analytics.md, "How fast").
//!
//! 1. **Data**: `analytics::history` makes the conversations over 90 days (1-3 texts from the
//!    flows and the campaign each, `--exchanges` customer texts with their answers on
//!    average, clicks, escalations with a person's reply, opt-outs, orders), written in bulk
//!    and not timed as part of the figures; then its orders are attributed.
//! 2. **The summary** of the 90 days to now as `GET /api/v1/analytics/summary` computes it:
//!    once cold (no roll-ups: every day counted from the rows and its roll-up kept), then
//!    `--runs` times warm (a dashboard refreshed within `RECENT_FOR`); six minutes on, the
//!    background refresher `serve` runs counts the recent days again (timed), and the summary
//!    after it. The baseline, in the same run: one `count(*)` of the period's messages by
//!    their indexed time, the least any summary reading the rows would cost.
//! 3. **Late orders**: `--late-orders` orders arrive for customers with texts (their
//!    attribution pending, as after a webhook); the pass that attributes them is timed, then
//!    the refresher counting again the days they changed, then the summary.

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::analytics::history::{self, Plan};
use crate::analytics::{Windows, attribute_pending, summary};
use crate::escalation::hours::BusinessHours;
use crate::store::Db;
use crate::store::analytics_period::Scope;
use crate::store::synthetic::{self, Cell};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub conversations: usize,
    pub exchanges: f64,
    pub late_orders: usize,
    pub runs: usize,
    pub seed: u64,
    pub postgres: Option<String>,
}

struct Report {
    backend: &'static str,
    messages: i64,
    generate_secs: f64,
    history_orders: usize,
    history_attribution_secs: f64,
    cold_secs: f64,
    recent_days: usize,
    refresh_secs: f64,
    after_refresh_secs: f64,
    warm_secs: Vec<f64>,
    floor_secs: Vec<f64>,
    late_secs: f64,
    late_days: usize,
    late_refresh_secs: f64,
    after_late_secs: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the benchmark and prints its figures, each backend's as soon as it is measured.
pub async fn run(o: Options) -> anyhow::Result<()> {
    print_report(&on_backend("SQLite", None, &o).await?, &o);
    if let Some(admin) = &o.postgres {
        print_report(&on_backend("PostgreSQL", Some(admin), &o).await?, &o);
    }
    Ok(())
}

fn print_report(r: &Report, o: &Options) {
    let (warm, floor) = (median(&r.warm_secs), median(&r.floor_secs));
    let limit = if r.backend == "SQLite" { 2.0 } else { 0.5 };
    println!(
        "\n{}: analytics over {} conversations ({} exchanges each on average, seed {}), 90 days",
        r.backend, o.conversations, o.exchanges, o.seed
    );
    println!("  {} messages written in {:.0} s", r.messages, r.generate_secs);
    println!(
        "  the history's {} orders attributed in {:.1} s ({:.0} orders/s)",
        r.history_orders,
        r.history_attribution_secs,
        r.history_orders as f64 / r.history_attribution_secs
    );
    println!("  summary of the 90 days to now, cold (every roll-up made): {:.1} s", r.cold_secs);
    println!(
        "  {} min on, the refresher counts the {} recent days again (in the background): {:.1} s; the summary after it: {:.0} ms",
        (summary::RECENT_FOR + Duration::minutes(1)).num_minutes(),
        r.recent_days,
        r.refresh_secs,
        r.after_refresh_secs * 1000.0
    );
    println!(
        "  summary, warm: {:.0} ms median of {} (runs {:?}); <= {:.0} ms {}",
        warm * 1000.0,
        r.warm_secs.len(),
        r.warm_secs.iter().map(|s| format!("{:.0}", s * 1000.0)).collect::<Vec<_>>(),
        limit * 1000.0,
        if warm <= limit { "PASS" } else { "FAIL" }
    );
    println!(
        "  baseline, count(*) of the period's messages: {:.0} ms median; the summary is {:.2}x it",
        floor * 1000.0,
        warm / floor
    );
    println!(
        "  {} late orders attributed in {:.1} s ({:.0} orders/s)",
        o.late_orders,
        r.late_secs,
        o.late_orders as f64 / r.late_secs
    );
    println!(
        "  then the refresher counts the {} days they changed again: {:.1} s; the summary after it: {:.0} ms",
        r.late_days,
        r.late_refresh_secs,
        r.after_late_secs * 1000.0
    );
}

async fn on_backend(backend: &'static str, admin: Option<&String>, o: &Options) -> anyhow::Result<Report> {
    let scratch = tempfile::tempdir()?;
    let db_name = format!("backtalk_bench_{}", std::process::id());
    let url = match admin {
        None => format!("sqlite://{}", scratch.path().join("bench.db").display()),
        Some(admin) => synthetic::create_postgres_database(admin, &db_name).await?,
    };
    let result = bench_on(backend, &url, o).await;
    if let Some(admin) = admin {
        synthetic::drop_postgres_database(admin, &db_name).await?;
    }
    result
}

async fn bench_on(backend: &'static str, url: &str, o: &Options) -> anyhow::Result<Report> {
    let db = Db::connect(url).await?;
    // The history ends now, a fixed time (so the figures do not depend on when it runs): the
    // summary of the 90 days to now is what a dashboard asks.
    let end = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).single().expect("valid time");
    let now = end;
    let plan = Plan { customers: o.conversations, days: 90, exchanges: o.exchanges, seed: o.seed };
    println!("{backend}: writing {} conversations…", o.conversations);
    let bar = indicatif::ProgressBar::new(o.conversations as u64);
    let started = Instant::now();
    synthetic::set_write_cache_kib(&db, 512 * 1024).await?;
    let made = history::make(&db, plan, end, |done| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    let generate_secs = started.elapsed().as_secs_f64();
    let windows = Windows::default();
    let started = Instant::now();
    attribute_pending(&db, &windows).await?;
    let history_attribution_secs = started.elapsed().as_secs_f64();
    synthetic::set_write_cache_kib(&db, 2_000).await?;
    db.close().await;
    let db = Db::connect(url).await?;
    let messages = synthetic::max_id(&db, "messages").await?;
    println!(
        "{backend}: {messages} messages, {} orders, written in {generate_secs:.0} s; attributed in {history_attribution_secs:.1} s",
        made.orders
    );

    let hours = BusinessHours::from_config(&crate::config::BusinessHoursConfig::default())
        .map_err(|(k, why)| anyhow::anyhow!("{k}: {why}"))?;
    // From a midnight, as the dashboard's dates give.
    let from = (end - Duration::days(90)).date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let to = end;
    let scope = Scope::default();
    let started = Instant::now();
    let cold = summary::counts_for(&db, &hours, from, to, &scope, now).await?;
    let cold_secs = started.elapsed().as_secs_f64();
    println!("{backend}: summary, cold, in {cold_secs:.1} s");
    let (mut warm_secs, mut floor_secs) = (vec![], vec![]);
    for _ in 0..o.runs {
        let started = Instant::now();
        let warm = summary::counts_for(&db, &hours, from, to, &scope, now).await?;
        warm_secs.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(warm == cold, "the roll-ups gave other counts than the rows");
        let started = Instant::now();
        crate::store::analytics_period::count_messages(&db, from, to).await?;
        floor_secs.push(started.elapsed().as_secs_f64());
    }
    println!(
        "{backend}: {} texts out, {} conversations, {} conversions in the summary",
        cold.messages_outbound, cold.conversations, cold.conversions
    );
    // Six minutes on, the roll-ups of the days not yet settled are out of date: `serve`'s
    // refresher counts them again in the background, and the dashboard reads roll-ups only.
    let later = now + Duration::minutes(6);
    let started = Instant::now();
    let recent_days = summary::refresh(&db, &hours, later).await?;
    let refresh_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    summary::counts_for(&db, &hours, from, later, &scope, later).await?;
    let after_refresh_secs = started.elapsed().as_secs_f64();
    println!(
        "{backend}: the refresher counted {recent_days} days in {refresh_secs:.1} s; the summary after it in {:.0} ms",
        after_refresh_secs * 1000.0
    );

    late_orders(&db, o, from, end).await?;
    let started = Instant::now();
    let attributed = attribute_pending(&db, &windows).await?;
    let late_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(attributed as usize == o.late_orders, "{attributed} late orders attributed");
    // Every day of the period had late orders: the refresher counts them all again.
    let started = Instant::now();
    let late_days = summary::refresh(&db, &hours, later).await?;
    let late_refresh_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let after = summary::counts_for(&db, &hours, from, later, &scope, later).await?;
    let after_late_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(after.conversions > cold.conversions, "the late orders were not counted");
    println!(
        "{backend}: late orders attributed in {late_secs:.1} s; the refresher counted {late_days} days again in {late_refresh_secs:.1} s; the summary after it in {:.0} ms",
        after_late_secs * 1000.0
    );
    db.close().await;
    Ok(Report {
        backend,
        messages,
        generate_secs,
        history_orders: made.orders,
        history_attribution_secs,
        cold_secs,
        recent_days,
        refresh_secs,
        after_refresh_secs,
        warm_secs,
        floor_secs,
        late_secs,
        late_days,
        late_refresh_secs,
        after_late_secs,
    })
}

/// Writes `o.late_orders` orders for random customers of the history, placed within it.
async fn late_orders(db: &Db, o: &Options, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(o.seed + 1);
    let first = synthetic::max_id(db, "orders").await? + 1;
    let customers = synthetic::max_id(db, "customers").await?;
    let span = (to - from).num_seconds();
    let rows: Vec<Vec<Cell>> = (0..o.late_orders as i64)
        .map(|i| {
            vec![
                Cell::Int(first + i),
                Cell::Int(rng.random_range(1..=customers)),
                Cell::Text(format!("L{}", first + i)),
                Cell::Time(from + Duration::seconds(rng.random_range(0..span))),
                Cell::Text("paid".into()),
                Cell::Int(rng.random_range(1_800..24_000)),
                Cell::Text("USD".into()),
                Cell::Int(1),
            ]
        })
        .collect();
    let columns =
        ["id", "customer_id", "external_id", "ordered_at", "status", "total_cents", "currency", "attribution_stale"];
    for chunk in rows.chunks(20_000) {
        synthetic::insert_rows(db, "orders", &columns, chunk).await?;
    }
    Ok(())
}
