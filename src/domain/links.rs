//! Tracked links (docs/analytics.md, "Tracked links"): which links of a text are tracked, the
//! codes that stand for them, and which requests for a code are a link-preview fetcher's
//! rather than a person's click.

use std::ops::Range;
use std::sync::LazyLock;

use rand::Rng;
use regex::Regex;

/// Characters of a code: 62 symbols.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Characters per code: 62^10 ≈ 8·10^17, drawn from the operating system's random source, so
/// a code cannot be guessed from another.
pub const CODE_LEN: usize = 10;

/// A new random code.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// True when `code` could be one of ours (so anything else is a 404 without a lookup).
pub fn looks_like_code(code: &str) -> bool {
    code.len() == CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

static URL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bhttps?://[^\s<>]+").expect("valid regex"));

/// The byte ranges of the `http(s)://` links in `text`, without the punctuation that ends a
/// sentence after them ("see https://shop.example/p/1." keeps the full stop).
pub fn links_in(text: &str) -> Vec<Range<usize>> {
    URL.find_iter(text)
        .map(|m| {
            let trimmed = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
            m.start()..m.start() + trimmed.len()
        })
        .collect()
}

/// Tokens of the link-preview fetchers that open a link when it is shown, not when a person
/// taps it: Apple Messages fetches previews as `facebookexternalhit`/`Twitterbot`; Meta's
/// crawler docs (developers.facebook.com/docs/sharing/webmasters/web-crawlers) name
/// `facebookexternalhit` and `Facebot`; WhatsApp, Slack (`Slackbot-LinkExpanding`), Discord,
/// Telegram, LinkedIn, Skype and Google's preview renderer identify themselves by these tokens.
const PREVIEW_TOKENS: &[&str] = &[
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "whatsapp",
    "slackbot",
    "discordbot",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",
    "google-pagerenderer",
    "googleother",
    "applebot",
    "bingpreview",
    "embedly",
];

/// True when a request with this `User-Agent` (and method) is a link-preview fetch: a known
/// preview token, or a `HEAD` request (fetchers check a link before showing it; a browser
/// following a tap sends `GET`).
pub fn is_preview(user_agent: Option<&str>, head: bool) -> bool {
    let ua = user_agent.unwrap_or_default().to_ascii_lowercase();
    head || PREVIEW_TOKENS.iter().any(|t| ua.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_random_and_recognised() {
        let (a, b) = (new_code(), new_code());
        assert_ne!(a, b);
        assert!(looks_like_code(&a) && looks_like_code(&b));
        assert!(!looks_like_code("short") && !looks_like_code("../../etc/x"));
    }

    #[test]
    fn links_keep_their_path_and_leave_the_sentence_end() {
        let text = "Track it at https://www.ups.com/track?n=1Z999. Or see https://shop.example/p/1, thanks";
        let found: Vec<&str> = links_in(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["https://www.ups.com/track?n=1Z999", "https://shop.example/p/1"]);
        assert!(links_in("no links, just www.example.com").is_empty());
    }

    #[test]
    fn preview_fetchers_are_told_from_people() {
        // Apple Messages' preview fetch (as seen in server logs) and a phone's browser.
        let imessage = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0";
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert!(is_preview(Some(imessage), false));
        assert!(is_preview(Some("WhatsApp/2.23.20.0 A"), false));
        assert!(is_preview(Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"), false));
        assert!(is_preview(Some(iphone), true), "a HEAD request is a check, not a tap");
        assert!(!is_preview(Some(iphone), false));
        assert!(!is_preview(None, false));
    }
}
