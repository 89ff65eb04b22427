//! What a message asks about, and how much evidence this turn's facts hold for answering
//! it: the inputs of the confidence formula (`score::confidence`) and the offline
//! responder's branches. Word lists, not a model: cheap, deterministic and explainable.

use serde::Serialize;

use super::facts::{Facts, ProductFact};

/// What a customer's message is about, as far as the bot's skills go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Thanks,
    Greeting,
    OrderStatus,
    Policy,
    Product,
    /// "are you a bot?", "is this a real person?": answered honestly (the AI disclosure).
    AboutBot,
    /// "hmm", "lol", an emoji, a lone "?", or a question about something the store does not
    /// sell or know (the weather, the news): a short redirect to what the bot can do, not a
    /// page to a person.
    SmallTalk,
    /// Nothing the bot answers (no matching product, policy or order words).
    Unknown,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Thanks => "thanks",
            Intent::Greeting => "greeting",
            Intent::OrderStatus => "order_status",
            Intent::Policy => "policy",
            Intent::Product => "product",
            Intent::AboutBot => "about_bot",
            Intent::SmallTalk => "small_talk",
            Intent::Unknown => "unknown",
        }
    }

    /// True for the intents the bot is built to answer.
    pub fn handled(self) -> bool {
        self != Intent::Unknown
    }
}

const GREETINGS: &[&str] = &["hi", "hello", "hey", "hiya", "yo", "morning", "afternoon", "evening", "hola"];
const THANKS: &[&str] = &["thanks", "thank", "thx", "ty", "cheers", "appreciate"];
/// A short acknowledgement ("ok", "cool") is answered like thanks.
const ACKNOWLEDGEMENTS: &[&str] = &["ok", "okay", "k", "cool", "great", "perfect", "awesome"];
const ORDER_WORDS: &[&str] =
    &["order", "package", "parcel", "track", "tracking", "arrive", "arrived", "delivered", "shipped"];
const POLICY_WORDS: &[&str] = &[
    "ship",
    "shipping",
    "delivery",
    "return",
    "returns",
    "refund",
    "refunds",
    "exchange",
    "exchanges",
    "hours",
    "open",
    "contact",
    "email",
    "phone",
    "pay",
    "payment",
    "paypal",
    "card",
    "cards",
    "visa",
    "mastercard",
    "amex",
    "match",
    "adjustment",
    "size",
    "sizes",
    "sizing",
    "fit",
];
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "do",
    "does",
    "you",
    "your",
    "have",
    "has",
    "in",
    "on",
    "of",
    "for",
    "to",
    "i",
    "im",
    "me",
    "my",
    "is",
    "are",
    "it",
    "any",
    "some",
    "what",
    "which",
    "can",
    "could",
    "please",
    "pls",
    "and",
    "or",
    "with",
    "we",
    "u",
    "got",
    "there",
    "this",
    "that",
    "want",
    "looking",
    "need",
    "would",
    "like",
    "get",
    "how",
    "much",
    "about",
    "anything",
    "something",
    "still",
    "also",
    "just",
    "be",
    "at",
    "if",
    "so",
    "am",
    "was",
    "come",
    "comes",
    "available",
    // Shopping talk that names no product.
    "cart",
    "another",
    "colour",
    "color",
    "yes",
    "again",
];

/// Nouns of a question about who is answering.
const WHO_ANSWERS: &[&str] =
    &["bot", "robot", "ai", "human", "person", "machine", "automated", "computer", "real", "chatbot", "someone"];
/// How such a question starts.
const WHO_ANSWERS_OPENERS: &[&str] = &[
    "are you",
    "r u",
    "are u",
    "is this",
    "is it a",
    "am i talking",
    "am i texting",
    "am i chatting",
    "am i speaking",
    "is that a",
    "you a",
    "u a",
];
/// Phrases that ask for a person rather than about one.
const PERSON_REQUESTS: &[&str] = &[
    "talk to",
    "speak to",
    "speak with",
    "talk with",
    "i want",
    "i need",
    "get me",
    "connect me",
    "transfer me",
    "put me through",
    "can i get",
    "let me",
    "call me",
];

