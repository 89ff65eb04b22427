//! A made-up history of texts, replies, clicks, escalations and orders: the demo's 30 days
//! (`serve --demo`, marked as demo data) and the analytics benchmark's million conversations.
//! Written straight to the tables in bulk ([`crate::store::synthetic`]), then attributed by
//! the same pass as real orders. Deterministic for a seed.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::store::Db;
use crate::store::synthetic::{self, Cell, insert_rows, max_id};

/// How much history to make.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Customers, each with one conversation.
    pub customers: usize,
    /// Days before `now` the history spans.
    pub days: i64,
    /// Exchanges (a customer's text and its answer) per conversation, on average.
    pub exchanges: f64,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Made {
    pub conversations: usize,
    pub messages: usize,
    pub orders: usize,
}

/// The flows (and the campaign, with its two arms) the texts come from.
const FLOWS: &[(&str, &str)] = &[
    ("cart_recovery", "Still thinking it over? Your cart is saved: https://shop.example/cart/{n}"),
    ("post_purchase", "Thanks for your order! These go well with it: https://shop.example/p/{n}"),
    ("welcome", "Welcome to Northwind! Reply with any question, we answer in seconds."),
    ("campaign:spring_sale", "Spring sale: 20% off everything this weekend https://shop.example/sale"),
];
const QUESTIONS: &[&str] =
    &["do you have this in blue?", "when will my order arrive?", "what is your return policy?", "thanks!"];
const REASONS: &[&str] = &["human_requested", "low_confidence", "negative_sentiment", "action_requested"];

/// Rows waiting to be written, table by table.
#[derive(Default)]
struct Rows {
    customers: Vec<Vec<Cell>>,
    conversations: Vec<Vec<Cell>>,
    events: Vec<Vec<Cell>>,
    runs: Vec<Vec<Cell>>,
    outbox: Vec<Vec<Cell>>,
    messages: Vec<Vec<Cell>>,
    turns: Vec<Vec<Cell>>,
    escalations: Vec<Vec<Cell>>,
    links: Vec<Vec<Cell>>,
    clicks: Vec<Vec<Cell>>,
    consent: Vec<Vec<Cell>>,
    orders: Vec<Vec<Cell>>,
}

/// Next ids of each table (the history goes after what is there).
struct Ids {
    customer: i64,
    conversation: i64,
    event: i64,
    run: i64,
    outbox: i64,
    message: i64,
    turn: i64,
    escalation: i64,
    link: i64,
}

fn t(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// Writes `plan`'s history ending at `now`, `batch` customers per transaction; `progress`
/// is told the customers done so far.
pub async fn make(db: &Db, plan: Plan, now: DateTime<Utc>, mut progress: impl FnMut(usize)) -> anyhow::Result<Made> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut made = Made::default();
    let mut ids = Ids {
        customer: max_id(db, "customers").await? + 1,
        conversation: max_id(db, "conversations").await? + 1,
        event: max_id(db, "events").await? + 1,
        run: max_id(db, "flow_runs").await? + 1,
        outbox: max_id(db, "outbox").await? + 1,
        message: max_id(db, "messages").await? + 1,
        turn: max_id(db, "turns").await? + 1,
        escalation: max_id(db, "escalations").await? + 1,
        link: max_id(db, "links").await? + 1,
    };
    let first_order = max_id(db, "orders").await? + 1;
    let batch = 2_000;
    let mut done = 0;
    while done < plan.customers {
        let n = batch.min(plan.customers - done);
        let mut rows = Rows::default();
        for i in done..done + n {
            one_customer(&mut rng, &mut rows, &mut ids, &plan, now, i, first_order, &mut made);
        }
        write(db, &rows).await?;
        done += n;
        progress(done);
    }
    insert_rows(
        db,
        "events",
        &["id", "event_id", "name", "source", "properties", "occurred_at", "received_at"],
        &[vec![
            Cell::Int(ids.event),
            Cell::Text(format!("demo_history:{}", plan.seed)),
            t("History Made"),
            t("demo_history"),
            t("{}"),
            Cell::Time(now),
            Cell::Time(now),
        ]],
    )
    .await?;
    let tables = [
        "customers",
        "conversations",
        "events",
        "flow_runs",
        "outbox",
        "messages",
        "turns",
        "escalations",
        "links",
        "link_clicks",
        "consent_events",
        "orders",
    ];
    synthetic::advance_ids(db, &tables).await?;
    Ok(made)
}

