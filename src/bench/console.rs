//! `backtalk bench console`: the reviewer console's two figures, against a release
//! `serve --demo` process it starts itself (SQLite, the offline responder).
//!
//! 1. **Live queue latency**: a reviewer's queue stream (`/console/events`, the same
//!    server-sent events the page listens to) is open; a signed webhook asks for a person;
//!    the time until a `queue` event carrying that customer's row arrives. The webhook's
//!    own acknowledgement time, measured on the same requests, is the baseline.
//! 2. **Queue page server time** (`Server-Timing` of `GET /console`): on the demo's empty
//!    queue (the baseline), then with `escalations` open escalations, each with its own
//!    conversation, inbound text and a snapshot of realistic size.
//!
//! Latency runs go again after the queue is filled, since every change re-renders the
//! queue's first page. The last line is JSON.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;

use super::{AUTH_TOKEN, PUBLIC_URL, percentile, start_demo_server};
use crate::domain::{EscalationReason, Phone};
use crate::sms::signature::compute_signature;

const REVIEWER: &str = "bench";
const PASSWORD: &str = "bench console password";

/// A logged-in HTTP client: the session cookie's value.
async fn log_in(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let page = http.get(format!("{url}/console/login")).send().await?;
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|l| l.strip_prefix("bt_login_csrf=").map(|v| v.split(';').next().unwrap_or("").to_string()))
        .context("no login CSRF cookie")?;
    let response = http
        .post(format!("{url}/console/login"))
        .header("cookie", format!("bt_login_csrf={cookie}"))
        .form(&[("name", REVIEWER), ("password", PASSWORD), ("csrf", &cookie)])
        .send()
        .await?;
    anyhow::ensure!(response.status().as_u16() == 303, "login answered {}", response.status());
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|l| l.strip_prefix("bt_session=").map(|v| v.split(';').next().unwrap_or("").to_string()))
        .context("no session cookie")
}