/// "are you a bot?", "is this a real person?", "am I texting a human?", "who is this?": a
/// question about who answers, not a request for a person ("can I talk to a real person"
/// is one, and goes to a person).
pub fn asks_who_answers(message: &str) -> bool {
    let w = words(message);
    let m = format!(" {} ", w.join(" "));
    if PERSON_REQUESTS.iter().any(|p| m.contains(&format!(" {p} "))) {
        return false;
    }
    if m.contains(" who is this ") || m.contains(" who am i talking to ") || m.contains(" who am i texting ") {
        return true;
    }
    let opens = WHO_ANSWERS_OPENERS.iter().any(|o| m.contains(&format!(" {o} ")));
    opens && has_any(&w, WHO_ANSWERS)
}

/// Words that say nothing to answer: a pause, a laugh, surprise.
const FILLERS: &[&str] = &[
    "hmm", "hm", "hmmm", "hmmmm", "mm", "lol", "haha", "hahaha", "lmao", "wow", "oh", "ah", "uh", "um", "umm", "huh",
    "idk", "nvm", "omg", "ugh", "meh", "yay", "oops", "oof", "welp", "well",
];

/// Words of shopping and of the store's business: a message with one of these is about the
/// store, even when nothing matched it. ("need", "want", "have" are not: "need to know if
/// it rains tomorrow" is about the weather.)
const SHOPPING_WORDS: &[&str] = &[
    "buy",
    "sell",
    "sells",
    "selling",
    "stock",
    "price",
    "cost",
    "costs",
    "cheap",
    "cheapest",
    "expensive",
    "sale",
    "discount",
    "coupon",
    "code",
    "size",
    "sizes",
    "colour",
    "color",
    "colours",
    "colors",
    "shop",
    "store",
    "item",
    "items",
    "product",
    "products",
    "brand",
    "available",
    "order",
    "orders",
    "return",
    "refund",
    "exchange",
    "ship",
    "shipping",
    "delivery",
];

/// Topics a clothing store's assistant knows nothing about.
const OFF_TOPIC_WORDS: &[&str] = &[
    "weather",
    "forecast",
    "rain",
    "news",
    "election",
    "president",
    "score",
    "game",
    "football",
    "soccer",
    "basketball",
    "baseball",
    "recipe",
    "cook",
    "joke",
    "movie",
    "movies",
    "song",
    "music",
    "stock market",
    "restaurant",
    "restaurants",
    "hotel",
    "directions",
    "tomorrow",
    "bitcoin",
    "crypto",
    "horoscope",
    "lottery",
    "traffic",
    "flight",
    "flights",
    "capital",
    "timezone",
    "translate",
    "math",
    "calculate",
];

/// "hmm", "lol", "🙂", "?": nothing to answer but the customer is still there.
fn is_filler(w: &[String]) -> bool {
    w.is_empty() || (w.len() <= 3 && w.iter().all(|x| FILLERS.contains(&x.as_str())))
}

/// A question about something the store does not sell or know ("what's the weather
/// tomorrow?"): an off-topic word and no shopping word.
fn is_off_topic(w: &[String]) -> bool {
    let text = format!(" {} ", w.join(" "));
    let asks_the_time =
        ["what time is it", "whats the time", "what s the time"].iter().any(|p| text.contains(&format!(" {p} ")));
    (has_any(w, OFF_TOPIC_WORDS) || asks_the_time) && !has_any(w, SHOPPING_WORDS)
}

/// Lower-case alphanumeric words.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// True when any of `words` is in `list`.
pub fn has_any(words: &[String], list: &[&str]) -> bool {
    words.iter().any(|w| list.contains(&w.as_str()))
}

/// Order numbers a message quotes: runs of 4 to 12 digits, with or without `#` ("order
/// 583630", "#583630"), that are not an amount ("$1500") or a time.
pub fn order_numbers(message: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    let chars: Vec<char> = message.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let before = if start > 0 { chars[start - 1] } else { ' ' };
            let after = chars.get(i).copied().unwrap_or(' ');
            let run: String = chars[start..i].iter().collect();
            if (4..=12).contains(&run.len())
                && !matches!(before, '$' | '.' | ':')
                && !matches!(after, '.' | ':' | '$')
                && !after.is_alphanumeric()
            {
                numbers.push(run);
            }
        } else {
            i += 1;
        }
    }
    numbers
}

/// True for a word that carries no meaning of its own ("the", "do", "looking").
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word)
}

