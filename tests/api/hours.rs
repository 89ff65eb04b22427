//! Business hours end to end: an escalation outside hours tells the customer when a person
//! will answer and is due the SLA's minutes after the next opening; inside hours nothing
//! changes. The app's clock is a [`FixedClock`].

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use backtalk::config::Config;
use chrono::{DateTime, Utc};

use crate::helpers::*;
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(20);
const OTHER_CUSTOMER: &str = "+14155550188";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The default hours (Mon–Fri 09:00–18:00 America/New_York), which the other tests turn off.
fn store_hours(config: &mut Config) {
    config.business_hours = Default::default();
}

/// The `sla_due` of the escalation of `phone`'s conversation.
async fn sla_due(app: &TestApp, phone: &str) -> DateTime<Utc> {
    let details = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select e.details from escalations e join conversations c on c.id = e.conversation_id where c.phone = $1"
    )
    .bind(phone)
    .fetch_one(p)
    .await)
    .unwrap();
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    utc(details["sla_due"].as_str().unwrap())
}

async fn an_escalation_after_hours_names_the_next_opening_and_counts_the_sla_from_it(backend: Backend) {
    // Friday 2026-12-04, 20:00 in New York (EST): closed until Monday 9:00 (14:00 UTC).
    let clock = Arc::new(FixedClock::at(utc("2026-12-05T01:00:00Z")));
    let options = TestOptions { clock: Some(clock.clone()), configure: Some(store_hours), ..Default::default() };
    let app = spawn_app(backend, options).await;
    app.post_inbound(CUSTOMER, "Fix this or I'm filing a chargeback with my bank", &new_sid()).await;
    wait_for("the holding message", WAIT, || async { !app.twilio.sent_to(CUSTOMER).is_empty() }).await;
    app.wait_idle().await;
    let sent = app.twilio.sent_to(CUSTOMER);
    assert_eq!(sent[0].body, "Thanks for your message! Our team is away now and will reply Monday at 9:00 AM ET.");
    assert!(sent[0].body.len() <= 160, "one SMS segment");
    // High priority: 15 business minutes from Monday's opening.
    assert_eq!(sla_due(&app, CUSTOMER).await, utc("2026-12-07T14:15:00Z"));

    // Monday 10:00 EST: inside hours, the usual holding message and a plain 15 minutes.
    clock.set(utc("2026-12-07T15:00:00Z"));
    app.post_inbound(OTHER_CUSTOMER, "Fix this or I'm filing a chargeback with my bank", &new_sid()).await;
    wait_for("the holding message", WAIT, || async { !app.twilio.sent_to(OTHER_CUSTOMER).is_empty() }).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent_to(OTHER_CUSTOMER)[0].body, app.config.brand.holding_message);
    assert_eq!(sla_due(&app, OTHER_CUSTOMER).await, utc("2026-12-07T15:15:00Z"));
}
on_both_backends!(an_escalation_after_hours_names_the_next_opening_and_counts_the_sla_from_it);
