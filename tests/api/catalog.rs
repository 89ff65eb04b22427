//! `index-catalog`: validation with line numbers, strict mode, upsert and full replace, and a
//! running server picking up an import without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backtalk::catalog::import::{ImportOptions, import_files, parse_mapping};
use backtalk::catalog::{DocKind, SearchIndex};

use crate::helpers::*;
use crate::on_both_backends;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn fresh(backend: Backend) -> (tempfile::TempDir, backtalk::store::Db, SearchIndex) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let db = backtalk::store::Db::connect(&url).await.unwrap();
    let index = SearchIndex::open_or_create(&dir.path().join("index")).unwrap();
    (dir, db, index)
}

const GOOD_JSONL: &str = r#"{"sku":"B1","title":"Silk blouse","price":39.99,"variants":[{"size":"S","color":"red","stock":2},{"size":"M","color":"red","stock":0}],"bullets":["100% silk"],"category":"Women > Tops"}
{"id":"returns","title":"Returns","body":"Return within 30 days.","tags":["returns"]}
"#;

async fn every_bad_line_is_named_with_its_number(backend: Backend) {
    let (dir, db, index) = fresh(backend).await;
    let jsonl = write(
        dir.path(),
        "catalog.jsonl",
        &[
            r#"{"sku":"A1","title":"Linen shirt","price":25}"#,
            r#"{"sku":"A2","title":"Shirt","price":"#,
            r#"["not", "an", "object"]"#,
            r#"{"title":"No sku or id","price":5}"#,
            r#"{"sku":"A3","title":"No price"}"#,
            r#"{"sku":"A4","title":"Negative","price":5,"stock":-1}"#,
            r#"{"sku":"A5","title":"Sale above price","price":5,"sale_price":7}"#,
            r#"{"sku":"A6","title":"Euros","price":5,"currency":"EUR"}"#,
            r#"{"sku":"A7","title":" ","price":5}"#,
            r#"{"sku":"A8","title":"Bad variant","price":5,"variants":[{"size":"S","stock":"many"}]}"#,
            "",
            r#"{"id":"empty","title":"Empty policy","body":" "}"#,
            r#"{"sku":"A9","title":"Wool scarf","price":19.5,"rating":4.5}"#,
        ]
        .join("\n"),
    );
    let csv = write(
        dir.path(),
        "catalog.csv",
        "sku,title,price,colors,variants\nC1,Denim jacket,59.9,blue|black,\nC2,Bad price,abc,,\nC3,Bad variant,10,,S:red\nC4,Too,many,fields,here,!\n",
    );
    let report = import_files(&db, &index, &[jsonl.clone(), csv.clone()], &ImportOptions::default()).await.unwrap();
    let lines: Vec<(String, usize)> =
        report.bad_lines.iter().map(|b| (b.file.rsplit('/').next().unwrap().to_string(), b.line)).collect();
    let expected: Vec<(String, usize)> = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
        .into_iter()
        .map(|l| ("catalog.jsonl".to_string(), l))
        .chain([3, 4, 5].into_iter().map(|l| ("catalog.csv".to_string(), l)))
        .collect();
    assert_eq!(lines, expected, "{:#?}", report.bad_lines);
    let message = |file: &str, line: usize| {
        report.bad_lines.iter().find(|b| b.file.ends_with(file) && b.line == line).unwrap().message.clone()
    };
    assert!(message("catalog.jsonl", 2).starts_with("malformed JSON"));
    assert_eq!(message("catalog.jsonl", 3), "not a JSON object");
    assert!(message("catalog.jsonl", 4).starts_with("neither a product"));
    assert_eq!(message("catalog.jsonl", 5), "price is missing");
    assert_eq!(message("catalog.jsonl", 6), "stock is negative");
    assert!(message("catalog.jsonl", 8).contains("EUR"));
    assert_eq!(message("catalog.jsonl", 12), "body is empty");
    assert_eq!(message("catalog.csv", 3), "column \"price\": \"abc\" is not a price");
    assert!(message("catalog.csv", 4).contains("size:color:stock"));
    assert!(message("catalog.csv", 5).starts_with("malformed CSV row"));
    assert_eq!(report.products, 3, "A1, A9, C1");
    assert!(report.ignored_fields.contains("rating"));
    assert_eq!(backtalk::store::catalog::count_products(&db).await.unwrap(), 3);
    assert_eq!(index.search("denim jacket", DocKind::Product, 3).unwrap()[0].id, "C1");

    // --strict writes nothing when any line is bad.
    let (_dir2, db2, index2) = fresh(backend).await;
    let err = import_files(&db2, &index2, &[jsonl], &ImportOptions { strict: true, ..Default::default() })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("10 bad line(s), nothing written"), "{err}");
    assert!(err.contains("catalog.jsonl:2:"), "{err}");
    assert_eq!(backtalk::store::catalog::count_products(&db2).await.unwrap(), 0);
    assert_eq!(index2.num_docs(), 0);
}
on_both_backends!(every_bad_line_is_named_with_its_number);

