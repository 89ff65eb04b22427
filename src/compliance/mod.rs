//! SMS compliance: keyword opt-out/opt-in/help, the consent gate before every send.
//!
//! Natural-language opt-out, quiet hours and frequency caps are issue 3 and not built yet.

pub mod keywords;

pub use keywords::{KeywordIntent, classify};

/// Outbox kind of the single opt-out confirmation (47 CFR 64.1200(a)(12)).
pub const OPT_OUT_CONFIRMATION: &str = "optout_confirmation";

/// The consent gate at the sender: an opted-out number gets nothing but the one opt-out
/// confirmation (FCC 24-24; CTIA: "no further messages"). `latest_consent` is the kind of the
/// newest ledger event (`None`: no event, e.g. a customer who texted us first).
///
/// Assumption (README "Compliance"): a reply to a customer's own message in the open
/// conversation is customer-initiated and needs no prior marketing consent; the ledger is
/// still checked, so an opt-out always wins.
pub fn may_send(kind: &str, latest_consent: Option<&str>) -> bool {
    latest_consent != Some("opt_out") || kind == OPT_OUT_CONFIRMATION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opted_out_number_gets_only_the_confirmation() {
        assert!(may_send(OPT_OUT_CONFIRMATION, Some("opt_out")));
        assert!(!may_send("reply", Some("opt_out")));
        assert!(!may_send("help", Some("opt_out")));
        assert!(may_send("reply", Some("opt_in")));
        assert!(may_send("reply", None));
    }
}
