//! The reviewer console (`/console`): server-rendered HTML, working without JavaScript.
//!
//! Built so far: log in, log out, the queue of open escalations, and an escalation's page
//! (thread, customer, consent, orders, draft, findings, scores) with claim / take over,
//! reply (the draft as it is, edited, or new words; through the outbox, so consent is
//! re-checked at send time), mark opted out, resolve and hand back. A reviewer cannot close an escalation another has claimed without
//! taking it over first. Sessions are cookies
//! (`HttpOnly`, `SameSite=Strict`, `Secure` when `public_url` is https) holding a random
//! token whose SHA-256 is stored; every form carries a CSRF token (the session's, or for
//! the login form a double-submit cookie) and a mismatch is a 403; wrong passwords lock the
//! account after `console.max_failed_logins` for `console.lockout_minutes`. Every login,
//! failed login, lock-out and logout is recorded in `reviewer_actions`.

use std::sync::OnceLock;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::Environment;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::auth;
use crate::store::escalations;
use crate::store::reviewers::{self, SessionRow};

pub mod browse;
pub mod live;

const SESSION_COOKIE: &str = "bt_session";
const LOGIN_CSRF_COOKIE: &str = "bt_login_csrf";

/// The console's templates, compiled once (minijinja escapes HTML in `.html` templates).
fn pages() -> &'static Environment<'static> {
    static PAGES: OnceLock<Environment<'static>> = OnceLock::new();
    PAGES.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("console/layout.html")),
            ("login.html", include_str!("console/login.html")),
            ("queue.html", include_str!("console/queue.html")),
            ("escalation.html", include_str!("console/escalation.html")),
            ("queue_rows.html", include_str!("console/queue_rows.html")),
            ("conversations.html", include_str!("console/conversations.html")),
            ("conversation.html", include_str!("console/conversation.html")),
            ("customer.html", include_str!("console/customer.html")),
            ("turn.html", include_str!("console/turn.html")),
        ] {
            env.add_template(name, source).expect("console templates compile");
        }
        env
    })
}

/// Renders template `name` to a string.
fn render_html(name: &str, ctx: minijinja::Value) -> anyhow::Result<String> {
    pages().get_template(name).and_then(|t| t.render(ctx)).map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))
}

/// Scripts and styles come only from `/console/assets`; no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A console page: rendered, never cached (it shows customer data), under the CSP.
fn page(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match render_html(name, ctx) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            response
        }
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `GET /console/assets/{name}`: the console's stylesheet and script, embedded in the
/// binary (no front-end build step).
pub async fn get_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "console.css" => (include_str!("console/console.css"), "text/css; charset=utf-8"),
        "console.js" => (include_str!("console/console.js"), "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

/// The value of cookie `name` in the request, if any.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for a console cookie (`max_age` 0 deletes it).
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let value = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&value).expect("cookie values are ASCII tokens")
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The reviewer's session, when the request carries a live one.
async fn session(state: &AppState, headers: &HeaderMap) -> anyhow::Result<Option<(String, SessionRow)>> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let hash = auth::token_hash(&token);
    Ok(reviewers::session(&state.db, &hash).await?.map(|s| (hash, s)))
}

fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

fn forbidden(what: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(format!("<p>{what}: the form has expired. <a href=\"/console/login\">Reload</a> and try again.</p>")),
    )
        .into_response()
}

/// The login page, with a fresh double-submit CSRF token.
fn login_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    let csrf = auth::new_token();
    let mut response = page(status, "login.html", minijinja::context! { csrf => csrf.clone(), error });
    response.headers_mut().append(header::SET_COOKIE, set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, 3600));
    response
}

/// `GET /console/login`.
pub async fn get_login(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, None)
}

/// `POST /console/login` form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    pub csrf: String,
}

