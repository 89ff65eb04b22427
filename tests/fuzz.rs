//! Fuzz targets for everything that reads outside input (issue 21): the Twilio form and its
//! signature, the status callback, the Telnyx event, the catalog and CRM file readers (our
//! CSV/JSONL and Shopify's exports), Shopify's webhook payloads, the events API, the flow and
//! segment files, the GSM-7 segmenter, phone numbers and the guard's claim extractor.
//!
//! Each is a `bolero` target. `cargo test --test fuzz` runs every target on random inputs
//! (a short run, in CI); `cargo bolero test <target> --engine libfuzzer --sanitizer NONE` runs one
//! coverage-guided on stable Rust (docs/fuzzing.md has the long-run commands and results).
//! Structured readers start from a real file (`SEEDS`) and have the fuzzer's bytes spliced
//! into it, so the run gets past the header instead of dying on random noise.
//!
//! Every target checks more than "no panic": parsed values keep the invariants the rest of the
//! code relies on.

use std::io::Write;

use backtalk::domain::segments::{count_segments, trim_to_segments};
use backtalk::domain::{Phone, Region};

/// Splices `edit` into `seed`: the first two bytes pick a position, the third how many bytes
/// to replace; the rest is inserted there. Empty or short edits leave the seed as it is.
fn splice(seed: &str, edit: &[u8]) -> Vec<u8> {
    let mut out = seed.as_bytes().to_vec();
    if edit.len() < 3 || out.is_empty() {
        return out;
    }
    let at = u16::from_le_bytes([edit[0], edit[1]]) as usize % out.len();
    let cut = (edit[2] as usize).min(out.len() - at);
    out.splice(at..at + cut, edit[3..].iter().copied());
    out
}

/// Picks one of `seeds` by the first byte and splices the rest in.
fn seeded(seeds: &[&str], input: &[u8]) -> Vec<u8> {
    match input.split_first() {
        Some((pick, edit)) => splice(seeds[*pick as usize % seeds.len()], edit),
        None => seeds[0].as_bytes().to_vec(),
    }
}

/// Writes `bytes` to a fresh file named `name` (the readers pick CSV or JSONL by the name).
fn file_with(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
    (dir, path)
}

const TWILIO_FORM: &str = "ToCountry=US&ToState=CA&SmsMessageSid=SM1&NumMedia=1&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2F1&MediaContentType0=image%2Fjpeg&SmsSid=SM1&FromState=NY&Body=Is+the+trail+runner+in+stock%3F&FromCountry=US&To=%2B14155550100&MessageSid=SM1&AccountSid=AC1&From=%2B12025550123&ApiVersion=2010-04-01";
const TWILIO_STATUS: &str =
    "MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003&To=%2B12025550123&From=%2B14155550100&AccountSid=AC1";
const TELNYX_RECEIVED: &str = r#"{"data":{"event_type":"message.received","id":"ev1","occurred_at":"2026-01-01T00:00:00Z","payload":{"id":"m1","from":{"phone_number":"+12025550123"},"to":[{"phone_number":"+14155550100","status":"webhook_delivered"}],"text":"Hi there","media":[{"url":"https://x.test/a.jpg","content_type":"image/jpeg","size":1000}],"errors":[]}}}"#;
const TELNYX_FINALIZED: &str = r#"{"data":{"event_type":"message.finalized","id":"ev2","occurred_at":"2026-01-01T00:00:00Z","payload":{"id":"m2","to":[{"phone_number":"+12025550123","status":"delivery_failed"}],"errors":[{"code":"40008","title":"Undeliverable"}]}}}"#;