/// Posts a signed inbound text; returns how long the acknowledgement took.
async fn post_text(http: &reqwest::Client, url: &str, from: &str, body: &str, sid: &str) -> anyhow::Result<f64> {
    let params: Vec<(String, String)> = vec![
        ("AccountSid".into(), "ACbench".into()),
        ("Body".into(), body.into()),
        ("From".into(), from.into()),
        ("MessageSid".into(), sid.into()),
        ("NumMedia".into(), "0".into()),
        ("To".into(), "+15005550006".into()),
    ];
    let signature = compute_signature(AUTH_TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio"), &params);
    let started = Instant::now();
    let response = http
        .post(format!("{url}/webhooks/twilio"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(serde_urlencoded::to_string(&params)?)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "webhook answered {}", response.status());
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Reads the stream until a `queue` event whose data contains `needle`.
async fn wait_for_event(stream: &mut reqwest::Response, buffer: &mut String, needle: &str) -> anyhow::Result<()> {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.lines().any(|l| l == "event: queue") && event.contains(needle) {
                return Ok(());
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.chunk())
            .await
            .context("no queue event within 30 s")??
            .context("the stream ended")?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// `runs` escalating texts, each from a new number; the webhook's acknowledgement and the
/// time until the row arrives on the open stream, in ms.
async fn live_latency(
    http: &reqwest::Client,
    url: &str,
    session: &str,
    runs: usize,
    tag: u32,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut stream = http
        .get(format!("{url}/console/events?status=open"))
        .header("cookie", format!("bt_session={session}"))
        .send()
        .await?;
    anyhow::ensure!(stream.status().is_success(), "the stream answered {}", stream.status());
    let mut buffer = String::new();
    wait_for_event(&mut stream, &mut buffer, "").await?;
    let (mut acks, mut visible) = (Vec::new(), Vec::new());
    for n in 0..runs {
        let from = format!("+1415{tag:03}{n:04}");
        let sid = format!("SM{:016x}{tag:08x}{n:08x}", std::process::id());
        let started = Instant::now();
        acks.push(post_text(http, url, &from, "can I talk to a real person please?", &sid).await?);
        wait_for_event(&mut stream, &mut buffer, &from).await?;
        visible.push(started.elapsed().as_secs_f64() * 1000.0);
        // Let the worker settle between runs (each run is measured alone).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((acks, visible))
}

/// `requests` loads of the queue's first page; the `Server-Timing` durations in ms.
async fn queue_times(http: &reqwest::Client, url: &str, session: &str, requests: usize) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let response =
            http.get(format!("{url}/console")).header("cookie", format!("bt_session={session}")).send().await?;
        anyhow::ensure!(response.status().is_success(), "the queue answered {}", response.status());
        let timing = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("dur=").nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .context("no Server-Timing on the queue page")?;
        let _ = response.bytes().await?;
        times.push(timing);
    }
    Ok(times)
}

/// Opens `n` escalations, each with its own conversation and inbound text, in one
/// transaction: normal priority, SLA due times spread over a day, a snapshot of about 2 KB.
async fn fill_queue(db: &crate::store::Db, n: usize) -> anyhow::Result<()> {
    let snapshot = serde_json::json!({
        "message": "Do you have the wool coat in navy, size M? And when would it arrive?",
        "thread": (0..6).map(|i| format!("earlier text {i}: a question about an order and a size")).collect::<Vec<_>>(),
        "customer_name": "Bench Customer",
        "orders": [{"id": "ORD-1", "status": "shipped", "total": "$120.00"}],
        "products": (0..4).map(|i| serde_json::json!({"sku": format!("ZO{i:010}"), "title": "Wool coat - navy",
            "price": "$120.00", "stock": 3, "colors": ["navy", "black"], "sizes": ["S", "M", "L"]})).collect::<Vec<_>>(),
        "policies": ["Free standard shipping on orders over $50; 3-5 business days."],
    });
    let mut tx = db.begin().await?;
    let now = Utc::now();
    for i in 0..n {
        let phone = Phone::parse(&format!("+1646{i:07}")).map_err(|e| anyhow::anyhow!(e))?;
        let customer = crate::store::crm::ensure_customer(&mut tx, &phone).await?;
        let conversation = crate::store::conversations::ensure_conversation(&mut tx, &phone, customer).await?;
        let inbound = crate::store::conversations::NewInbound {
            conversation_id: conversation,
            provider_sid: &format!("SMfill{i:026}"),
            from_phone: &phone,
            to_phone: "+15005550006",
            body: "Do you have the wool coat in navy, size M? And when would it arrive?",
        };
        crate::store::conversations::insert_inbound_message(&mut tx, &inbound).await?;
        let sla_due = now + chrono::Duration::seconds((i % 1440) as i64 * 60);
        let details = serde_json::json!({
            "reasons": [{"code": EscalationReason::LowConfidence, "detail": "confidence 0.31 < 0.50"}],
            "priority": "normal",
            "sla_due": sla_due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "draft": "We have the wool coat in navy, size M, for $120.00.",
            "guard": {"verdict": "pass", "findings": [], "claims": []},
            "snapshot": snapshot,
            "confidence": 0.31,
        });
        crate::store::escalations::insert_escalation(
            &mut tx,
            conversation,
            None,
            EscalationReason::LowConfidence,
            &details.to_string(),
        )
        .await?;
    }
    tx.commit().await
}

fn summary(name: &str, values: &mut [f64]) -> serde_json::Value {
    values.sort_by(f64::total_cmp);
    let (p50, p95) = (percentile(values, 50.0), percentile(values, 95.0));
    println!("| {name} | {} | {p50:.2} | {p95:.2} |", values.len());
    serde_json::json!({"n": values.len(), "median_ms": p50, "p95_ms": p95})
}

/// `backtalk bench console`.
pub async fn run(runs: usize, escalations: usize, requests: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("starting backtalk serve --demo (release build expected) ...");
    let (server, url) = start_demo_server(dir.path()).await?;
    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("backtalk.db").display())).await?;
    crate::store::reviewers::add_reviewer(&db, REVIEWER, &crate::auth::hash_password(PASSWORD)?).await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let session = log_in(&http, &url).await?;

    eprintln!("queue page on the empty demo queue ({requests} requests) ...");
    let mut empty = queue_times(&http, &url, &session, requests).await?;
    eprintln!("live queue latency, {runs} runs ...");
    let (mut acks, mut live) = live_latency(&http, &url, &session, runs, 1).await?;
    eprintln!("opening {escalations} escalations ...");
    let filling = Instant::now();
    fill_queue(&db, escalations).await?;
    eprintln!("  done in {:.1} s", filling.elapsed().as_secs_f64());
    eprintln!("queue page with {escalations} open ({requests} requests) ...");
    let mut full = queue_times(&http, &url, &session, requests).await?;
    eprintln!("live queue latency with {escalations} open, {runs} runs ...");
    let (mut acks_full, mut live_full) = live_latency(&http, &url, &session, runs, 2).await?;
    drop(server);

    println!("serve --demo (release, SQLite, offline responder); {escalations} escalations for the full queue");
    println!("| measure | n | median ms | p95 ms |");
    println!("|---|---|---|---|");
    let empty_json = summary("queue page server time, empty queue (baseline)", &mut empty);
    let full_json = summary(&format!("queue page server time, {escalations} open"), &mut full);
    let acks_json = summary("webhook acknowledgement (baseline)", &mut acks);
    let live_json = summary("webhook → row on the open queue stream", &mut live);
    let acks_full_json = summary(&format!("webhook acknowledgement, {escalations} open"), &mut acks_full);
    let live_full_json = summary(&format!("webhook → row on the stream, {escalations} open"), &mut live_full);
    let ratio = |a: &serde_json::Value, b: &serde_json::Value| {
        a["median_ms"].as_f64().unwrap_or(f64::NAN) / b["median_ms"].as_f64().unwrap_or(f64::NAN)
    };
    println!("queue page, full/empty: {:.2}×", ratio(&full_json, &empty_json));
    println!(
        "live row / webhook ack: {:.2}× (empty), {:.2}× (full)",
        ratio(&live_json, &acks_json),
        ratio(&live_full_json, &acks_full_json)
    );
    println!(
        "{}",
        serde_json::json!({
            "escalations": escalations,
            "queue_empty": empty_json, "queue_full": full_json,
            "webhook_ack": acks_json, "live": live_json,
            "webhook_ack_full": acks_full_json, "live_full": live_full_json,
        })
    );
    Ok(())
}
