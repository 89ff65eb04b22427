//! The queue's live updates: server-sent events carrying the re-rendered queue rows.
//!
//! A stream wakes when this process commits a change to escalations (opened, claimed,
//! closed, a text attached: [`escalations::announce_change`]) and every [`RECHECK`]
//! otherwise (changes made by another process sharing the database, and the rows' ages). It
//! re-renders the reviewer's view of the queue and sends it only when it differs from what
//! it sent last. The stream ends when the session does (logout or expiry).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::queue::{QueueFilter, queue_context};
use super::render_html;
use crate::http::AppState;
use crate::http::extract::SignedIn;
use crate::store::escalations;

/// How often a stream re-renders without being woken.
pub const RECHECK: Duration = Duration::from_secs(5);

/// Where a stream is: what it sent last, and whether it has sent anything yet.
struct Stream {
    state: AppState,
    filter: QueueFilter,
    token_hash: String,
    changes: tokio::sync::watch::Receiver<u64>,
    last: Option<String>,
}

/// `GET /console/events?status=&reason=&page=`: `queue` events whose data is the HTML of
/// the queue's rows (what `queue_rows.html` renders), sent at once and on every change.
pub async fn queue_events(
    State(state): State<AppState>,
    SignedIn { token_hash, .. }: SignedIn,
    Query(filter): Query<QueueFilter>,
) -> Response {
    let changes = escalations::subscribe_changes();
    let start = Stream { state, filter, token_hash, changes, last: None };
    let events = futures_util::stream::unfold(start, |mut s| async move {
        loop {
            if s.last.is_some() {
                tokio::select! {
                    _ = s.changes.changed() => {}
                    _ = tokio::time::sleep(RECHECK) => {}
                }
            }
            s.changes.borrow_and_update();
            match next_render(&s).await {
                Ok(None) => return None,
                Ok(Some(html)) if s.last.as_deref() == Some(html.as_str()) => {
                    // Unchanged: wait for the next change.
                }
                Ok(Some(html)) => {
                    let event = Event::default().event("queue").data(&html);
                    s.last = Some(html);
                    return Some((Ok::<_, Infallible>(event), s));
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "live queue render failed; retrying");
                    s.last.get_or_insert_with(String::new);
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// The rows' HTML, or `None` when the session has ended.
async fn next_render(s: &Stream) -> anyhow::Result<Option<String>> {
    if crate::store::reviewers::session(&s.state.db, &s.token_hash).await?.is_none() {
        return Ok(None);
    }
    let ctx = queue_context(&s.state, &s.filter).await?;
    Ok(Some(render_html("queue_rows.html", ctx)?))
}