/// The Twilio inbound form and status callback: any body either parses into a text whose
/// sender is a valid phone number and whose `To` is one of ours in shape, or is refused with a
/// 400; never a panic.
#[test]
fn twilio_form() {
    bolero::check!().for_each(|input: &[u8]| {
        let body = seeded(&[TWILIO_FORM, TWILIO_STATUS], input);
        let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else { return };
        if let Ok(text) = backtalk::http::webhooks::twilio_inbound_text(&form) {
            assert_eq!(Phone::parse(text.from.as_str()).unwrap(), text.from, "a sender number reparses to itself");
            assert!(text.body.chars().count() <= backtalk::domain::MAX_BODY_CHARS);
            assert!(!text.provider_sid.trim().is_empty());
        }
        if let Ok(report) = backtalk::http::webhooks::twilio_status_report(&form, None) {
            assert!(!report.status.trim().is_empty() && !report.provider_sid.trim().is_empty());
        }
    });
}

/// Twilio's signature: a signature computed over any URL and parameters validates, and the
/// same signature over a changed parameter does not.
#[test]
fn twilio_signature() {
    use backtalk::sms::signature::{compute_signature, validate, validate_with_body};
    bolero::check!().with_type::<(String, String, Vec<(String, String)>, String)>().for_each(
        |(token, url, params, extra)| {
            let signature = compute_signature(token, url, params);
            assert!(validate(token, url, params, &signature));
            let mut changed = params.clone();
            changed.push(("Body".into(), extra.clone()));
            assert!(!validate(token, url, &changed, &signature), "a parameter added after signing is caught");
            // The raw-body form (JSON webhooks with bodySHA256) never panics on any input.
            let _ = validate_with_body(token, url, extra.as_bytes(), &signature);
        },
    );
}

/// Telnyx events: any body either is an event whose text or report keeps the invariants,
/// or is refused; the signature check never panics on any header pair.
#[test]
fn telnyx_event() {
    bolero::check!().for_each(|input: &[u8]| {
        let body = seeded(&[TELNYX_RECEIVED, TELNYX_FINALIZED], input);
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let header = String::from_utf8_lossy(input);
        let _ = backtalk::sms::telnyx::verify(
            "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
            Some(&header),
            Some(&header),
            &body,
            now,
        );
        let Ok(hook) = serde_json::from_slice::<backtalk::sms::telnyx::Webhook>(&body) else { return };
        if let Ok(report) = backtalk::http::telnyx::delivery_report(&hook.data.payload, &hook.data.id, Some(1)) {
            assert!(report.event_id.is_some());
        }
        if let Ok(text) = backtalk::http::telnyx::inbound_text(hook.data.payload) {
            assert_eq!(Phone::parse(text.from.as_str()).unwrap(), text.from);
            assert!(text.media.iter().all(|m| !m.url.trim().is_empty()));
        }
    });
}

const CATALOG_JSONL: &str = include_str!("../demo/store/catalog.jsonl");
const POLICIES_JSONL: &str = include_str!("../demo/store/policies.jsonl");
const CATALOG_CSV: &str = "sku,title,price,sale_price,stock,colors,sizes,variants,tags\nTR-1,Trail Runner,$89.00,79.99,4,red|blue,8|9,8:red:2|9:blue:0,shoes\nCAP-2,Cap,12,,0,,,,hats\n";
const SHOPIFY_PRODUCTS: &str = include_str!("fixtures/shopify/products_export.csv");

/// The first `n` lines of `text` (the demo catalog is large; a fuzz input needs only a few).
fn head(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n") + "\n"
}

/// The catalog reader on our CSV, our JSONL and Shopify's product export: every line is read
/// or reported bad with a message; a file it cannot read at all is an error, not a panic.
#[test]
fn catalog_files() {
    let jsonl = head(CATALOG_JSONL, 6) + &head(POLICIES_JSONL, 2);
    let shopify = head(SHOPIFY_PRODUCTS, 12);
    bolero::check!().for_each(|input: &[u8]| {
        let seeds = [jsonl.as_str(), CATALOG_CSV, shopify.as_str()];
        let pick = input.first().copied().unwrap_or(0) as usize % seeds.len();
        let bytes = seeded(&seeds, input);
        let name = ["catalog.jsonl", "catalog.csv", "products_export.csv"][pick];
        let (_dir, path) = file_with(name, &bytes);
        if let Ok((_, bad)) = backtalk::catalog::import::check_file(&path, &[]) {
            assert!(bad.iter().all(|(_, message)| !message.is_empty()), "every bad line says why");
        }
    });
}

