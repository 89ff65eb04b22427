//! Logging in and out of the console.
//!
//! The login form is protected by a double-submit CSRF cookie (there is no session yet)
//! whose token the server signed, so a pair the client picks is refused;
//! the address's attempts are rate-limited (`console.login_attempts_per_minute`) and wrong
//! passwords lock the name typed (any name: `login_failures`) after `console.max_failed_logins` for
//! `console.lockout_minutes`. Every login, failed login, lock-out and logout is recorded in
//! `reviewer_actions`.

use std::net::{IpAddr, SocketAddr};

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::page;
use crate::auth;
use crate::http::AppState;
use crate::http::error::Error;
use crate::http::extract::{CsrfForm, CsrfProtected, SESSION_COOKIE, cookie, form_expired, same, to_login};
use crate::store::reviewers;

/// The login form's double-submit CSRF cookie.
const LOGIN_CSRF_COOKIE: &str = "bt_login_csrf";

/// A `Set-Cookie` value for a console cookie (`max_age` 0 deletes it).
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let value = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&value).expect("cookie values are ASCII tokens")
}

/// The login page, with a fresh double-submit CSRF token.
fn login_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Result<Response, Error> {
    let csrf = auth::login_csrf_token(&state.login_csrf_key);
    let mut response = page(status, "login.html", minijinja::context! { csrf => csrf.clone(), error })?;
    response.headers_mut().append(header::SET_COOKIE, set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, 3600));
    Ok(response)
}

/// `GET /console/login`.
pub async fn get_login(State(state): State<AppState>) -> Result<Response, Error> {
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
fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Error> {
    // The pair must match and be ours: a token the client made up is refused even when its
    // cookie and form agree.
    if !same(&form.csrf, &cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default())
        || !auth::login_csrf_valid(&state.login_csrf_key, &form.csrf)
    {
        return Err(form_expired("Log in"));
    }
    let ip = client_ip(&state, &headers, peer);
    if !state.login_limiter.allow(ip, state.config.console.login_attempts_per_minute, std::time::Instant::now()) {
        tracing::warn!("console login attempts over the per-address limit");
        reviewers::record_action(&state.db, None, "login_refused_rate", None, "").await?;
        let message = "Too many login attempts from your address: wait a minute and try again.";
        return login_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(message));
    }
    match login(&state, &form).await? {
        Ok(token) => {
            let hours = state.config.console.session_hours;
            let mut response = Redirect::to("/console").into_response();
            let cookies = response.headers_mut();
            cookies.append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, hours * 3600));
            cookies.append(header::SET_COOKIE, set_cookie(&state, LOGIN_CSRF_COOKIE, "", 0));
            Ok(response)
        }
        Err((status, message)) => login_page(&state, status, Some(&message)),
    }
}

/// Logs a reviewer in: the new session's token, or the status and message to show.
///
/// A name no enabled account has gets the same work and the same answers as a real one
/// (issue 21): its password is checked against a dummy argon2 hash, and wrong passwords are
/// counted and locked by the name typed (`login_failures`), whoever has it.
async fn login(state: &AppState, form: &LoginForm) -> anyhow::Result<Result<String, (StatusCode, String)>> {
    let name = form.name.trim();
    let now = Utc::now();
    let reviewer = reviewers::reviewer_by_name(&state.db, name).await?;
    let reviewer_id = reviewer.as_ref().map(|r| r.id);
    if let Some(until) = reviewers::login_locked_until(&state.db, name).await? {
        reviewers::record_action(&state.db, reviewer_id, "login_refused_locked", None, "").await?;
        let message = format!("Too many wrong passwords: this account is locked until {} UTC.", until.format("%H:%M"));
        return Ok(Err((StatusCode::TOO_MANY_REQUESTS, message)));
    }
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let password = form.password.clone();
    let hash = reviewer.as_ref().map_or_else(|| auth::dummy_hash().to_string(), |r| r.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await?;
    let Some(reviewer) = reviewer.filter(|_| matches) else {
        let console = &state.config.console;
        let lock_until = now + chrono::Duration::minutes(console.lockout_minutes);
        let locked = reviewers::record_login_failure(&state.db, name, console.max_failed_logins, lock_until).await?;
        reviewers::record_action(&state.db, reviewer_id, "login_failed", None, "").await?;
        if locked.is_some() {
            reviewers::record_action(&state.db, reviewer_id, "locked", None, "").await?;
            let message =
                format!("Too many wrong passwords: this account is locked for {} minutes.", console.lockout_minutes);
            return Ok(Err((StatusCode::TOO_MANY_REQUESTS, message)));
        }
        return Ok(Err((StatusCode::UNAUTHORIZED, "Wrong name or password.".to_string())));
    };
    reviewers::clear_login_failures(&state.db, name).await?;
    let (token, csrf) = (auth::new_token(), auth::new_token());
    let expires = now + chrono::Duration::hours(state.config.console.session_hours);
    reviewers::create_session(&state.db, &auth::token_hash(&token), reviewer.id, &csrf, expires).await?;
    reviewers::record_action(&state.db, Some(reviewer.id), "login", None, "").await?;
    tracing::info!(reviewer = reviewer.id, "reviewer logged in");
    Ok(Ok(token))
}

/// `POST /console/logout` form: only the session's CSRF token.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    pub csrf: String,
}

impl CsrfProtected for LogoutForm {
    const ACTION: &'static str = "Log out";
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /console/logout`: ends the session and deletes its cookie.
pub async fn post_logout(
    State(state): State<AppState>,
    CsrfForm(signed_in, _): CsrfForm<LogoutForm>,
) -> Result<Response, Error> {
    reviewers::delete_session(&state.db, &signed_in.token_hash).await?;
    reviewers::record_action(&state.db, Some(signed_in.session.reviewer_id), "logout", None, "").await?;
    let mut response = to_login();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", 0));
    Ok(response)
}
