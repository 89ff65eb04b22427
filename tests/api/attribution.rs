//! An order that changes while a pass is attributing it is not lost (both databases): the
//! pass keeps what it computed only if the order's stale count is still the one it read.
//! Before this, a cancellation that arrived between the pass's read and its write was cleared
//! with the rest, and the cancelled order kept its revenue (the background pass and a
//! dashboard's request attribute at the same time).

use backtalk::commerce::events;
use backtalk::store::Db;
use backtalk::store::analytics::{Attribution, stale_orders, write_attributions};
use serde_json::json;

use crate::helpers::{Backend, fresh_database_url};
use crate::on_both_backends;

async fn track(db: &Db, event: serde_json::Value) {
    let parsed = events::parse_request(event).expect("a valid event");
    events::track(db, &parsed).await.map_err(|e| format!("{e:?}")).expect("tracked");
}

fn order(id: &str) -> serde_json::Value {
    json!({"id": format!("order-{id}"), "event": "Order Completed", "phone": "+12065550199",
           "timestamp": "2026-03-02T10:00:00Z",
           "properties": {"order_id": id, "total": 40.0, "currency": "USD"}})
}

/// What a pass writes for `read` when the order is nobody's.
fn nobodys<'a>(read: &'a [backtalk::store::analytics::StaleOrder]) -> Vec<Attribution<'a>> {
    read.iter().map(|o| Attribution { order: o, conversation: None, chosen: None, recovered: false }).collect()
}

async fn a_change_during_a_pass_leaves_the_order_stale(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&fresh_database_url(backend, dir.path()).await).await.expect("connect and migrate");

    // Unchanged between the read and the write: written and cleared.
    track(&db, order("O1")).await;
    let read = stale_orders(&db, 10).await.unwrap();
    assert_eq!((read.len(), read[0].attribution_stale), (1, 1));
    assert_eq!(write_attributions(&db, &nobodys(&read)).await.unwrap(), 1);
    assert!(stale_orders(&db, 10).await.unwrap().is_empty());

    // Cancelled between the read and the write: the write is dropped, the order stays stale
    // with the cancellation, and the next pass takes it.
    track(&db, order("O2")).await;
    let read = stale_orders(&db, 10).await.unwrap();
    assert_eq!((read.len(), read[0].status.as_str()), (1, "processing"), "{read:?}");
    track(
        &db,
        json!({"id": "cancel-O2", "event": "Order Cancelled", "phone": "+12065550199",
                      "timestamp": "2026-03-02T11:00:00Z", "properties": {"order_id": "O2"}}),
    )
    .await;
    assert_eq!(write_attributions(&db, &nobodys(&read)).await.unwrap(), 0);
    let again = stale_orders(&db, 10).await.unwrap();
    assert_eq!(again.len(), 1, "the cancellation was lost: {again:?}");
    assert_eq!((again[0].status.as_str(), again[0].attribution_stale), ("cancelled", 2));
    assert_eq!(backtalk::analytics::attribute_pending(&db, &Default::default()).await.unwrap(), 1);
    assert!(stale_orders(&db, 10).await.unwrap().is_empty());
    db.close().await;
}
on_both_backends!(a_change_during_a_pass_leaves_the_order_stale);
