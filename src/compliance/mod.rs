//! SMS compliance: what an inbound text says about consent, and the texts that answer it.
//!
//! [`assess`] checks keywords first (exact, per the providers' rules: `keywords`), then
//! natural-language opt-out rules (`natural`), then, when no rule found a clear opt-out, a
//! small learned model (`model`). Quiet hours and frequency caps for proactive messages are
//! in `quiet_hours`.

pub mod keywords;
pub mod measure;
pub mod model;
pub mod natural;
pub mod quiet_hours;

use serde::{Deserialize, Deserializer, Serialize};

pub use keywords::KeywordIntent;
use model::Model;
use natural::NlVerdict;

/// Model probability at or above which a text the rules did not catch is an opt-out.
/// Chosen by leave-one-set-out cross-validation (`compliance measure --cross-validate`).
pub const MODEL_OPT_OUT_AT: f32 = 0.7;
/// Model probability at or above which such a text is a possible opt-out (held, escalated).
pub const MODEL_POSSIBLE_AT: f32 = 0.3;

/// What an inbound text asks for, consent-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    OptOut,
    OptIn,
    Help,
    /// Might be an opt-out: a person decides, and nothing proactive is sent meanwhile.
    PossibleOptOut,
    None,
}

/// An assessment with the rule that produced it and the ledger source it implies. Made once,
/// at ingest, and carried in the turn job (JSON), so the worker acts on the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub intent: Intent,
    /// `keyword:STOP`, `natural:stop_contact`, `possible:how_to_stop`, or `none`.
    pub rule: String,
    /// The consent ledger's `source` for a change this causes: one of [`LEDGER_SOURCES`].
    pub source: &'static str,
}

/// The consent ledger sources an assessment can name.
pub const LEDGER_SOURCES: [&str; 2] = ["keyword", "natural_language"];

// By hand: serde's derive would borrow the `&'static str` field from the input ('de: 'static).
impl<'de> Deserialize<'de> for Assessment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Assessment, D::Error> {
        #[derive(Deserialize)]
        struct Carried {
            intent: Intent,
            rule: String,
            source: String,
        }
        let carried = Carried::deserialize(deserializer)?;
        let Some(source) = LEDGER_SOURCES.into_iter().find(|known| *known == carried.source) else {
            return Err(serde::de::Error::unknown_variant(&carried.source, &LEDGER_SOURCES));
        };
        Ok(Assessment { intent: carried.intent, rule: carried.rule, source })
    }
}

/// Assesses an inbound text. `opted_out` is the sender's consent state when it arrived
/// (YES opts in only while opted out).
pub fn assess(body: &str, opted_out: bool) -> Assessment {
    assess_with(body, opted_out, Some(model::embedded()))
}