#[allow(clippy::too_many_arguments)]
fn one_customer(
    rng: &mut StdRng,
    rows: &mut Rows,
    ids: &mut Ids,
    plan: &Plan,
    now: DateTime<Utc>,
    i: usize,
    first_order: i64,
    made: &mut Made,
) {
    let start = now - Duration::days(plan.days);
    let span = (plan.days * 86_400) as f64;
    let at = |rng: &mut StdRng| start + Duration::seconds((rng.random::<f64>() * span * 0.995) as i64);
    let phone = format!("+1206{:07}", i % 10_000_000);
    let (customer, conversation) = (ids.customer, ids.conversation);
    ids.customer += 1;
    ids.conversation += 1;
    rows.customers.push(vec![Cell::Int(customer), t(&phone), Cell::Text(format!("Customer {i}")), Cell::Time(start)]);
    rows.conversations.push(vec![
        Cell::Int(conversation),
        t(&phone),
        Cell::Int(customer),
        t("bot"),
        Cell::Time(start),
        Cell::Time(now),
    ]);
    made.conversations += 1;
    let mut push_message = |rows: &mut Rows, ids: &mut Ids, direction: &str, body: &str, at: DateTime<Utc>| {
        let id = ids.message;
        ids.message += 1;
        let (from, to) =
            if direction == "in" { (phone.as_str(), "+15005550006") } else { ("+15005550006", phone.as_str()) };
        rows.messages.push(vec![
            Cell::Int(id),
            Cell::Int(conversation),
            t(direction),
            Cell::Text(format!("SMdemo{id}")),
            t(from),
            t(to),
            t(body),
            Cell::Time(at),
        ]);
        made.messages += 1;
        id
    };
    let push_outbox = |rows: &mut Rows,
                       ids: &mut Ids,
                       kind: &str,
                       body: &str,
                       at: DateTime<Utc>,
                       status: &str,
                       error: Option<&str>,
                       run: Option<i64>,
                       arm: Option<&str>| {
        let id = ids.outbox;
        ids.outbox += 1;
        rows.outbox.push(vec![
            Cell::Int(id),
            Cell::Int(conversation),
            t(&phone),
            t(body),
            t(kind),
            t(status),
            Cell::Text(format!("SMdemo-out{id}")),
            error.map(t).unwrap_or(Cell::Null),
            Cell::Time(at),
            Cell::Time(at),
            run.map(Cell::Int).unwrap_or(Cell::NullInt),
            arm.map(|_| t("campaign:spring_sale")).unwrap_or(Cell::Null),
            arm.map(t).unwrap_or(Cell::Null),
        ]);
        id
    };
    // The brand's texts: one to three, from the flows and the campaign.
    let mut texts = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let sent = at(rng);
        let (flow, template) = FLOWS[rng.random_range(0..FLOWS.len())];
        let body = template.replace("{n}", &format!("{}", rng.random_range(1000..9999)));
        let (event, run) = (ids.event, ids.run);
        ids.event += 1;
        ids.run += 1;
        let arm = flow.starts_with("campaign:").then(|| if rng.random_bool(0.5) { "a" } else { "b" });
        let checkout = (flow == "cart_recovery").then(|| format!("CK{run}"));
        let properties = match &checkout {
            Some(token) => format!("{{\"checkout_id\":\"{token}\"}}"),
            None => "{}".into(),
        };
        rows.events.push(vec![
            Cell::Int(event),
            Cell::Text(format!("history:{event}")),
            t(if checkout.is_some() { "Checkout Started" } else { "History" }),
            t("demo_history"),
            Cell::Int(customer),
            t(&phone),
            t(&properties),
            Cell::Time(sent),
            Cell::Time(sent),
        ]);
        rows.runs.push(vec![
            Cell::Int(run),
            t(flow),
            Cell::Int(event),
            Cell::Int(customer),
            t(&phone),
            Cell::Text(format!("{{\"event\":{{\"name\":\"History\",\"properties\":{properties}}}}}")),
            Cell::Int(1),
            t("done"),
            Cell::Time(sent),
            Cell::Time(sent),
        ]);
        let roll: f64 = rng.random();
        let (status, error) = match roll {
            r if r < 0.015 => ("failed", Some("30003")),
            r if r < 0.02 => ("failed", Some("30007")),
            r if r < 0.025 => ("failed", Some("30005")),
            r if r < 0.06 => ("sent", None),
            _ => ("delivered", None),
        };
        let id = push_outbox(rows, ids, "proactive", &body, sent, status, error, Some(run), arm);
        push_message(rows, ids, "out", &body, sent);
        if body.contains("https://") && status != "failed" {
            let link = ids.link;
            ids.link += 1;
            rows.links.push(vec![
                Cell::Int(link),
                Cell::Text(format!("h{link:09}")),
                t("https://shop.example/"),
                Cell::Int(id),
                Cell::Time(sent),
            ]);
            if rng.random_bool(0.35) {
                rows.clicks.push(vec![Cell::Int(link), Cell::Time(sent + Duration::seconds(2)), Cell::Int(1)]);
            }
            if rng.random_bool(0.12) {
                let clicked = sent + Duration::minutes(rng.random_range(1..600));
                rows.clicks.push(vec![Cell::Int(link), Cell::Time(clicked), Cell::Int(0)]);
            }
        }
        texts.push((sent, status != "failed", checkout));
    }
    // The customer's side: exchanges with the bot, now and then a person, rarely STOP.
    let exchanges = (plan.exchanges * 2.0 * rng.random::<f64>()).round() as usize;
    for _ in 0..exchanges {
        let asked = at(rng);
        let stop = rng.random_bool(0.01);
        let question = if stop { "STOP" } else { QUESTIONS[rng.random_range(0..QUESTIONS.len())] };
        let inbound = push_message(rows, ids, "in", question, asked);
        let escalate = !stop && rng.random_bool(0.08);
        let (decision, intent) = match (stop, escalate, question) {
            (true, ..) => ("opt_out", "unknown"),
            (_, true, _) => ("escalate", "unknown"),
            (.., "thanks!") => ("reply", "thanks"),
            (.., q) if q.contains("order") => ("reply", "order_status"),
            (.., q) if q.contains("return") => ("reply", "policy"),
            _ => ("reply", "product"),
        };
        let turn = ids.turn;
        ids.turn += 1;
        let answered = asked + Duration::seconds(rng.random_range(2..8));
        rows.turns.push(vec![
            Cell::Int(turn),
            Cell::Int(inbound),
            Cell::Int(conversation),
            t(decision),
            t(intent),
            t("[]"),
            t("history"),
            t("offline"),
            Cell::Int(0),
            Cell::Int(0),
            t("{}"),
            Cell::Int(0),
            Cell::Int(0),
            t("{}"),
            Cell::Time(answered),
        ]);
        let reply = match decision {
            "opt_out" => "You're unsubscribed and will receive no more texts.",
            "escalate" => "Thanks, a person from our team will text you shortly.",
            _ => "Happy to help! Here is what I found.",
        };
        let kind = match decision {
            "opt_out" => "optout_confirmation",
            "escalate" => "holding",
            _ => "reply",
        };
        push_outbox(rows, ids, kind, reply, answered, "delivered", None, None, None);
        push_message(rows, ids, "out", reply, answered);
        if stop {
            rows.consent.push(vec![
                t(&phone),
                t("opt_out"),
                t("keyword"),
                Cell::Int(inbound),
                t("all"),
                Cell::Time(asked),
            ]);
        }
        if escalate {
            let escalation = ids.escalation;
            ids.escalation += 1;
            let first = answered + Duration::minutes(rng.random_range(3..(30 * 60)));
            let resolved = first + Duration::minutes(rng.random_range(1..120));
            rows.escalations.push(vec![
                Cell::Int(escalation),
                Cell::Int(conversation),
                Cell::Int(turn),
                t(REASONS[rng.random_range(0..REASONS.len())]),
                t("{}"),
                t("resolved"),
                Cell::Time(answered),
                t("resolved"),
                t("demo"),
                Cell::Time(resolved),
            ]);
            let text = "Hi, this is Robin from Northwind. Let me sort that out for you.";
            push_outbox(rows, ids, "reviewer_reply", text, first, "delivered", None, None, None);
            push_message(rows, ids, "out", text, first);
        }
    }
    // Orders: more likely after a text that arrived; a cart text's order completes its checkout.
    for (sent, arrived, checkout) in texts {
        if arrived && rng.random_bool(0.09) {
            let placed = sent + Duration::minutes(rng.random_range(5..(3 * 24 * 60)));
            if placed < now {
                order(rows, first_order, made, customer, placed, rng.random_range(1_800..24_000), checkout.as_deref());
            }
        }
    }
    if rng.random_bool(0.05) {
        let placed = at(rng);
        order(rows, first_order, made, customer, placed, rng.random_range(1_800..24_000), None);
    }
}

