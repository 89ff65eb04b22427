//! The reviewer console (`/console`): server-rendered HTML, working without JavaScript.
//!
//! Built so far: log in, log out and the queue of open escalations. Sessions are cookies
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
        ] {
            env.add_template(name, source).expect("console templates compile");
        }
        env
    })
}

fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match pages().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => super::error::Error::Internal(anyhow::anyhow!("template {name}: {e}")).into_response(),
    }
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
    let mut response = render(status, "login.html", minijinja::context! { csrf => csrf.clone(), error });
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

/// `POST /console/login`: checks the form's CSRF token, the lock, then the password.
pub async fn post_login(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    if !same(&form.csrf, &cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default()) {
        return forbidden("Log in");
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

/// `GET /console`: the queue of open escalations, high priority first, then by SLA due time.
pub async fn get_queue(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match session(&state, &headers).await {
        Ok(Some((_, s))) => s,
        Ok(None) => return to_login(),
        Err(e) => return super::error::Error::Internal(e).into_response(),
    };
    let rows = match escalations::list_escalations(&state.db, "open", 1000).await {
        Ok(rows) => rows,
        Err(e) => return super::error::Error::Internal(e).into_response(),
    };
    let mut items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            let reasons: Vec<String> = details["reasons"]
                .as_array()
                .map(|rs| rs.iter().filter_map(|r| r["code"].as_str().map(str::to_string)).collect())
                .unwrap_or_else(|| vec![e.reason.clone()]);
            serde_json::json!({
                "id": e.id,
                "priority": details["priority"].as_str().unwrap_or("normal"),
                "reasons": reasons,
                "sla_due": details["sla_due"].as_str().unwrap_or(""),
                "created_at": e.created_at.format("%Y-%m-%d %H:%M").to_string(),
                "attached_messages": e.attached_messages,
            })
        })
        .collect();
    items.sort_by_key(|e| (e["priority"] != "high", e["sla_due"].as_str().unwrap_or("").to_string()));
    let ctx = minijinja::context! { reviewer => session.name, csrf => session.csrf_token, escalations => minijinja::Value::from(minijinja::value::Serde(&items)) };
    let mut response = render(StatusCode::OK, "queue.html", ctx);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
