//! `import-crm` end to end on both databases: Backtalk's CSV and JSON Lines files imported
//! into the CRM (customers, consent as ledger events, orders grouped from one row per line
//! item), bad rows reported by file and line, a re-run that changes nothing, an opted-out
//! number never turned back on, and a text answered from an imported order.

use std::time::Duration;

use backtalk::crm::import::{CrmImportOptions, Format, import_files};

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

/// Shopify's exports as the admin writes them (tests/fixtures/shopify/).
fn shopify_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shopify").join(name)
}

/// Every table the import writes, counted.
async fn crm_counts(app: &TestApp) -> [i64; 5] {
    [
        count(app, "select count(*) from customers").await,
        count(app, "select count(*) from consent_events").await,
        count(app, "select count(*) from orders").await,
        count(app, "select count(*) from order_items").await,
        count(app, "select count(*) from fulfillments").await,
    ]
}

/// An order's (status, total_cents, currency, source_id, cancelled, lines, customer phone).
async fn shopify_order(app: &TestApp, number: &str) -> (String, i64, String, Option<String>, bool, i64, String) {
    backtalk::store::with_db!(&app.db, |p| {
        sqlx::query_as::<_, (String, i64, String, Option<String>, bool, i64, String)>(
            "select o.status, o.total_cents, o.currency, o.source_id, o.cancelled_at is not null,
             (select count(*) from order_items i where i.order_id = o.id), c.phone
         from orders o join customers c on c.id = o.customer_id where o.external_id = $1",
        )
        .bind(number)
        .fetch_one(p)
        .await
    })
    .unwrap()
}

async fn shopify_exports_import_as_they_come(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let (customers, orders) = (shopify_fixture("customers_export.csv"), shopify_fixture("orders_export.csv"));
    let options = CrmImportOptions::default();
    // Eve texted STOP before the export was taken; the export says she accepts SMS marketing.
    let eve = as_phone("+16175550163");
    backtalk::store::consent::record_opt_out(&app.db, &eve, "keyword").await.unwrap();
    let before = crm_counts(&app).await;

    let r = import_files(&app.db, Some(&customers), Some(&orders), &options).await.unwrap();
    let formats: Vec<_> = r.formats.iter().map(|f| f.format).collect();
    assert_eq!(formats, [Format::ShopifyCustomers, Format::ShopifyOrders], "{r:?}");
    // Ada, Ben, Cy, Eve, Fay; Dee has no phone; Gus's "call me" is a bad row.
    assert_eq!((r.customers, r.customers_without_phone), (5, 1), "{r:?}");
    // Ada, Cy and Fay said yes; Ben said no (nothing recorded); Eve stays opted out.
    assert_eq!((r.consent_events, r.kept_opted_out), (3, 1), "{r:?}");
    // #1001 (2 lines), #1002 (3), #1003 (1), #1006 (1 and a tip without a SKU); #1004 has
    // no phone; #1005's "Created at" is not a date.
    assert_eq!((r.orders, r.order_lines, r.orders_without_phone, r.lines_without_sku), (4, 7, 1, 1), "{r:?}");
    let bad: Vec<String> = r.bad_lines.iter().map(|b| b.to_string()).collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].contains("customers_export.csv:8:") && bad[0].contains("call me"), "{bad:?}");
    assert!(bad[1].contains("orders_export.csv:9:") && bad[1].contains("yesterday"), "{bad:?}");

    let latest = |phone: &'static str| {
        let db = app.db.clone();
        async move { backtalk::store::consent::latest_consent(&db, &as_phone(phone)).await.unwrap() }
    };
    use backtalk::domain::ConsentKind;
    assert_eq!(latest("+19175550160").await, Some(ConsentKind::OptIn), "Ada said yes");
    assert_eq!(latest("+19175550161").await, None, "Ben's no is no consent, not an opt-out");
    assert_eq!(latest("+15125550162").await, Some(ConsentKind::OptIn), "Cy's number is his Default Address Phone");
    assert_eq!(latest("+16175550163").await, Some(ConsentKind::OptOut), "Eve stays opted out");
    // Fay's UK number, written without +44, reads in her address's country.
    assert_eq!(latest("+447700900123").await, Some(ConsentKind::OptIn), "Fay said yes");
    let evidence = backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, Option<String>)>(
        "select source, evidence_text from consent_events where phone = '+19175550160'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(evidence.0, "shopify_export");
    assert!(
        evidence.1.as_deref().is_some_and(|e| e.ends_with("customers_export.csv:2: Accepts SMS Marketing=yes")),
        "{evidence:?}"
    );
    // Ben's number had no country code; his customer row has his Shopify id.
    let ben = backtalk::store::crm::customer_by_phone(&app.db, &as_phone("+19175550161")).await.unwrap().unwrap();
    assert_eq!(ben.name.as_deref(), Some("Ben Cho"));
    let mut tx = app.db.begin().await.unwrap();
    assert_eq!(backtalk::store::crm::customer_id_by_external_id(&mut tx, "7210448301123").await.unwrap(), Some(ben.id));
    drop(tx);

    // Orders: number without "#", the shop's id, the status mapping, the shop's total.
    let o = shopify_order(&app, "1001").await;
    assert_eq!(
        o,
        ("shipped".into(), 6009, "USD".into(), Some("5550000001001".into()), false, 2, "+19175550160".into())
    );
    let o = shopify_order(&app, "1002").await;
    assert_eq!(
        (o.0.as_str(), o.5, o.6.as_str()),
        ("processing", 3, "+19175550161"),
        "Ben's order by its Shipping Phone"
    );
    let o = shopify_order(&app, "1003").await;
    assert_eq!((o.0.as_str(), o.4), ("cancelled", true));
    let o = shopify_order(&app, "1006").await;
    assert_eq!((o.0.as_str(), o.5, o.6.as_str()), ("processing", 1, "+19175550160"), "partial, by its Billing Phone");

    // A re-run changes nothing.
    let after = crm_counts(&app).await;
    assert_eq!(after[0] - before[0], 5, "five new customers (Ada's orders found her by phone)");
    let again = import_files(&app.db, Some(&customers), Some(&orders), &options).await.unwrap();
    assert_eq!((again.consent_events, again.orders, again.customers), (0, 4, 5), "{again:?}");
    assert_eq!(crm_counts(&app).await, after);

    // A file given with the wrong flag says so.
    let e = import_files(&app.db, Some(&orders), None, &options).await.unwrap_err().to_string();
    assert!(e.contains("Shopify order export") && e.contains("--orders"), "{e}");

    // Ada asks where her order is: her latest is #1001, shipped.
    app.post_inbound("+19175550160", "where is my order?", &new_sid()).await;
    wait_for("the answer", Duration::from_secs(20), || async { !app.twilio.sent_to("+19175550160").is_empty() }).await;
    let body = &app.twilio.sent_to("+19175550160")[0].body;
    assert!(body.contains("1001") && body.contains("shipped"), "{body}");
}
on_both_backends!(shopify_exports_import_as_they_come);

