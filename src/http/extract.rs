//! Extractors that carry the plumbing, so that a handler's signature says what it needs
//! and its body holds only what it does:
//!
//! - [`Caller`]: the JSON API's bearer token, the service's or a reviewer's;
//!   [`ApiReviewer`] when only a reviewer may act.
//! - [`JsonBody`]: a JSON body whose errors name the field (400).
//! - [`SignedIn`]: the console's reviewer session (else to the login page);
//!   [`CsrfForm`]: a console form checked against the session's CSRF token (else 403).

use axum::body::Bytes;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::Error;
use crate::escalation::review::Reviewer;
use crate::store::reviewers::{self, SessionRow};

/// Who is calling the JSON API: `Authorization: Bearer <token>` with a reviewer's API token
/// (looked up by SHA-256) or the service token `api.token` (compared in constant time).
#[derive(Debug, Clone)]
pub enum Caller {
    /// The service token (`api.token`): integrations (a shop backend queueing texts).
    Service,
    /// A reviewer's own API token (`backtalk reviewer token NAME`): actions are theirs.
    Reviewer(Reviewer),
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1: "bearer" and "BEARER" name it too).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .filter(|g| !g.is_empty());
        let Some(given) = given else {
            return Err(Error::Unauthorized("missing bearer token".into()));
        };
        if let Some((id, name)) = reviewers::reviewer_for_api_token(&state.db, &crate::auth::token_hash(given)).await? {
            return Ok(Caller::Reviewer(Reviewer { id, name }));
        }
        let token = state.config.api.token.expose();
        if !token.is_empty() && same(given, token) {
            return Ok(Caller::Service);
        }
        Err(Error::Unauthorized("wrong bearer token".into()))
    }
}

/// The reviewer behind an API call; the service token cannot claim or answer customers.
#[derive(Debug, Clone)]
pub struct ApiReviewer(pub Reviewer);

impl FromRequestParts<AppState> for ApiReviewer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Reviewer(r) => Ok(ApiReviewer(r)),
            Caller::Service => Err(Error::Forbidden(
                "this action needs a reviewer's API token (backtalk reviewer token NAME), not the service token".into(),
            )),
        }
    }
}

/// A JSON request body. An empty body reads as `{}`, so a body whose fields are all
/// optional may be left out. Errors are 400s that name the field
/// (`{"error": "`limit`: invalid type...", "field": "limit"}`).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| Error::bad_request(e.body_text()))?;
        let bytes: &[u8] = if bytes.trim_ascii().is_empty() { b"{}" } else { &bytes };
        parse_json(bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, naming the field that failed.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde reports a missing or unknown field at its parent; the message names it. A
        // syntax error names no field.
        let field = if !inner.is_data() {
            None
        } else if path != "." && !path.contains('?') {
            Some(path)
        } else {
            inner.to_string().split('`').nth(1).map(str::to_string)
        };
        match field {
            Some(field) => Error::BadRequest { message: format!("`{field}`: {inner}"), field: Some(field) },
            None => Error::bad_request(format!("invalid JSON body: {inner}")),
        }
    })
}

/// The console's session cookie: a random token whose SHA-256 is stored.
pub const SESSION_COOKIE: &str = "bt_session";

/// The value of cookie `name` in the request, if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Compares two secrets in constant time; an empty one matches nothing.
pub fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A signed-in reviewer's console session. Without a live one the request is sent to the
/// login page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The SHA-256 of the session cookie's token (the session's key in the database).
    pub token_hash: String,
    pub session: SessionRow,
}

impl SignedIn {
    /// The reviewer, as the actions in [`crate::escalation::review`] take them.
    pub fn reviewer(&self) -> Reviewer {
        Reviewer { id: self.session.reviewer_id, name: self.session.name.clone() }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let token_hash = crate::auth::token_hash(&token);
        match reviewers::session(&state.db, &token_hash).await {
            Ok(Some(session)) => Ok(SignedIn { token_hash, session }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(Error::Internal(e).into_response()),
        }
    }
}

/// The redirect for a request without a live session.
pub fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

/// A console form that carries the session's CSRF token in its `csrf` field.
pub trait CsrfProtected {
    /// What the form does, for the 403 page ("Claim", "Log out").
    const ACTION: &'static str;
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// A console form posted by a signed-in reviewer, its CSRF token checked against the
/// session's (403 on a mismatch: the form is stale or forged).
#[derive(Debug, Clone)]
pub struct CsrfForm<T>(pub SignedIn, pub T);

impl<T> FromRequest<AppState> for CsrfForm<T>
where
    T: DeserializeOwned + CsrfProtected + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !same(form.csrf(), &signed_in.session.csrf_token) {
            return Err(form_expired(T::ACTION).into_response());
        }
        Ok(CsrfForm(signed_in, form))
    }
}

/// The 403 for a form whose CSRF token does not match.
pub fn form_expired(action: &str) -> Error {
    Error::Forbidden(format!("{action}: the form has expired. Reload the page and try again."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Message {
        to: String,
        #[serde(default)]
        limit: Option<i64>,
    }

    fn field_of(body: &str) -> (Option<String>, String) {
        match parse_json::<Message>(body.as_bytes()) {
            Err(Error::BadRequest { field, message }) => (field, message),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field_of(r#"{"limit": 3}"#).0.as_deref(), Some("to"), "a missing field");
        assert_eq!(field_of(r#"{"to": "x", "limit": "many"}"#).0.as_deref(), Some("limit"), "a wrong type");
        assert_eq!(field_of(r#"{"to": "x", "colour": 1}"#).0.as_deref(), Some("colour"), "an unknown field");
        let (field, message) = field_of("{not json");
        assert_eq!(field, None);
        assert!(message.starts_with("invalid JSON body"), "{message}");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, axum::http::HeaderValue::from_static("a=1; bt_session=xyz; b=2"));
        assert_eq!(cookie(&headers, "bt_session").as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn an_empty_secret_matches_nothing() {
        assert!(same("abc", "abc"));
        assert!(!same("", ""));
        assert!(!same("abc", "abd"));
    }
}
