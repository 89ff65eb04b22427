//! The segments and campaigns API (docs/campaigns.md): define and count segments; dry-run,
//! create, pause, resume and cancel campaigns; read their progress and A/B standings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::Error;
use super::extract::{Caller, JsonBody};
use crate::flows::campaign::{Campaign, CampaignSpec, CreateError, Planner, Refused, create, resolve};
use crate::flows::segment::{self, Segment, Source};
use crate::store::campaigns::{self as store, status};
use crate::store::segments as segment_store;

type ApiResult<T = Json<Value>> = Result<T, Error>;

/// `GET /api/v1/segments`: every segment, from the folder and the API.
pub async fn list_segments(State(state): State<AppState>, _: Caller) -> ApiResult {
    let all = segment::all(&state.db, &state.config.segments_dir()).await?;
    let list: Vec<Value> = all.into_iter().map(|(s, source)| json!({"segment": s, "source": source})).collect();
    Ok(Json(json!({ "segments": list })))
}

/// `GET /api/v1/segments/{name}`: the segment with its count now.
pub async fn get_segment(State(state): State<AppState>, _: Caller, Path(name): Path<String>) -> ApiResult {
    let (s, source) = find_segment(&state, &name).await?;
    let count = segment::count(&state.db, &s, state.clock.now()).await?;
    Ok(Json(json!({"segment": s, "source": source, "count": count})))
}

/// `PUT /api/v1/segments/{name}`: defines (or redefines) a segment; answers with its count.
pub async fn put_segment(
    State(state): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
    JsonBody(mut body): JsonBody<Value>,
) -> ApiResult {
    let Some(object) = body.as_object_mut() else { return Err(Error::bad_request("the body must be a JSON object")) };
    match object.get("name").and_then(Value::as_str) {
        Some(given) if given != name => return Err(Error::bad_field("name", format!("must be the path's {name:?}"))),
        _ => {
            object.insert("name".into(), json!(name));
        }
    }
    let s: Segment = serde_json::from_value(body).map_err(|e| Error::bad_request(format!("not a segment: {e}")))?;
    if let Some(problem) = s.check().into_iter().next() {
        let field = problem.split([':', '.']).next().unwrap_or_default().to_string();
        return Err(Error::BadRequest { field: Some(field), message: problem });
    }
    if let Some((_, Source::File)) = segment::find(&state.db, &state.config.segments_dir(), &name).await? {
        return Err(Error::Conflict(format!(
            "the segment {name:?} is defined by a file in segments.dir; edit the file"
        )));
    }
    segment_store::put_segment(&state.db, &name, &serde_json::to_string(&s).map_err(anyhow::Error::from)?).await?;
    let count = segment::count(&state.db, &s, state.clock.now()).await?;
    Ok(Json(json!({"segment": s, "source": Source::Api, "count": count})))
}

