//! The benchmarks, each a `backtalk bench` subcommand that prints a table and, last, one
//! JSON line; each measures against a baseline in the same run (the machine is shared and
//! noisy), and reports medians:
//!
//! - [`webhook`]: signed inbound webhooks against `serve --demo` and a bare axum handler;
//! - [`shopify_webhook`]: the same for Shopify's `orders/create`, and how fast the queue
//!   applies them;
//! - [`turn`]: what a turn costs Backtalk itself, the model's call aside;
//! - [`console`]: the live queue's latency and the queue page's server time;
//! - [`flows`]: a large random flow replay, every sending rule checked on its outcome;
//! - [`retrieval`]: product search quality and speed on ESCI;
//! - [`import`]: a large catalog's import speed and peak memory;
//! - [`sentiment`]: the sentiment scorer on VADER's ground truth;
//! - [`webhooks_out`]: what outbound webhooks add to storing a text, and deliveries per second.
//!
//! This file holds what they share: starting a release `serve --demo`, signing a webhook,
//! percentiles; [`load`] holds the load generator of the two webhook benchmarks.

pub mod analytics;
pub mod campaign;
pub mod console;
pub mod flows;
pub mod import;
pub mod load;
pub mod retrieval;
pub mod sentiment;
pub mod shopify_webhook;
pub mod turn;
pub mod webhook;
pub mod webhooks_out;

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::sms::signature::compute_signature;

pub(crate) const PUBLIC_URL: &str = "http://bench.backtalk.test";
pub(crate) const AUTH_TOKEN: &str = "bench-auth-token";
/// The Shopify webhook secret `serve --demo` is started with, so benchmarks can sign.
pub(crate) const SHOPIFY_SECRET: &str = "bench-shopify-webhook-secret";
/// The seed of the Ed25519 key that signs the benchmarks' Telnyx webhooks; `serve --demo` is
/// started with its public key.
const TELNYX_SEED: [u8; 32] = [0x42; 32];

/// The benchmarks' Telnyx public key, base64, as `telnyx.public_key` takes it.
fn telnyx_public_key() -> String {
    use base64::Engine;
    let key = ed25519_dalek::SigningKey::from_bytes(&TELNYX_SEED).verifying_key();
    base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
}

/// A signed Telnyx `message.received` with this text, from a number of its own (`n` makes it
/// unique), signed now: `(body, timestamp, signature)`.
fn signed_telnyx_text(n: usize, text: &str) -> (String, String, String) {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let from = format!("+1{}55501{:02}", 200 + (n / 100) % 700, n % 100);
    let body = serde_json::json!({"data": {"record_type": "event", "id": format!("bench-ev-{}-{n}", std::process::id()),
        "event_type": "message.received",
        "payload": {"record_type": "message", "direction": "inbound", "id": format!("bench-msg-{}-{n}", std::process::id()),
            "type": "SMS", "from": {"phone_number": from}, "to": [{"phone_number": "+15005550006"}], "text": text}}})
    .to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = ed25519_dalek::SigningKey::from_bytes(&TELNYX_SEED).sign(format!("{timestamp}|{body}").as_bytes());
    (body, timestamp, base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()))
}

/// Starts a child process and waits for the line announcing its URL.
async fn start(mut command: Command, marker: &str) -> anyhow::Result<(Child, String)> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let url = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix(marker) {
                return anyhow::Ok(url.trim().to_string());
            }
        }
        anyhow::bail!("process exited before listening")
    })
    .await
    .context("process did not start within 120 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// The `p`th percentile (0-100) of sorted values, nearest rank.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A signed inbound webhook with this text, from a number of its own (`n` makes it unique).
fn signed_text(n: usize, text: &str) -> (String, String) {
    let sid = format!("SM{:016x}{:016x}", std::process::id(), n);
    let from = format!("+1{}55501{:02}", 200 + (n / 100) % 700, n % 100);
    let params: Vec<(String, String)> = vec![
        ("AccountSid".into(), "ACbench".into()),
        ("Body".into(), text.into()),
        ("From".into(), from),
        ("MessageSid".into(), sid),
        ("NumMedia".into(), "0".into()),
        ("To".into(), "+15005550006".into()),
    ];
    let signature = compute_signature(AUTH_TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio"), &params);
    (serde_urlencoded::to_string(&params).expect("form encodes"), signature)
}

/// `backtalk serve --demo` on a fresh data directory in `dir`, with the embedded default
/// whatever this shell has configured; returns the child and its base url.
pub(crate) async fn start_demo_server(dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    start_demo_server_with(dir, &[]).await
}

/// [`start_demo_server`] with these environment variables set as well.
pub(crate) async fn start_demo_server_with(
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe()?;
    let mut serve = Command::new(&exe);
    serve.args(["serve", "--demo"]);
    // The embedded default, whatever this shell has configured.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BACKTALK_")) {
        serve.env_remove(k);
    }
    serve
        .env("BACKTALK_LOG", "warn")
        .env("BACKTALK_DATA_DIR", dir)
        .env("BACKTALK_LISTEN", "127.0.0.1:0")
        .env("BACKTALK_PUBLIC_URL", PUBLIC_URL)
        .env("BACKTALK_TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("BACKTALK_TELNYX_PUBLIC_KEY", telnyx_public_key())
        // No made-up analytics history: the benchmarks count what they sent.
        .env("BACKTALK_ANALYTICS_DEMO_HISTORY", "false")
        .env("BACKTALK_SHOPIFY_WEBHOOK_SECRET", SHOPIFY_SECRET);
    serve.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    start(serve, "backtalk listening on ").await
}
