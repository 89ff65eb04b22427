//! Pictures over HTTP: a customer's MMS picture fetched for a model that accepts images, and
//! a product picture checked before it goes out as MMS.
//!
//! - **In.** Twilio's media URLs answer only with the account's HTTP Basic credentials when
//!   the account enforces it (Twilio, "Media resource"), so a URL under `twilio.api_base` is
//!   fetched with them. Telnyx's inbound media URLs are pre-signed links. The picture goes to
//!   the model as a `data:` URL, because the model's servers cannot log in to Twilio.
//! - **Out.** A product picture is sent only if the provider accepts it: Twilio takes JPEG,
//!   PNG and GIF up to 5 MB (sms-providers-and-compliance.md §Twilio, `MediaUrl`); Telnyx
//!   takes under 1 MB in total (flows-webhooks-analytics.md §4.4, `media_urls`). A `HEAD`
//!   gives the type and size; a server that does not say is not trusted with an MMS.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;

/// Image types a model reading `image_url` accepts (OpenAI: PNG, JPEG, WEBP, non-animated GIF).
const MODEL_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];
/// Image types sent as MMS.
const MMS_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/gif"];

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client builds")
    })
}

/// Why a picture was not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("the picture could not be fetched: {0}")]
    Fetch(String),
    #[error("the picture is {0}, not a type the model or carrier takes")]
    Type(String),
    #[error("the picture is over {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the server did not say the picture's size")]
    UnknownSize,
}

/// HTTP Basic credentials for URLs under a base (Twilio's account SID and auth token).
#[derive(Debug, Clone)]
pub struct MediaAuth {
    pub base: String,
    pub user: String,
    pub password: String,
}

fn base_type(content_type: Option<&reqwest::header::HeaderValue>) -> String {
    let value = content_type.and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Downloads the picture at `url` (with `auth` when the URL is under its base), at most
/// `max_bytes`, and returns it as a `data:` URL for a model's `image_url`.
pub async fn fetch_for_model(url: &str, auth: Option<&MediaAuth>, max_bytes: u64) -> Result<String, MediaError> {
    let mut request = client().get(url);
    if let Some(auth) = auth.filter(|a| !a.base.is_empty() && url.starts_with(&a.base)) {
        request = request.basic_auth(&auth.user, Some(&auth.password));
    }
    let response = request.send().await.map_err(|e| MediaError::Fetch(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(MediaError::Fetch(format!("answered {}", response.status())));
    }
    let kind = base_type(response.headers().get(reqwest::header::CONTENT_TYPE));
    if !MODEL_TYPES.contains(&kind.as_str()) {
        return Err(MediaError::Type(kind));
    }
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(MediaError::TooLarge { limit: max_bytes });
    }
    // A server may not declare a length, or declare a false one: count while reading.
    let mut bytes = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(|e| MediaError::Fetch(e.without_url().to_string()))? {
        if bytes.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(MediaError::TooLarge { limit: max_bytes });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(format!("data:{kind};base64,{}", base64::engine::general_purpose::STANDARD.encode(&bytes)))
}

/// Checks a product picture for MMS with a `HEAD`: a type carriers take and a declared size
/// within `max_bytes`. Returns the type and the size.
pub async fn check_for_mms(url: &str, max_bytes: u64) -> Result<(String, u64), MediaError> {
    let response = client().head(url).send().await.map_err(|e| MediaError::Fetch(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(MediaError::Fetch(format!("answered {}", response.status())));
    }
    let kind = base_type(response.headers().get(reqwest::header::CONTENT_TYPE));
    if !MMS_TYPES.contains(&kind.as_str()) {
        return Err(MediaError::Type(kind));
    }
    // reqwest reads no body for HEAD, so `content_length()` is the header as sent.
    let size = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or(MediaError::UnknownSize)?;
    if size > max_bytes {
        return Err(MediaError::TooLarge { limit: max_bytes });
    }
    Ok((kind, size))
}
