//! The reviewer console in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs) by fantoccini.
//!
//! One reviewer logs in, watches an escalation that a signed webhook just created appear
//! in the open queue without a reload (server-sent events), edits the bot's draft (the
//! segment counter follows the typing), sends it, and the fake Twilio receives exactly that
//! text; after the hand-back the bot answers the customer's next text again. A second
//! browser with JavaScript switched off does the core actions with plain form posts. The
//! screenshots are saved under `target/screenshots/`.
//!
//! Without `chromedriver` the test is skipped locally and fails under CI, where it must run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery";

/// `chromedriver` from `BACKTALK_CHROMEDRIVER` or the PATH; `None` skips the test, except
/// under CI.
fn chromedriver() -> Option<PathBuf> {
    let found = std::env::var_os("BACKTALK_CHROMEDRIVER").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| PathBuf::from(d).join("chromedriver"))
            .find(|p| p.exists())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromedriver is required under CI (see .ci/run: apt-get install chromium chromium-driver)");
        }
        eprintln!("skipping the browser test: no chromedriver (apt-get install chromium chromium-driver)");
    }
    found
}

/// A running chromedriver on a free port; killed on drop.
struct Driver {
    url: String,
    _child: tokio::process::Child,
}

async fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    wait_for("chromedriver to listen", Duration::from_secs(20), || {
        let status = status.clone();
        async move { reqwest::get(status).await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    Driver { url, _child: child }
}

/// A headless Chromium session of `width`×`height`, optionally with JavaScript off.
async fn browser(driver: &Driver, width: u32, height: u32, javascript: bool) -> Client {
    let mut options = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 format!("--window-size={width},{height}")],
    });
    if let Ok(binary) = std::env::var("BACKTALK_CHROMIUM") {
        options["binary"] = binary.into();
    }
    if !javascript {
        options["prefs"] = serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots_dir().join(name), png).unwrap();
}

async fn log_in(client: &Client, app: &TestApp, name: &str) {
    client.goto(&format!("{}/console", app.base_url)).await.unwrap();
    assert!(client.current_url().await.unwrap().path().ends_with("/console/login"), "no session: the login page");
    client.find(Locator::Css("#name")).await.unwrap().send_keys(name).await.unwrap();
    client.find(Locator::Css("#password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    client.find(Locator::Css("main form button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#queue")).await.expect("the queue");
}

async fn text_of(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_answers_an_escalation_in_chromium() {
    let Some(path) = chromedriver() else { return };
    let app = spawn_app(Backend::Sqlite, TestOptions::default()).await;
    for name in ["robin", "quinn"] {
        let hash = backtalk::auth::hash_password(PASSWORD).unwrap();
        backtalk::store::reviewers::add_reviewer(&app.db, name, &hash).await.unwrap();
    }
    let driver = start_driver(&path).await;
    let client = browser(&driver, 1280, 900, true).await;

    log_in(&client, &app, "robin").await;
    assert!(text_of(&client, "#queue").await.contains("Nothing open"));
    // A marker that a reload would wipe: the row must arrive over the open page's stream.
    client.execute("window.stillTheSamePage = true; return null;", vec![]).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//p[@id='live-status'][starts-with(., 'Live')]"))
        .await
        .expect("the stream connects");

    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    let row = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("tr[data-escalation]"))
        .await
        .expect("the escalation appears in the open queue");
    let same_page = client.execute("return window.stillTheSamePage === true;", vec![]).await.unwrap();
    assert_eq!(same_page, serde_json::Value::Bool(true), "the queue updated without a reload");
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("Elyssa Reese") && row_text.contains("human_requested"), "{row_text}");
    screenshot(&client, "console-queue.png").await;

    // The conversation view: thread, draft, findings; edit the draft and send it.
    row.find(Locator::Css("a")).await.unwrap().click().await.unwrap();
    let editor = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#body")).await.unwrap();
    assert!(text_of(&client, "main").await.contains("can I talk to a real person?"));
    let reply = "Hi Elyssa, Robin here from Northwind. I can help: what do you need?";
    editor.clear().await.unwrap();
    editor.send_keys(reply).await.unwrap();
    let counted = text_of(&client, "#segments").await;
    assert_eq!(counted, format!("GSM-7: {} septets, 1 segment", reply.chars().count()), "the live count");
    editor.send_keys(" 🙂").await.unwrap();
    assert!(text_of(&client, "#segments").await.starts_with("UCS-2: "), "an emoji makes it UCS-2");
    editor.clear().await.unwrap();
    editor.send_keys(reply).await.unwrap();
    screenshot(&client, "console-escalation.png").await;
    client.find(Locator::Css("form:has(#body) button[type=submit]")).await.unwrap().click().await.unwrap();
    let sent = app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    assert_eq!(sent[1].body, reply, "the fake Twilio receives exactly the edited text");
    assert_eq!(sent[1].to, CUSTOMER);

    // Hand back: the bot answers the next text again.
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[value=handed_back]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#queue")).await.unwrap();
    app.post_inbound(CUSTOMER, "do you have the blouse in black?", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(3, Duration::from_secs(20)).await;
    assert!(sent[2].body.contains("$32.99"), "the bot answers again: {}", sent[2].body);

    // The audit trail is reachable from the conversation: each answered text links its turn.
    client.goto(&format!("{}/console/conversations?q=Elyssa", app.base_url)).await.unwrap();
    client.find(Locator::Css("main table a")).await.unwrap().click().await.unwrap();
    let turn = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("a[href^='/console/turns/']"))
        .await
        .unwrap();
    turn.click().await.unwrap();
    let audit = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("main")).await.unwrap();
    assert!(audit.text().await.unwrap().contains("why did it say that?"));
    screenshot(&client, "console-turn.png").await;

    // A phone-width screen: the queue fits without scrolling sideways.
    app.post_inbound("+14155550199", "I want to speak to a manager", &new_sid()).await;
    app.wait_idle().await;
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{}/console", app.base_url)).await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("tr[data-escalation]")).await.unwrap();
    let fits =
        client.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    assert_eq!(fits, serde_json::Value::Bool(true), "no sideways scrolling at 390 px");
    screenshot(&client, "console-queue-phone.png").await;
    client.close().await.unwrap();

    // JavaScript off: the same page works with plain form posts (approve the draft as is).
    let plain = browser(&driver, 1024, 800, false).await;
    log_in(&plain, &app, "quinn").await;
    plain.find(Locator::Css("tr[data-escalation] a")).await.unwrap().click().await.unwrap();
    let shown = text_of(&plain, "#segments").await;
    assert!(shown.starts_with("GSM-7: ") || shown.starts_with("UCS-2: "), "the server's count: {shown}");
    let approve = plain.find(Locator::XPath("//button[normalize-space()='Approve the draft as it is']")).await;
    let before = app.twilio.sent().len();
    match approve {
        Ok(button) => button.click().await.unwrap(),
        // No draft (the model was not asked): write a reply instead.
        Err(_) => {
            plain.find(Locator::Css("#body")).await.unwrap().send_keys("Quinn here, on it.").await.unwrap();
            plain.find(Locator::Css("form:has(#body) button[type=submit]")).await.unwrap().click().await.unwrap();
        }
    }
    let sent = app.twilio.wait_for_sent(before + 1, Duration::from_secs(20)).await;
    assert_eq!(sent[before].to, "+14155550199");
    plain.find(Locator::Css("button[value=resolved]")).await.unwrap().click().await.unwrap();
    plain.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#queue")).await.unwrap();
    assert!(text_of(&plain, "#queue").await.contains("Nothing open"));
    plain.close().await.unwrap();
}