/// The message's words that carry meaning (stop words removed).
pub fn content_words(message: &str) -> Vec<String> {
    words(message).into_iter().filter(|w| !STOPWORDS.contains(&w.as_str())).collect()
}

/// The message's intent, given what retrieval found (a policy question with no policy
/// retrieved falls through to products, as the offline responder answers it).
pub fn classify(facts: &Facts) -> Intent {
    let w = words(&facts.message);
    let content = content_words(&facts.message);
    if asks_who_answers(&facts.message) {
        Intent::AboutBot
    } else if is_filler(&w) || (is_off_topic(&w) && !facts.asked.wants_complements && !names_a_product(&content, facts))
    {
        Intent::SmallTalk
    } else if ((has_any(&w, THANKS) && w.len() <= 6) || (has_any(&w, ACKNOWLEDGEMENTS) && w.len() <= 2))
        && !asks_more(&facts.message, &content)
    {
        Intent::Thanks
    } else if has_any(&w, GREETINGS) && content.len() <= 2 && !names_a_product(&content, facts) {
        Intent::Greeting
    } else if asks_about_fit(&w) && facts.policies.iter().any(|p| p.body.to_lowercase().contains("fit")) {
        // "is it true to size?", "does it run small?": the sizing policy's advice on fit.
        Intent::Policy
    } else if refers_back(facts, &w) {
        Intent::Product
    } else if facts.asked.order_ask.is_some()
        || (has_any(&w, ORDER_WORDS) && !has_any(&w, &["return", "returns", "refund", "exchange"]))
    {
        Intent::OrderStatus
    } else if has_any(&w, POLICY_WORDS) && !facts.policies.is_empty() && !sizes_of_a_named_product(&w, &content, facts)
    {
        Intent::Policy
    } else if !facts.products.is_empty() {
        Intent::Product
    } else {
        Intent::Unknown
    }
}

/// "thanks. do you ship express?": thanks followed by a question is the question.
fn asks_more(message: &str, content: &[String]) -> bool {
    message.contains('?')
        && content.iter().any(|w| {
            !THANKS.contains(&w.as_str()) && !ACKNOWLEDGEMENTS.contains(&w.as_str()) && !GREETINGS.contains(&w.as_str())
        })
}

/// "hi im looking for a parka": a greeting that also names a product is a product question
/// (judged on the product words retrieval understood, else the content words).
fn names_a_product(content: &[String], facts: &Facts) -> bool {
    let words = if facts.asked.product_words.is_empty() { content.to_vec() } else { evidence_words(facts) };
    let rest: Vec<String> = words.into_iter().filter(|w| !GREETINGS.contains(&w.as_str())).collect();
    !rest.is_empty() && facts.products.first().is_some_and(|best| coverage(&rest, best) >= 0.5)
}

/// "is it true to size?", "does it run small?", "how does it fit?": a question about fit (not
/// one about returning or exchanging what does not fit).
pub fn asks_about_fit(w: &[String]) -> bool {
    // "can I return it if it doesn't fit?" is about returns.
    if has_any(w, &["return", "returns", "exchange", "exchanges", "refund", "refunds"]) {
        return false;
    }
    let text = format!(" {} ", w.join(" "));
    [
        "true to size",
        "run small",
        "runs small",
        "run big",
        "runs big",
        "run large",
        "runs large",
        "fit",
        "fits",
        "sizing",
        "size chart",
        "size guide",
        "between sizes",
    ]
    .iter()
    .any(|p| text.contains(&format!(" {p} ")))
}

/// "how much is it?", "in a medium?" after a product answer: the message refers to products
/// of the thread and asks nothing of the store's policies or orders.
fn refers_back(facts: &Facts, w: &[String]) -> bool {
    let size_words = ["size", "sizes", "sizing", "fit"];
    let other_policy = POLICY_WORDS.iter().any(|p| !size_words.contains(p) && w.iter().any(|x| x == p));
    !facts.asked.refers_to.is_empty() && !other_policy && !has_any(w, ORDER_WORDS)
}

/// "Does the khaki parka come in size XL?": a size question (no other policy word) about a
/// product the message names (at least half of its other content words are in the best
/// product's text) is about that product, not the sizing policy.
fn sizes_of_a_named_product(w: &[String], content: &[String], facts: &Facts) -> bool {
    let size_words = ["size", "sizes", "sizing", "fit"];
    let other_policy = POLICY_WORDS.iter().any(|p| !size_words.contains(p) && w.iter().any(|x| x == p));
    if other_policy || !has_any(w, &size_words) {
        return false;
    }
    let rest: Vec<String> = content.iter().filter(|c| !size_words.contains(&c.as_str())).cloned().collect();
    facts.products.first().is_some_and(|best| !rest.is_empty() && coverage(&rest, best) >= 0.5)
}

