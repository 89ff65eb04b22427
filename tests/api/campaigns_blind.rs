//! The blind segment and campaign scenarios (`tests/campaigns_blind/`), written from
//! docs/campaigns.md, docs/compliance.md and the reference facts without reading the code:
//! each scenario's store (customers, orders, consent, texts, events, waiting runs) is written
//! to a fresh SQLite database, its segments are counted and its campaign planned by the
//! product's code (`flows::segment`, `flows::campaign`), and the result must equal
//! `expected.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use backtalk::flows::campaign::{CampaignSpec, Planner, Refused, resolve};
use backtalk::flows::segment;
use backtalk::store::{Db, with_db};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[allow(dead_code)]
    description: String,
    now: DateTime<Utc>,
    #[serde(default)]
    products: Vec<Product>,
    #[serde(default)]
    customers: Vec<Customer>,
    #[serde(default)]
    orders: Vec<Order>,
    #[serde(default)]
    consent: Vec<Consent>,
    #[serde(default)]
    inbound: Vec<Inbound>,
    #[serde(default)]
    sent: Vec<Sent>,
    #[serde(default)]
    events: Vec<Event>,
    #[serde(default)]
    waiting_runs: Vec<WaitingRun>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Product {
    sku: String,
    title: String,
    category: String,
    price: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    phone: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    phone: String,
    id: String,
    ordered_at: DateTime<Utc>,
    total: f64,
    #[serde(default)]
    cancelled: bool,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    sku: String,
    quantity: i64,
    price: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Consent {
    phone: String,
    kind: String,
    at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inbound {
    phone: String,
    at: DateTime<Utc>,
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sent {
    phone: String,
    at: DateTime<Utc>,
    class: String,
    #[serde(default)]
    subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    phone: String,
    name: String,
    at: DateTime<Utc>,
    #[serde(default)]
    properties: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitingRun {
    phone: String,
    flow: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    segment: Vec<ExpectedSegment>,
    #[serde(default)]
    plan: Option<ExpectedPlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSegment {
    name: String,
    members: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedPlan {
    #[serde(default)]
    planned: Vec<ExpectedPlanned>,
    #[serde(default)]
    skipped: Vec<ExpectedSkipped>,
    #[serde(default)]
    error_contains: Option<String>,
    #[serde(default)]
    total_segments: Option<i64>,
    #[serde(default)]
    segments_per_text_max: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedPlanned {
    phone: String,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSkipped {
    phone: String,
    reason_contains: String,
}

/// Writes the scenario's store.
async fn load(db: &Db, s: &Scenario) {
    for p in &s.products {
        with_db!(db, |pool| sqlx::query(
            "insert into products (sku, title, brand, category, price_cents, currency, colors, sizes, stock, description, updated_at)
             values ($1, $2, 'Blind', $3, $4, 'USD', '[]', '[]', 10, '', $5)"
        )
        .bind(&p.sku)
        .bind(&p.title)
        .bind(&p.category)
        .bind((p.price * 100.0).round() as i64)
        .bind(s.now)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let mut ids = BTreeMap::new();
    for c in &s.customers {
        let id = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
            "insert into customers (phone, name, timezone, created_at) values ($1, $2, $3, $4) returning id"
        )
        .bind(&c.phone)
        .bind(&c.name)
        .bind(&c.timezone)
        .bind(s.now)
        .fetch_one(pool)
        .await)
        .unwrap();
        ids.insert(c.phone.clone(), id);
    }
    for o in &s.orders {
        let order = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
            "insert into orders (customer_id, external_id, ordered_at, status, total_cents, currency, cancelled_at)
             values ($1, $2, $3, $4, $5, 'USD', $6) returning id"
        )
        .bind(ids[&o.phone])
        .bind(&o.id)
        .bind(o.ordered_at)
        .bind(if o.cancelled { "cancelled" } else { "delivered" })
        .bind((o.total * 100.0).round() as i64)
        .bind(o.cancelled.then_some(o.ordered_at))
        .fetch_one(pool)
        .await)
        .unwrap();
        for i in &o.items {
            with_db!(db, |pool| sqlx::query(
                "insert into order_items (order_id, sku, title, price_cents, quantity) values ($1, $2, $2, $3, $4)"
            )
            .bind(order)
            .bind(&i.sku)
            .bind((i.price * 100.0).round() as i64)
            .bind(i.quantity)
            .execute(pool)
            .await
            .map(|_| ()))
            .unwrap();
        }
    }
    for c in &s.consent {
        with_db!(db, |pool| sqlx::query(
            "insert into consent_events (phone, kind, source, scope, created_at) values ($1, $2, 'blind', 'marketing', $3)"
        )
        .bind(&c.phone)
        .bind(&c.kind)
        .bind(c.at)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let conversation = |phone: String| async move {
        with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
            "insert into conversations (phone, state, created_at, updated_at) values ($1, 'bot', $2, $2)
             on conflict (phone) do update set updated_at = excluded.updated_at returning id"
        )
        .bind(&phone)
        .bind(Utc::now())
        .fetch_one(pool)
        .await)
        .unwrap()
    };
    for m in &s.inbound {
        let c = conversation(m.phone.clone()).await;
        with_db!(db, |pool| sqlx::query(
            "insert into messages (conversation_id, direction, from_phone, to_phone, body, created_at)
             values ($1, 'in', $2, '+15005550006', $3, $4)"
        )
        .bind(c)
        .bind(&m.phone)
        .bind(&m.body)
        .bind(m.at)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    for t in &s.sent {
        let c = conversation(t.phone.clone()).await;
        with_db!(db, |pool| sqlx::query(
            "insert into outbox (conversation_id, to_phone, body, kind, subject, status, created_at, sent_at, class)
             values ($1, $2, 'earlier text', 'proactive', $3, 'sent', $4, $4, $5)"
        )
        .bind(c)
        .bind(&t.phone)
        .bind(t.subject.as_deref().unwrap_or("earlier"))
        .bind(t.at)
        .bind(&t.class)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    for (n, e) in s.events.iter().enumerate() {
        with_db!(db, |pool| sqlx::query(
            "insert into events (event_id, name, source, customer_id, phone, properties, occurred_at, received_at)
             values ($1, $2, 'api', $3, $4, $5, $6, $6)"
        )
        .bind(format!("blind-{n}"))
        .bind(&e.name)
        .bind(ids.get(&e.phone).copied())
        .bind(&e.phone)
        .bind(serde_json::to_string(&e.properties).unwrap())
        .bind(e.at)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    for (n, r) in s.waiting_runs.iter().enumerate() {
        let event = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
            "insert into events (event_id, name, source, phone, properties, occurred_at, received_at)
             values ($1, 'Run Started', 'api', $2, '{}', $3, $3) returning id"
        )
        .bind(format!("run-{n}"))
        .bind(&r.phone)
        .bind(s.now)
        .fetch_one(pool)
        .await)
        .unwrap();
        with_db!(db, |pool| sqlx::query(
            "insert into flow_runs (flow, trigger_event, customer_id, phone, context, step, status, started_at, updated_at)
             values ($1, $2, $3, $4, '{}', 1, 'waiting', $5, $5)"
        )
        .bind(&r.flow)
        .bind(event)
        .bind(ids.get(&r.phone).copied())
        .bind(&r.phone)
        .bind(s.now)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
}

/// Runs one scenario; the problems found (empty: it passed).
async fn run(dir: &Path) -> Vec<String> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    let scenario: Scenario =
        toml::from_str(&read("scenario.toml").unwrap()).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let expected: Expected =
        toml::from_str(&read("expected.toml").unwrap()).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let scratch = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}", scratch.path().join("blind.db").display())).await.unwrap();
    load(&db, &scenario).await;
    let segments_dir = dir.join("segments");
    let mut problems = Vec::new();
    let (segments, errors) = segment::load_dir(&segments_dir).unwrap();
    problems.extend(errors.iter().map(|e| format!("segment file: {e}")));
    for want in &expected.segment {
        let Some(s) = segments.iter().find(|s| s.name == want.name) else {
            problems.push(format!("segment {} not loaded", want.name));
            continue;
        };
        let count = segment::count(&db, s, scenario.now).await.unwrap();
        let planner = planner(&db, scenario.now);
        let spec = CampaignSpec {
            name: "membership".into(),
            segment: s.name.clone(),
            class: Some("transactional".into()),
            text: Some("x".into()),
            ..CampaignSpec::default()
        };
        let campaign = spec.check(1.0).unwrap();
        let mut members = BTreeSet::new();
        planner
            .plan(&campaign, s, |page| {
                members.extend(page.into_iter().map(|d| d.phone));
                async { Ok(()) }
            })
            .await
            .unwrap();
        let want_set: BTreeSet<String> = want.members.iter().cloned().collect();
        if members != want_set {
            problems.push(format!(
                "segment {}: extra {:?}, missing {:?}",
                want.name,
                members.difference(&want_set).collect::<Vec<_>>(),
                want_set.difference(&members).collect::<Vec<_>>()
            ));
        }
        if count != want_set.len() as i64 {
            problems.push(format!("segment {}: count {count}, expected {}", want.name, want_set.len()));
        }
    }
    let (Some(plan), Ok(text)) = (&expected.plan, read("campaign.toml")) else { return problems };
    let spec: CampaignSpec = match toml::from_str(&text) {
        Ok(spec) => spec,
        Err(e) => {
            if plan.error_contains.as_deref().is_some_and(|c| e.to_string().contains(c)) {
                return problems;
            }
            problems.push(format!("campaign.toml does not read: {e}"));
            return problems;
        }
    };
    let (campaign, segment) = match resolve(&db, &segments_dir, &spec, 1.0).await {
        Ok(found) => found,
        Err(Refused::Invalid(why)) => {
            let message = format!("{why:?}");
            match &plan.error_contains {
                Some(c) if message.contains(c.as_str()) => {}
                _ => problems.push(format!("campaign refused: {message}")),
            }
            return problems;
        }
        Err(Refused::Store(e)) => panic!("{e}"),
    };
    if let Some(c) = &plan.error_contains {
        problems.push(format!("campaign accepted; expected an error containing {c:?}"));
        return problems;
    }
    let mut decisions = Vec::new();
    let summary = planner(&db, scenario.now)
        .plan(&campaign, &segment, |page| {
            decisions.extend(page);
            async { Ok(()) }
        })
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    for d in &decisions {
        seen.insert(d.phone.clone());
        let planned = plan.planned.iter().find(|p| p.phone == d.phone);
        let skipped = plan.skipped.iter().find(|p| p.phone == d.phone);
        match (&d.outcome, planned, skipped) {
            (Ok(at), Some(p), _) if p.at.is_none_or(|want| want == *at) => {}
            (Ok(at), Some(p), _) => problems.push(format!("{}: planned at {at}, expected {:?}", d.phone, p.at)),
            (Err(why), _, Some(s)) if why.contains(&s.reason_contains) => {}
            (outcome, _, _) => problems.push(format!(
                "{}: {outcome:?}; expected {}",
                d.phone,
                planned
                    .map(|p| format!("planned {:?}", p.at))
                    .or(skipped.map(|s| format!("skipped: {}", s.reason_contains)))
                    .unwrap_or("not a member".into())
            )),
        }
    }
    for phone in plan.planned.iter().map(|p| &p.phone).chain(plan.skipped.iter().map(|s| &s.phone)) {
        if !seen.contains(phone) {
            problems.push(format!("{phone}: expected in the plan, not a member"));
        }
    }
    if let Some(total) = plan.total_segments
        && total != summary.total_segments
    {
        problems.push(format!("total_segments {}, expected {total}", summary.total_segments));
    }
    if let Some(max) = plan.segments_per_text_max
        && max != summary.segments_per_text.max
    {
        problems.push(format!("segments_per_text.max {}, expected {max}", summary.segments_per_text.max));
    }
    problems
}

fn planner(db: &Db, now: DateTime<Utc>) -> Planner<'_> {
    Planner { db, now, smart_sending: chrono::Duration::hours(24), cost_per_segment: 0.0083, currency: "USD" }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blind_campaign_scenarios_do_what_the_docs_say() {
    crate::helpers::run_scenarios("campaigns_blind", "scenario.toml", 20, |dir| async move { run(&dir).await }).await;
}
