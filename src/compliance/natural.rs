//! Natural-language opt-out: "please stop texting me", "take me off your list", "BAJA".
//!
//! The FCC's 2024 order (FCC 24-24, 47 CFR 64.1200(a)(10)) lets consumers revoke consent "by
//! any reasonable means"; Twilio and most providers only catch single keywords. This module
//! catches the rest with rules over a normalised text, chosen because they are explainable
//! to an auditor (every decision names the rule that fired), need no training data beyond
//! the labelled set in `eval/optout/`, and run in microseconds.
//!
//! Method:
//! 1. Normalise: lower case, accents folded, apostrophes dropped ("don't" → "dont"),
//!    punctuation and emoji to spaces, SMS spellings mapped to one word ("pls"/"plz" →
//!    "please", "txt"/"texting"/"msgs" → "text"/"message", "stopp" → "stop", Spanish
//!    "mensajes" → "mensaje").
//! 2. Clear opt-outs: patterns that ask us to stop contacting the sender — a stop verb with
//!    a contact object ("stop texting"), a negated contact verb ("don't text me"), removal
//!    ("remove me", "take me off"), unsubscribe/opt out, "no more messages", "wrong number",
//!    "leave me alone", a message made only of "stop" and politeness ("stop please!!"), and
//!    Spanish equivalents ("no más mensajes", "ya no me manden", "BAJA").
//! 3. Hard negatives are excluded by construction: a stop verb needs a contact object, so
//!    "I'll stop by the store", "don't stop the deals" and "stop joking" do not match; "cancel"
//!    counts only with subscription/texts ("cancel my order" is an order request).
//! 4. Possible opt-outs: an opt-out word together with a contact word ("how do I stop
//!    these?", "too many texts") but no clear pattern. These go to a person
//!    (`possible_opt_out`) and nothing promotional is sent until the person decides.

use std::sync::OnceLock;

use regex::{Regex, RegexSet};

