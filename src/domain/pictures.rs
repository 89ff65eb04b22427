//! Does the customer ask to see a product? "can u send a pic of the red one", "what does the
//! jersey dress look like?", "show me the trainers", "me mandas una foto?". Then a reply about
//! a product carries its picture as MMS where the provider and number take one
//! (docs/providers.md, Pictures).
//!
//! Not a request: the customer sending a picture ("here's a pic of the damage", "te mando una
//! foto"), a product that is a picture thing ("picture frames"), a photo talked about ("the
//! photo online looked darker"), or "show me my order".

use std::sync::LazyLock;

use regex::Regex;

/// A word for a picture, English or Spanish.
const PICTURE: &str = r"(pic|pics|pix|pik|piks|pict|picture|pictures|photo|photos|foto|fotos|image|images|img|imgs|imagen|imagenes|imágenes|selfie|screenshot|ss|close\s*-?\s*up|closeup)";

/// Asking for one: to be sent, shown, or told there is one.
static ASKS_FOR_PICTURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?x)
        \b(send|sending|text|share|post|show|email|got|get|have|has|any|is\s+there|are\s+there|r\s+there|see|view|snap|take|mandas?|mandar|mandarme|mandame|mándame|envias?|envías|enviar|enviarme|enviame|envíame|pasarme|pasame|pásame|tienes|tienen|hay|ver|muestrame|muéstrame)\b
        [^.?!]{{0,40}}?\b{PICTURE}\b
        | \b{PICTURE}\s+(of|de)\b[^.?!]{{0,40}}(\?|\b(pls|please|plz|por\s+favor)\b)
        | \b{PICTURE}s?\s*\?
        | ^\s*{PICTURE}\s*(pls|please|plz|por\s+favor)?\s*[.!?]*\s*$
        | \b(waiting\s+(on|for)|still\s+no|no)\s+(that|the|those|a|any)?\s*{PICTURE}
        | \b{PICTURE}\b[^.?!]{{0,40}}\b(resend|send\s+(it\s+)?again|send\s+(bigger|another|more|a\s+bigger))\b
        | \b(can|could)\s+(u|you)\s+show\s+me\s*[.!?]*\s*$"
    ))
    .expect("a valid pattern")
});

/// "what does it look like", "how does the blue one look", "cómo se ve".
static LOOK_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        \b(what|wat|wut)\s+(does|do|would|will)\b(?P<subject>[^.?!]{0,40})\blook\s+like\b
        | \b(whats|what\s*'s|what\s+is|wats|wuts)\b(?P<subject2>[^.?!]{0,40})\blook\s+like\b
        | \bwhat\s+(it|they|that|this)\s+looks?\s+like\b
        | \bhow\s+(does|do)\b[^.?!]{0,40}\blook\b[^.?!]{0,15}(on|in\s+person|irl|\?|$)
        | \bc[oó]mo\s+se\s+ve(n)?\b
        | \bc[oó]mo\s+(es|son|luce|lucen)\b",
    )
    .expect("a valid pattern")
});

/// "show me the trainers", "can i see the red one", "let me see it", "i wanna see it on
/// someone": unless what they want shown is an order, an account or a receipt.
static SHOW_ME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        \b(show\s+me|can\s+i\s+see|could\s+i\s+see|may\s+i\s+see|let\s+me\s+see|lemme\s+see|wanna\s+see|want\s+to\s+see|like\s+to\s+see|need\s+to\s+see|quiero\s+ver|puedo\s+ver|ver\s+(el|la|los|las))\b
        \s+(?P<what>[^.?!]{0,40})",
    )
    .expect("a valid pattern")
});

/// The customer sends or sent the picture themselves.
static SENDS_ONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?x)
        \b(i\s*'?ll|i\s+will|i\s+can|i\s*'?m|i\s+am|i\s+just|i\s+sent|i\s+have\s+sent|i\s*'?ve\s+sent|let\s+me|lemme|gonna|going\s+to|here\s*'?s|here\s+is|here\s+are|attached|see\s+attached|sending\s+you)\b[^.?!]{{0,25}}\b{PICTURE}\b
        | \b(te|le|les)\s+(mando|envío|envio|paso|mandé|mande|envié|envie)\b
        | \badjunto\b
        | \b(i|we)\s+(took|take|snapped)\s+a\s+{PICTURE}\b
        | \b{PICTURE}\s+(i|we)\s+(sent|took|attached)\b
        | ^\s*(sending|sent|attaching)\b
        | \bcan\s+i\s+(send|text|share|attach|email)\b
        | \bmy\s+{PICTURE}\b"
    ))
    .expect("a valid pattern")
});

/// Picture things a store may sell, and pictures that are not of a product.
static NOT_A_PRODUCT_PICTURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?x)
        \b{PICTURE}\s+(frame|frames|album|albums|book|books|paper|printer|booth|id)\b
        | \b(camera|cameras)\b
        | \b{PICTURE}s?\s+(online|on\s+(the|your)\s+(site|website|page|app))\b[^?]*$
        | \b(profile|passport|id)\s+{PICTURE}\b
        | \b{PICTURE}\s*(msgs?|messages?|texts?)\b
        | \bmarcos?\s+(para|de)\s+fotos?\b
        | \b(álbum|album)\b"
    ))
    .expect("a valid pattern")
});

