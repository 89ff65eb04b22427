//! Conversations, not single questions, end to end over HTTP on the demo store with the
//! offline responder: follow-ups resolved against the thread's dialogue state, the
//! cheapest of a kind, complements from the customer's purchase history, an order number
//! taken literally, a Spanish thread, and a customer who has waited going to a person.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(20);

/// Sends `body` from `phone` and waits until it is answered (the `n`th text to the number);
/// returns the decision of the number's newest turn and the text sent.
async fn say(app: &TestApp, phone: &str, body: &str, n: usize) -> (String, String) {
    app.post_inbound(phone, body, &new_sid()).await;
    wait_for("the answer", WAIT, || async { app.twilio.sent_to(phone).len() >= n }).await;
    app.wait_idle().await;
    let decision = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select decision from turns order by id desc limit 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    (decision, app.twilio.sent_to(phone)[n - 1].body.clone())
}

/// The dialogue column of the newest turn.
async fn latest_dialogue(app: &TestApp) -> Value {
    let text = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select dialogue from turns order by id desc limit 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// "how much is it?", "in a medium?", "is the first one in stock?" after a product answer
/// are about the product offered; the turn audit shows what the text referred to.
async fn a_follow_up_is_answered_about_the_product_in_focus(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550430";
    let (decision, body) = say(&app, phone, "do you have the red blouse?", 1).await;
    assert_eq!(decision, "reply", "{body}");
    assert!(body.contains("ZO0172001720"), "{body}");
    assert_eq!(latest_dialogue(&app).await["state"]["focus"][0]["sku"], "ZO0172001720");

    let (decision, body) = say(&app, phone, "how much is it?", 2).await;
    assert_eq!((decision.as_str(), body.as_str()), ("reply", "Blouse - red (ZO0172001720) is $20.99."));
    let dialogue = latest_dialogue(&app).await;
    assert_eq!(dialogue["asked"]["refers_to"][0], "ZO0172001720", "{dialogue}");
    assert_eq!(dialogue["asked"]["ask"]["kind"], "price");

    let (decision, body) = say(&app, phone, "in a medium?", 3).await;
    assert_eq!(decision, "reply");
    assert!(body.contains("size M") && body.contains("ZO0172001720"), "{body}");
    let (decision, body) = say(&app, phone, "is the first one in stock?", 4).await;
    assert_eq!(decision, "reply");
    assert!(body.contains("(ZO0172001720) is in stock"), "{body}");
}
on_both_backends!(a_follow_up_is_answered_about_the_product_in_focus);

/// "What's the cheapest dress?" names the cheapest dress in stock (checked against the
/// catalog here), and "which one is the cheapest?" after a product answer compares every
/// product of that kind, not only the one offered.
async fn the_cheapest_is_the_cheapest_in_stock(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let rows = backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, String, i64, Option<i64>, i64)>(
        "select sku, title, price_cents, sale_price_cents, stock from products"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    let cheapest_of = |word: &str| {
        rows.iter()
            .filter(|(_, title, .., stock)| {
                *stock > 0 && title.to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|w| w == word)
            })
            .map(|(_, _, price, sale, _)| sale.unwrap_or(*price))
            .min()
            .unwrap()
    };
    let dollars = |cents: i64| format!("${}.{:02}", cents / 100, cents % 100);
    let phone = "+12125550431";
    let (decision, body) = say(&app, phone, "what's the cheapest dress?", 1).await;
    assert_eq!(decision, "reply", "{body}");
    assert!(body.contains("The cheapest is") && body.contains(&dollars(cheapest_of("dress"))), "{body}");

    let (_, body) = say(&app, phone, "do you have parkas?", 2).await;
    assert!(body.contains("Parka"), "{body}");
    let (decision, body) = say(&app, phone, "which one is the cheapest?", 3).await;
    assert_eq!(decision, "reply", "{body}");
    assert!(body.contains(&dollars(cheapest_of("parka"))), "{body}");
}
on_both_backends!(the_cheapest_is_the_cheapest_in_stock);