fn order(
    rows: &mut Rows,
    first_order: i64,
    made: &mut Made,
    customer: i64,
    at: DateTime<Utc>,
    cents: i64,
    checkout: Option<&str>,
) {
    let id = first_order + made.orders as i64;
    made.orders += 1;
    rows.orders.push(vec![
        Cell::Int(id),
        Cell::Int(customer),
        Cell::Text(format!("H{id}")),
        Cell::Time(at),
        t("paid"),
        Cell::Int(cents),
        t("USD"),
        checkout.map(t).unwrap_or(Cell::Null),
        Cell::Int(1),
    ]);
}

async fn write(db: &Db, r: &Rows) -> anyhow::Result<()> {
    insert_rows(db, "customers", &["id", "phone", "name", "created_at"], &r.customers).await?;
    insert_rows(
        db,
        "conversations",
        &["id", "phone", "customer_id", "state", "created_at", "updated_at"],
        &r.conversations,
    )
    .await?;
    let event_columns =
        ["id", "event_id", "name", "source", "customer_id", "phone", "properties", "occurred_at", "received_at"];
    insert_rows(db, "events", &event_columns, &r.events).await?;
    let run_columns = [
        "id",
        "flow",
        "trigger_event",
        "customer_id",
        "phone",
        "context",
        "step",
        "status",
        "started_at",
        "updated_at",
    ];
    insert_rows(db, "flow_runs", &run_columns, &r.runs).await?;
    let message_columns =
        ["id", "conversation_id", "direction", "provider_sid", "from_phone", "to_phone", "body", "created_at"];
    insert_rows(db, "messages", &message_columns, &r.messages).await?;
    let turn_columns = [
        "id",
        "inbound_message_id",
        "conversation_id",
        "decision",
        "intent",
        "retrieved",
        "prompt_version",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "guard",
        "confidence",
        "sentiment",
        "stage_ms",
        "created_at",
    ];
    insert_rows(db, "turns", &turn_columns, &r.turns).await?;
    let escalation_columns = [
        "id",
        "conversation_id",
        "turn_id",
        "reason",
        "details",
        "status",
        "created_at",
        "resolution",
        "resolved_by",
        "resolved_at",
    ];
    insert_rows(db, "escalations", &escalation_columns, &r.escalations).await?;
    let outbox_columns = [
        "id",
        "conversation_id",
        "to_phone",
        "body",
        "kind",
        "status",
        "provider_sid",
        "error",
        "created_at",
        "sent_at",
        "flow_run_id",
        "ab_test",
        "ab_arm",
    ];
    insert_rows(db, "outbox", &outbox_columns, &r.outbox).await?;
    insert_rows(db, "links", &["id", "code", "url", "outbox_id", "created_at"], &r.links).await?;
    insert_rows(db, "link_clicks", &["link_id", "clicked_at", "preview"], &r.clicks).await?;
    let consent_columns = ["phone", "kind", "source", "evidence_message_id", "scope", "created_at"];
    insert_rows(db, "consent_events", &consent_columns, &r.consent).await?;
    let order_columns = [
        "id",
        "customer_id",
        "external_id",
        "ordered_at",
        "status",
        "total_cents",
        "currency",
        "checkout_token",
        "attribution_stale",
    ];
    insert_rows(db, "orders", &order_columns, &r.orders).await?;
    Ok(())
}