const SHOPIFY_CUSTOMERS: &str = include_str!("fixtures/shopify/customers_export.csv");
const SHOPIFY_ORDERS: &str = include_str!("fixtures/shopify/orders_export.csv");
const CRM_CUSTOMERS: &str = include_str!("../demo/store/customers.jsonl");
const CRM_ORDERS: &str = include_str!("../demo/store/orders.jsonl");

/// The CRM reader on Shopify's customer and order exports and our JSONL.
#[test]
fn crm_files() {
    let seeds = [head(SHOPIFY_CUSTOMERS, 8), head(SHOPIFY_ORDERS, 10), head(CRM_CUSTOMERS, 5), head(CRM_ORDERS, 5)];
    bolero::check!().for_each(|input: &[u8]| {
        let pick = input.first().copied().unwrap_or(0) as usize % seeds.len();
        let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
        let bytes = seeded(&refs, input);
        let name = ["customers.csv", "orders.csv", "customers.jsonl", "orders.jsonl"][pick];
        let (_dir, path) = file_with(name, &bytes);
        let (customers, orders) =
            if pick.is_multiple_of(2) { (Some(path.as_path()), None) } else { (None, Some(path.as_path())) };
        if let Ok((_, bad)) = backtalk::crm::import::check_files(customers, orders, Region::US) {
            assert!(bad.iter().all(|message| !message.is_empty()));
        }
    });
}

/// Shopify's webhook payloads, each topic from its real sample (tests/fixtures/shopify_blind).
#[test]
fn shopify_payloads() {
    const TOPICS: [(&str, &str); 8] = [
        ("orders/create", include_str!("fixtures/shopify_blind/orders_create.json")),
        ("orders/updated", include_str!("fixtures/shopify_blind/orders_updated.json")),
        ("orders/cancelled", include_str!("fixtures/shopify_blind/orders_cancelled.json")),
        ("customers/create", include_str!("fixtures/shopify_blind/customers_create_subscribed.json")),
        ("customers/update", include_str!("fixtures/shopify_blind/customers_update_unsubscribed.json")),
        ("checkouts/create", include_str!("fixtures/shopify_blind/checkouts_create.json")),
        ("fulfillments/update", include_str!("fixtures/shopify_blind/fulfillments_update_delivered.json")),
        ("products/update", include_str!("fixtures/shopify_blind/products_update.json")),
    ];
    bolero::check!().for_each(|input: &[u8]| {
        let pick = input.first().copied().unwrap_or(0) as usize % TOPICS.len();
        let (topic, seed) = TOPICS[pick];
        let body = String::from_utf8_lossy(&splice(seed, input.get(1..).unwrap_or_default())).into_owned();
        let reading = backtalk::commerce::shopify::payloads::Reading { at: None, region: Region::US };
        let _ = backtalk::commerce::shopify::payloads::parse(topic, &body, reading);
        if topic == "products/update"
            && let Ok(product) = serde_json::from_str(&body)
        {
            let _ = backtalk::catalog::shopify::payload::product_from_payload(&product);
        }
    });
}

/// The events API (`POST /api/v1/events`): any JSON body is events or a list of what is wrong.
#[test]
fn events_api() {
    const EVENTS: &str = r#"{"events":[{"type":"checkout_started","phone":"+12025550123","checkout_id":"c1","items":[{"sku":"TR-1","quantity":1,"price":"89.00"}],"occurred_at":"2026-01-01T00:00:00Z"},{"type":"appointment_booked","email":"a@b.test","appointment_id":"a1","starts_at":"2026-01-02T15:00:00Z"}]}"#;
    bolero::check!().for_each(|input: &[u8]| {
        let body = seeded(&[EVENTS], input);
        if let Ok(value) = serde_json::from_slice(&body) {
            let _ = backtalk::commerce::events::parse_request(value);
        }
    });
}