async fn upsert_by_default_and_full_replaces(backend: Backend) {
    let (dir, db, index) = fresh(backend).await;
    let first = write(dir.path(), "first.jsonl", GOOD_JSONL);
    let report = import_files(&db, &index, &[first], &ImportOptions::default()).await.unwrap();
    assert_eq!((report.products, report.policies), (1, 1));
    let row = &backtalk::store::catalog::products_by_sku(&db, &["B1".into()]).await.unwrap()[0];
    assert_eq!((row.stock, row.colors.as_str(), row.sizes.as_str()), (2, r#"["red"]"#, r#"["S","M"]"#));
    assert_eq!(row.category, "Women > Tops");

    // Upsert: a new product joins, B1 changes, nothing is lost.
    let second = write(
        dir.path(),
        "second.jsonl",
        "{\"sku\":\"B1\",\"title\":\"Silk blouse\",\"price\":29.99,\"stock\":4}\n{\"sku\":\"K1\",\"title\":\"Knit cardigan\",\"price\":49}\n",
    );
    import_files(&db, &index, std::slice::from_ref(&second), &ImportOptions::default()).await.unwrap();
    assert_eq!(backtalk::store::catalog::count_products(&db).await.unwrap(), 2);
    let row = &backtalk::store::catalog::products_by_sku(&db, &["B1".into()]).await.unwrap()[0];
    assert_eq!((row.price_cents, row.stock), (2999, 4));
    assert_eq!(index.search("blouse", DocKind::Product, 5).unwrap().len(), 1, "replaced, not duplicated");

    // Full: only what is in the files stays; policies survive in the index.
    let third = write(dir.path(), "third.csv", "sku,title,price\nZ1,Zebra print scarf,19.99\n");
    let report =
        import_files(&db, &index, &[third], &ImportOptions { full: true, ..Default::default() }).await.unwrap();
    assert_eq!(report.deleted, 2);
    assert_eq!(backtalk::store::catalog::count_products(&db).await.unwrap(), 1);
    assert!(index.search("blouse", DocKind::Product, 5).unwrap().is_empty());
    assert_eq!(index.search("zebra scarf", DocKind::Product, 5).unwrap()[0].id, "Z1");
    assert_eq!(index.search("return", DocKind::Policy, 5).unwrap()[0].id, "returns");
}
on_both_backends!(upsert_by_default_and_full_replaces);

async fn a_policys_spanish_translation_is_stored_and_read_back(backend: Backend) {
    let (dir, db, index) = fresh(backend).await;
    let file = write(
        dir.path(),
        "policies.jsonl",
        r#"{"id":"shipping","title":"Shipping","body":"Express shipping costs $14.95.","translations":{"es":{"title":"Envíos","body":"El envío exprés cuesta $14.95."}}}
{"id":"returns","title":"Returns","body":"Return within 30 days."}
"#,
    );
    let report =
        import_files(&db, &index, &[file], &ImportOptions { strict: true, ..Default::default() }).await.unwrap();
    assert_eq!(report.policies, 2);
    assert!(report.ignored_fields.is_empty(), "{:?}", report.ignored_fields);
    let mut rows = backtalk::store::catalog::policies_by_id(&db, &["shipping".into(), "returns".into()]).await.unwrap();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let translations: serde_json::Value = serde_json::from_str(&rows[1].translations).unwrap();
    assert_eq!(translations["es"]["body"], "El envío exprés cuesta $14.95.");
    assert_eq!(translations["es"]["title"], "Envíos");
    assert_eq!(rows[0].translations, "{}", "a policy without translations");
}
on_both_backends!(a_policys_spanish_translation_is_stored_and_read_back);

async fn a_file_from_elsewhere_imports_with_a_field_mapping(backend: Backend) {
    let (dir, db, index) = fresh(backend).await;
    // The shape of the ESCI product file (gzip JSON lines), with a price.
    let line = r#"{"asin":"B07X","title":"Kindle Paperwhite","bullet_points":"Waterproof\nThin","color":"Black","category":["Electronics","Readers"],"price":139.99,"rating":4.6,"image":"https://example.com/k.jpg"}"#;
    let path = dir.path().join("products.json.gz");
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        writeln!(gz, "{line}").unwrap();
        gz.finish().unwrap();
    }
    let mapping = ["sku=asin", "bullets=bullet_points", "colors=color", "image_url=image"]
        .iter()
        .map(|m| parse_mapping(m).unwrap())
        .collect();
    let report = import_files(&db, &index, &[path], &ImportOptions { mapping, ..Default::default() }).await.unwrap();
    assert_eq!(report.products, 1, "{:?}", report.bad_lines);
    assert_eq!(report.ignored_fields.iter().collect::<Vec<_>>(), ["rating"]);
    let row = &backtalk::store::catalog::products_by_sku(&db, &["B07X".into()]).await.unwrap()[0];
    assert_eq!(row.bullets, r#"["Waterproof","Thin"]"#);
    assert_eq!(row.image_url, "https://example.com/k.jpg");
    assert_eq!(row.category, "Electronics > Readers");
    assert_eq!(index.search("waterproof reader", DocKind::Product, 1).unwrap()[0].id, "B07X");
    assert!(parse_mapping("nonsense").is_err());
    assert!(parse_mapping("rating=stars").unwrap_err().to_string().contains("not a catalog field"));
}
on_both_backends!(a_file_from_elsewhere_imports_with_a_field_mapping);

async fn a_running_server_answers_from_an_import_without_a_restart(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "do you have a zebra print scarf?", &new_sid()).await;
    let before = app.twilio.wait_for_sent(1, Duration::from_secs(10)).await;
    assert!(!before.iter().any(|s| s.body.contains("Zebra")), "{before:?}");

    // The import runs like the CLI: its own index handle on the server's directory.
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "new.jsonl",
        "{\"sku\":\"ZS1\",\"title\":\"Zebra print scarf\",\"price\":19.99,\"stock\":5,\"colors\":[\"black\",\"white\"]}\n",
    );
    let index = SearchIndex::open_or_create(&app.config.data_dir.join("index")).unwrap();
    import_files(&app.db, &index, &[file], &ImportOptions::default()).await.unwrap();

    // The server's reader reloads on the commit (it polls the index's meta file). Each try
    // comes from a new number: a weak match before the reload may hand a thread to a person.
    let mut answered = false;
    for attempt in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let phone = format!("+1212555{:04}", 200 + attempt);
        app.post_inbound(&phone, "do you have a zebra print scarf?", &new_sid()).await;
        wait_for("a text to the new number", Duration::from_secs(10), || async {
            !app.twilio.sent_to(&phone).is_empty()
        })
        .await;
        if app.twilio.sent_to(&phone).iter().any(|s| s.body.contains("Zebra print scarf") && s.body.contains("$19.99"))
        {
            answered = true;
            break;
        }
    }
    assert!(answered, "{:?}", app.twilio.sent());
}
on_both_backends!(a_running_server_answers_from_an_import_without_a_restart);

