//! The conversation engine end to end: answers a model gets wrong in shape, the model's
//! concurrency limit, each escalation rule from a conversation over HTTP, and the bot's
//! silence until a reviewer closes the escalation.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fakes::LlmBehaviour;
use crate::helpers::*;
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(20);

/// A model's JSON answer.
fn answer(reply: &str, confidence: f64) -> String {
    json!({"reply": reply, "skus": [], "intent": "product", "confidence": confidence, "needs_human": false, "reason": ""})
        .to_string()
}

/// Sends `body` from `phone`, waits until `texts` texts have gone to that number and the
/// worker is idle; returns the decision and escalation reasons of the number's latest turn.
async fn text(app: &TestApp, phone: &str, body: &str, texts: usize) -> (String, Vec<String>) {
    app.post_inbound(phone, body, &new_sid()).await;
    wait_for("the texts to the customer", WAIT, || async { app.twilio.sent_to(phone).len() >= texts }).await;
    app.wait_idle().await;
    latest_turn(app).await
}

/// The decision of the newest turn and the reason codes of its escalation (if any).
async fn latest_turn(app: &TestApp) -> (String, Vec<String>) {
    let (id, decision) = backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (i64, String)>(
        "select id, decision from turns order by id desc limit 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    let details = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select details from escalations where turn_id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)
    .unwrap();
    let codes = details
        .map(|d| serde_json::from_str::<Value>(&d).unwrap())
        .map(|d| d["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    (decision, codes)
}

async fn api_get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.http.get(format!("{}{path}", app.base_url)).bearer_auth(API_TOKEN).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn api_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app.http.post(format!("{}{path}", app.base_url)).bearer_auth(API_TOKEN).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A model whose answer is cut off mid-JSON: nothing of it reaches the customer; the turn
/// escalates with the reason, and the customer gets the holding message.
async fn a_malformed_answer_is_never_sent(backend: Backend) {
    let app = spawn_app(backend, TestOptions { llm: true, ..TestOptions::default() }).await;
    let llm = app.llm.as_ref().unwrap();
    llm.set_default(LlmBehaviour::Reply(r#"{"reply": "Yes, the black blouse is $32.99", "confidence": 0.9"#.into()));
    let (decision, codes) = text(&app, CUSTOMER, "do you have the blouse in black?", 1).await;
    assert_eq!((decision.as_str(), codes), ("escalate", vec!["llm_unavailable".to_string()]));
    let sent = app.twilio.sent_to(CUSTOMER);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, app.config.brand.holding_message);
    let error =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, Option<String>>("select error from turns")
            .fetch_one(p)
            .await)
        .unwrap();
    assert!(error.unwrap().contains("malformed JSON"));
}
on_both_backends!(a_malformed_answer_is_never_sent);

/// A server that deviates from OpenAI's shape (no id or usage, a float `created`, an
/// unknown finish_reason, content as a list of text parts) is still understood.
async fn a_non_standard_response_shape_is_read(backend: Backend) {
    let app = spawn_app(backend, TestOptions { llm: true, ..TestOptions::default() }).await;
    let content = answer("Yes, the black blouse is $32.99 and in stock.", 0.9);
    let body = json!({
        "object": "chat.completion",
        "created": 1.7e9,
        "choices": [{"index": 0, "finish_reason": "eos_token",
                     "message": {"role": "assistant", "content": [{"type": "text", "text": content}]}}],
    });
    app.llm.as_ref().unwrap().set_default(LlmBehaviour::RawBody(body.to_string()));
    let (decision, codes) = text(&app, CUSTOMER, "do you have the blouse in black?", 1).await;
    assert_eq!((decision.as_str(), codes.len()), ("reply", 0));
    assert!(app.twilio.sent_to(CUSTOMER)[0].body.ends_with("Yes, the black blouse is $32.99 and in stock."));
    // Without usage from the server, the prompt's tokens are counted here (tiktoken).
    let tokens =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>("select prompt_tokens from turns")
            .fetch_one(p)
            .await)
        .unwrap();
    assert!((300..3000).contains(&tokens), "{tokens}");
    // Every claim the guard checked is on the turn, verified ones too.
    let guard = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>("select guard from turns")
        .fetch_one(p)
        .await)
    .unwrap();
    let guard: Value = serde_json::from_str(&guard).unwrap();
    assert_eq!(guard["claims"][0], json!({"kind": "money", "text": "$32.99"}), "{guard}");
    assert_eq!(guard["verdict"], "pass");
}
on_both_backends!(a_non_standard_response_shape_is_read);

/// Six customers text at once; the worker runs six turns, but no more than
/// `llm.max_concurrency` (2) requests reach the model at a time.
async fn the_model_never_sees_more_than_its_concurrency_limit(backend: Backend) {
    let options = TestOptions {
        llm: true,
        llm_timeout_secs: Some(10),
        configure: Some(|c| {
            c.llm.max_concurrency = 2;
            c.worker.concurrency = 6;
        }),
        ..TestOptions::default()
    };
    let app = spawn_app(backend, options).await;
    let llm = app.llm.as_ref().unwrap();
    let reply = answer("Yes, the black blouse is $32.99.", 0.9);
    llm.set_default(LlmBehaviour::Delay(Duration::from_millis(400), reply));
    for i in 0..6 {
        app.post_inbound(&format!("+1212555{:04}", 300 + i), "do you have the blouse in black?", &new_sid()).await;
    }
    app.twilio.wait_for_sent(6, WAIT).await;
    app.wait_idle().await;
    assert_eq!(llm.requests().len(), 6);
    assert_eq!(llm.max_in_flight(), 2, "the limit was reached and held");
}
on_both_backends!(the_model_never_sees_more_than_its_concurrency_limit);

/// The rules that depend on scores, each from its own conversation: a reply with no
/// evidence behind it, an angry customer, the model asking for a person, and two unsure
/// replies in a row (the first is sent, the second escalates).
async fn each_score_rule_escalates_from_a_conversation(backend: Backend) {
    let app = spawn_app(backend, TestOptions { llm: true, ..TestOptions::default() }).await;
    let llm = app.llm.as_ref().unwrap();

    llm.set_default(LlmBehaviour::Reply(answer("Probably something about 42.", 0.4)));
    let (decision, codes) = text(&app, "+12125550401", "what's the meaning of life", 1).await;
    assert_eq!((decision.as_str(), codes), ("escalate", vec!["low_confidence".to_string()]));

    llm.set_default(LlmBehaviour::Reply(answer("Sorry to hear that! The black blouse is $32.99.", 0.9)));
    let (decision, codes) =
        text(&app, "+12125550402", "this black blouse is the WORST, I hate it!!! terrible awful quality", 1).await;
    assert_eq!(decision, "escalate");
    assert!(codes.contains(&"negative_sentiment".to_string()), "{codes:?}");

    let needs_human = json!({"reply": "Let me get a teammate.", "skus": [], "intent": "unknown", "confidence": 0.9,
                             "needs_human": true, "reason": "asks about a custom alteration"});
    llm.set_default(LlmBehaviour::Reply(needs_human.to_string()));
    let (decision, codes) = text(&app, "+12125550403", "can you hem the black blouse for me?", 1).await;
    assert_eq!(decision, "escalate");
    assert!(codes.contains(&"model_requested".to_string()), "{codes:?}");

    // Self-rating 0.2 with full evidence: confidence 0.6, above the threshold (0.5) and
    // below the caution threshold (0.65).
    llm.set_default(LlmBehaviour::Reply(answer("I think the black blouse is $32.99.", 0.2)));
    let (decision, codes) = text(&app, "+12125550404", "do you have the blouse in black?", 1).await;
    assert_eq!((decision.as_str(), codes.len()), ("reply", 0));
    let (decision, codes) = text(&app, "+12125550404", "do you have the blouse in black?", 2).await;
    assert_eq!((decision.as_str(), codes), ("escalate", vec!["low_confidence_streak".to_string()]));
    let sent = app.twilio.sent_to("+12125550404");
    assert_eq!(sent[1].body, app.config.brand.holding_message);
}
on_both_backends!(each_score_rule_escalates_from_a_conversation);

/// After an escalation the bot says nothing on the conversation: later texts attach to the
/// open escalation. A reviewer hands it back over the API, and the bot answers again.
async fn the_bot_is_silent_until_a_reviewer_hands_the_conversation_back(backend: Backend) {
    let app = spawn_app(backend, TestOptions { llm: true, ..TestOptions::default() }).await;
    app.llm.as_ref().unwrap().set_default(LlmBehaviour::Reply(answer("Yes, the black blouse is $32.99.", 0.9)));
    let (decision, codes) = text(&app, CUSTOMER, "can I talk to a real person please", 1).await;
    assert_eq!((decision.as_str(), codes[0].as_str()), ("escalate", "human_requested"));

    for follow_up in ["hello??", "do you have the blouse in black?"] {
        app.post_inbound(CUSTOMER, follow_up, &new_sid()).await;
        app.wait_idle().await;
        assert_eq!(latest_turn(&app).await.0, "human_owned");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.twilio.sent_to(CUSTOMER).len(), 1, "only the holding message");

    // The API describes itself, without a token.
    let doc: Value =
        app.http.get(format!("{}/api/v1/openapi.json", app.base_url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/escalations/{id}/close"]["post"].is_object());

    let (status, open) = api_get(&app, "/api/v1/escalations").await;
    assert_eq!(status, 200);
    let escalation = &open["escalations"][0];
    assert_eq!(escalation["reason"], "human_requested");
    assert_eq!(escalation["attached_messages"], 2, "{open}");
    let details: Value = serde_json::from_str(escalation["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["priority"], "high");
    assert!(details["sla_due"].as_str().is_some() && details["scores"]["confidence"]["value"].is_number(), "{details}");
    let snapshot = &details["snapshot"];
    assert_eq!(snapshot["message"], "can I talk to a real person please");
    assert_eq!(snapshot["customer_name"], "Elyssa Reese");
    assert!(!snapshot["orders"].as_array().unwrap().is_empty(), "{snapshot}");

    let id = escalation["id"].as_i64().unwrap();
    let close = json!({"resolution": "handed_back", "reviewer": "sam"});
    let (status, _) = api_post(&app, &format!("/api/v1/escalations/{id}/close"), close.clone()).await;
    assert_eq!(status, 200);
    let (status, body) = api_post(&app, &format!("/api/v1/escalations/{id}/close"), close).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) =
        api_post(&app, "/api/v1/escalations/999999/close", json!({"resolution": "resolved", "reviewer": "sam"})).await;
    assert_eq!(status, 404);
    let (status, body) =
        api_post(&app, &format!("/api/v1/escalations/{id}/close"), json!({"resolution": "maybe", "reviewer": "sam"}))
            .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(api_get(&app, "/api/v1/escalations").await.1["escalations"], json!([]));

    let (decision, _) = text(&app, CUSTOMER, "do you have the blouse in black?", 2).await;
    assert_eq!(decision, "reply");
    assert!(app.twilio.sent_to(CUSTOMER)[1].body.contains("$32.99"));
}
on_both_backends!(the_bot_is_silent_until_a_reviewer_hands_the_conversation_back);

/// A handed-back thread starts fresh: the escalation before the hand-back neither lowers
/// the confidence of the next answers (`0.8^recent_failures`) nor counts as the first of
/// "two unsure replies in a row". Self-rating 0.2 with full evidence is confidence 0.6:
/// answered on a fresh thread, escalated (0.6 · 0.8 = 0.48) on one that remembers.
async fn a_handed_back_thread_starts_fresh(backend: Backend) {
    let app = spawn_app(backend, TestOptions { llm: true, ..TestOptions::default() }).await;
    let llm = app.llm.as_ref().unwrap();
    llm.set_default(LlmBehaviour::Reply(answer("Probably something about 42.", 0.4)));
    let (decision, codes) = text(&app, CUSTOMER, "what's the meaning of life", 1).await;
    assert_eq!((decision.as_str(), codes), ("escalate", vec!["low_confidence".to_string()]));
    let (_, open) = api_get(&app, "/api/v1/escalations").await;
    let id = open["escalations"][0]["id"].as_i64().unwrap();
    let close = json!({"resolution": "handed_back", "reviewer": "sam"});
    assert_eq!(api_post(&app, &format!("/api/v1/escalations/{id}/close"), close).await.0, 200);

    llm.set_default(LlmBehaviour::Reply(answer("I think the black blouse is $32.99.", 0.2)));
    let (decision, codes) = text(&app, CUSTOMER, "do you have the blouse in black?", 2).await;
    assert_eq!((decision.as_str(), codes.len()), ("reply", 0), "the first text after the hand-back: {codes:?}");
    assert!(app.twilio.sent_to(CUSTOMER)[1].body.contains("$32.99"));
}
on_both_backends!(a_handed_back_thread_starts_fresh);

/// Small talk is answered, not paged (offline responder): a question about the bot gets the
/// honest answer, a pause or an emoji and an off-topic question a short redirect with no
/// facts in it; asking for a person still goes to a person.
async fn small_talk_is_answered_not_paged(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550420";
    let mut sent = 0;
    for (said, shown) in [
        ("are you a bot?", "AI assistant"),
        ("hmm", "I can with products"),
        ("🙂", "I can with products"),
        ("what's the weather tomorrow?", "I can with products"),
    ] {
        sent += 1;
        let (decision, codes) = text(&app, phone, said, sent).await;
        assert_eq!((decision.as_str(), codes.len()), ("reply", 0), "{said:?}: {codes:?}");
        let body = &app.twilio.sent_to(phone)[sent - 1].body;
        assert!(body.contains(shown), "{said:?} -> {body}");
        assert!(!body.contains('$'), "no price in small talk: {body}");
    }
    let (decision, codes) = text(&app, phone, "ok can I talk to a real person", sent + 1).await;
    assert_eq!((decision.as_str(), codes[0].as_str()), ("escalate", "human_requested"));
}
on_both_backends!(small_talk_is_answered_not_paged);

/// A sku the customer quotes is the product answered about, even sold out and even when the
/// search ranks others first; the reply says it is out of stock.
async fn a_quoted_sku_is_taken_literally(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550421";
    let (decision, codes) = text(&app, phone, "is ZO0059900599 in stock?", 1).await;
    assert_eq!((decision.as_str(), codes.len()), ("reply", 0), "{codes:?}");
    let body = &app.twilio.sent_to(phone)[0].body;
    assert!(body.contains("ZO0059900599") && body.contains("out of stock"), "{body}");
}
on_both_backends!(a_quoted_sku_is_taken_literally);