const TRACKED_ORDERS_CSV: &str = "order_id,phone,ordered_at,status,fulfillment_status,tracking_company,tracking_number,tracking_url,sku,title,price,quantity
A-3001,(917) 555-0170,2026-11-28T15:00:00Z,shipped,fulfilled,UPS,1Z999AA10123456784,https://www.ups.com/track?tracknum=1Z999AA10123456784,ZO0172001720,Blouse - red,20.99,1
A-3001,(917) 555-0170,2026-11-28T15:00:00Z,shipped,fulfilled,UPS,1Z999AA10123456784,https://www.ups.com/track?tracknum=1Z999AA10123456784,ZO0347403474,Blouse - black,32.99,1
";

async fn tracking_columns_make_a_shipment_the_bot_answers_from(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders.csv");
    std::fs::write(&orders, TRACKED_ORDERS_CSV).unwrap();
    let options = CrmImportOptions::default();
    let r = import_files(&app.db, None, Some(&orders), &options).await.unwrap();
    assert_eq!((r.orders, r.order_lines, r.bad_lines.len()), (1, 2, 0), "{r:?}");
    let shipment = || async {
        backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, String, String, Option<String>)>(
            "select f.source_id, f.tracking_company, f.tracking_number, o.fulfillment_status
             from fulfillments f join orders o on o.id = f.order_id where o.external_id = 'A-3001'"
        )
        .fetch_all(p)
        .await)
        .unwrap()
    };
    let expected = vec![(
        "import:A-3001".to_string(),
        "UPS".to_string(),
        "1Z999AA10123456784".to_string(),
        Some("fulfilled".to_string()),
    )];
    assert_eq!(shipment().await, expected);
    // A re-run keeps one shipment.
    import_files(&app.db, None, Some(&orders), &options).await.unwrap();
    assert_eq!(shipment().await, expected);

    app.post_inbound("+19175550170", "where is my order?", &new_sid()).await;
    wait_for("the answer", Duration::from_secs(20), || async { !app.twilio.sent_to("+19175550170").is_empty() }).await;
    let body = &app.twilio.sent_to("+19175550170")[0].body;
    assert!(body.contains("A-3001") && body.contains("shipped"), "{body}");
    assert!(body.contains("1Z999AA10123456784 (UPS)"), "the imported tracking: {body}");
}
on_both_backends!(tracking_columns_make_a_shipment_the_bot_answers_from);
