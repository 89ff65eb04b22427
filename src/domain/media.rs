//! The files of an MMS (issue 20): what the provider said about each picture or clip a
//! customer sent. Twilio gives `MediaUrl{N}` and `MediaContentType{N}` (twilio.com/docs/
//! messaging/guides/webhook-request); Telnyx gives `payload.media[]` with `url`,
//! `content_type` and `size` (../shared/reference/flows-webhooks-analytics.md §4.1).

use serde::{Deserialize, Serialize};

/// One file of a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Where the provider keeps it (Twilio's URLs need the account's credentials).
    pub url: String,
    /// `image/jpeg`, `video/mp4`, ...; empty when the provider did not say.
    pub content_type: String,
    /// Its size in bytes, when the provider said (Telnyx does; Twilio does not).
    pub size_bytes: Option<i64>,
}

impl Media {
    /// Whether it is a picture.
    pub fn is_image(&self) -> bool {
        self.content_type.trim().to_ascii_lowercase().starts_with("image/")
    }
}

/// The files of a Twilio webhook's form: `NumMedia`, then `MediaUrl0`, `MediaContentType0`, ...
/// A missing URL ends the list (nothing is made up).
pub fn from_twilio_form(field: impl Fn(&str) -> Option<String>) -> Vec<Media> {
    let n: usize = field("NumMedia").and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    // Twilio sends at most 10 files per message; a larger count is not trusted further.
    (0..n.min(10))
        .map_while(|i| {
            let url = field(&format!("MediaUrl{i}")).filter(|u| !u.trim().is_empty())?;
            let content_type = field(&format!("MediaContentType{i}")).unwrap_or_default();
            Some(Media { url, content_type, size_bytes: None })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_media_fields_become_files() {
        let form = [
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
            ("MediaContentType1", "video/mp4"),
        ];
        let field = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let media = from_twilio_form(field);
        assert_eq!(media.len(), 2);
        assert!(media[0].is_image() && !media[1].is_image());
        let none = |k: &str| (k == "NumMedia").then(|| "3".to_string());
        assert!(from_twilio_form(none).is_empty(), "a count without URLs makes nothing up");
    }
}