async fn a_complement_question_brings_what_goes_with_the_purchase_first(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    // The demo customer bought two pairs of boots among other things; the catalog's
    // complements come from the sample's order history (demo/build_demo_store.py).
    let items = backtalk::crm::purchased_items(&app.db, &as_phone(CUSTOMER)).await.unwrap();
    let bought: Vec<String> = items.iter().map(|i| i.item.sku.as_str().to_owned()).collect();
    let boots: Vec<String> =
        items.iter().filter(|i| i.item.title.contains("oots")).map(|i| i.item.sku.as_str().to_owned()).collect();
    assert_eq!(boots.len(), 2, "{items:?}");
    let expected: Vec<String> = backtalk::store::catalog::complements_of(&app.db, &boots)
        .await
        .unwrap()
        .into_iter()
        .map(|(sku, _)| sku)
        .filter(|sku| !bought.contains(sku))
        .collect();
    assert!(!expected.is_empty(), "the demo catalog lists complements for the boots");

    app.post_inbound(CUSTOMER, "what goes with the boots I bought?", &new_sid()).await;
    app.wait_idle().await;
    let retrieved =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>("select retrieved from turns")
            .fetch_one(p)
            .await)
        .unwrap();
    let retrieved: serde_json::Value = serde_json::from_str(&retrieved).unwrap();
    let skus: Vec<String> =
        retrieved["products"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_string()).collect();
    assert_eq!(skus[..expected.len()], expected[..], "complements first, best first");
    assert!(skus.iter().all(|s| !bought.contains(s)), "nothing she already has: {skus:?}");
}
on_both_backends!(a_complement_question_brings_what_goes_with_the_purchase_first);