/// Share of the message's content words that appear in the product's text (crude stemming:
/// a trailing "s" is ignored on both sides).
pub fn coverage(content: &[String], p: &ProductFact) -> f64 {
    // "size XL" names no product: a size word, or one of the product's sizes, is left out.
    let sizes: Vec<String> = p.sizes.iter().map(|s| s.to_lowercase()).collect();
    let content: Vec<&String> =
        content.iter().filter(|w| !matches!(w.as_str(), "size" | "sizes") && !sizes.contains(w)).collect();
    if content.is_empty() {
        return 0.0;
    }
    // The sku too: a customer who quotes it names the product.
    let haystack: Vec<String> =
        words(&format!("{} {} {} {} {}", p.sku, p.title, p.category, p.brand, p.colors.join(" ")))
            .into_iter()
            .map(|w| w.trim_end_matches('s').to_string())
            .collect();
    // A shopper's word counts when the product has it or the catalog's word for it
    // ("sweaters" → jumper).
    let has = |w: &str| haystack.contains(&w.trim_end_matches('s').to_string());
    let found = content.iter().filter(|w| has(w) || super::synonyms::catalog_words(w).iter().any(|s| has(s))).count();
    found as f64 / content.len() as f64
}

/// How well this turn's facts support an answer to a message of this intent, 0 to 1:
/// greetings, thanks and questions about the bot need none (1), small talk half; order status needs an order on file; a policy
/// question a retrieved policy; a product question is the best retrieved product's
/// [`coverage`] of the message's content words; an unknown intent has none (0).
pub fn evidence(intent: Intent, facts: &Facts) -> f64 {
    match intent {
        Intent::Thanks | Intent::Greeting | Intent::AboutBot => 1.0,
        // A redirect needs no facts, but a draft that answers the off-topic question (a
        // model telling the weather) has none behind it: half, so the draft's own rating
        // decides.
        Intent::SmallTalk => 0.5,
        Intent::OrderStatus => f64::from(u8::from(!facts.orders.is_empty())),
        Intent::Policy => f64::from(u8::from(!facts.policies.is_empty())),
        Intent::Product => product_evidence(facts),
        Intent::Unknown => 0.0,
    }
}

/// Words of a complement question that name no product ("what goes with the skirt I bought").
const COMPLEMENT_TALK: &[&str] = &[
    "go",
    "goes",
    "going",
    "with",
    "match",
    "matches",
    "matching",
    "pair",
    "pairs",
    "wear",
    "bought",
    "got",
    "purchased",
    "ordered",
    "last",
    "time",
    "look",
    "from",
    "guys",
    "new",
    "recently",
    "week",
    "month",
    // Asking for a suggestion names no product either ("suggest one item that goes with
    // what they bought", a flow's compose goal; "recommend something to wear with it").
    "suggest",
    "recommend",
    "item",
    "items",
    "something",
    "one",
];

/// The words a product answer must cover: the product words asked (the thread's, for a
/// follow-up with none of its own: "which one is the cheapest?") and the colours asked;
/// the message's content words when retrieval understood no product words.
fn evidence_words(facts: &Facts) -> Vec<String> {
    let asked = &facts.asked;
    if asked.product_words.is_empty() {
        content_words(&facts.message)
    } else {
        asked.product_words.iter().chain(asked.colours.iter()).cloned().collect()
    }
}

/// Words of a shopper who has not said what they want yet ("looking for something for my
/// wife", "any gift ideas under $30?").
const BROWSING: &[&str] = &[
    "something",
    "anything",
    "gift",
    "gifts",
    "present",
    "ideas",
    "idea",
    "looking",
    "shopping",
    "browsing",
    "recommend",
];

