//! The console's campaign pages (docs/campaigns.md, docs/console.md): the campaigns with their
//! progress; a new campaign from a segment, previewed (the segment's count, who is skipped and
//! why, SMS segments, estimated cost, a sample text) before it is created; one campaign's
//! progress with pause, resume and cancel.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{page, serde_value};
use crate::flows::campaign::{CampaignSpec, CreateError, create, render_for};
use crate::http::AppState;
use crate::http::campaigns::{checked, planner};
use crate::http::error::Error;
use crate::http::extract::{CsrfForm, CsrfProtected, SignedIn};
use crate::store::campaigns as store;

/// `GET /console/campaigns`: every campaign with its progress, and the form for a new one.
pub async fn get_campaigns(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
) -> Result<Response, Error> {
    list_page(&state, &session.name, &session.csrf_token, None, None, StatusCode::OK).await
}

async fn list_page(
    state: &AppState,
    reviewer: &str,
    csrf: &str,
    form: Option<&CampaignForm>,
    preview: Option<serde_json::Value>,
    status: StatusCode,
) -> Result<Response, Error> {
    let mut campaigns = Vec::new();
    for c in store::campaigns(&state.db).await? {
        let progress = store::progress(&state.db, c.id).await?;
        campaigns.push(json!({"id": c.id, "name": c.name, "segment": c.segment, "status": c.status,
            "members": c.members, "planned": c.planned, "estimated_cost": c.estimated_cost,
            "sent": progress.texts.get("sent").copied().unwrap_or(0) + progress.texts.get("delivered").copied().unwrap_or(0),
            "suppressed": progress.texts.get("suppressed").copied().unwrap_or(0), "replied": progress.replied}));
    }
    let segments: Vec<String> = crate::flows::segment::all(&state.db, &state.config.segments_dir())
        .await?
        .into_iter()
        .map(|(s, _)| s.name)
        .collect();
    let ctx = minijinja::context! {
        reviewer, csrf, campaigns => serde_value(&campaigns), segments,
        form => form.map(|f| serde_value(&json!(f))), preview => preview.map(|p| serde_value(&p)),
        currency => state.config.campaigns.currency.clone(), default_rate => state.config.campaigns.rate,
    };
    page(status, "campaigns.html", ctx)
}

/// The new-campaign form (preview and create post the same fields).
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct CampaignForm {
    #[serde(skip_serializing)]
    pub csrf: String,
    pub name: String,
    pub segment: String,
    pub text: String,
    /// Empty: now.
    #[serde(default)]
    pub local_time: String,
    #[serde(default)]
    pub rate: String,
}

