//! `index-catalog` on a Shopify product export as it comes (tests/fixtures/shopify/
//! products_export.csv, written from Shopify's documented column list), on both databases:
//! products grouped by Handle with their variants, the sale price from Compare At, plain-text
//! descriptions, images, continue-selling stock, drafts and archived products skipped, a bad
//! price reported by file and line; then a text answered from an imported product. A CSV
//! that is neither format is refused, by the library and by the CLI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backtalk::catalog::import::{ImportOptions, import_files};
use backtalk::catalog::records::Variant;
use backtalk::catalog::{DocKind, SearchIndex};
use backtalk::store::catalog::{ProductRow, count_products, products_by_sku};

use crate::helpers::*;
use crate::on_both_backends;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shopify/products_export.csv")
}

async fn product(db: &backtalk::store::Db, sku: &str) -> ProductRow {
    products_by_sku(db, &[sku.to_string()]).await.unwrap().pop().unwrap_or_else(|| panic!("{sku} not imported"))
}

fn variants(row: &ProductRow) -> Vec<Variant> {
    serde_json::from_str(&row.variants).unwrap()
}

async fn a_shopify_export_imports_as_products_with_variants(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let before = count_products(&app.db).await.unwrap();
    let index = SearchIndex::open_or_create(&app.config.data_dir.join("index")).unwrap();

    // --strict: the bad price stops everything.
    let strict = ImportOptions { strict: true, ..Default::default() };
    let e = import_files(&app.db, &index, &[fixture()], &strict).await.unwrap_err().to_string();
    assert!(e.contains("products_export.csv:19: column \"Variant Price\": \"abc\" is not a price"), "{e}");
    assert_eq!(count_products(&app.db).await.unwrap(), before);

    let report = import_files(&app.db, &index, &[fixture()], &ImportOptions::default()).await.unwrap();
    assert_eq!((report.products, report.shopify.products, report.shopify.variants), (4, 4, 10), "{report:#?}");
    let skipped: Vec<(&str, usize)> = report.shopify.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(skipped, [("archived", 1), ("draft", 1)]);
    let bad: Vec<String> = report.bad_lines.iter().map(|b| b.to_string()).collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].ends_with(
            "products_export.csv:19: column \"Variant Price\": \"abc\" is not a price (product \"jetty-leather-belt\" skipped)"
        ),
        "{bad:?}"
    );
    assert!(report.ignored_fields.is_empty() && report.shopify.files_without_stock.is_empty());
    assert_eq!(count_products(&app.db).await.unwrap(), before + 4);

    // Six variant rows (two of them after an image-only row's neighbours) make one product.
    let shirt = product(&app.db, "harbor-linen-camp-shirt").await;
    assert_eq!(shirt.title, "Harbor Linen Camp Shirt");
    assert_eq!((shirt.sizes.as_str(), shirt.colors.as_str()), (r#"["S","M","L"]"#, r#"["White","Navy"]"#));
    assert_eq!((shirt.price_cents, shirt.sale_price_cents, shirt.stock), (4500, None, 15));
    let v = variants(&shirt);
    assert_eq!(v.len(), 6);
    let navy_m = v.iter().find(|v| v.size.as_deref() == Some("M") && v.color.as_deref() == Some("Navy")).unwrap();
    assert_eq!((navy_m.sku.as_ref().unwrap().as_str(), navy_m.stock), ("HLC-M-NAV", 5));
    let white_m = v.iter().find(|v| v.sku.as_ref().is_some_and(|s| s.as_str() == "HLC-M-WHI")).unwrap();
    assert_eq!((white_m.stock, white_m.sell_when_out_of_stock), (0, false), "deny with none left: sold out");
    assert_eq!(shirt.image_url, "https://cdn.shopify.com/s/files/1/0000/0001/products/harbor-shirt-front.jpg");
    assert_eq!(shirt.brand, "Harbor & Pine");
    assert_eq!(shirt.category, "Apparel & Accessories > Clothing > Clothing Tops > Shirts");
    assert!(!shirt.description.contains('<') && !shirt.description.contains("&amp;"), "{}", shirt.description);
    assert!(shirt.description.contains("washed linen & cotton – cool"), "{}", shirt.description);
    assert!(shirt.description.contains("55% linen, 45% cotton"), "{}", shirt.description);

    // Compare-at above the price: on sale. Below: ignored (and "22,00" is $22.00).
    let tote = product(&app.db, "driftwood-canvas-tote").await;
    assert_eq!((tote.price_cents, tote.sale_price_cents), (2400, Some(1800)));
    assert_eq!(variants(&tote)[0].size, None, "Default Title is no option");
    let beanie = product(&app.db, "tidewater-wool-beanie").await;
    assert_eq!(
        (beanie.price_cents, beanie.sale_price_cents, beanie.colors.as_str()),
        (2200, None, r#"["Charcoal","Mustard"]"#)
    );

    // Continue selling with -3 in stock: none left, yet available to order.
    let mug = product(&app.db, "saltmarsh-ceramic-mug").await;
    let mug_variant = &variants(&mug)[0];
    assert_eq!((mug_variant.stock, mug_variant.sell_when_out_of_stock), (0, true));
    assert_eq!(mug_variant.options.get("Material").map(String::as_str), Some("Stoneware"));
    assert_eq!(mug.description, "Hand-thrown – each one differs.");

    let missing = products_by_sku(
        &app.db,
        &["breakwater-summer-dress".into(), "old-harbor-scarf".into(), "jetty-leather-belt".into()],
    )
    .await
    .unwrap();
    assert!(missing.is_empty(), "draft, archived and the bad row stay out");

    // A re-run changes nothing.
    let again = import_files(&app.db, &index, &[fixture()], &ImportOptions::default()).await.unwrap();
    assert_eq!(again.products, 4);
    assert_eq!(count_products(&app.db).await.unwrap(), before + 4);
    assert_eq!(index.search("driftwood canvas tote", DocKind::Product, 3).unwrap()[0].id, "driftwood-canvas-tote");

    // A text about an imported product is answered from its facts (once the server's index
    // reader has reloaded; each try from a new number, as in the catalog tests).
    let mut answered = false;
    for attempt in 0..20 {
        let phone = format!("+1212555{:04}", 300 + attempt);
        app.post_inbound(&phone, "how much is the driftwood canvas tote?", &new_sid()).await;
        wait_for("a reply to the new number", Duration::from_secs(10), || async {
            !app.twilio.sent_to(&phone).is_empty()
        })
        .await;
        if app
            .twilio
            .sent_to(&phone)
            .iter()
            .any(|s| s.body.contains("Driftwood Canvas Tote") && s.body.contains("$18.00"))
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(answered, "{:?}", app.twilio.sent());
}
on_both_backends!(a_shopify_export_imports_as_products_with_variants);

async fn a_csv_of_neither_format_is_refused_naming_what_it_lacks(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let db = backtalk::store::Db::connect(&url).await.unwrap();
    let index = SearchIndex::open_or_create(&dir.path().join("index")).unwrap();
    let other = dir.path().join("items.csv");
    std::fs::write(&other, "Item ID,Name,Cost\nX1,Rain jacket,80\n").unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "sku,title,price\nG1,Tide pool boots,\"$1,234.50\"\n").unwrap();
    // Checked before anything is written, whatever the order of the files.
    let e = import_files(&db, &index, &[good.clone(), other.clone()], &ImportOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("items.csv:1: not a catalog CSV: missing the column(s) sku, title, price"), "{e}");
    assert!(e.contains("--map"), "{e}");
    assert_eq!(count_products(&db).await.unwrap(), 0);
    // Mapped, it imports; Backtalk's CSV reads prices as shops write them.
    let mapping =
        vec![("sku".into(), "Item ID".into()), ("title".into(), "Name".into()), ("price".into(), "Cost".into())];
    let report =
        import_files(&db, &index, &[good, other], &ImportOptions { mapping, ..Default::default() }).await.unwrap();
    assert_eq!(report.products, 2, "{report:?}");
    assert_eq!(product(&db, "G1").await.price_cents, 123_450);
    // A Shopify-looking header without Variant Price is named as such.
    let partial = dir.path().join("partial.csv");
    std::fs::write(&partial, "Handle,Title,Body (HTML)\nx,X,<p>x</p>\n").unwrap();
    let e = import_files(&db, &index, &[partial], &ImportOptions::default()).await.unwrap_err().to_string();
    assert!(e.contains("Shopify product export but lacks the column(s) Variant Price"), "{e}");
}
on_both_backends!(a_csv_of_neither_format_is_refused_naming_what_it_lacks);

/// The CLI prints the Shopify summary, and fails (not 0 products and exit 0) on a CSV it
/// cannot read.
#[test]
fn the_cli_summarises_a_shopify_export_and_fails_on_an_unknown_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_backtalk"))
            .arg("index-catalog")
            .arg(file)
            .env("BACKTALK_DATA_DIR", dir.path())
            .output()
            .expect("run backtalk index-catalog")
    };
    let output = run(&fixture());
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("shopify export: 4 products with 10 variants; skipped 1 archived, 1 draft"), "{stdout}");
    assert!(stdout.contains("indexed 4 products") && stdout.contains("1 bad lines skipped"), "{stdout}");
    assert!(stderr.contains("products_export.csv:19: column \"Variant Price\""), "{stderr}");

    let other = dir.path().join("export.csv");
    std::fs::write(&other, "Name,Cost\nRain jacket,80\n").unwrap();
    let output = run(&other);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing the column(s) sku, title, price") && stderr.contains("--map"), "{stderr}");
}
