//! The reviewer console's login, sessions, CSRF and lock-out, over real HTTP.

use std::time::Duration;

use reqwest::redirect::Policy;

use crate::helpers::*;
use crate::on_both_backends;

const PASSWORD: &str = "correct horse battery";

/// A client that does not follow redirects (so the tests see them) and keeps no cookies.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

pub(crate) async fn add_reviewer(app: &TestApp, name: &str) {
    let hash = backtalk::auth::hash_password(PASSWORD).unwrap();
    backtalk::store::reviewers::add_reviewer(&app.db, name, &hash).await.unwrap();
}

/// The value a response sets for cookie `name`, and the whole `Set-Cookie` line.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        let (pair, _) = line.split_once(';').unwrap_or((line, ""));
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| (v.to_string(), line.to_string()))
    })
}

/// The hidden CSRF field of a page.
pub(crate) fn csrf_field(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

/// Opens the login page: (the login CSRF cookie, the form's CSRF field).
pub(crate) async fn login_form(app: &TestApp) -> (String, String) {
    let page = client().get(format!("{}/console/login", app.base_url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let (cookie, line) = set_cookie(&page, "bt_login_csrf").expect("a login csrf cookie");
    assert!(line.contains("HttpOnly") && line.contains("SameSite=Strict"), "{line}");
    (cookie, csrf_field(&page.text().await.unwrap()))
}

/// Posts the login form with this cookie and field; returns the response.
pub(crate) async fn post_login(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    name: &str,
    password: &str,
) -> reqwest::Response {
    client()
        .post(format!("{}/console/login", app.base_url))
        .header("cookie", format!("bt_login_csrf={cookie}"))
        .form(&[("name", name), ("password", password), ("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

/// Logs in; returns the session cookie's value.
pub(crate) async fn log_in(app: &TestApp, name: &str, password: &str) -> String {
    let (cookie, csrf) = login_form(app).await;
    let response = post_login(app, &cookie, &csrf, name, password).await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    assert_eq!(response.headers()["location"], "/console");
    let (session, line) = set_cookie(&response, "bt_session").expect("a session cookie");
    assert!(line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/console"), "{line}");
    session
}

pub(crate) async fn get_console(app: &TestApp, session: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}/console", app.base_url));
    if let Some(s) = session {
        request = request.header("cookie", format!("bt_session={s}"));
    }
    request.send().await.unwrap()
}

async fn actions(app: &TestApp) -> Vec<String> {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select action from reviewer_actions order by id"
    )
    .fetch_all(p)
    .await)
    .unwrap()
}

/// No session: the queue redirects to the login page. A login with a forged or missing CSRF
/// token is refused; a good one opens a session; the queue shows the open escalations;
/// logging out needs the session's CSRF token and ends the session.
async fn login_sessions_and_csrf(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    add_reviewer(&app, "sam").await;
    let anonymous = get_console(&app, None).await;
    assert_eq!(
        (anonymous.status().as_u16(), anonymous.headers()["location"].to_str().unwrap()),
        (303, "/console/login")
    );
    assert_eq!(get_console(&app, Some("forged-token")).await.status(), 303);

    let (cookie, csrf) = login_form(&app).await;
    assert_eq!(post_login(&app, &cookie, "not-the-token", "sam", PASSWORD).await.status(), 403);
    assert_eq!(post_login(&app, "", &csrf, "sam", PASSWORD).await.status(), 403, "no cookie, no login");
    assert_eq!(post_login(&app, &cookie, &csrf, "sam", "wrong").await.status(), 401);
    assert_eq!(post_login(&app, &cookie, &csrf, "nobody", PASSWORD).await.status(), 401);

    // An escalation for the queue: a customer asks for a person.
    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;

    let session = log_in(&app, "sam", PASSWORD).await;
    let queue = get_console(&app, Some(&session)).await;
    assert_eq!(queue.status(), 200);
    let html = queue.text().await.unwrap();
    assert!(html.contains("Escalations") && html.contains("human_requested") && html.contains("sam"), "{html}");
    // Filters: by reason, and the resolved ones.
    let filtered = |query: &'static str| {
        let url = format!("{}/console?{query}", app.base_url);
        let session = session.clone();
        async move {
            client()
                .get(url)
                .header("cookie", format!("bt_session={session}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(filtered("reason=human_requested").await.contains("/console/escalations/"));
    assert!(!filtered("reason=guard_blocked").await.contains("/console/escalations/"));
    assert!(filtered("status=resolved").await.contains("Nothing resolved."));

    let logout = |csrf: String, session: String| {
        let url = format!("{}/console/logout", app.base_url);
        async move {
            client()
                .post(url)
                .header("cookie", format!("bt_session={session}"))
                .form(&[("csrf", csrf)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(logout("forged".into(), session.clone()).await.status(), 403);
    let out = logout(csrf_field(&html), session.clone()).await;
    assert_eq!(out.status(), 303);
    assert_eq!(get_console(&app, Some(&session)).await.status(), 303, "the session ended");
    // Both wrong logins are recorded, the unknown name's too: it is counted like a real one.
    assert_eq!(actions(&app).await, ["login_failed", "login_failed", "login", "logout"]);
}
on_both_backends!(login_sessions_and_csrf);

/// Wrong passwords lock the account: the fifth in a row (the default) locks it, and then
/// even the right password is refused until the lock ends.
async fn wrong_passwords_lock_the_account(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    add_reviewer(&app, "kim").await;
    let (cookie, csrf) = login_form(&app).await;
    for attempt in 1..=5 {
        let status = post_login(&app, &cookie, &csrf, "kim", "guess").await.status();
        assert_eq!(status, if attempt < 5 { 401 } else { 429 }, "attempt {attempt}");
    }
    let refused = post_login(&app, &cookie, &csrf, "kim", PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.text().await.unwrap().contains("locked until"));
    let recorded = actions(&app).await;
    assert_eq!(recorded.iter().filter(|a| *a == "login_failed").count(), 5);
    assert!(recorded.contains(&"locked".to_string()) && recorded.contains(&"login_refused_locked".to_string()));
    assert!(!recorded.contains(&"login".to_string()));
}
on_both_backends!(wrong_passwords_lock_the_account);

/// `backtalk reviewer add NAME` prints a one-time password that logs in.
async fn the_cli_creates_a_reviewer_who_can_log_in(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_backtalk"))
        .args(["reviewer", "add", "ana"])
        .env("BACKTALK_DATABASE_URL", &app.config.database_url)
        .env("BACKTALK_DATA_DIR", &app.config.data_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let password = stdout.lines().nth(1).expect("the password line").trim().to_string();
    assert_eq!(password.len(), 20, "{stdout}");
    log_in(&app, "ana", &password).await;
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_backtalk"))
        .args(["reviewer", "add", "ana"])
        .env("BACKTALK_DATABASE_URL", &app.config.database_url)
        .env("BACKTALK_DATA_DIR", &app.config.data_dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
on_both_backends!(the_cli_creates_a_reviewer_who_can_log_in);

/// A signed-in reviewer: the session cookie and the session's CSRF token.
pub(crate) struct Reviewer {
    pub(crate) session: String,
    pub(crate) csrf: String,
}

impl Reviewer {
    /// The text of the console page at `path`, opened in this reviewer's session.
    pub(crate) async fn page(&self, app: &TestApp, path: &str) -> String {
        let request = client().get(format!("{}{path}", app.base_url));
        let response = request.header("cookie", format!("bt_session={}", self.session)).send().await.unwrap();
        response.text().await.unwrap()
    }
}

pub(crate) async fn sign_in(app: &TestApp, name: &str) -> Reviewer {
    add_reviewer(app, name).await;
    let session = log_in(app, name, PASSWORD).await;
    let page = get_console(app, Some(&session)).await.text().await.unwrap();
    Reviewer { session, csrf: csrf_field(&page) }
}

pub(crate) async fn act(app: &TestApp, who: &Reviewer, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut form = vec![("csrf", who.csrf.as_str())];
    form.extend_from_slice(fields);
    let r = client()
        .post(format!("{}{path}", app.base_url))
        .header("cookie", format!("bt_session={}", who.session))
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Two reviewers: B cannot close what A claimed until B takes it over; then A cannot.
/// The escalation's page shows the thread, the draft and the reasons; handing back lets
/// the bot answer the customer's next text.
async fn a_claimed_escalation_needs_an_explicit_take_over(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let id = backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
        .await
        .unwrap()[0]
        .id;
    let (a, b) = (sign_in(&app, "alex").await, sign_in(&app, "blair").await);
    let page = format!("/console/escalations/{id}");

    let view = a.page(&app, &page).await;
    assert!(view.contains("can I talk to a real person?") && view.contains("human_requested"), "{view}");
    assert!(view.contains("Elyssa Reese") && view.contains("opt_in"), "customer and consent: {view}");
    let counter = &view[view.find("id=\"segments\"").expect("the segment counter")..];
    let shown = &counter[counter.find('>').unwrap() + 1..counter.find("</p>").unwrap()];
    assert!(shown.starts_with("GSM-7: ") && shown.ends_with(" segment"), "the draft's count: {shown}");

    assert_eq!(act(&app, &a, &format!("{page}/claim"), &[]).await.0, 303);
    let (status, body) = act(&app, &b, &format!("{page}/close"), &[("resolution", "handed_back")]).await;
    assert_eq!(status, 409);
    assert!(body.contains("alex has claimed this escalation"), "{body}");
    assert_eq!(act(&app, &b, &format!("{page}/claim"), &[]).await.0, 409, "a plain claim does not take over");
    assert_eq!(act(&app, &b, &format!("{page}/claim"), &[("take_over", "true")]).await.0, 303);
    assert_eq!(act(&app, &a, &format!("{page}/close"), &[("resolution", "resolved")]).await.0, 409);
    let forged = Reviewer { session: b.session.clone(), csrf: "forged".into() };
    assert_eq!(act(&app, &forged, &format!("{page}/close"), &[("resolution", "resolved")]).await.0, 403);
    // B answers in person: exactly that text reaches the customer, through the outbox.
    let reply = "Hi Elyssa, this is Blair from Northwind. How can I help?";
    assert_eq!(act(&app, &a, &format!("{page}/reply"), &[("body", "from A")]).await.0, 409);
    assert_eq!(act(&app, &b, &format!("{page}/reply"), &[("body", "  ")]).await.0, 400);
    assert_eq!(act(&app, &b, &format!("{page}/reply"), &[("body", reply)]).await.0, 303);
    let sent = app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    assert_eq!(sent[1].body, reply);
    assert_eq!(app.twilio.sent_to(CUSTOMER).len(), 2);
    // The person still owns the thread: the bot stays silent.
    app.post_inbound(CUSTOMER, "thanks! do you have the blouse in black?", &new_sid()).await;
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.twilio.sent_to(CUSTOMER).len(), 2);

    assert_eq!(act(&app, &b, &format!("{page}/close"), &[("resolution", "handed_back")]).await.0, 303);

    let recorded = actions(&app).await;
    assert!(
        recorded.ends_with(&["claimed".into(), "took_over".into(), "reply".into(), "close:handed_back".into()]),
        "{recorded:?}"
    );
    app.post_inbound(CUSTOMER, "do you have the blouse in black?", &new_sid()).await;
    app.twilio.wait_for_sent(3, Duration::from_secs(20)).await;
    assert!(app.twilio.sent_to(CUSTOMER)[2].body.contains("$32.99"), "the bot answers again");
}
on_both_backends!(a_claimed_escalation_needs_an_explicit_take_over);

/// A reviewer marks the customer opted out: the ledger says so (source: reviewer), the
/// escalation is resolved, and nothing more is sent to the number.
async fn a_reviewer_marks_a_customer_opted_out(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let id = backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
        .await
        .unwrap()[0]
        .id;
    let sam = sign_in(&app, "sam").await;
    assert_eq!(act(&app, &sam, &format!("/console/escalations/{id}/opt-out"), &[]).await.0, 303);
    let consent = backtalk::store::consent::latest_consent(&app.db, &as_phone(CUSTOMER)).await.unwrap();
    assert_eq!(consent.map(|k| k.as_str()), Some("opt_out"));
    assert!(
        backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
            .await
            .unwrap()
            .is_empty()
    );
    app.post_inbound(CUSTOMER, "do you have the blouse in black?", &new_sid()).await;
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.twilio.sent_to(CUSTOMER).len(), 1, "nothing after the opt-out");
    assert!(actions(&app).await.contains(&"mark_opted_out".to_string()));
}
on_both_backends!(a_reviewer_marks_a_customer_opted_out);

/// Reads the SSE response until a `queue` event whose data contains `needle`; its data.
async fn next_queue_event(response: &mut reqwest::Response, needle: &str) -> String {
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("an event within 20 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if !event.lines().any(|l| l == "event: queue") {
                continue;
            }
            let data: Vec<&str> =
                event.lines().filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:"))).collect();
            let data = data.join("\n");
            if data.contains(needle) {
                return data;
            }
        }
    }
}

/// The live queue: a stream opened before the webhook receives the new escalation's row,
/// then its claim; without a session there is no stream; logging out ends it.
async fn the_queue_streams_changes(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let sam = sign_in(&app, "sam").await;
    let anonymous = client().get(format!("{}/console/events", app.base_url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303, "no session, no stream");
    let mut stream = client()
        .get(format!("{}/console/events?status=open", app.base_url))
        .header("cookie", format!("bt_session={}", sam.session))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert!(next_queue_event(&mut stream, "Nothing open").await.contains("Nothing open"), "the current view first");

    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    let row = next_queue_event(&mut stream, "data-escalation").await;
    assert!(row.contains("Elyssa Reese") && row.contains("human_requested"), "{row}");
    let id = backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
        .await
        .unwrap()[0]
        .id;
    assert_eq!(act(&app, &sam, &format!("/console/escalations/{id}/claim"), &[]).await.0, 303);
    let claimed = next_queue_event(&mut stream, "Claimed by").await;
    assert!(claimed.contains(">sam</td>"), "the claim shows: {claimed}");

    assert_eq!(act(&app, &sam, "/console/logout", &[]).await.0, 303);
    app.post_inbound("+14155550188", "I want a manager", &new_sid()).await;
    let ended =
        tokio::time::timeout(Duration::from_secs(20), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream ends with the session");
}
on_both_backends!(the_queue_streams_changes);

/// Conversations search (name, phone digits, words), the conversation page linking each
/// answered text to its turn, the turn audit and the customer page.
async fn conversations_customers_and_the_turn_audit(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "do you have the blouse in black?", &new_sid()).await;
    app.post_inbound("+14155550177", "what is your return policy?", &new_sid()).await;
    app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let sam = sign_in(&app, "sam").await;
    let get = |path: String| {
        let session = sam.session.clone();
        async move {
            let r = client().get(path).header("cookie", format!("bt_session={session}")).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let list = |q: &str| get(format!("{}/console/conversations?q={q}", app.base_url));
    let (status, all) = list("").await;
    assert_eq!(status, 200);
    assert!(all.contains("2 conversations"), "{all}");
    for (q, hit) in
        [("elyssa", "Elyssa Reese"), ("(415)%20555-0177", "+14155550177"), ("RETURN%20policy", "+14155550177")]
    {
        let (_, found) = list(q).await;
        assert!(found.contains("1 conversation ") && found.contains(hit), "{q}: {found}");
    }
    let (_, none) = list("100%25").await;
    assert!(none.contains("No conversations"), "a LIKE wildcard is a plain character: {none}");

    let conversation =
        backtalk::store::conversations::conversation_by_phone(&app.db, &as_phone(CUSTOMER)).await.unwrap().unwrap();
    let (status, thread) = get(format!("{}/console/conversations/{}", app.base_url, conversation.id)).await;
    assert_eq!(status, 200);
    assert!(thread.contains("do you have the blouse in black?") && thread.contains("$32.99"), "{thread}");
    let at = thread.find("/console/turns/").expect("a turn link") + "/console/turns/".len();
    let turn_id: String = thread[at..].chars().take_while(char::is_ascii_digit).collect();
    let (status, audit) = get(format!("{}/console/turns/{turn_id}", app.base_url)).await;
    assert_eq!(status, 200);
    for shown in ["do you have the blouse in black?", "Decision: reply", "ZO0347403474", "self_rating", "$32.99"] {
        assert!(audit.contains(shown), "the audit shows {shown}: {audit}");
    }
    let customer = backtalk::store::crm::customer_by_phone(&app.db, &as_phone(CUSTOMER)).await.unwrap().unwrap();
    let (status, profile) = get(format!("{}/console/customers/{}", app.base_url, customer.id)).await;
    assert_eq!(status, 200);
    assert!(profile.contains("Elyssa Reese") && profile.contains("opt_in") && profile.contains("Orders"), "{profile}");
    assert_eq!(get(format!("{}/console/turns/999999", app.base_url)).await.0, 404);
    assert_eq!(get(format!("{}/console/customers/999999", app.base_url)).await.0, 404);
    let anonymous = client().get(format!("{}/console/turns/{turn_id}", app.base_url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303, "the audit needs a session");
}
on_both_backends!(conversations_customers_and_the_turn_audit);

/// More login attempts from one address than `console.login_attempts_per_minute` get a 429,
/// even for an account that exists and the right password.
async fn logins_are_rate_limited_per_address(backend: Backend) {
    let app = spawn_app(
        backend,
        TestOptions { configure: Some(|c| c.console.login_attempts_per_minute = 3), ..TestOptions::default() },
    )
    .await;
    add_reviewer(&app, "sam").await;
    for name in ["nobody", "someone", "anyone"] {
        let (cookie, csrf) = login_form(&app).await;
        assert_eq!(post_login(&app, &cookie, &csrf, name, "guess").await.status(), 401);
    }
    let (cookie, csrf) = login_form(&app).await;
    let refused = post_login(&app, &cookie, &csrf, "sam", PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.text().await.unwrap().contains("Too many login attempts from your address"));
    assert!(actions(&app).await.contains(&"login_refused_rate".to_string()));
}
on_both_backends!(logins_are_rate_limited_per_address);

/// The JSON API does what the console does, as the reviewer whose token it is: the service
/// token cannot claim or answer; a reviewer's token claims, is refused on another's claim,
/// answers the customer and hands back; the turn audit and conversations are readable.
async fn the_json_api_acts_as_a_reviewer(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let id = backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
        .await
        .unwrap()[0]
        .id;
    add_reviewer(&app, "alex").await;
    add_reviewer(&app, "blair").await;
    let token_of = |name: &'static str| {
        let db = app.db.clone();
        async move {
            let reviewer = backtalk::store::reviewers::reviewer_by_name(&db, name).await.unwrap().unwrap();
            let token = format!("bt_{}", backtalk::auth::new_token());
            backtalk::store::reviewers::add_api_token(&db, reviewer.id, &backtalk::auth::token_hash(&token), "test")
                .await
                .unwrap();
            token
        }
    };
    let (alex, blair) = (token_of("alex").await, token_of("blair").await);
    let call = |token: String, method: &'static str, path: String, body: Option<serde_json::Value>| {
        let url = format!("{}{path}", app.base_url);
        async move {
            let request = if method == "GET" { client().get(url) } else { client().post(url) };
            let request = request.bearer_auth(token);
            let request = match body {
                Some(b) => request.json(&b),
                None => request,
            };
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let esc = format!("/api/v1/escalations/{id}");
    let service = API_TOKEN.to_string();
    assert_eq!(call(service.clone(), "POST", format!("{esc}/claim"), None).await.0, 403);
    assert_eq!(call("bt_wrong".into(), "GET", esc.clone(), None).await.0, 401);
    let (status, detail) = call(blair.clone(), "GET", esc.clone(), None).await;
    assert_eq!(status, 200);
    assert_eq!(detail["consent"], "opt_in");
    assert!(detail["thread"].as_array().unwrap().iter().any(|m| m["body"] == "can I talk to a real person?"));

    assert_eq!(call(alex.clone(), "POST", format!("{esc}/claim"), None).await.0, 200);
    let (status, why) =
        call(blair.clone(), "POST", format!("{esc}/reply"), Some(serde_json::json!({"body": "hi"}))).await;
    assert_eq!(status, 409);
    assert!(why["error"].as_str().unwrap().contains("alex has claimed"), "{why}");
    let take = Some(serde_json::json!({"take_over": true}));
    assert_eq!(call(blair.clone(), "POST", format!("{esc}/claim"), take).await.0, 200);
    let reply = "Blair here from Northwind, what can I do for you?";
    let (status, queued) =
        call(blair.clone(), "POST", format!("{esc}/reply"), Some(serde_json::json!({"body": reply}))).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(app.twilio.wait_for_sent(2, Duration::from_secs(20)).await[1].body, reply);
    let back = Some(serde_json::json!({"resolution": "handed_back"}));
    assert_eq!(call(alex.clone(), "POST", format!("{esc}/close"), back.clone()).await.0, 409, "blair holds it");
    assert_eq!(call(blair.clone(), "POST", format!("{esc}/close"), back).await.0, 200);
    assert!(actions(&app).await.ends_with(&[
        "claimed".into(),
        "took_over".into(),
        "reply".into(),
        "close:handed_back".into()
    ]));

    let (_, found) = call(service.clone(), "GET", "/api/v1/conversations?q=elyssa".into(), None).await;
    assert_eq!(found["total"], 1);
    let conversation = found["conversations"][0]["id"].as_i64().unwrap();
    let (_, thread) = call(service.clone(), "GET", format!("/api/v1/conversations/{conversation}"), None).await;
    let turn = thread["messages"][0]["turn_id"].as_i64().expect("the first text has a turn");
    let (status, audit) = call(service, "GET", format!("/api/v1/turns/{turn}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(audit["decision"], "escalate");
    assert!(audit["scores"]["confidence"]["value"].is_number(), "{audit}");
}
on_both_backends!(the_json_api_acts_as_a_reviewer);

/// A possible opt-out puts the number on hold and goes to a person; "not an opt-out" in the
/// console lifts the hold (ledger source: reviewer) and the bot answers the next text.
async fn a_reviewer_lifts_a_hold(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "how do I stop these?", &new_sid()).await;
    app.wait_idle().await;
    let id = backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
        .await
        .unwrap()[0]
        .id;
    let sam = sign_in(&app, "sam").await;
    let page = client()
        .get(format!("{}/console/escalations/{id}", app.base_url))
        .header("cookie", format!("bt_session={}", sam.session))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Not an opt-out: lift the hold"), "{page}");
    assert_eq!(act(&app, &sam, &format!("/console/escalations/{id}/not-opt-out"), &[]).await.0, 303);
    let ledger = backtalk::store::consent::ledger(&app.db, Some(&as_phone(CUSTOMER))).await.unwrap();
    let last = ledger.last().unwrap();
    assert_eq!((last.kind.as_str(), last.source.as_str()), ("hold_released", "reviewer"));
    assert!(
        backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
            .await
            .unwrap()
            .is_empty()
    );
    app.post_inbound(CUSTOMER, "do you have the blouse in black?", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    assert!(sent[0].body.contains("$32.99"), "the bot answers again: {}", sent[0].body);
    assert!(actions(&app).await.contains(&"not_an_opt_out".to_string()));
}
on_both_backends!(a_reviewer_lifts_a_hold);

/// The console's errors are pages under its security headers, not bare text: a stale form
/// (403), an unknown escalation (404) and a malformed action (400).
async fn console_errors_are_pages(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let sam = sign_in(&app, "sam").await;
    let stale = Reviewer { session: sam.session.clone(), csrf: "stale".into() };
    for (who, path, fields, status, shown) in [
        (&stale, "/console/escalations/1/claim", vec![], 403, "Claim: the form has expired"),
        (&sam, "/console/escalations/999999/claim", vec![], 404, "There is no escalation 999999"),
        (&sam, "/console/escalations/1/close", vec![("resolution", "maybe")], 400, "`resolution` must be"),
    ] {
        let r = client()
            .post(format!("{}{path}", app.base_url))
            .header("cookie", format!("bt_session={}", who.session))
            .form(&[vec![("csrf", who.csrf.as_str())], fields].concat())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let csp = r.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_string());
        assert!(csp.is_some_and(|c| c.contains("default-src 'none'")), "{path}: the page is under the CSP");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        let page = r.text().await.unwrap();
        assert!(page.contains("<!doctype html>") && page.contains(shown), "{path}: {page}");
    }
}
on_both_backends!(console_errors_are_pages);

/// The flows page: each step with the runs waiting at it, and why a run ended.
async fn the_flows_page_shows_waiting_runs_and_reasons(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let dir = app.config.flows_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let flow = "name = \"slow_note\"\nclass = \"transactional\"\ntrigger = { event = \"Note Requested\" }\n\
                [[steps]]\nwait = \"1h\"\n[[steps]]\nsend = \"Your note.\"\n";
    std::fs::write(dir.join("slow_note.toml"), flow).unwrap();
    std::fs::write(dir.join("broken.toml"), "name = ").unwrap();
    let tested = "name = \"tested_note\"\nclass = \"transactional\"\ntrigger = { event = \"Other Note\" }\n\
                  [[steps]]\ntest = { name = \"note_copy\" }\nvariants = [{ name = \"short\", send = \"Hi.\" }, \
                  { name = \"written\", compose = \"Tell them how returns work.\" }]\n";
    std::fs::write(dir.join("tested_note.toml"), tested).unwrap();
    let event = serde_json::json!({"id": "n1", "event": "Note Requested", "phone": CUSTOMER});
    let r = client().post(format!("{}/api/v1/events", app.base_url)).bearer_auth(API_TOKEN).json(&event).send().await;
    assert!(r.unwrap().status().is_success());
    app.wait_idle_except_waits().await;
    let who = sign_in(&app, "alex").await;
    let page = client()
        .get(format!("{}/console/flows", app.base_url))
        .header("cookie", format!("bt_session={}", who.session))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("slow_note"), "{html}");
    assert!(html.contains("<td data-label=\"Waiting here\">1</td>"), "{html}");
    assert!(html.contains("broken.toml"), "a file left out is named: {html}");
    assert!(html.contains(">waiting<"), "{html}");
    assert!(
        html.contains("note_copy") && html.contains("Win probability") && html.contains("<td>written</td>"),
        "{html}"
    );
    assert!(html.contains("compose: Tell them how returns work."), "a composed arm is shown by its goal: {html}");
}
on_both_backends!(the_flows_page_shows_waiting_runs_and_reasons);

/// The campaigns pages: a preview from a segment (count, skips, cost, a sample text), a
/// refused text named, create, then pause and cancel from the campaign's page.
async fn a_campaign_is_previewed_created_paused_and_cancelled_from_the_console(backend: Backend) {
    let clock = std::sync::Arc::new(backtalk::clock::FixedClock::at(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 8, 18, 0, 0).unwrap(),
    ));
    let app = spawn_app(backend, TestOptions { clock: Some(clock), ..TestOptions::default() }).await;
    let dir = app.config.segments_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("miami.toml"), "name = \"miami\"\nconsent = \"opted_in\"\narea_codes = [\"305\"]\n")
        .unwrap();
    let who = sign_in(&app, "alex").await;
    let page = |path: String| {
        let session = who.session.clone();
        async move {
            let r = client().get(path).header("cookie", format!("bt_session={session}")).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = page(format!("{}/console/campaigns", app.base_url)).await;
    assert_eq!(status, 200);
    assert!(html.contains("<option value=\"miami\""), "{html}");
    let fields = [
        ("name", "spring"),
        ("segment", "miami"),
        ("text", "Hi {{ customer.first_name }}, spring is here. Reply STOP to opt out."),
        ("local_time", ""),
        ("rate", "1"),
    ];
    let (status, html) = act(&app, &who, "/console/campaigns/preview", &fields).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("customers in <strong>miami</strong>"), "{html}");
    assert!(html.contains("would get the text") && html.contains("estimated cost"), "{html}");
    assert!(html.contains("<q>Hi "), "a sample text: {html}");
    let mut bad = fields;
    bad[2] = ("text", "Hi {{ customer.");
    let (status, html) = act(&app, &who, "/console/campaigns/preview", &bad).await;
    assert_eq!(status, 400);
    assert!(html.contains("`text`"), "the refused field is named: {html}");
    let (status, _) = act(&app, &who, "/console/campaigns", &fields).await;
    assert!(status == 200 || status == 303, "{status}");
    let (status, html) = page(format!("{}/console/campaigns/1", app.base_url)).await;
    assert_eq!(status, 200);
    assert!(html.contains("spring") && html.contains(">Pause<"), "{html}");
    let (status, _) = act(&app, &who, "/console/campaigns/1/pause", &[]).await;
    assert!(status == 200 || status == 303, "{status}");
    let (_, html) = page(format!("{}/console/campaigns/1", app.base_url)).await;
    assert!(html.contains("paused") && html.contains(">Resume<"), "{html}");
    let (status, _) = act(&app, &who, "/console/campaigns/1/cancel", &[]).await;
    assert!(status == 200 || status == 303, "{status}");
    let (_, html) = page(format!("{}/console/campaigns/1", app.base_url)).await;
    assert!(html.contains("cancelled") && !html.contains(">Resume<"), "{html}");
    // Without the form's token nothing changes.
    let r = client()
        .post(format!("{}/console/campaigns/1/resume", app.base_url))
        .header("cookie", format!("bt_session={}", who.session))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // A campaign with an A/B test (made through the API) shows its standings.
    let ab = serde_json::json!({"name": "copy_test", "segment": "miami", "rate": 1,
        "variants": [{"name": "short", "text": "Spring is here."}, {"name": "long", "text": "Spring is here: new arrivals."}],
        "test": {"metric": "reply_rate"}});
    let r = app
        .http
        .post(format!("{}/api/v1/campaigns", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&ab)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, html) = page(format!("{}/console/campaigns/2", app.base_url)).await;
    assert!(html.contains("A/B test") && html.contains("Win probability"), "{html}");
    assert!(html.contains("<td>short</td>") && html.contains("<td>long</td>"), "{html}");
}
on_both_backends!(a_campaign_is_previewed_created_paused_and_cancelled_from_the_console);
