//! Validated value types, and the pure logic more than one stage shares. Wire formats become
//! these at the edge; stages accept only these. No IO here.
//!
//! - [`delivery`]: one set of delivery states from every provider's statuses and codes, only
//!   moving forward.
//! - [`dialogue`]: what a conversation established (products in focus, attributes asked)
//!   and what a follow-up ("how much is it?") refers to.
//! - [`facts`]: what a turn is grounded in; [`draft`]: the reply a generator drafted.
//! - [`intent`]: what a message asks about (the offline responder's branches, the
//!   confidence's evidence).
//! - [`language`]: which language a text is in (English or Spanish); [`spanish`]: a Spanish
//!   shopping text in the English words the pipeline reads.
//! - [`media`]: the pictures and clips of an MMS.
//! - [`segments`]: GSM-7 / UCS-2 segment counting (the guard, the offline responder, the
//!   console, the eval).
//! - [`vocabulary`]: the domain's words (consent kinds, turn decisions, outbox kinds and
//!   statuses, escalation statuses and reasons, guard finding kinds) as enums.

pub mod ab;
pub mod attribution;
pub mod delivery;
pub mod dialogue;
pub mod draft;
pub mod duration;
pub mod facts;
pub mod flow;
pub mod intent;
pub mod language;
pub mod links;
pub mod media;
pub mod pictures;
pub mod restock;
pub mod segments;
pub mod spanish;
pub mod synonyms;
pub mod vocabulary;

pub use vocabulary::{
    ConsentKind, DeliveryStatus, EscalationReason, EscalationStatus, FindingKind, OutboxKind, OutboxStatus, SendClass,
    TurnDecision, UnknownWord, WebhookEvent,
};

use std::fmt;

use serde::{Deserialize, Serialize};

/// A phone number in E.164 (`+` then 8–15 digits, no leading zero).
///
/// Parsing accepts US numbers written as 10 digits or `1` + 10 digits and the usual
/// separators. It deliberately accepts the fictional 555-01XX range the demo store uses
/// (libphonenumber's `is_valid` rejects it).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Parses a number, normalising it to E.164.
    pub fn parse(raw: &str) -> Result<Phone, String> {
        let trimmed = raw.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::new();
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                // A `+` only leads (issue 21: "1415+5550123" was read as +14155550123).
                '+' if i > 0 => return Err("invalid phone number: a + may only lead it".into()),
                '+' | ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(format!("invalid phone number: unexpected character {c:?}")),
            }
        }
        let e164 = if plus {
            digits
        } else if digits.len() == 10 {
            format!("1{digits}")
        } else if digits.len() == 11 && digits.starts_with('1') {
            digits
        } else {
            return Err("invalid phone number: expected E.164 (+ and country code)".into());
        };
        if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
            return Err("invalid phone number: E.164 has 8 to 15 digits".into());
        }
        Ok(Phone(format!("+{e164}")))
    }

    /// Parses a number that may be written without its country code, as people in `region`
    /// dial it ("(555) 010-0123" in the US, "07700 900123" in GB): a number starting with
    /// `+` (or written as [`Phone::parse`] reads it, for the US) keeps [`Phone::parse`]'s
    /// reading; any other goes through libphonenumber's parser with `region` (its national
    /// and international prefixes stripped). Not validated against the region's number
    /// plan, so the fictional 555-01XX numbers still parse.
    pub fn parse_in(raw: &str, region: Region) -> Result<Phone, String> {
        let trimmed = raw.trim();
        if trimmed.starts_with('+') || region.0 == phonenumber::country::Id::US {
            return Phone::parse(trimmed);
        }
        let number = phonenumber::parse(Some(region.0), trimmed)
            .map_err(|e| format!("invalid phone number for region {}: {e}", region.code()))?;
        Phone::parse(&number.format().mode(phonenumber::Mode::E164).to_string())
    }

    /// The E.164 text, e.g. `+14155550123`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether carriers deliver MMS to this number: US and Canadian numbers only (MMS works
    /// only in the US and Canada: sms-providers-and-compliance.md, chatwoot#2311). The
    /// fictional 555-01XX numbers of tests and docs count as US numbers.
    pub fn takes_mms(&self) -> bool {
        let Some(national) = self.0.strip_prefix("+1") else { return false };
        if national.len() == 10 && &national[3..6] == "555" {
            return true;
        }
        phonenumber::parse(None, &self.0)
            .ok()
            .and_then(|n| n.country().id())
            .is_some_and(|id| matches!(id, phonenumber::country::Id::US | phonenumber::country::Id::CA))
    }

    /// A form safe for logs: country code and last two digits only (`+1******23`).
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let keep_end = 2;
        let cc = if digits.starts_with('1') { 1 } else { 2 };
        let hidden = digits.len().saturating_sub(cc + keep_end);
        format!("+{}{}{}", &digits[..cc], "*".repeat(hidden), &digits[digits.len() - keep_end..])
    }
}