/// [`assess`] with a given model (`None`: the rules alone); measurement trains its own.
pub fn assess_with(body: &str, opted_out: bool, model: Option<&Model>) -> Assessment {
    let keyword = keywords::classify(body, opted_out);
    let intent = match keyword.intent {
        KeywordIntent::OptOut => Intent::OptOut,
        KeywordIntent::OptIn => Intent::OptIn,
        KeywordIntent::Help => Intent::Help,
        KeywordIntent::None => Intent::None,
    };
    if intent != Intent::None {
        return Assessment { intent, rule: keyword.rule, source: "keyword" };
    }
    let verdict = natural::classify(body);
    if let NlVerdict::OptOut(rule) = verdict {
        return Assessment { intent: Intent::OptOut, rule: format!("natural:{rule}"), source: "natural_language" };
    }
    if let NlVerdict::NotOptOut(rule) = verdict {
        return Assessment { intent: Intent::None, rule: format!("not:{rule}"), source: "keyword" };
    }
    let p = model.map_or(0.0, |m| m.probability(body));
    // One word is too little evidence for the model alone: the one-word opt-outs are the
    // keywords and plain-words rules above. A single word it scores as an opt-out is held for
    // a person (47 CFR 64.1200(a)(10) errs toward honouring revocation); below that, nothing.
    // (The eval found "number" opted out and "hey" held.)
    let words = body.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).count();
    if words <= 1 {
        if p >= MODEL_OPT_OUT_AT {
            return Assessment {
                intent: Intent::PossibleOptOut,
                rule: format!("possible:model_one_word:{p:.2}"),
                source: "natural_language",
            };
        }
        if let NlVerdict::Possible(rule) = verdict {
            return Assessment {
                intent: Intent::PossibleOptOut,
                rule: format!("possible:{rule}"),
                source: "natural_language",
            };
        }
        return Assessment { intent: Intent::None, rule: "none".into(), source: "keyword" };
    }
    if p >= MODEL_OPT_OUT_AT {
        return Assessment { intent: Intent::OptOut, rule: format!("model:{p:.2}"), source: "natural_language" };
    }
    match verdict {
        NlVerdict::Possible(rule) => {
            Assessment { intent: Intent::PossibleOptOut, rule: format!("possible:{rule}"), source: "natural_language" }
        }
        _ if p >= MODEL_POSSIBLE_AT => Assessment {
            intent: Intent::PossibleOptOut,
            rule: format!("possible:model:{p:.2}"),
            source: "natural_language",
        },
        _ => Assessment { intent: Intent::None, rule: "none".into(), source: "keyword" },
    }
}

/// The pinned output of `backtalk compliance classify` (ARCHITECTURE.md): `intent` is one of
/// `opt_out`, `opt_in`, `help`, `none`; a possible opt-out is `none` with a `possible:` rule.
pub fn classify_line(text: &str) -> String {
    // Keys in the pinned order: text, intent, rule.
    #[derive(Serialize)]
    struct Line<'a> {
        text: &'a str,
        intent: &'static str,
        rule: String,
    }
    let a = assess(text, false);
    let intent = match a.intent {
        Intent::OptOut => "opt_out",
        Intent::OptIn => "opt_in",
        Intent::Help => "help",
        Intent::PossibleOptOut | Intent::None => "none",
    };
    serde_json::to_string(&Line { text, intent, rule: a.rule }).expect("plain data serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_win_and_plain_words_follow() {
        assert_eq!(assess("STOP", false).rule, "keyword:STOP");
        let a = assess("please stop texting me", false);
        assert_eq!((a.intent, a.source), (Intent::OptOut, "natural_language"));
        assert_eq!(assess("how do I stop these?", false).intent, Intent::PossibleOptOut);
        assert_eq!(assess("do you have it in red?", false).intent, Intent::None);
    }

    #[test]
    fn the_classify_output_keeps_the_pinned_intents() {
        let line = |t: &str| serde_json::from_str::<serde_json::Value>(&classify_line(t)).unwrap();
        assert_eq!(classify_line("Stop."), r#"{"text":"Stop.","intent":"opt_out","rule":"keyword:STOP"}"#);
        assert_eq!(line("START")["intent"], "opt_in");
        assert_eq!(line("info")["intent"], "help");
        let possible = line("goodbye");
        assert_eq!(possible["intent"], "none");
        assert!(possible["rule"].as_str().unwrap().starts_with("possible:"));
    }

    #[test]
    fn an_assessment_survives_a_trip_through_json() {
        for text in ["STOP", "please stop texting me", "how do I stop these?", "do you have it in red?"] {
            let a = assess(text, false);
            let json = serde_json::to_string(&a).unwrap();
            let back: Assessment = serde_json::from_str(&json).unwrap();
            assert_eq!(back, a, "{json}");
        }
        let unknown = r#"{"intent":"none","rule":"none","source":"carrier"}"#;
        assert!(serde_json::from_str::<Assessment>(unknown).is_err(), "an unknown ledger source is refused");
    }
}