/// True when the message asks for products without naming a kind of product ("something
/// for my wife", "anything under $30?") and the thread has none: the answer is a question
/// back (what kind of thing?), not a guess.
pub fn needs_what_kind(facts: &Facts) -> bool {
    let asked = &facts.asked;
    let a = &asked.attributes;
    let stated = !a.colours.is_empty()
        || !a.sizes.is_empty()
        || a.max_price_cents.is_some()
        || a.min_price_cents.is_some()
        || a.audience.is_some();
    asked.product_words.is_empty()
        && asked.refers_to.is_empty()
        && !asked.wants_complements
        && asked.ask == super::dialogue::Ask::Describe
        && (stated || has_any(&words(&facts.message), BROWSING))
}

/// How well the retrieved products answer a product question, 0 to 1. A reference to
/// products the bot itself offered ("how much is it?") is full evidence; a complement of a
/// purchase is judged on the words that ask for something new ("a red blouse" in "a red
/// blouse that goes with the skirt I bought"); otherwise the best product's [`coverage`].
pub fn product_evidence(facts: &Facts) -> f64 {
    // A reference to products the bot offered, or a question back that claims nothing.
    if (!facts.asked.refers_to.is_empty() && !facts.products.is_empty()) || needs_what_kind(facts) {
        return 1.0;
    }
    let words = evidence_words(facts);
    if facts.asked.wants_complements
        && let Some(best) = facts.products.first()
        && let Some(c) = facts.complement_of(&best.sku)
    {
        let owned = self::words(&c.goes_with);
        let strip = |w: &String| w.trim_end_matches('s').to_string();
        let owned: Vec<String> = owned.iter().map(strip).collect();
        let wanted: Vec<String> = words
            .iter()
            .filter(|w| !COMPLEMENT_TALK.contains(&w.as_str()) && !owned.contains(&strip(w)))
            .cloned()
            .collect();
        return if wanted.is_empty() { 1.0 } else { coverage(&wanted, best) };
    }
    facts.products.iter().map(|p| coverage(&words, p)).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(message: &str) -> Facts {
        Facts { message: message.into(), ..Facts::default() }
    }

    #[test]
    fn intents_follow_the_words_and_the_facts() {
        assert_eq!(classify(&facts("thanks!")), Intent::Thanks);
        assert_eq!(classify(&facts("hey there")), Intent::Greeting);
        assert_eq!(classify(&facts("where is my order")), Intent::OrderStatus);
        assert_eq!(classify(&facts("what's the meaning of life")), Intent::Unknown);
        let mut f = facts("do you have the blouse in red?");
        f.products = vec![ProductFact::red_blouse()];
        assert_eq!(classify(&f), Intent::Product);
        assert_eq!(evidence(Intent::Product, &f), 1.0);
        f.message = "do you have garden hoses in red?".into();
        assert!((evidence(Intent::Product, &f) - 1.0 / 3.0).abs() < 1e-9, "{}", evidence(Intent::Product, &f));
        assert_eq!(evidence(Intent::OrderStatus, &f), 0.0);
    }

    #[test]
    fn order_numbers_are_digit_runs_that_are_not_amounts() {
        assert_eq!(order_numbers("where is my order 583630?"), ["583630"]);
        assert_eq!(order_numbers("#583630 and 721777"), ["583630", "721777"]);
        assert!(order_numbers("anything under $1500 in size 10 by 10:30").is_empty());
        assert!(order_numbers("is ZO0059900599 in stock?").is_empty(), "a sku is not an order number");
    }

    #[test]
    fn questions_about_the_bot_are_not_requests_for_a_person() {
        for q in ["are you a bot?", "r u a real person", "is this automated?", "am I texting a human?", "who is this?"]
        {
            assert!(asks_who_answers(q), "{q}");
            assert_eq!(classify(&facts(q)), Intent::AboutBot, "{q}");
        }
        for not in ["can I talk to a real person", "i want a human", "get me a person please", "do you have the blouse"]
        {
            assert!(!asks_who_answers(not), "{not}");
        }
    }

    #[test]
    fn fillers_emoji_and_off_topic_questions_are_small_talk() {
        for q in ["hmm", "lol", "🙂", "?", "what's the weather tomorrow?", "tell me a joke"] {
            assert_eq!(classify(&facts(q)), Intent::SmallTalk, "{q}");
        }
        // A shopping word keeps it about the store: "a rain jacket" is a product question.
        assert_ne!(classify(&facts("do you sell a rain jacket?")), Intent::SmallTalk);
        assert_ne!(classify(&facts("hello?")), Intent::SmallTalk);
    }
}