/// One of our numbers a customer wrote to, as stored: E.164, or a short code's 3 to 8 digits
/// (issue 21: the `To` of a webhook was stored as given).
pub fn our_number(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if !t.starts_with('+') && (3..=8).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit()) {
        return Ok(t.to_string());
    }
    Phone::parse(t).map(|p| p.as_str().to_string())
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

/// Debug and Display print the masked form, so a phone number never lands in a log by accident.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A country whose dialling plan reads numbers written without a country code (ISO 3166-1
/// alpha-2, as libphonenumber knows them: `US`, `CA`, `GB`, `DE`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(phonenumber::country::Id);

impl Region {
    /// The United States, the default.
    pub const US: Region = Region(phonenumber::country::Id::US);

    /// Parses a two-letter region code, any case (`"us"`, `"GB"`).
    pub fn parse(code: &str) -> Result<Region, String> {
        let code = code.trim().to_uppercase();
        code.parse::<phonenumber::country::Id>()
            .map(Region)
            .map_err(|_| format!("unknown region {code:?}: expected a two-letter country code such as US, CA or GB"))
    }

    /// The two-letter code.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    fn default() -> Region {
        Region::US
    }
}

/// An amount of money in minor units (cents) with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents).
    pub cents: i64,
    /// ISO 4217 code.
    pub currency: Currency,
}

/// The currencies the store can price in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "USD")]
    Usd,
}

impl Money {
    /// US dollars from a decimal amount, rounded to the cent.
    pub fn usd(amount: f64) -> Money {
        Money { cents: (amount * 100.0).round() as i64, currency: Currency::Usd }
    }

    /// US dollars from cents.
    pub fn usd_cents(cents: i64) -> Money {
        Money { cents, currency: Currency::Usd }
    }

    /// US dollars from a price as shops and spreadsheets write it: `15`, `15.5`, `$15.00`,
    /// `15,00` (decimal comma), `1,234.50` or `1.234,50` (grouped thousands). `None` for
    /// anything else: a negative or empty amount, more than two decimals, or a separator
    /// that could be either (`1.234` is refused rather than guessed).
    pub fn parse_usd(text: &str) -> Option<Money> {
        let t = text.trim();
        let t = t.strip_prefix('$').unwrap_or(t).trim_start();
        let (whole, cents) = match (t.rfind('.'), t.rfind(',')) {
            (Some(dot), Some(comma)) if dot > comma => (ungroup(&t[..dot], ',')?, &t[dot + 1..]),
            (Some(dot), Some(comma)) if comma > dot => (ungroup(&t[..comma], '.')?, &t[comma + 1..]),
            (Some(dot), None) => (t[..dot].to_string(), &t[dot + 1..]),
            // One comma before one or two digits is a decimal comma; otherwise commas group.
            (None, Some(comma)) if t.matches(',').count() == 1 && (1..=2).contains(&(t.len() - comma - 1)) => {
                (t[..comma].to_string(), &t[comma + 1..])
            }
            (None, Some(_)) => (ungroup(t, ',')?, ""),
            _ => (t.to_string(), ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || !digits(&whole) || cents.len() > 2 || !digits(cents) {
            return None;
        }
        let fraction: i64 = format!("{cents:0<2}").parse().ok()?;
        Some(Money::usd_cents(whole.parse::<i64>().ok()? * 100 + fraction))
    }
}

/// `1,234,567` without its group separators, or `None` when the groups are not of three
/// digits after the first.
fn ungroup(text: &str, separator: char) -> Option<String> {
    let mut groups = text.split(separator);
    let first = groups.next()?;
    let mut out = first.to_string();
    for group in groups {
        if group.len() != 3 || first.is_empty() {
            return None;
        }
        out.push_str(group);
    }
    Some(out)
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let c = self.cents.abs();
        write!(f, "{sign}${}.{:02}", c / 100, c % 100)
    }
}

/// A product's stock-keeping unit: non-empty, no whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// Parses a SKU.
    pub fn parse(raw: &str) -> Result<Sku, String> {
        let s = raw.trim();
        if s.is_empty() || s.chars().any(char::is_whitespace) || s.len() > 64 {
            return Err(format!("invalid sku {raw:?}: must be 1-64 characters without spaces"));
        }
        Ok(Sku(s.to_string()))
    }
    /// The SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sku::parse(&s)
    }
}