/// The eval's report.html opens in Chromium with its charts drawn (a screenshot is saved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eval_report_renders_in_chromium() {
    let Some(path) = chromedriver() else { return };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let options = backtalk::eval::Options {
        transcripts: vec![root.join("eval/transcripts/demo_store.jsonl")],
        llm: backtalk::eval::LlmMode::Offline,
        cassette: None,
        store: None,
        concurrency: 4,
        progress: false,
        embeddings: false,
    };
    let report = backtalk::eval::run(backtalk::config::Config::default(), &options).await.unwrap();
    let html = screenshots_dir().join("eval-report.html");
    std::fs::write(&html, backtalk::eval::html::render(&report)).unwrap();

    let driver = start_driver(&path).await;
    let client = browser(&driver, 1280, 2600, true).await;
    client.goto(&format!("file://{}", html.display())).await.unwrap();
    let charts = client.find_all(Locator::Css("figure svg")).await.unwrap();
    assert_eq!(charts.len(), 4, "calibration, threshold sweep, segments, latency");
    let matrix = text_of(&client, "table.matrix").await;
    assert!(matrix.contains("escalate") && matrix.contains("opt_out"), "{matrix}");
    let sweep = client.find(Locator::Css("polyline")).await.unwrap().attr("points").await.unwrap().unwrap_or_default();
    assert_eq!(sweep.split_whitespace().count(), 21, "the sweep has a point per 0.05");
    screenshot(&client, "eval-report.png").await;
    client.close().await.unwrap();
}

/// The analytics dashboard over the demo's made-up 30 days, in Chromium: the figures, the
/// trend lines, a funnel per flow and the campaign, escalation reasons and first responses,
/// and a CSV of the days; at phone width nothing scrolls sideways (screenshots saved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_dashboard_renders_in_chromium() {
    let Some(path) = chromedriver() else { return };
    let app = spawn_app(Backend::Sqlite, TestOptions::default()).await;
    let plan = backtalk::analytics::history::Plan { customers: 300, days: 30, exchanges: 1.5, seed: 2026 };
    let made = backtalk::analytics::history::make(&app.db, plan, chrono::Utc::now(), |_| {}).await.unwrap();
    assert!(made.orders > 10, "{made:?}");
    let hash = backtalk::auth::hash_password(PASSWORD).unwrap();
    backtalk::store::reviewers::add_reviewer(&app.db, "robin", &hash).await.unwrap();
    let driver = start_driver(&path).await;
    let client = browser(&driver, 1280, 2400, true).await;
    log_in(&client, &app, "robin").await;
    client.find(Locator::LinkText("Analytics")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("ul.tiles")).await.expect("the dashboard");
    assert!(text_of(&client, "main").await.contains("Demo data"), "the made-up history is marked");
    let tiles = text_of(&client, "ul.tiles").await;
    assert!(tiles.contains("Attributed revenue\n$") && tiles.contains("Containment"), "{tiles}");
    let charts = client.find_all(Locator::Css("svg.chart")).await.unwrap();
    // The trend, four funnels (three flows and the campaign), reasons, first responses.
    assert_eq!(charts.len(), 7, "charts drawn");
    let lines = client.find_all(Locator::Css("svg.chart polyline")).await.unwrap();
    assert_eq!(lines.len(), 3, "sent, received, conversions per day");
    screenshot(&client, "console-analytics.png").await;
    let csv = app
        .http
        .get(format!("{}/api/v1/analytics/days?format=csv", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 31, "a header and a row per day of the 30 days (two partial)");

    client.set_window_size(390, 844).await.unwrap();
    client.refresh().await.unwrap();
    client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("ul.tiles")).await.unwrap();
    let fits =
        client.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    assert_eq!(fits, serde_json::Value::Bool(true), "no sideways scrolling at 390 px");
    client.close().await.unwrap();
}