/// What a "show me" or a "look like" may be about that is not a product.
const NOT_PRODUCTS: [&str; 27] = [
    "order", "orders", "receipt", "invoice", "status", "tracking", "account", "balance", "points", "cart", "pedido",
    "pedidos", "estado", "history", "bill", "refund", "hours", "horario", "love", "total", "code", "discount",
    "shipping", "delivery", "schedule", "process", "timeline",
];

fn about_a_product(words: &str) -> bool {
    !words.split_whitespace().any(|w| NOT_PRODUCTS.contains(&w.trim_matches(|c: char| !c.is_alphanumeric())))
}

/// Whether `message` asks the store to show or send a picture of a product.
pub fn asks_to_see(message: &str) -> bool {
    let m = message.to_lowercase().replace(['’', '‘'], "'");
    if SENDS_ONE.is_match(&m) || NOT_A_PRODUCT_PICTURE.is_match(&m) {
        return false;
    }
    if ASKS_FOR_PICTURE.is_match(&m) {
        return true;
    }
    if let Some(c) = LOOK_LIKE.captures(&m) {
        let subject = c.name("subject").or(c.name("subject2")).map_or("", |w| w.as_str());
        if about_a_product(subject) {
            return true;
        }
    }
    SHOW_ME.captures(&m).is_some_and(|c| {
        let what = c.name("what").map_or("", |w| w.as_str());
        let first = what.split_whitespace().next();
        !what.trim().is_empty()
            && about_a_product(what)
            && !matches!(first, Some("you" | "u" | "how" | "if" | "whether" | "when" | "where"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written before the rules, from how people text a shop; the blind set is measured
    /// separately (`the_blind_set`).
    const OPEN: &[(&str, bool)] = &[
        ("can u send a pic of the red one", true),
        ("what does the jersey dress look like?", true),
        ("show me the trainers", true),
        ("do you have a photo of the ballet pumps", true),
        ("any pics?", true),
        ("got a picture of it on someone?", true),
        ("can I see the black one", true),
        ("me mandas una foto?", true),
        ("cómo se ve el vestido?", true),
        ("pic pls", true),
        ("photo of the belt?", true),
        ("how does it look on?", true),
        ("here's a pic of the damage", false),
        ("I'll send you a photo", false),
        ("do you sell picture frames?", false),
        ("the photo online looked darker than what I got", false),
        ("show me my orders", false),
        ("can I see my order status", false),
        ("looks good thanks", false),
        ("looking for a dress", false),
        ("see you later", false),
        ("I'll take a look", false),
        ("te mando una foto", false),
        ("is the camera in stock", false),
        ("STOP", false),
        ("do you have the blouse in red?", false),
    ];

    #[test]
    fn the_open_cases() {
        let wrong: Vec<_> = OPEN.iter().filter(|(text, want)| asks_to_see(text) != *want).collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[derive(serde::Deserialize)]
    struct Case {
        text: String,
        asks_to_see: bool,
    }

    /// How many of a labelled set's texts `asks_to_see` gets right (and prints the others).
    fn agreement(name: &str, jsonl: &str) -> (usize, usize) {
        let cases: Vec<Case> = jsonl
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a labelled case"))
            .collect();
        let wrong: Vec<&Case> = cases.iter().filter(|c| asks_to_see(&c.text) != c.asks_to_see).collect();
        println!("pictures {name} set: {}/{} agree", cases.len() - wrong.len(), cases.len());
        for c in &wrong {
            println!("  disagree (expected {}): {}", c.asks_to_see, c.text);
        }
        (cases.len() - wrong.len(), cases.len())
    }

    /// The blind set (eval/pictures/blind.jsonl, written without reading this code).
    #[test]
    fn the_blind_set() {
        let (ok, n) = agreement("blind", include_str!("../../eval/pictures/blind.jsonl"));
        assert!(ok * 100 >= n * BLIND_FLOOR_PERCENT, "{ok}/{n} agree, under {BLIND_FLOOR_PERCENT}%");
    }

    /// The holdout set (eval/pictures/holdout.jsonl), written blind after the rules were
    /// widened on the first set: what they score on texts nobody fitted them to.
    #[test]
    fn the_holdout_set() {
        let (ok, n) = agreement("holdout", include_str!("../../eval/pictures/holdout.jsonl"));
        assert!(ok * 100 >= n * HOLDOUT_FLOOR_PERCENT, "{ok}/{n} agree, under {HOLDOUT_FLOOR_PERCENT}%");
    }

    /// The holdout's floor, from its first (blind) measurement; never fitted to it.
    const HOLDOUT_FLOOR_PERCENT: usize = 87;

    /// The floor for the blind set. Its first measurement, before any rule had seen it, was
    /// 94/120 (78%); the rules were then widened on its misses (so it is no longer blind) and
    /// the holdout set measures them blind (`the_holdout_set`).
    const BLIND_FLOOR_PERCENT: usize = 90;
}