impl From<Sku> for String {
    fn from(s: Sku) -> String {
        s.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest inbound body Twilio delivers (§A1: "up to 1600 characters").
pub const MAX_BODY_CHARS: usize = 1600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(Phone::parse("+14155550123").unwrap().as_str(), "+14155550123");
        assert_eq!(Phone::parse("(415) 555-0123").unwrap().as_str(), "+14155550123");
        assert_eq!(Phone::parse("1 415 555 0123").unwrap().as_str(), "+14155550123");
        assert_eq!(Phone::parse("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
    }

    #[test]
    fn mms_goes_to_us_and_canadian_numbers_only() {
        for (number, takes) in [
            ("+14155550123", true),  // fictional US
            ("+12125551234", true),  // New York
            ("+14165551234", true),  // Toronto (555: fictional, +1 all the same)
            ("+16135550100", true),  // Ottawa
            ("+16132345678", true),  // Ottawa, real range: Canada
            ("+18762345678", false), // Jamaica: +1 but not the US or Canada
            ("+442079460958", false),
        ] {
            assert_eq!(Phone::parse(number).unwrap().takes_mms(), takes, "{number}");
        }
    }

    #[test]
    fn our_numbers_are_e164_or_short_codes() {
        assert_eq!(our_number(" +1 (500) 555-0006 ").unwrap(), "+15005550006");
        assert_eq!(our_number("72975").unwrap(), "72975");
        for bad in ["", "12", "<script>", "whatsapp:+15005550006", "+1500555000611111"] {
            assert!(our_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_phones_are_rejected() {
        for bad in
            ["", "12345", "+0123456789", "whatsapp:+14155550123", "+1415555012345678", "1415+5550123", "++14155550123"]
        {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_print_masked() {
        let p = Phone::parse("+14155550123").unwrap();
        assert_eq!(format!("{p}"), "+1********23");
        assert!(!format!("{p:?}").contains("5550123"));
    }

    #[test]
    fn numbers_without_a_country_code_read_in_the_region() {
        let gb = Region::parse("gb").unwrap();
        assert_eq!(Phone::parse_in("07700 900123", gb).unwrap().as_str(), "+447700900123");
        assert_eq!(Phone::parse_in("+1 (555) 010-0123", gb).unwrap().as_str(), "+15550100123");
        let de = Region::parse("DE").unwrap();
        assert_eq!(Phone::parse_in("030 901820", de).unwrap().as_str(), "+4930901820");
        assert_eq!(Phone::parse_in("(555) 010-0123", Region::US).unwrap().as_str(), "+15550100123");
        assert_eq!(Phone::parse_in("555-010-0123", Region::parse("CA").unwrap()).unwrap().as_str(), "+15550100123");
        assert!(Phone::parse_in("12", gb).is_err());
        assert!(Phone::parse_in("call me", gb).is_err());
        assert!(Region::parse("Narnia").is_err());
        assert_eq!(Region::default().code(), "US");
    }

    #[test]
    fn money_formats_as_dollars() {
        assert_eq!(Money::usd(11.99).to_string(), "$11.99");
        assert_eq!(Money::usd(5.0).to_string(), "$5.00");
        assert_eq!(Money::usd(0.1 + 0.2).cents, 30);
    }

    #[test]
    fn prices_parse_as_shops_write_them() {
        let cents = |t: &str| Money::parse_usd(t).map(|m| m.cents);
        assert_eq!(cents("15"), Some(1500));
        assert_eq!(cents("15.00"), Some(1500));
        assert_eq!(cents("$15.00"), Some(1500));
        assert_eq!(cents(" $ 15.5 "), Some(1550));
        assert_eq!(cents("15,00"), Some(1500));
        assert_eq!(cents("15,5"), Some(1550));
        assert_eq!(cents("1,234.50"), Some(123_450));
        assert_eq!(cents("1.234,50"), Some(123_450));
        assert_eq!(cents("1,234"), Some(123_400));
        assert_eq!(cents("1,234,567.89"), Some(123_456_789));
        assert_eq!(cents("0.99"), Some(99));
        for bad in
            ["", "$", "abc", "-5", "1.234", "15.000", "1,23,4.00", "12,34,56", "1.2.3", ",50", "15 00", "$$5", "1e3"]
        {
            assert_eq!(cents(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn skus_reject_blank_and_spaces() {
        assert!(Sku::parse("ZO0549605496").is_ok());
        assert!(Sku::parse(" ").is_err());
        assert!(Sku::parse("a b").is_err());
    }
}
