//! `backtalk bench turn`: what a turn costs Backtalk itself, the model's call aside.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::{percentile, signed_text, start_demo_server};

/// Texts the turn benchmark sends, in turn: product questions with and without filters, a
/// typo, a policy question, an order question, thanks.
const TURN_TEXTS: &[&str] = &[
    "do you have the blouse in black?",
    "anything under $30 for my husband?",
    "the shoes in size 9",
    "a dress but not black",
    "do you have a cardigna?",
    "what is your return policy?",
    "how long does shipping take?",
    "where is my order?",
    "thanks!",
];

/// `backtalk bench turn`: what a turn costs Backtalk itself, the model's call aside.
///
/// Sends `turns` signed texts (each from a number of its own, the texts of [`TURN_TEXTS`] in
/// turn) at `rate` per second to `serve --demo` (release build, SQLite, the offline
/// responder), waits for every turn, then reads the per-stage times each turn recorded:
/// overhead = every stage (compliance, context, retrieval, guard, score, route) but
/// `generate`. Prints p50 and p99 of the overhead and of each stage; the last line is JSON.
pub async fn turn(turns: usize, rate: u32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("starting backtalk serve --demo (release build expected) ...");
    let (server, url) = start_demo_server(dir.path()).await?;
    let hook = format!("{url}/webhooks/twilio");
    let http = reqwest::Client::new();
    let started = Instant::now();
    for n in 0..turns {
        let due = started + Duration::from_secs_f64(n as f64 / f64::from(rate.max(1)));
        tokio::time::sleep_until(due.into()).await;
        let (body, sig) = signed_text(n, TURN_TEXTS[n % TURN_TEXTS.len()]);
        let response = http
            .post(&hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(body)
            .send()
            .await
            .context("the server stopped answering")?;
        anyhow::ensure!(response.status().is_success(), "webhook {n} answered {}", response.status());
    }
    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("backtalk.db").display())).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let stage_ms = loop {
        let rows = crate::store::turns::all_stage_ms(&db).await?;
        if rows.len() >= turns {
            break rows;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {} of {turns} turns were recorded", rows.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(server);

    let mut overhead = Vec::new();
    let mut by_stage: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for stages in &stage_ms {
        overhead.push(stages.iter().filter(|(stage, _)| *stage != "generate").map(|(_, ms)| ms).sum::<f64>());
        for (stage, ms) in stages {
            by_stage.entry(stage.clone()).or_default().push(*ms);
        }
    }
    overhead.sort_by(f64::total_cmp);
    println!("{} turns at {rate}/s (serve --demo, SQLite, offline responder)", stage_ms.len());
    println!("| stage | p50 ms | p99 ms |");
    println!("|---|---|---|");
    let mut stages_json = serde_json::Map::new();
    for (stage, mut ms) in by_stage {
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
        println!("| {stage} | {p50:.3} | {p99:.3} |");
        stages_json.insert(stage, serde_json::json!({"p50_ms": p50, "p99_ms": p99}));
    }
    let (p50, p99) = (percentile(&overhead, 50.0), percentile(&overhead, 99.0));
    println!("| **overhead (all but generate)** | **{p50:.3}** | **{p99:.3}** |");
    println!(
        "{}",
        serde_json::json!({"turns": stage_ms.len(), "overhead_p50_ms": p50, "overhead_p99_ms": p99, "stages": stages_json})
    );
    Ok(())
}