/// `DELETE /api/v1/segments/{name}`: removes a segment defined through the API.
pub async fn delete_segment(State(state): State<AppState>, _: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    if let Some((_, Source::File)) = segment::find(&state.db, &state.config.segments_dir(), &name).await? {
        return Err(Error::Conflict(format!("the segment {name:?} is defined by a file in segments.dir")));
    }
    if !segment_store::delete_segment(&state.db, &name).await? {
        return Err(Error::NotFound(format!("no segment named {name:?}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn find_segment(state: &AppState, name: &str) -> Result<(Segment, Source), Error> {
    segment::find(&state.db, &state.config.segments_dir(), name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no segment named {name:?}")))
}

/// The campaign checked, with its segment; a 400 naming the field otherwise.
pub(crate) async fn checked(state: &AppState, spec: &CampaignSpec) -> Result<(Campaign, Segment), Error> {
    match resolve(&state.db, &state.config.segments_dir(), spec, state.config.campaigns.rate).await {
        Ok(found) => Ok(found),
        Err(Refused::Invalid(problems)) => {
            let (field, why) = problems.into_iter().next().expect("a refusal has a problem");
            Err(Error::bad_field(&field, why))
        }
        Err(Refused::Store(e)) => Err(e.into()),
    }
}

pub(crate) fn planner(state: &AppState) -> Planner<'_> {
    Planner::new(&state.db, &state.config, state.clock.now())
}

/// `POST /api/v1/campaigns/dry-run`: plans without saving; counts, skips by reason, SMS
/// segments and cost.
pub async fn dry_run(State(state): State<AppState>, _: Caller, JsonBody(spec): JsonBody<CampaignSpec>) -> ApiResult {
    let (campaign, segment) = checked(&state, &spec).await?;
    let summary = planner(&state).plan(&campaign, &segment, |_| async { Ok(()) }).await?;
    Ok(Json(serde_json::to_value(summary).map_err(anyhow::Error::from)?))
}

/// `POST /api/v1/campaigns`: plans every recipient and schedules the campaign (201).
pub async fn create_campaign(
    State(state): State<AppState>,
    _: Caller,
    JsonBody(spec): JsonBody<CampaignSpec>,
) -> ApiResult<Response> {
    let (campaign, segment) = checked(&state, &spec).await?;
    let (id, summary) = match create(&planner(&state), &campaign, &segment).await {
        Ok(created) => created,
        Err(CreateError::NameTaken(name)) => {
            return Err(Error::Conflict(format!("a campaign named {name:?} exists already")));
        }
        Err(e @ CreateError::CancelledWhilePlanning(_)) => return Err(Error::Conflict(e.to_string())),
        Err(CreateError::Store(e)) => return Err(e.into()),
    };
    tracing::info!(campaign = id, planned = summary.planned, members = summary.members, "campaign created");
    let body = json!({"id": id, "status": status::SCHEDULED, "plan": summary});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/campaigns`: every campaign, newest first.
pub async fn list_campaigns(State(state): State<AppState>, _: Caller) -> ApiResult {
    let rows = store::campaigns(&state.db).await?;
    let list: Vec<Value> = rows.iter().map(summary_json).collect();
    Ok(Json(json!({ "campaigns": list })))
}

fn summary_json(c: &store::CampaignRow) -> Value {
    json!({"id": c.id, "name": c.name, "segment": c.segment, "status": c.status, "rate": c.rate,
           "members": c.members, "planned": c.planned, "total_segments": c.total_segments,
           "estimated_cost": c.estimated_cost, "created_at": c.created_at, "updated_at": c.updated_at,
           "definition": serde_json::from_str::<Value>(&c.definition).unwrap_or(Value::Null)})
}

/// `GET /api/v1/campaigns/{id}`: the campaign, its progress and its A/B standings.
pub async fn get_campaign(State(state): State<AppState>, _: Caller, Path(id): Path<i64>) -> ApiResult {
    let c = store::campaign(&state.db, id).await?.ok_or_else(|| Error::NotFound(format!("no campaign {id}")))?;
    let progress = store::progress(&state.db, id).await?;
    let mut body = summary_json(&c);
    body["progress"] = serde_json::to_value(progress).map_err(anyhow::Error::from)?;
    if let Some(standings) = ab_standings(&state, &c).await? {
        body["ab_test"] = standings;
    }
    Ok(Json(body))
}

/// A campaign's A/B standings (`None` without a test), for the API and the console.
pub async fn ab_standings(state: &AppState, c: &store::CampaignRow) -> anyhow::Result<Option<serde_json::Value>> {
    let spec: CampaignSpec = serde_json::from_str(&c.definition)?;
    match spec.check(c.rate) {
        Ok(campaign) => match &campaign.test {
            Some(test) => Ok(Some(super::flows::ab_test(state, test, &campaign.variants).await?)),
            None => Ok(None),
        },
        Err(_) => Ok(None),
    }
}

/// `POST /api/v1/campaigns/{id}/pause`.
pub async fn pause(State(state): State<AppState>, _: Caller, Path(id): Path<i64>) -> ApiResult {
    change(&state, id, &[status::SCHEDULED, status::SENDING], status::PAUSED).await
}

/// `POST /api/v1/campaigns/{id}/resume`.
pub async fn resume(State(state): State<AppState>, _: Caller, Path(id): Path<i64>) -> ApiResult {
    change(&state, id, &[status::PAUSED], status::SENDING).await
}

/// `POST /api/v1/campaigns/{id}/cancel`: the recipients not yet handed over are cancelled.
pub async fn cancel(State(state): State<AppState>, _: Caller, Path(id): Path<i64>) -> ApiResult {
    let c = store::campaign(&state.db, id).await?.ok_or_else(|| Error::NotFound(format!("no campaign {id}")))?;
    if !store::cancel(&state.db, id, state.clock.now()).await? {
        return Err(Error::Conflict(format!("campaign {id} is {} and cannot be cancelled", c.status)));
    }
    Ok(Json(json!({"id": id, "status": status::CANCELLED})))
}

async fn change(state: &AppState, id: i64, from: &[&str], to: &str) -> ApiResult {
    let c = store::campaign(&state.db, id).await?.ok_or_else(|| Error::NotFound(format!("no campaign {id}")))?;
    if !store::set_status(&state.db, id, from, to, state.clock.now()).await? {
        return Err(Error::Conflict(format!("campaign {id} is {}: expected {}", c.status, from.join(" or "))));
    }
    Ok(Json(json!({"id": id, "status": to})))
}
