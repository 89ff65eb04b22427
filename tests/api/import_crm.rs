//! `import-crm` end to end on both databases: Backtalk's CSV and JSON Lines files imported
//! into the CRM (customers, consent as ledger events, orders grouped from one row per line
//! item), bad rows reported by file and line, a re-run that changes nothing, an opted-out
//! number never turned back on, and a text answered from an imported order.

use std::time::Duration;

use backtalk::crm::import::{CrmImportOptions, import_files};

use crate::helpers::*;
use crate::on_both_backends;

const CUSTOMERS_CSV: &str = "phone,name,email,timezone,consent
(917) 555-0140,Ada Park,ada@example.com,America/New_York,opted_in
+19175550141,Ben Cho,,,opted_out
+19175550142,Cy Diaz,,,
not-a-phone,Broken Row,,,opted_in
";

const ORDERS_CSV: &str = "order_id,phone,ordered_at,status,sku,title,price,quantity
A-1001,+19175550140,2026-11-28T15:00:00Z,shipped,ZO0172001720,Blouse - red,20.99,1
A-1001,+19175550140,2026-11-28T15:00:00Z,shipped,ZO0347403474,Blouse - black,32.99,2
A-1002,+19175550142,2026-11-29T10:00:00Z,processing,ZO0431204312,Parka - khaki,$74.99,1
A-1003,+19175550142,2026-11-30T10:00:00Z,processing,ZO0431204312,Parka - khaki,seventy,1
";

const ORDERS_JSONL: &str = r#"{"order_id": "A-2001", "phone": "+19175550143", "ordered_at": "2026-11-27T09:00:00Z", "status": "delivered", "items": [{"sku": "ZO0191801918", "title": "Snood - mint", "price": 7.99, "quantity": 1}]}
{"order_id": "A-2002", "phone": "+19175550143", "ordered_at": "2026-11-27T09:00:00Z", "status": "delivered", "items": []}
"#;

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
}

async fn files_import_upsert_and_report_bad_rows(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (customers, orders, jsonl) =
        (dir.path().join("customers.csv"), dir.path().join("orders.csv"), dir.path().join("orders.jsonl"));
    std::fs::write(&customers, CUSTOMERS_CSV).unwrap();
    std::fs::write(&orders, ORDERS_CSV).unwrap();
    std::fs::write(&jsonl, ORDERS_JSONL).unwrap();
    let options = CrmImportOptions::default();
    let (before_customers, before_events) =
        (count(&app, "select count(*) from customers").await, count(&app, "select count(*) from consent_events").await);

    // --strict writes nothing when a row is bad, and says which.
    let strict = CrmImportOptions { strict: true, ..CrmImportOptions::default() };
    let e = import_files(&app.db, Some(&customers), Some(&orders), &strict).await.unwrap_err().to_string();
    assert!(e.contains("customers.csv:5:") && e.contains("orders.csv:5:"), "{e}");
    assert_eq!(count(&app, "select count(*) from customers").await, before_customers);

    let r = import_files(&app.db, Some(&customers), Some(&orders), &options).await.unwrap();
    assert_eq!((r.customers, r.orders, r.order_lines, r.consent_events), (3, 2, 3, 2), "{r:?}");
    let bad: Vec<String> = r.bad_lines.iter().map(|b| b.to_string()).collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].contains("customers.csv:5:"), "{bad:?}");
    assert!(bad[1].contains("orders.csv:5:") && bad[1].contains("seventy"), "{bad:?}");
    assert_eq!(count(&app, "select count(*) from customers").await, before_customers + 3);
    assert_eq!(count(&app, "select count(*) from consent_events").await, before_events + 2);
    let lines = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from order_items i join orders o on o.id = i.order_id where o.external_id = 'A-1001'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(lines, 2, "one order from its two rows");
    // A number written without +1 is stored in E.164.
    assert!(backtalk::store::crm::customer_by_phone(&app.db, &as_phone("+19175550140")).await.unwrap().is_some());

    // A re-run changes nothing; JSON Lines orders go the same way, an order without items is bad.
    let again = import_files(&app.db, Some(&customers), Some(&orders), &options).await.unwrap();
    assert_eq!(again.consent_events, 0);
    assert_eq!(count(&app, "select count(*) from consent_events").await, before_events + 2);
    let j = import_files(&app.db, None, Some(&jsonl), &options).await.unwrap();
    assert_eq!((j.orders, j.bad_lines.len()), (1, 1), "{j:?}");

    // The file says Ben opted in, but he opted out: he stays opted out.
    let flipped = dir.path().join("flipped.csv");
    std::fs::write(&flipped, "phone,consent\n+19175550141,opted_in\n").unwrap();
    let f = import_files(&app.db, Some(&flipped), None, &options).await.unwrap();
    assert_eq!((f.consent_events, f.kept_opted_out), (0, 1));
    let latest = backtalk::store::consent::latest_consent(&app.db, &as_phone("+19175550141")).await.unwrap();
    assert_eq!(latest, Some(backtalk::domain::ConsentKind::OptOut));

    // A text from the imported customer is answered from the imported order.
    app.post_inbound("+19175550140", "where is my order?", &new_sid()).await;
    wait_for("the answer", Duration::from_secs(20), || async { !app.twilio.sent_to("+19175550140").is_empty() }).await;
    let body = &app.twilio.sent_to("+19175550140")[0].body;
    assert!(body.contains("A-1001") && body.contains("shipped") && body.contains("(2 items)"), "{body}");
}
on_both_backends!(files_import_upsert_and_report_bad_rows);