/// The products of the turn answering the only inbound message so far.
async fn retrieved_skus(app: &TestApp) -> Vec<String> {
    let retrieved = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select retrieved from turns order by id desc limit 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    let retrieved: serde_json::Value = serde_json::from_str(&retrieved).unwrap();
    retrieved["products"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_string()).collect()
}

/// The titles of `skus`, in order.
async fn titles(app: &TestApp, skus: Vec<String>) -> Vec<String> {
    backtalk::store::catalog::products_by_sku(&app.db, &skus).await.unwrap().into_iter().map(|p| p.title).collect()
}

/// "plimsolls" finds the trainers only through vectors: the demo catalog says "trainers",
/// and Backtalk's synonym table does not know the word. Returns the titles retrieved.
async fn ask_for_plimsolls(app: &TestApp, from: &str) -> Vec<String> {
    app.post_inbound(from, "do you have plimsolls?", &new_sid()).await;
    app.wait_idle().await;
    titles(app, retrieved_skus(app).await).await
}

/// Number of products in the demo catalog.
async fn catalog_size(app: &TestApp) -> usize {
    backtalk::store::catalog::all_products(&app.db).await.unwrap().len()
}

async fn hybrid_search_finds_what_the_words_miss_and_survives_a_failing_endpoint(backend: Backend) {
    let plain = spawn_app(backend, TestOptions::default()).await;
    let bm25_only = ask_for_plimsolls(&plain, CUSTOMER).await;
    assert!(!bm25_only.iter().any(|t| t.contains("Trainers")), "{bm25_only:?}");
    // The everyday US word is in Backtalk's synonym table: BM25 alone finds trainers.
    plain.post_inbound("+12125550177", "do you have sneakers?", &new_sid()).await;
    plain.wait_idle().await;
    let sneakers = titles(&plain, retrieved_skus(&plain).await).await;
    assert!(sneakers.iter().take(3).all(|t| t.contains("Trainers")), "{sneakers:?}");

    // With embeddings (the catalog is embedded at start), the fused ranking has trainers.
    let app = spawn_app(backend, TestOptions { embeddings: true, ..TestOptions::default() }).await;
    assert!(app.embeddings.as_ref().unwrap().requests() > 0, "the catalog was embedded at start");
    let vectors = backtalk::catalog::semantic::vector_file(&app.config.data_dir, "fake-embeddings");
    assert!(vectors.exists(), "{}", vectors.display());
    let hybrid = ask_for_plimsolls(&app, CUSTOMER).await;
    assert!(hybrid.iter().take(3).all(|t| t.contains("Trainers")), "{hybrid:?}");

    // The endpoint fails: the turn still answers, from BM25 (another customer: the first
    // conversation may be with a person now).
    app.embeddings.as_ref().unwrap().set_failing(true);
    let other = "+12125550199";
    app.post_inbound(other, "do you have a red blouse?", &new_sid()).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent_to(other).len(), 1, "answered");
    let fallback = titles(&app, retrieved_skus(&app).await).await;
    assert!(fallback.first().is_some_and(|t| t.contains("Blouse")), "{fallback:?}");
}
on_both_backends!(hybrid_search_finds_what_the_words_miss_and_survives_a_failing_endpoint);