/// "What goes with the chinos I bought?" suggests a complement of the customer's chinos
/// that they do not own, naming the purchase it goes with.
async fn a_complement_names_the_purchase_it_goes_with(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    // The demo customer who bought "Chinos - tan" (ZO0528205282) in October.
    let phone = "+12065550103";
    let (decision, body) = say(&app, phone, "what goes with the chinos I bought?", 1).await;
    assert_eq!(decision, "reply", "{body}");
    assert!(body.contains("To go with the chinos you bought in October:"), "{body}");
    let suggested = backtalk::catalog::query::sku_mentions(&body);
    let complements = backtalk::store::catalog::complements_of(&app.db, &["ZO0528205282".to_string()]).await.unwrap();
    assert!(complements.iter().any(|(sku, _)| sku == &suggested[0]), "{body} is not a complement of the boots");
    let owned = backtalk::crm::purchased_items(&app.db, &as_phone(phone)).await.unwrap();
    assert!(!owned.iter().any(|p| p.item.sku.as_str() == suggested[0]), "{body}: already owned");
}
on_both_backends!(a_complement_names_the_purchase_it_goes_with);

/// "Where is my order 550471?" is about that order (the customer's seventh latest, so not
/// among the orders a turn loads by default), not the latest one; a number that is not
/// theirs goes to a person.
async fn an_order_number_is_taken_literally(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550100";
    let (decision, body) = say(&app, phone, "where is my order 550471?", 1).await;
    assert_eq!(decision, "reply");
    assert!(body.ends_with("Order 550471 from 2026-10-21 (2 items) is delivered."), "{body}");
    // The thread's order: what was in it, and when it arrives.
    let (decision, body) = say(&app, phone, "what was in it?", 2).await;
    assert_eq!(decision, "reply");
    assert_eq!(
        body,
        "Order 550471 from 2026-10-21 has Ankle boots - black (ZO0143501435), Ballet pumps - black (ZO0235902359)."
    );
    let (decision, body) = say(&app, phone, "and order 591188?", 3).await;
    assert_eq!(decision, "escalate", "another customer's order: {body}");
}
on_both_backends!(an_order_number_is_taken_literally);

/// A Spanish thread is answered in Spanish with the same facts: a product and its
/// follow-up price, and a policy from its Spanish translation.
async fn a_spanish_thread_is_answered_in_spanish(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550432";
    let (decision, body) = say(&app, phone, "hola", 1).await;
    assert_eq!(decision, "reply");
    assert!(body.contains("¡Hola!"), "{body}");
    let (decision, body) = say(&app, phone, "tienen la blusa roja?", 2).await;
    assert_eq!(decision, "reply", "{body}");
    assert!(body.starts_with("Tenemos Blouse - red (ZO0172001720)"), "{body}");
    let (decision, body) = say(&app, phone, "cuánto cuesta?", 3).await;
    assert_eq!((decision.as_str(), body.as_str()), ("reply", "Blouse - red (ZO0172001720) cuesta $20.99."));
    let (decision, body) = say(&app, phone, "cuánto cuesta el envío?", 4).await;
    assert_eq!(decision, "reply", "{body}");
    assert!(body.contains("$5.95") && !body.contains("shipping"), "a Spanish policy sentence: {body}");
    assert_eq!(latest_dialogue(&app).await["state"]["language"], "es");
}
on_both_backends!(a_spanish_thread_is_answered_in_spanish);

/// A shopper who has not said what kind of thing they want is asked, and the answer keeps
/// what they said before it ("for my wife"): the scarf found is a women's scarf.
async fn a_shopper_is_asked_what_kind_and_the_answer_keeps_the_rest(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550434";
    let (decision, body) = say(&app, phone, "looking for something for my wife", 1).await;
    assert_eq!(decision, "reply");
    assert!(
        body.ends_with("What kind of thing are you looking for: clothing, shoes, a bag or an accessory?"),
        "{body}"
    );
    assert!(!body.contains('$'), "a question claims nothing: {body}");
    let (decision, body) = say(&app, phone, "maybe a scarf", 2).await;
    assert_eq!(decision, "reply", "{body}");
    let skus = backtalk::catalog::query::sku_mentions(&body);
    let rows = backtalk::store::catalog::products_by_sku(&app.db, &skus).await.unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|p| p.title.starts_with("Scarf") && p.category.starts_with("Women")),
        "{body}"
    );
}
on_both_backends!(a_shopper_is_asked_what_kind_and_the_answer_keeps_the_rest);

/// "This is the 3rd time I'm texting and nobody answers" goes to a person, although the bot
/// could quote the refund policy.
async fn a_customer_who_has_waited_goes_to_a_person(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let phone = "+12125550433";
    let (decision, _) = say(&app, phone, "this is the 3rd time im texting about my refund and nobody answers", 1).await;
    assert_eq!(decision, "escalate");
    let reason = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select reason from escalations order by id desc limit 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(reason, "waiting_customer");
}
on_both_backends!(a_customer_who_has_waited_goes_to_a_person);