impl CsrfProtected for CampaignForm {
    const ACTION: &'static str = "Campaign";
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CampaignForm {
    fn spec(&self, default_rate: f64) -> Result<CampaignSpec, Error> {
        let rate = match self.rate.trim() {
            "" => default_rate,
            r => r.parse().map_err(|_| Error::bad_field("rate", "must be a number of messages per second"))?,
        };
        let local_time = self.local_time.trim();
        Ok(CampaignSpec {
            name: self.name.trim().to_string(),
            segment: self.segment.clone(),
            text: Some(self.text.trim().to_string()),
            local_time: (!local_time.is_empty()).then(|| local_time.to_string()),
            rate: Some(rate),
            ..CampaignSpec::default()
        })
    }
}

/// `POST /console/campaigns/preview`: the dry run's figures and a sample text, with a button
/// that creates it.
pub async fn post_preview(
    State(state): State<AppState>,
    CsrfForm(signed_in, form): CsrfForm<CampaignForm>,
) -> Result<Response, Error> {
    let session = &signed_in.session;
    let outcome = async {
        let spec = form.spec(state.config.campaigns.rate)?;
        let (campaign, segment) = checked(&state, &spec).await?;
        let mut sample = None;
        let summary = planner(&state)
            .plan(&campaign, &segment, |decisions| {
                if sample.is_none() {
                    sample = decisions.first().map(|d| d.phone.clone());
                }
                async { Ok(()) }
            })
            .await?;
        let sample_text = match sample {
            // A composed text is written per recipient when it is handed over: no sample.
            Some(phone) if !campaign.variants[0].composed => {
                let customer = match crate::domain::Phone::parse(&phone) {
                    Ok(p) => crate::store::crm::customer_by_phone(&state.db, &p).await?,
                    Err(_) => None,
                };
                Some(render_for(&campaign.variants[0].text, &phone, customer.and_then(|c| c.name).as_deref())?)
            }
            _ => None,
        };
        Ok::<_, Error>(json!({"summary": summary, "sample": sample_text}))
    }
    .await;
    match outcome {
        Ok(preview) => {
            list_page(&state, &session.name, &session.csrf_token, Some(&form), Some(preview), StatusCode::OK).await
        }
        Err(Error::BadRequest { message, .. }) => {
            let preview = json!({"error": message});
            list_page(&state, &session.name, &session.csrf_token, Some(&form), Some(preview), StatusCode::BAD_REQUEST)
                .await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/campaigns`: creates the campaign (plans every recipient) and shows it.
pub async fn post_create(
    State(state): State<AppState>,
    CsrfForm(signed_in, form): CsrfForm<CampaignForm>,
) -> Result<Response, Error> {
    let session = &signed_in.session;
    let created = async {
        let spec = form.spec(state.config.campaigns.rate)?;
        let (campaign, segment) = checked(&state, &spec).await?;
        match create(&planner(&state), &campaign, &segment).await {
            Ok((id, _)) => Ok(id),
            Err(CreateError::NameTaken(name)) => Err(Error::bad_field("name", format!("{name:?} is taken"))),
            Err(e @ CreateError::CancelledWhilePlanning(_)) => Err(Error::Conflict(e.to_string())),
            Err(CreateError::Store(e)) => Err(e.into()),
        }
    }
    .await;
    match created {
        Ok(id) => Ok(Redirect::to(&format!("/console/campaigns/{id}")).into_response()),
        Err(Error::BadRequest { message, .. }) => {
            let preview = json!({"error": message});
            list_page(&state, &session.name, &session.csrf_token, Some(&form), Some(preview), StatusCode::BAD_REQUEST)
                .await
        }
        Err(e) => Err(e),
    }
}

/// `GET /console/campaigns/{id}`: the campaign's progress, with pause, resume and cancel.
pub async fn get_campaign(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let Some(c) = store::campaign(&state.db, id).await? else {
        return Err(Error::NotFound("No such campaign.".into()));
    };
    let progress = store::progress(&state.db, id).await?;
    let definition: serde_json::Value = serde_json::from_str(&c.definition).unwrap_or_default();
    let ab_test = crate::http::campaigns::ab_standings(&state, &c).await?;
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token, campaign => serde_value(&json!(c)),
        definition => serde_value(&definition), progress => serde_value(&json!(progress)),
        currency => state.config.campaigns.currency.clone(), ab_test => ab_test.as_ref().map(serde_value),
    };
    page(StatusCode::OK, "campaign.html", ctx)
}

/// The pause, resume and cancel buttons' form.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    pub csrf: String,
}

impl CsrfProtected for ActionForm {
    const ACTION: &'static str = "Campaign";
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /console/campaigns/{id}/{pause|resume|cancel}`.
pub async fn post_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm(_, _form): CsrfForm<ActionForm>,
) -> Result<Response, Error> {
    use store::status;
    let now = state.clock.now();
    let changed = match action.as_str() {
        "pause" => store::set_status(&state.db, id, &[status::SCHEDULED, status::SENDING], status::PAUSED, now).await?,
        "resume" => store::set_status(&state.db, id, &[status::PAUSED], status::SENDING, now).await?,
        "cancel" => store::cancel(&state.db, id, now).await?,
        _ => return Err(Error::NotFound("No such action.".into())),
    };
    if !changed {
        let done = match action.as_str() {
            "pause" => "paused",
            "resume" => "resumed",
            _ => "cancelled",
        };
        return Err(Error::Conflict(format!("The campaign cannot be {done} in its current state.")));
    }
    Ok(Redirect::to(&format!("/console/campaigns/{id}")).into_response())
}