/// With `qdrant.url` set, the catalog's vectors go to a Qdrant collection (none to the data
/// directory) and a turn's vector search is a Qdrant query: the same trainers come back.
async fn hybrid_search_keeps_its_vectors_in_qdrant(backend: Backend) {
    let qdrant = crate::fake_qdrant::FakeQdrant::start().await;
    let options = TestOptions { embeddings: true, qdrant_url: Some(qdrant.url()), ..TestOptions::default() };
    let app = spawn_app(backend, options).await;
    assert_eq!(qdrant.points(&app.config.qdrant.collection), catalog_size(&app).await, "one point per product");
    assert!(!backtalk::catalog::semantic::vector_file(&app.config.data_dir, "fake-embeddings").exists());

    let hybrid = ask_for_plimsolls(&app, CUSTOMER).await;
    assert!(hybrid.iter().take(3).all(|t| t.contains("Trainers")), "{hybrid:?}");
    assert!(qdrant.calls("query") >= 1, "the vector search went to qdrant");
}
on_both_backends!(hybrid_search_keeps_its_vectors_in_qdrant);

/// Qdrant down: the server still starts and answers, from BM25 alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_qdrant_leaves_bm25_answering() {
    // Bind then drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = TestOptions {
        embeddings: true,
        qdrant_url: Some(format!("http://127.0.0.1:{port}")),
        ..TestOptions::default()
    };
    let app = spawn_app(Backend::Sqlite, options).await;
    app.post_inbound(CUSTOMER, "do you have a red blouse?", &new_sid()).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent_to(CUSTOMER).len(), 1, "answered");
    let bm25 = titles(&app, retrieved_skus(&app).await).await;
    assert!(bm25.first().is_some_and(|t| t.contains("Blouse")), "{bm25:?}");
}

/// The same against a real Qdrant: `BACKTALK_TEST_QDRANT_URL=http://127.0.0.1:6334`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_search_with_a_real_qdrant() {
    let Ok(url) = std::env::var("BACKTALK_TEST_QDRANT_URL") else {
        eprintln!("skipped: set BACKTALK_TEST_QDRANT_URL to a qdrant grpc url (port 6334) to run this test");
        return;
    };
    let options = TestOptions { embeddings: true, qdrant_url: Some(url.clone()), ..TestOptions::default() };
    let app = spawn_app(Backend::Sqlite, options).await;
    let config = &app.config.qdrant;
    let points =
        backtalk::catalog::qdrant::QdrantStore::count_points(&url, None, &config.collection, Duration::from_secs(10))
            .await
            .unwrap();
    assert_eq!(points, catalog_size(&app).await, "one point per product");
    let hybrid = ask_for_plimsolls(&app, CUSTOMER).await;
    assert!(hybrid.iter().take(3).all(|t| t.contains("Trainers")), "{hybrid:?}");
}