/// Flow and segment files: any text is a flow or a list of errors, never a panic.
#[test]
fn flow_files() {
    const FLOWS: [&str; 4] = [
        include_str!("../flows/abandoned_checkout.toml"),
        include_str!("../flows/appointment_reminder.toml"),
        include_str!("../flows/post_purchase.toml"),
        include_str!("../flows/welcome.toml"),
    ];
    const SEGMENT: &str = "name = \"vips\"\ndescription = \"Big spenders\"\n[where]\nmin_orders = 2\nmin_spent = \"150.00\"\nconsent = \"marketing\"\n";
    bolero::check!().for_each(|input: &[u8]| {
        let text =
            String::from_utf8_lossy(&seeded(&[FLOWS[0], FLOWS[1], FLOWS[2], FLOWS[3], SEGMENT], input)).into_owned();
        let file = std::path::Path::new("fuzz.toml");
        if let Err(errors) = backtalk::flows::file::parse(file, &text) {
            assert!(!errors.is_empty(), "a refused flow says why");
        }
        let _ = backtalk::flows::segment::parse(file, &text);
    });
}

/// The GSM-7 segmenter: trimming to `n` segments gives at most `n` (for `n` ≥ 1) and a
/// prefix of the text; the segment count never falls as text is added.
#[test]
fn gsm7_segments() {
    bolero::check!().with_type::<(String, u8)>().for_each(|(text, n)| {
        let info = count_segments(text);
        let n = (*n as usize % 10).max(1);
        let trimmed = trim_to_segments(text, n);
        assert!(count_segments(&trimmed).segments <= n, "{text:?} trimmed to {n} segments");
        let longer = format!("{text}x");
        assert!(count_segments(&longer).segments >= info.segments);
        let _ = backtalk::domain::segments::normalize_gsm7(text);
        let _ = backtalk::domain::segments::fold_accents_for_gsm7(text);
    });
}

/// Phone numbers: a number that parses reparses to itself from its E.164 form.
#[test]
fn phone_numbers() {
    bolero::check!().with_type::<String>().for_each(|raw| {
        if let Ok(phone) = Phone::parse(raw) {
            assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone, "{raw:?}");
        }
        let _ = Phone::parse_in(raw, Region::US);
        let _ = backtalk::domain::our_number(raw);
    });
}

/// The guard's claim extractors on any draft: never a panic, and once unlisted links are
/// dropped none is left (dropping again changes nothing). (The whole guard, which needs a turn's facts, is fuzzed in its own unit tests:
/// `guard::tests::any_draft_is_checked`.)
#[test]
fn guard_claims() {
    const DRAFTS: [&str; 4] = [
        "The Trail Runner is $89.00, 20% off today with code SAVE20, ships free over $50 and arrives in 3-5 business days. Only 2 left in stock!",
        "Track it at https://carrier.example/t?id=1Z99 or see www.other.example and https://shop.example/orders/1042.",
        "Yes! We have it in red and blue, sizes 8-11. Returns within 30 days: https://shop.example/returns",
        "Your order #1042 shipped Tuesday via UPS, tracking 1Z999AA10123456784. The best shoe ever.",
    ];
    bolero::check!().for_each(|input: &[u8]| {
        let draft = String::from_utf8_lossy(&seeded(&DRAFTS, input)).into_owned();
        let _ = backtalk::guard::claims::extract(&draft);
        let _ = backtalk::guard::superlatives::claims_in(&draft);
        let allowed = ["shop.example".to_string()];
        let (kept, _) = backtalk::guard::claims::drop_unlisted_links(&draft, &allowed);
        let (again, left) = backtalk::guard::claims::drop_unlisted_links(&kept, &allowed);
        assert!(left.is_empty(), "{draft:?} kept a link to {left:?}: {kept:?}");
        assert_eq!(again, kept);
    });
}
