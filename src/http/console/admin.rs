//! The admin page, `/console/admin/reviewers` (docs/reviewers.md): reviewer accounts (add,
//! role, email, team, disable and enable, reset a password) and the audit trail of those
//! changes. Admins only; the changes themselves are [`crate::escalation::accounts`]'s, the
//! same the command line makes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page;
use crate::escalation::accounts::{self, Actor, Refused};
use crate::http::AppState;
use crate::http::error::Error;
use crate::http::extract::{CsrfForm, CsrfProtected, SignedIn};
use crate::store::reviewers::{self, AccountChange, SessionRow};

const PATH: &str = "/console/admin/reviewers";

fn admin_only(session: &SessionRow) -> Result<(), Error> {
    if session.role == "admin" { Ok(()) } else { Err(Error::Forbidden("Only an admin may manage reviewers.".into())) }
}

/// A form field, trimmed.
fn field(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim)
}

/// What the page says above the accounts: why a change was refused, or a one-time password.
enum Notice<'a> {
    Refused(&'a str),
    ShownOnce(&'a str),
}

/// The page, with a `notice` above it.
async fn admin_page(
    state: &AppState,
    session: &SessionRow,
    notice: Option<Notice<'_>>,
    status: StatusCode,
) -> Result<Response, Error> {
    let (refused, once) = match notice {
        Some(Notice::Refused(why)) => (Some(why), None),
        Some(Notice::ShownOnce(text)) => (None, Some(text)),
        None => (None, None),
    };
    let now = chrono::Utc::now();
    let accounts: Vec<minijinja::Value> = reviewers::accounts(&state.db)
        .await?
        .into_iter()
        .map(|a| {
            let locked = a.locked_until.filter(|u| *u > now).map(|u| format!("locked until {} UTC", u.format("%H:%M")));
            minijinja::context! {
                name => a.name, role => a.role, email => a.email.unwrap_or_default(), team => a.team.unwrap_or_default(),
                disabled => a.disabled_at.is_some(), locked, created => a.created_at.format("%Y-%m-%d").to_string(),
            }
        })
        .collect();
    let audit: Vec<minijinja::Value> = reviewers::recent_actions(&state.db, "reviewer_", 50)
        .await?
        .into_iter()
        .map(|a| {
            minijinja::context! {
                at => a.created_at.format("%Y-%m-%d %H:%M").to_string(), actor => a.actor, action => a.action,
                target => a.target, detail => a.detail,
            }
        })
        .collect();
    let notifications: Vec<minijinja::Value> = crate::store::notifications::counts(&state.db)
        .await?
        .into_iter()
        .map(|(kind, status, n)| minijinja::context! { kind, status, n })
        .collect();
    let ctx = minijinja::context! {
        reviewer => session.name.clone(), is_admin => true, csrf => session.csrf_token.clone(), notice => refused, once, accounts, audit, notifications,
    };
    page(status, "admin.html", ctx)
}

/// `GET /console/admin/reviewers`.
pub async fn get_reviewers(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
) -> Result<Response, Error> {
    admin_only(&session)?;
    admin_page(&state, &session, None, StatusCode::OK).await
}

/// `POST /console/admin/reviewers/{action}` form; which fields count depends on the action.
#[derive(Debug, Deserialize)]
pub struct AccountForm {
    pub csrf: String,
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

impl CsrfProtected for AccountForm {
    const ACTION: &'static str = "Change a reviewer";
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /console/admin/reviewers/{action}`: `add`, `set`, `disable`, `enable` or
/// `reset-password`. A refused change shows the page again with why (400); a new password
/// is shown once on the page.
pub async fn post_reviewer(
    State(state): State<AppState>,
    Path(action): Path<String>,
    CsrfForm(signed_in, form): CsrfForm<AccountForm>,
) -> Result<Response, Error> {
    let session = &signed_in.session;
    admin_only(session)?;
    let actor = Actor::Admin { id: session.reviewer_id, name: &session.name };
    let (db, name) = (&state.db, form.name.trim());
    let outcome: anyhow::Result<Option<String>> = match action.as_str() {
        "add" => accounts::add(
            db,
            actor,
            name,
            field(&form.role),
            field(&form.email).unwrap_or(""),
            field(&form.team).unwrap_or(""),
        )
        .await
        .map(|(_, password)| Some(format!("{name} added. One-time password, shown only now: {password}"))),
        "set" => {
            let change = AccountChange {
                role: field(&form.role),
                email: field(&form.email),
                team: field(&form.team),
                disabled: None,
            };
            accounts::change(db, actor, name, &change).await.map(|_| None)
        }
        "disable" | "enable" => {
            let change = AccountChange { disabled: Some(action == "disable"), ..AccountChange::default() };
            accounts::change(db, actor, name, &change).await.map(|_| None)
        }
        "reset-password" => accounts::reset_password(db, actor, name)
            .await
            .map(|password| Some(format!("New one-time password for {name}, shown only now: {password}"))),
        other => return Err(Error::NotFound(format!("No admin action {other:?}."))),
    };
    match outcome {
        Ok(None) => Ok(Redirect::to(PATH).into_response()),
        Ok(Some(password)) => admin_page(&state, session, Some(Notice::ShownOnce(&password)), StatusCode::OK).await,
        Err(e) => match e.downcast_ref::<Refused>() {
            Some(refused) => {
                admin_page(&state, session, Some(Notice::Refused(&refused.0)), StatusCode::BAD_REQUEST).await
            }
            None => Err(e.into()),
        },
    }
}