/// Re-embedding the whole catalog into Qdrant (`index-catalog --full`) drops the points of
/// products that are gone, and keeps one point per sku however often it is embedded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_rebuild_in_qdrant_drops_the_points_of_removed_products() {
    use backtalk::catalog::semantic::Semantic;
    let qdrant = crate::fake_qdrant::FakeQdrant::start().await;
    let embeddings = crate::fakes::FakeEmbeddings::start().await;
    let mut config = backtalk::config::Config::default();
    config.embeddings.base_url = embeddings.base_url();
    config.embeddings.model = "fake-embeddings".into();
    config.qdrant.url = qdrant.url();
    let dir = tempfile::tempdir().unwrap();
    let semantic = Semantic::open(&config.embeddings, &config.qdrant, dir.path()).unwrap().unwrap();
    assert_eq!(semantic.len().await.unwrap(), 0, "no collection yet");

    let product = |sku: &str, title: &str| backtalk::catalog::ProductDoc {
        sku: sku.into(),
        title: title.into(),
        ..backtalk::catalog::ProductDoc::default()
    };
    let all = [product("A", "red trainers"), product("B", "silk blouse"), product("C", "leather boots")];
    semantic.embed_products(&all, false).await.unwrap();
    semantic.embed_products(&all[..1], false).await.unwrap();
    assert_eq!(semantic.len().await.unwrap(), 3);

    semantic.embed_products(&all[1..], true).await.unwrap();
    assert_eq!(semantic.len().await.unwrap(), 2);
    assert_eq!(qdrant.points(&config.qdrant.collection), 2);
    let hits = semantic.search("red trainers", 5, None).await.unwrap();
    assert!(hits.iter().all(|h| h.id != "A"), "{hits:?}");
}

/// `backtalk index-catalog` into a data directory whose index is gone (or was recreated for a
/// newer schema) rebuilds the index from SQL first: an upsert import keeps the products it
/// does not name searchable.
#[test]
fn the_cli_rebuilds_a_missing_index_before_an_upsert_import() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "first.jsonl", r#"{"sku":"A1","title":"Linen shirt","price":25}"#);
    let second = write(dir.path(), "second.jsonl", r#"{"sku":"B1","title":"Wool scarf","price":19}"#);
    let run = |file: &Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_backtalk"))
            .arg("index-catalog")
            .arg(file)
            .env("BACKTALK_DATA_DIR", dir.path())
            .output()
            .expect("run backtalk index-catalog");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    run(&first);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    run(&second);
    let index = SearchIndex::open_or_create(&dir.path().join("index")).unwrap();
    assert_eq!(index.search("linen shirt", DocKind::Product, 3).unwrap()[0].id, "A1");
    assert_eq!(index.search("wool scarf", DocKind::Product, 3).unwrap()[0].id, "B1");
}

/// In-process vectors are kept per embedding model: after a change of model the store is
/// empty (and gets filled), never one model's products searched with another's query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_embedding_model_starts_an_empty_vector_store() {
    use backtalk::catalog::semantic::Semantic;
    let embeddings = crate::fakes::FakeEmbeddings::start().await;
    let dir = tempfile::tempdir().unwrap();
    let open = |model: &str| {
        let mut config = backtalk::config::Config::default();
        config.embeddings.base_url = embeddings.base_url();
        config.embeddings.model = model.into();
        Semantic::open(&config.embeddings, &config.qdrant, dir.path()).unwrap().unwrap()
    };
    let product = |sku: &str| backtalk::catalog::ProductDoc {
        sku: sku.into(),
        title: "Silk blouse".into(),
        ..Default::default()
    };
    open("model-a").embed_products(&[product("A"), product("B")], true).await.unwrap();
    assert_eq!(open("model-a").len().await.unwrap(), 2);
    assert_eq!(open("model-b").len().await.unwrap(), 0, "model-b has no vectors yet");
    assert!(open("model-b").search("blouse", 5, None).await.unwrap().is_empty());
}
