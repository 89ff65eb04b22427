//! Keyword classification of an inbound text: opt-out, opt-in, help, or none.
//!
//! Sources:
//! - FCC 24-24, 47 CFR 64.1200(a)(10): replying "stop", "quit", "end", "revoke", "opt out",
//!   "cancel" or "unsubscribe" is per se a reasonable revocation.
//! - Twilio Advanced Opt-Out defaults: STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT,
//!   CANCEL; START/UNSTOP opt back in; HELP/INFO ask for help.
//! - CTIA Messaging Principles (via Braze): opt-in START, YES, UNSTOP; help HELP, INFO.
//! - AWS End User Messaging: also OPT-OUT, REMOVE, ARRET and TD (French-Canadian).
//! - Telnyx: "STOP ALL".
//!
//! Like Twilio's OptOutType, a keyword counts only when it is the whole message; we are more
//! tolerant than Twilio about case, surrounding whitespace, punctuation and emoji
//! ("Stop.", "STOP!!", " stop 🛑"), and about the spacing of multi-word keywords.

use serde::Serialize;

/// What a keyword message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordIntent {
    OptOut,
    OptIn,
    Help,
    None,
}

/// A classification and the rule that produced it (for the audit trail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub intent: KeywordIntent,
    /// e.g. `keyword:STOP`, or `none`.
    pub rule: String,
}

/// Opt-out keywords in compact form (letters only, upper case).
const OPT_OUT: &[&str] =
    &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "REMOVE", "ARRET", "TD"];
/// Opt-in keywords that always resubscribe.
const OPT_IN: &[&str] = &["START", "UNSTOP"];
/// Help keywords.
const HELP: &[&str] = &["HELP", "INFO"];

/// Classifies `body`. `opted_out` is the sender's current consent state: "YES" is an opt-in
/// only while opted out (CTIA lists it as an opt-in keyword; otherwise it is an ordinary answer).
pub fn classify(body: &str, opted_out: bool) -> Classification {
    let compact = compact(body);
    let hit = |list: &[&str]| list.iter().find(|k| **k == compact).map(|k| format!("keyword:{k}"));
    let (intent, rule) = if let Some(rule) = hit(OPT_OUT) {
        (KeywordIntent::OptOut, rule)
    } else if let Some(rule) = hit(OPT_IN) {
        (KeywordIntent::OptIn, rule)
    } else if opted_out && compact == "YES" {
        (KeywordIntent::OptIn, "keyword:YES".to_string())
    } else if let Some(rule) = hit(HELP) {
        (KeywordIntent::Help, rule)
    } else {
        (KeywordIntent::None, "none".to_string())
    };
    Classification { intent, rule }
}

/// Upper-case ASCII letters only, accents folded: " Opt-Out! 🛑" → "OPTOUT", "Arrêt" → "ARRET".
/// Returns an empty string as soon as a digit appears (a keyword never contains one), and
/// stops early on long texts, which can never be a keyword.
fn compact(body: &str) -> String {
    let mut out = String::new();
    for c in body.chars() {
        if out.len() > 16 {
            break;
        }
        let folded = match c {
            'à' | 'â' | 'á' | 'ä' | 'À' | 'Â' | 'Á' | 'Ä' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'î' | 'ï' | 'í' | 'Î' | 'Ï' | 'Í' => 'I',
            'ô' | 'ó' | 'ö' | 'Ô' | 'Ó' | 'Ö' => 'O',
            'û' | 'ù' | 'ú' | 'ü' | 'Û' | 'Ù' | 'Ú' | 'Ü' => 'U',
            c => c,
        };
        if folded.is_ascii_alphabetic() {
            out.push(folded.to_ascii_uppercase());
        } else if folded.is_ascii_digit() {
            return String::new();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(s: &str) -> KeywordIntent {
        classify(s, false).intent
    }

    #[test]
    fn every_keyword_survives_case_punctuation_and_emoji() {
        for k in [
            "STOP",
            "STOPALL",
            "STOP ALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "REVOKE",
            "OPTOUT",
            "OPT OUT",
            "OPT-OUT",
            "ARRET",
            "Arrêt",
            "REMOVE",
            "TD",
        ] {
            for variant in [k.to_string(), k.to_lowercase(), format!(" {k}. "), format!("{k}!!"), format!("{k} 🛑")] {
                assert_eq!(intent(&variant), KeywordIntent::OptOut, "{variant:?}");
            }
        }
    }

    #[test]
    fn case_whitespace_punctuation_and_emoji_are_tolerated() {
        for k in ["Stop.", "STOP!!", " stop 🛑", "stop\n", "'STOP'", "Opt out!"] {
            assert_eq!(intent(k), KeywordIntent::OptOut, "{k:?}");
        }
    }

    #[test]
    fn a_keyword_inside_a_sentence_is_not_a_keyword_match() {
        for s in ["stop by the store", "when does the sale end?", "cancel my order", "I'll stop by", "stop 2"] {
            assert_eq!(intent(s), KeywordIntent::None, "{s}");
        }
    }

    #[test]
    fn start_and_unstop_opt_in_and_yes_only_while_opted_out() {
        assert_eq!(intent("START"), KeywordIntent::OptIn);
        assert_eq!(intent("unstop"), KeywordIntent::OptIn);
        assert_eq!(classify("Yes", false).intent, KeywordIntent::None);
        assert_eq!(classify("Yes!", true).intent, KeywordIntent::OptIn);
    }

    #[test]
    fn help_and_info_ask_for_help() {
        assert_eq!(intent("help"), KeywordIntent::Help);
        assert_eq!(intent("INFO?"), KeywordIntent::Help);
        assert_eq!(classify("HELP", false).rule, "keyword:HELP");
    }
}
