//! `backtalk bench webhook`: a load benchmark of signed inbound webhooks, Twilio's (a form
//! with `X-Twilio-Signature`) and Telnyx's (JSON with an Ed25519 signature), through the
//! shared generator ([`super::load`]): against one `serve --demo` and a bare axum handler, a
//! fixed-rate open-loop phase and a saturation phase for each provider in the same run, the
//! bare handler's four first.
//! Afterwards it checks that every acknowledged text is stored in the database.

use std::sync::Arc;

use super::load::{Load, Phases, Request, Target, Targets};
use super::{signed_telnyx_text, signed_text};

const TEXT: &str = "do you have the blouse in black?";

/// One unique, correctly signed inbound Twilio text per `n`.
fn twilio_request() -> Request {
    Arc::new(|http: &reqwest::Client, url: &str, n: usize| {
        let (body, sig) = signed_text(n, TEXT);
        http.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(body)
    })
}

/// One unique, correctly signed inbound Telnyx text per `n`, signed when it is sent (Ed25519
/// signing is part of the client's cost here, not the server's).
fn telnyx_request() -> Request {
    Arc::new(|http: &reqwest::Client, url: &str, n: usize| {
        let (body, timestamp, signature) = signed_telnyx_text(n, TEXT);
        http.post(url)
            .header("content-type", "application/json")
            .header("telnyx-timestamp", timestamp)
            .header("telnyx-signature-ed25519", signature)
            .body(body)
    })
}

/// `backtalk bench webhook`: prints a table per provider, the Telnyx/Twilio ratio of the
/// fixed-rate p99 and, last, one JSON line with the results.
pub async fn webhook(load: Load) -> anyhow::Result<()> {
    let mut targets = Targets::start(&load).await?;
    // The bare handler's phases first, both providers': the queue's workers fall behind at 500
    // texts a second on 2 cores, so after Backtalk's phases the baseline would be measured
    // beside their backlog (docs/benchmarks.md, "The allocator, and what the queue keeps up
    // with").
    let (twilio_path, telnyx_path) = ("/webhooks/twilio", "/webhooks/telnyx");
    let bare_twilio = targets.run_target(Target::Bare, twilio_path, load, twilio_request(), 0).await;
    let bare_telnyx = targets.run_target(Target::Bare, telnyx_path, load, telnyx_request(), 100_000_000).await;
    // The queue has work from Backtalk's first phase on: its rate is over Backtalk's phases.
    let began = std::time::Instant::now();
    let twilio = targets.run_target(Target::Backtalk, twilio_path, load, twilio_request(), 200_000_000).await;
    let telnyx = targets.run_target(Target::Backtalk, telnyx_path, load, telnyx_request(), 300_000_000).await;
    targets.stop().await?;
    let twilio = Phases::of(load.rate, bare_twilio, twilio);
    let telnyx = Phases::of(load.rate, bare_telnyx, telnyx);
    let seconds = began.elapsed().as_secs_f64();

    let acked = twilio.acked() + telnyx.acked();
    let db = targets.database().await?;
    let stored = crate::store::conversations::count_messages(&db, "in").await? as usize;
    // What the queue's workers answered while Backtalk's phases ran: when they fall behind,
    // the later phases run beside their backlog.
    let answered = crate::store::turns::count_turns(&db).await? as usize;

    for (name, phases) in [("Twilio", &twilio), ("Telnyx", &telnyx)] {
        println!("\n{name} (POST /webhooks/{})", name.to_lowercase());
        phases.print();
    }
    let p99 = |p: &Phases| p.summary()["fixed_rate_p99_ms"].as_f64().unwrap_or(f64::NAN);
    println!(
        "\nfixed-rate ack p99 at {} req/s: Telnyx {:.2} ms, Twilio {:.2} ms (Telnyx / Twilio {:.2})",
        load.rate,
        p99(&telnyx),
        p99(&twilio),
        p99(&telnyx) / p99(&twilio)
    );
    println!(
        "acknowledged by backtalk: {acked}; stored inbound messages: {stored}; answered (turns recorded) by the end: {answered}, {:.0} a second over Backtalk's {seconds:.0} s",
        answered as f64 / seconds
    );
    let mut summary = twilio.summary();
    summary.insert("telnyx".into(), serde_json::Value::Object(telnyx.summary()));
    summary.insert("stored".into(), stored.into());
    summary.insert("answered".into(), answered.into());
    println!("{}", serde_json::Value::Object(summary));
    if stored < acked {
        anyhow::bail!("{} acknowledged texts are missing from the database", acked - stored);
    }
    Ok(())
}