/// What the natural-language check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NlVerdict {
    /// A clear request to stop; the rule that matched.
    OptOut(&'static str),
    /// Might be an opt-out; a person decides.
    Possible(&'static str),
    /// Not an opt-out.
    None,
}

/// Clear opt-out rules: (name, pattern over the normalised text).
const OPT_OUT_RULES: &[(&str, &str)] = &[
    // "stop texting me", "please stop sending me messages", "quit messaging", "stop these texts"
    (
        "stop_contact",
        r"\b(stop|quit|cease|end)\b(\s+(please|now|all|the|these|those|your|this|that|them|sending|send|me|us|any|all the|with the))*\s+(text|message|contact|contacting|spam|call|calling|sms)\b",
    ),
    // "don't text me", "do not message this number", "never contact me again"
    (
        "do_not_contact",
        r"\b(dont|do not|never|no longer|please dont|pls dont)\s+(ever\s+)?(text|message|contact|sms|send me|send us)\b",
    ),
    // "remove me", "delete my number", "lose my number", "remove my name from your list"
    (
        "remove_me",
        r"\b(remove|delete|erase|lose|drop|scratch)\s+(me|us|my (phone |cell )?number|my name|my info|this number)\b",
    ),
    // "take me off this list", "take my number off"
    ("take_me_off", r"\btake\s+(me|us|my (phone |cell )?number|this number|my name)\s+off\b"),
    ("off_your_list", r"\b(off|from)\s+(your|the|this|ur)\s+(list|text list|mailing list|texts|messages)\b"),
    // "unsubscribe me", "unsubscribe" (not "how do I unsubscribe?", which is possible)
    (
        "unsubscribe",
        r"^(?:(?:please|i|want|to|would|like|id)\s+)*unsubscribe\b|\bunsubscribe (me|us|this number|my number)\b",
    ),
    // "I opt out", "opt me out", "optout"
    ("opt_out", r"\b(i|we)\s+(want to\s+)?optout\b|\bopt (me|us|this number) out\b|^optout\b"),
    // "I don't want these messages", "I no longer wish to receive texts"
    (
        "dont_want_messages",
        r"\b(dont|do not|no longer)\s+(want|wish to receive|wish to get|need|like|care for)\s+((any|these|your|this|the|those|more|any more|to get|to receive|getting|receiving)\s+)*(text|message|spam|notification|alert|promo|promotion)",
    ),
    (
        "no_more_messages",
        r"\bno more\s+((of\s+)?(these|your|the|this)\s+)?(text|message|spam|promo|promotion|notification|alert)",
    ),
    ("wrong_number", r"\bwrong (number|person|phone|guy|girl)\b"),
    ("leave_me_alone", r"\bleave me alone\b"),
    ("not_interested", r"^(i am |im |i m )?(really |just )?not interested\b"),
    (
        "cancel_subscription",
        r"\bcancel\s+(my\s+|the\s+|these\s+|your\s+|this\s+)?(subscription|text|message|alert|notification|sms)",
    ),
    // Spanish: "no más mensajes", "no quiero recibir mensajes", "ya no me manden mensajes",
    // "deja de enviarme mensajes", "darme de baja", "sácame de la lista", "borra mi número"
    ("es_no_mas", r"\bno (mas |quiero (recibir |mas )*)(mensaje|texto)"),
    (
        "es_no_me_manden",
        r"\bno me (manden|mandes|envien|envies|escriban|escribas|contacten|contactes|molesten|molestes)\b",
    ),
    ("es_deja_de", r"\b(deja|dejen|dejar)\s+de\s+(enviar|mandar|escribir|contactar)"),
    ("es_baja", r"\b(dar|darme|dame|denme|doy|deme)\s+de\s+baja\b|^(baja|alto|basta)$"),
    ("es_lista", r"\b(sacame|sacarme|quitame|quitarme|borrame|borrarme)\s+de\s+(la|su|tu|esta)\s+lista\b"),
    ("es_borra_numero", r"\b(borra|borren|elimina|eliminen)\s+mi\s+(numero|telefono)\b"),
    ("es_cancelar", r"\bcancelar (la |mi )?(suscripcion|mensaje)"),
];

/// Possible opt-outs (checked only when no clear rule fired).
const POSSIBLE_RULES: &[(&str, &str)] = &[
    ("how_to_stop", r"\bhow (do|can|to|would) (i |we )?(stop|unsubscribe|optout|opt out|get off)\b"),
    (
        "too_many_messages",
        r"\b(too many|so many|enough|constant|keep getting|keep sending|keep texting)\b.*\b(text|message|spam)",
    ),
    ("why_texting", r"\bwhy (do|are|r) (you|u) (keep )?(text|message|contact)"),
    ("who_is_this", r"^(who (is|s) this|who are you|how did you get (my|this) number)\b"),
    ("goodbye", r"^(goodbye|bye|good bye|bye bye)$"),
    (
        "stop_alone_in_sentence",
        r"\b(stop|unsubscribe|optout|baja)\b.*\b(text|message|number|list|contact|mensaje)\b|\b(text|message|number|list|mensaje)\b.*\b(stop|unsubscribe|optout)\b",
    ),
];

/// Words a message may contain besides "stop" and still be a plain stop ("stop please!!").
const POLITE_FILLER: &[&str] = &[
    "please",
    "now",
    "it",
    "already",
    "thanks",
    "thank",
    "you",
    "ok",
    "okay",
    "all",
    "asap",
    "seriously",
    "just",
    "omg",
    "right",
    "immediately",
    "for",
    "real",
    "good",
    "bye",
    "goodbye",
    "the",
    "this",
    "god",
    "damn",
    "srsly",
];
const STOP_WORDS: &[&str] = &["stop", "quit", "end", "cancel", "unsubscribe", "optout", "halt", "enough"];

struct Compiled {
    opt_out: RegexSet,
    possible: Vec<(&'static str, Regex)>,
    negated_stop: Regex,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| Compiled {
        opt_out: RegexSet::new(OPT_OUT_RULES.iter().map(|(_, p)| *p)).expect("opt-out rules compile"),
        possible: POSSIBLE_RULES.iter().map(|(n, p)| (*n, Regex::new(p).expect("possible rules compile"))).collect(),
        // "don't stop the texts" is a negated stop: never an opt-out.
        negated_stop: Regex::new(r"\b(dont|do not|never|cant|wont|not)\s+(ever\s+)?(stop|end|quit)\b")
            .expect("compiles"),
    })
}

/// Lower case, accents folded, apostrophes dropped, punctuation/emoji to spaces, SMS
/// spellings mapped to one word each.
pub fn normalize(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            '\'' | '’' | '‘' | '`' | '´' => continue,
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        folded.push(c);
    }
    let words: Vec<&str> = folded
        .split_whitespace()
        .map(|w| match w {
            "pls" | "plz" | "plz." | "plse" | "pleas" | "pleaseee" | "pleeease" | "plox" => "please",
            "u" => "you",
            "ur" | "yr" => "your",
            "txt" | "txts" | "texts" | "texting" | "texted" | "txting" | "textin" => "text",
            "msg" | "msgs" | "messages" | "messaging" | "messege" | "messeges" | "mesages" | "mesage" | "sms"
            | "smss" => "message",
            "mensajes" | "mensages" | "msjs" | "msj" | "sms's" => "mensaje",
            "textos" => "texto",
            "stopp" | "stoppp" | "stopppp" | "stahp" | "sotp" | "stopt" | "stops" | "stopping" => "stop",
            "unsub" | "unsuscribe" | "unsubcribe" | "unsubscribed" | "unsubscribing" | "unsubscibe" => "unsubscribe",
            "contacting" | "contacted" => "contact",
            "calls" => "call",
            "dnt" | "don" => "dont",
            "im" => "im",
            other => other,
        })
        .collect();
    let joined = words.join(" ");
    joined.replace("opt out", "optout").replace("any more", "anymore")
}