/// The client's address: from `console.client_ip_header` behind a proxy (its last entry,
/// the one the proxy added), else the connection's peer.
fn client_ip(state: &AppState, headers: &HeaderMap, peer: std::net::SocketAddr) -> std::net::IpAddr {
    let name = state.config.console.client_ip_header.as_str();
    if name.is_empty() {
        return peer.ip();
    }
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// `POST /console/login`: checks the form's CSRF token, the address's rate, the lock, then
/// the password.
pub async fn post_login(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same(&form.csrf, &cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default()) {
        return forbidden("Log in");
    }
    let ip = client_ip(&state, &headers, peer);
    if !state.login_limiter.allow(ip, state.config.console.login_attempts_per_minute, std::time::Instant::now()) {
        tracing::warn!("console login attempts over the per-address limit");
        if let Err(e) = reviewers::record_action(&state.db, None, "login_refused_rate", None, "").await {
            return super::error::Error::Internal(e).into_response();
        }
        let message = "Too many login attempts from your address: wait a minute and try again.";
        return login_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(message));
    }
    match login(&state, &form).await {
        Ok(Ok(token)) => {
            let hours = state.config.console.session_hours;
            let mut response = Redirect::to("/console").into_response();
            let cookies = response.headers_mut();
            cookies.append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, hours * 3600));
            cookies.append(header::SET_COOKIE, set_cookie(&state, LOGIN_CSRF_COOKIE, "", 0));
            response
        }
        Ok(Err((status, message))) => login_page(&state, status, Some(&message)),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// Logs a reviewer in: the new session's token, or the status and message to show.
async fn login(state: &AppState, form: &LoginForm) -> anyhow::Result<Result<String, (StatusCode, String)>> {
    let wrong = || Ok(Err((StatusCode::UNAUTHORIZED, "Wrong name or password.".to_string())));
    let Some(reviewer) = reviewers::reviewer_by_name(&state.db, form.name.trim()).await? else {
        return wrong();
    };
    let now = Utc::now();
    if let Some(until) = reviewer.locked_until.filter(|until| *until > now) {
        reviewers::record_action(&state.db, Some(reviewer.id), "login_refused_locked", None, "").await?;
        let message = format!("Too many wrong passwords: this account is locked until {} UTC.", until.format("%H:%M"));
        return Ok(Err((StatusCode::TOO_MANY_REQUESTS, message)));
    }
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let (password, hash) = (form.password.clone(), reviewer.password_hash.clone());
    if !tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await? {
        let console = &state.config.console;
        let lock_until = now + chrono::Duration::minutes(console.lockout_minutes);
        let locked =
            reviewers::record_failed_login(&state.db, &reviewer, console.max_failed_logins, lock_until).await?;
        reviewers::record_action(&state.db, Some(reviewer.id), "login_failed", None, "").await?;
        if locked.is_some() {
            reviewers::record_action(&state.db, Some(reviewer.id), "locked", None, "").await?;
            let message =
                format!("Too many wrong passwords: this account is locked for {} minutes.", console.lockout_minutes);
            return Ok(Err((StatusCode::TOO_MANY_REQUESTS, message)));
        }
        return wrong();
    }
    reviewers::record_login(&state.db, reviewer.id).await?;
    let (token, csrf) = (auth::new_token(), auth::new_token());
    let expires = now + chrono::Duration::hours(state.config.console.session_hours);
    reviewers::create_session(&state.db, &auth::token_hash(&token), reviewer.id, &csrf, expires).await?;
    reviewers::record_action(&state.db, Some(reviewer.id), "login", None, "").await?;
    tracing::info!(reviewer = reviewer.id, "reviewer logged in");
    Ok(Ok(token))
}

/// A form that only carries the session's CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /console/logout`.
pub async fn post_logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let (hash, session) = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_login(),
        Err(e) => return super::error::Error::Internal(e).into_response(),
    };
    if !same(&form.csrf, &session.csrf_token) {
        return forbidden("Log out");
    }
    let result = async {
        reviewers::delete_session(&state.db, &hash).await?;
        reviewers::record_action(&state.db, Some(session.reviewer_id), "logout", None, "").await
    }
    .await;
    if let Err(e) = result {
        return super::error::Error::Internal(e).into_response();
    }
    let mut response = to_login();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", 0));
    response
}

/// `GET /console` (and the live queue's) filters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueFilter {
    /// `open` (default) or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// Only escalations with this reason code.
    #[serde(default)]
    pub reason: Option<String>,
    /// 1-based page of [`QUEUE_PAGE`] rows.
    #[serde(default)]
    pub page: Option<i64>,
}

/// Rows per page of the queue.
pub const QUEUE_PAGE: i64 = 50;

impl QueueFilter {
    fn status(&self) -> &'static str {
        if self.status.as_deref() == Some("resolved") { "resolved" } else { "open" }
    }
    /// The reason filter, when it is a plain code (anything else shows everything).
    fn reason(&self) -> String {
        let r = self.reason.clone().unwrap_or_default();
        if r.chars().all(|c| c.is_ascii_lowercase() || c == '_') { r } else { String::new() }
    }
    fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 100_000)
    }
    /// The query string that selects this view (the live stream's URL reuses it).
    fn query(&self) -> String {
        format!("status={}&reason={}&page={}", self.status(), self.reason(), self.page())
    }
}

