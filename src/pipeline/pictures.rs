//! Pictures in a turn (docs/providers.md, Pictures): a customer's picture given to a model
//! that accepts images, or the answer that the bot cannot see it; and the product picture a
//! reply carries when the customer asks to see a product.

use super::ingest::TurnJob;
use super::stages::plan;
use super::{Deps, Outbound, TurnPlan};
use crate::domain::facts::{Facts, PictureFact, ProductFact};
use crate::domain::{OutboxKind, TurnDecision};
use crate::store::conversations::MessageRow;

/// What to do about the pictures that came with a text.
pub enum Pictures {
    /// None came.
    None,
    /// The model will look at these (`data:` URLs).
    ForModel(Vec<String>),
    /// Nobody here can look at them: the bot says so and offers a person.
    CannotSee(Box<TurnPlan>),
}

/// A customer's pictures go to a model that accepts images (`llm.accepts_images`), fetched
/// within `llm.max_image_bytes`; otherwise, or when none could be fetched, the bot says it
/// cannot see pictures and offers a person, whatever text came with them (docs/providers.md,
/// Pictures).
pub async fn pictures(deps: &Deps, job: &TurnJob, message: &MessageRow) -> anyhow::Result<Pictures> {
    if !job.picture {
        return Ok(Pictures::None);
    }
    let config = &deps.config;
    let cannot_see = || {
        let text = Outbound::text(OutboxKind::Reply, config.brand.cannot_see_pictures.clone());
        Pictures::CannotSee(Box::new(plan(message, TurnDecision::Reply, "media:image", vec![text])))
    };
    if !(config.llm_configured() && config.llm.accepts_images) {
        return Ok(cannot_see());
    }
    let auth = crate::sms::media::MediaAuth {
        base: config.twilio.api_base.trim_end_matches('/').to_string(),
        user: config.twilio.account_sid.clone(),
        password: config.twilio.auth_token.expose().to_string(),
    };
    let media = crate::store::conversations::media_of(&deps.db, &[message.id]).await?.remove(&message.id);
    let mut images = Vec::new();
    for m in media.unwrap_or_default().iter().filter(|m| m.is_image()) {
        match crate::sms::media::fetch_for_model(&m.url, Some(&auth), config.llm.max_image_bytes).await {
            Ok(data_url) => images.push(data_url),
            Err(e) => tracing::warn!(message = message.id, "a picture was not given to the model: {e}"),
        }
    }
    Ok(if images.is_empty() { cannot_see() } else { Pictures::ForModel(images) })
}

/// The product picture for a reply, when the customer asks to see a product
/// (`domain::pictures::asks_to_see`): the product the text refers to, else the best
/// retrieved one, if its catalog entry has an `image_url`. Whether it goes out as MMS is the
/// sender's decision (provider, number, size).
pub async fn product_picture(deps: &Deps, facts: &Facts) -> anyhow::Result<Option<PictureFact>> {
    let text = facts.original.as_deref().unwrap_or(&facts.message);
    if !crate::domain::pictures::asks_to_see(text) || facts.products.is_empty() {
        return Ok(None);
    }
    let candidates: Vec<&ProductFact> = match facts.asked.refers_to.first() {
        Some(sku) => facts.products.iter().filter(|p| &p.sku == sku).collect(),
        None => facts.products.iter().take(1).collect(),
    };
    let skus: Vec<String> = candidates.iter().map(|p| p.sku.as_str().to_string()).collect();
    let rows = crate::store::catalog::products_by_sku(&deps.db, &skus).await?;
    Ok(candidates.iter().find_map(|p| {
        let row = rows.iter().find(|r| r.sku == p.sku)?;
        let url = row.image_url.trim();
        (url.starts_with("https://") || url.starts_with("http://")).then(|| PictureFact {
            sku: p.sku.clone(),
            title: p.title.clone(),
            url: url.to_string(),
        })
    }))
}
