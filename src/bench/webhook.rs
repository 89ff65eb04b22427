//! `backtalk bench webhook`: a load benchmark of signed inbound Twilio webhooks, through the
//! shared generator ([`super::load`]): against `serve --demo` and a bare axum handler, a
//! fixed-rate open-loop phase and a saturation phase. Afterwards it checks that every
//! acknowledged text is stored in the database.

use std::sync::Arc;

use super::load::{Load, Request, Targets};
use super::signed_text;

/// The request builder: one unique, correctly signed inbound text per `n`.
fn request() -> Request {
    Arc::new(|http: &reqwest::Client, url: &str, n: usize| {
        let (body, sig) = signed_text(n, "do you have the blouse in black?");
        http.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(body)
    })
}

/// `backtalk bench webhook`: prints a table and, last, one JSON line with the results.
pub async fn webhook(load: Load) -> anyhow::Result<()> {
    let mut targets = Targets::start().await?;
    let phases = targets.run("/webhooks/twilio", load, request()).await;
    targets.stop().await?;

    let acked = phases.acked();
    let db = targets.database().await?;
    let stored = crate::store::conversations::count_messages(&db, "in").await? as usize;

    phases.print();
    println!("acknowledged by backtalk: {acked}; stored inbound messages: {stored}");
    let mut summary = phases.summary();
    summary.insert("stored".into(), stored.into());
    println!("{}", serde_json::Value::Object(summary));
    if stored < acked {
        anyhow::bail!("{} acknowledged texts are missing from the database", acked - stored);
    }
    Ok(())
}