/// Classifies a message that is not a single keyword.
pub fn classify(text: &str) -> NlVerdict {
    let norm = normalize(text);
    if norm.is_empty() {
        return NlVerdict::None;
    }
    let c = compiled();
    let negated = c.negated_stop.is_match(&norm);
    if let Some(i) = c.opt_out.matches(&norm).iter().next() {
        let rule = OPT_OUT_RULES[i].0;
        // "don't stop the texts" matches stop_contact but is the opposite of an opt-out.
        if !(negated && rule == "stop_contact") {
            return NlVerdict::OptOut(rule);
        }
    }
    let words: Vec<&str> = norm.split_whitespace().collect();
    if !negated
        && words.iter().any(|w| STOP_WORDS.contains(w))
        && words.iter().all(|w| STOP_WORDS.contains(w) || POLITE_FILLER.contains(w))
    {
        return NlVerdict::OptOut("plain_stop");
    }
    if negated {
        return NlVerdict::None;
    }
    for (name, re) in &c.possible {
        if re.is_match(&norm) {
            return NlVerdict::Possible(name);
        }
    }
    NlVerdict::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_plain_word_opt_outs_are_caught() {
        for text in [
            "please stop texting me",
            "take me off your list",
            "don't text me anymore",
            "unsubscribe me pls",
            "wrong number, remove me",
            "no more messages",
            "no más mensajes",
            "ya no me manden mensajes",
            "BAJA",
            "Deja de enviarme mensajes",
            "STOP PLEASE",
            "stopp plz",
            "STOP!! 😡",
            "Please stop messaging me",
            "I don't want these messages",
            "leave me alone",
            "Can you stop texting me and email me instead",
        ] {
            assert!(matches!(classify(text), NlVerdict::OptOut(_)), "{text:?} -> {:?}", classify(text));
        }
    }

    #[test]
    fn the_issue_s_hard_negatives_are_not_opt_outs() {
        for text in [
            "don't stop the deals",
            "I'll stop by the store",
            "when does the sale end?",
            "cancel my order",
            "can't wait!",
            "Stop joking around",
            "Yup next stop.",
            "do you have the blouse in red?",
        ] {
            assert_eq!(classify(text), NlVerdict::None, "{text:?}");
        }
    }

    #[test]
    fn unclear_cases_are_possible_opt_outs() {
        assert!(matches!(classify("how do I stop these?"), NlVerdict::Possible(_)));
        assert!(matches!(classify("why do you keep texting me"), NlVerdict::Possible(_)));
        assert!(matches!(classify("goodbye"), NlVerdict::Possible(_)));
    }

    #[test]
    fn normalisation_maps_sms_spellings() {
        assert_eq!(normalize("Pls STOP txting me!!! 🛑"), "please stop text me");
        assert_eq!(normalize("No más mensajes"), "no mas mensaje");
        assert_eq!(normalize("Opt out"), "optout");
    }
}