/// "4 min", "3 h", "2 d": how long ago (or, for a negative span, how far ahead).
fn span(d: chrono::Duration) -> String {
    let m = d.num_minutes().abs();
    match m {
        0 => "under a minute".to_string(),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h", m / 60),
        _ => format!("{} d", m / 1440),
    }
}

/// The queue's rows and their page, as the template and the live stream render them.
async fn queue_context(state: &AppState, filter: &QueueFilter) -> anyhow::Result<minijinja::Value> {
    let (status, reason, page) = (filter.status(), filter.reason(), filter.page());
    let found = escalations::queue(&state.db, status, &reason, QUEUE_PAGE, (page - 1) * QUEUE_PAGE).await?;
    let now = Utc::now();
    let items: Vec<serde_json::Value> = found
        .rows
        .into_iter()
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            let mut reasons: Vec<String> = details["reasons"]
                .as_array()
                .map(|rs| rs.iter().filter_map(|r| r["code"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            if reasons.is_empty() {
                reasons.push(details["reason"].as_str().unwrap_or("processing_failed").to_string());
            }
            let (sla, overdue) = match e.sla_due {
                Some(due) if due < now => (format!("overdue by {}", span(now - due)), true),
                Some(due) => (format!("in {}", span(due - now)), false),
                None => (String::new(), false),
            };
            let last = e.last_message.unwrap_or_default();
            let last: String = if last.chars().count() > 80 {
                format!("{}…", last.chars().take(79).collect::<String>())
            } else {
                last
            };
            serde_json::json!({
                "id": e.id,
                "conversation_id": e.conversation_id,
                "customer": e.customer_name.unwrap_or(e.phone),
                "priority": e.priority,
                "reasons": reasons,
                "sla": sla,
                "overdue": overdue,
                "age": span(now - e.created_at),
                "attached_messages": e.attached_messages,
                "assigned_name": e.assigned_name,
                "last_message": last,
            })
        })
        .collect();
    let pages = (found.total + QUEUE_PAGE - 1) / QUEUE_PAGE;
    Ok(minijinja::context! {
        status, reason, page, pages, total => found.total,
        escalations => minijinja::Value::from(minijinja::value::Serde(&items)),
    })
}

/// `GET /console`: the queue, high priority first, then by SLA due time; it updates itself
/// through [`live::queue_events`] while open.
pub async fn get_queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(filter): axum::extract::Query<QueueFilter>,
) -> Response {
    let started = std::time::Instant::now();
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = async {
        let rows = queue_context(&state, &filter).await?;
        let all_reasons = escalations::reason_codes(&state.db, filter.status()).await?;
        anyhow::Ok(minijinja::context! {
            reviewer => session.name, csrf => session.csrf_token, all_reasons, live_query => filter.query(),
            ..rows
        })
    }
    .await;
    let mut response = match result {
        Ok(ctx) => page(StatusCode::OK, "queue.html", ctx),
        Err(e) => return super::error::Error::Internal(e).into_response(),
    };
    // The server's own time for the page (session, queries, rendering), for the browser's
    // developer tools and `backtalk bench console`.
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("queue;dur={ms:.3}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

/// The signed-in reviewer, or the response to send instead (to the login page).
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<SessionRow, Response> {
    match session(state, headers).await {
        Ok(Some((_, s))) => Ok(s),
        Ok(None) => Err(to_login()),
        Err(e) => Err(super::error::Error::Internal(e).into_response()),
    }
}

/// `GET /console/escalations/{id}`: everything a reviewer needs to answer.
pub async fn get_escalation(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match escalation_page(&state, id, &session, None, StatusCode::OK).await {
        Ok(r) => r,
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

async fn escalation_page(
    state: &AppState,
    id: i64,
    session: &SessionRow,
    notice: Option<&str>,
    status: StatusCode,
) -> anyhow::Result<Response> {
    let Some(e) = escalations::escalation(&state.db, id).await? else {
        return Ok((StatusCode::NOT_FOUND, Html(format!("<p>No escalation {id}. <a href=\"/console\">Queue</a></p>")))
            .into_response());
    };
    let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
    let thread: Vec<serde_json::Value> =
        crate::store::conversations::recent_messages(&state.db, e.conversation_id, i64::MAX, 50)
            .await?
            .into_iter()
            .map(|m| serde_json::json!({"direction": m.direction, "body": m.body, "at": m.created_at.format("%Y-%m-%d %H:%M").to_string()}))
            .collect();
    let customer = crate::crm::customer_facts(&state.db, &e.phone).await?;
    let consent = crate::store::consent::latest_consent(&state.db, &e.phone).await?;
    let orders: Vec<serde_json::Value> = customer
        .orders
        .iter()
        .map(|o| serde_json::json!({"id": o.id, "date": o.date, "status": o.status, "total": o.total.to_string()}))
        .collect();
    let products: Vec<serde_json::Value> = details["snapshot"]["products"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| serde_json::json!({"sku": p["sku"], "title": p["title"], "price": p["price"], "stock": p["stock"]}))
        .collect();
    let number = |v: &serde_json::Value| v.as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    let ctx = minijinja::context! {
        e => minijinja::context! {
            id => e.id, status => e.status, assigned_name => e.assigned_name,
            conversation_id => e.conversation_id, turn_id => e.turn_id,
        },
        phone => e.phone.clone(),
        customer_id => customer.id,
        reviewer => session.name.clone(),
        csrf => session.csrf_token.clone(),
        notice,
        customer_name => customer.name,
        consent,
        priority => details["priority"].as_str().unwrap_or("normal"),
        sla_due => details["sla_due"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|due| {
                let now = Utc::now();
                let due = due.with_timezone(&Utc);
                let relative = if due < now { format!("overdue by {}", span(now - due)) } else { format!("in {}", span(due - now)) };
                format!("{} UTC ({relative})", due.format("%Y-%m-%d %H:%M"))
            })
            .unwrap_or_default(),
        reasons => minijinja::Value::from(minijinja::value::Serde(&details["reasons"])),
        draft => details["draft"].as_str().unwrap_or(""),
        draft_segments => segment_summary(details["draft"].as_str().unwrap_or("")),
        gsm7_basic => crate::domain::segments::GSM7_BASIC,
        gsm7_extension => crate::domain::segments::GSM7_EXTENSION,
        findings => minijinja::Value::from(minijinja::value::Serde(&details["guard"]["findings"])),
        confidence => number(&details["confidence"]),
        sentiment => number(&details["sentiment"]),
        trend => number(&details["sentiment_trend"]),
        thread => minijinja::Value::from(minijinja::value::Serde(&thread)),
        orders => minijinja::Value::from(minijinja::value::Serde(&orders)),
        products => minijinja::Value::from(minijinja::value::Serde(&products)),
    };
    Ok(page(status, "escalation.html", ctx))
}

/// "GSM-7: 42 septets, 1 segment": what the editor shows, as the live counter words it.
fn segment_summary(text: &str) -> String {
    let info = crate::domain::segments::count_segments(text);
    let (name, unit) = match info.encoding {
        crate::domain::segments::Encoding::Gsm7 => ("GSM-7", "septets"),
        crate::domain::segments::Encoding::Ucs2 => ("UCS-2", "UTF-16 units"),
    };
    let plural = if info.segments == 1 { "" } else { "s" };
    format!("{name}: {} {unit}, {} segment{plural}", info.units, info.segments)
}

/// The signed-in reviewer, as the actions in [`crate::review`] take them.
fn acting(session: &SessionRow) -> crate::review::Reviewer {
    crate::review::Reviewer { id: session.reviewer_id, name: session.name.clone() }
}

/// Where an action lands: `Ok` redirects to `to`; a refusal shows the escalation's page
/// with why (409, or 404 when there is no such escalation).
async fn after(
    state: &AppState,
    id: i64,
    session: &SessionRow,
    outcome: anyhow::Result<Result<(), crate::review::Refused>>,
    to: &str,
) -> Response {
    let result = async {
        match outcome? {
            Ok(()) => Ok(Redirect::to(to).into_response()),
            Err(crate::review::Refused::NotFound) => {
                escalation_page(state, id, session, None, StatusCode::NOT_FOUND).await
            }
            Err(refused) => escalation_page(state, id, session, Some(&refused.message(id)), StatusCode::CONFLICT).await,
        }
    }
    .await;
    result.unwrap_or_else(|e| super::error::Error::Internal(e).into_response())
}

/// `POST /console/escalations/{id}/claim` form.
#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    pub csrf: String,
    /// Set to take the escalation from the reviewer who holds it.
    #[serde(default)]
    pub take_over: Option<String>,
}

/// `POST /console/escalations/{id}/claim`: claim it, or take it over explicitly.
pub async fn post_claim(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    Form(form): Form<ClaimForm>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !same(&form.csrf, &session.csrf_token) {
        return forbidden("Claim");
    }
    let take_over = form.take_over.as_deref() == Some("true");
    let outcome = crate::review::claim(&state.db, &acting(&session), id, take_over).await;
    after(&state, id, &session, outcome, &format!("/console/escalations/{id}")).await
}

/// `POST /console/escalations/{id}/close` form.
#[derive(Debug, Deserialize)]
pub struct CloseForm {
    pub csrf: String,
    /// `resolved` or `handed_back`.
    pub resolution: String,
}

/// `POST /console/escalations/{id}/close`: resolve it or hand the conversation back to the
/// bot. Refused (409) while another reviewer holds it.
pub async fn post_close(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    Form(form): Form<CloseForm>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !same(&form.csrf, &session.csrf_token) {
        return forbidden("Close");
    }
    let resolution = match form.resolution.as_str() {
        "resolved" => escalations::Resolution::Resolved,
        "handed_back" => escalations::Resolution::HandedBack,
        other => {
            return (StatusCode::BAD_REQUEST, Html(format!("<p>Unknown resolution {other:?}.</p>"))).into_response();
        }
    };
    let outcome = crate::review::close(&state.db, &acting(&session), id, resolution).await;
    after(&state, id, &session, outcome, "/console").await
}

/// `POST /console/escalations/{id}/reply` form.
#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    pub csrf: String,
    pub body: String,
}

/// `POST /console/escalations/{id}/reply`: sends the reviewer's text to the customer. The
/// conversation stays with the person until it is resolved or handed back.
pub async fn post_reply(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    Form(form): Form<ReplyForm>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !same(&form.csrf, &session.csrf_token) {
        return forbidden("Reply");
    }
    let body = form.body.trim();
    if body.is_empty() || body.chars().count() > crate::domain::MAX_BODY_CHARS {
        let notice = format!("A reply is 1 to {} characters.", crate::domain::MAX_BODY_CHARS);
        return escalation_page(&state, id, &session, Some(&notice), StatusCode::BAD_REQUEST)
            .await
            .unwrap_or_else(|e| super::error::Error::Internal(e).into_response());
    }
    let max_attempts = state.config.worker.max_attempts;
    let outcome = crate::review::reply(&state.db, &acting(&session), id, body, max_attempts).await;
    if matches!(outcome, Ok(Ok(_))) {
        state.waker.wake();
    }
    let outcome = outcome.map(|r| r.map(|_| ()));
    after(&state, id, &session, outcome, &format!("/console/escalations/{id}")).await
}

/// A consent decision from the escalation's page: checks the session and its CSRF token,
/// then runs `decide` as the signed-in reviewer and goes back to the queue.
async fn consent_action<F, Fut>(
    state: AppState,
    id: i64,
    headers: HeaderMap,
    form: CsrfForm,
    what: &str,
    decide: F,
) -> Response
where
    F: FnOnce(crate::store::Db, crate::review::Reviewer) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Result<(), crate::review::Refused>>>,
{
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !same(&form.csrf, &session.csrf_token) {
        return forbidden(what);
    }
    let outcome = decide(state.db.clone(), acting(&session)).await;
    after(&state, id, &session, outcome, "/console").await
}

/// `POST /console/escalations/{id}/opt-out`: the reviewer judges that the customer asked to
/// stop; see [`crate::review::mark_opted_out`].
pub async fn post_opt_out(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    consent_action(state, id, headers, form, "Mark opted out", |db, who| async move {
        crate::review::mark_opted_out(&db, &who, id).await
    })
    .await
}

/// `POST /console/escalations/{id}/not-opt-out`: the message that put the number on hold
/// was not an opt-out; see [`crate::review::not_an_opt_out`].
pub async fn post_not_opt_out(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    consent_action(state, id, headers, form, "Not an opt-out", |db, who| async move {
        crate::review::not_an_opt_out(&db, &who, id).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_counts_segments_like_the_sender() {
        assert_eq!(segment_summary(""), "GSM-7: 0 septets, 0 segments");
        assert_eq!(segment_summary("Hi {you}"), "GSM-7: 10 septets, 1 segment");
        assert_eq!(segment_summary(&"a".repeat(161)), "GSM-7: 161 septets, 2 segments");
        assert_eq!(segment_summary("Thanks 🙂"), "UCS-2: 9 UTF-16 units, 1 segment");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; bt_session=xyz; b=2"));
        assert_eq!(cookie(&headers, "bt_session").as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
