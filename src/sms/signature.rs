//! Twilio `X-Twilio-Signature` computation and validation (reference §A2).
//!
//! The signed string is the full request URL followed by every POST parameter as `name + value`,
//! names sorted byte-wise; the signature is Base64(HMAC-SHA1(auth token, that string)). Twilio's
//! own validators ([py-RV] `RequestValidator`, [node-WH] `webhooks.js`) accept a few URL spellings
//! because "sig generation on back end is inconsistent"; [`validate`] does the same.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Computes the base64 HMAC-SHA1 of url + sorted params, per Twilio's algorithm.
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    // §A2 point 2: names sorted byte-wise (`str` ordering is byte order); a repeated name has its
    // values de-duplicated and sorted, like py-RV `sorted(set(values))`. Blank values are kept.
    let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        by_name.entry(name).or_default().insert(value);
    }
    let mut signed = url.to_string();
    for (name, values) in &by_name {
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    // §A2 point 3. HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("hmac takes any key length");
    mac.update(signed.as_bytes());
    BASE64_STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `signature` matches for the URL as given, the URL with its default port removed, or
/// with the default port (:443 https / :80 http) added; constant-time comparison
/// (`subtle::ConstantTimeEq`).
///
/// Any explicit port is also tried stripped (§A2 point 4), and each of those URLs is also tried
/// with its query re-encoded the two ways twilio-node does (§A2 point 5).
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let mut matched = Choice::from(0);
    // Every candidate is checked, so timing does not reveal which spelling matched.
    for candidate in url_variants(url) {
        let expected = compute_signature(auth_token, &candidate, params);
        matched |= expected.as_bytes().ct_eq(signature.as_bytes());
    }
    matched.into()
}

/// For JSON bodies: the url carries `bodySHA256=<hex sha256 of body>`; checks the signature over
/// the url with empty params AND that the hash matches the raw body.
pub fn validate_with_body(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    // §A2 point 6: the signature covers the URL alone; the body is bound to it through the hash.
    let Some(claimed) = query_param(url, "bodySHA256") else {
        return false;
    };
    let actual = hex(&Sha256::digest(body));
    let body_matches = actual.as_bytes().ct_eq(claimed.to_ascii_lowercase().as_bytes());
    let signature_matches = validate(auth_token, url, &[], signature);
    bool::from(body_matches) && signature_matches
}

/// A URL split by hand into the pieces the port and query variants need.
struct UrlParts<'a> {
    /// `https` or `http` (anything else gets no default port).
    scheme: &'a str,
    /// Host, including any `user@` prefix or IPv6 brackets.
    host: &'a str,
    /// Explicit port, if the URL has one.
    port: Option<&'a str>,
    /// Path and everything after it, up to the query.
    path: &'a str,
    /// Query without its `?`, if present.
    query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    /// Splits `scheme://host[:port]/path?query`; `None` for anything without `://`.
    fn parse(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(authority_end);
        // A ':' after the last ']' (IPv6 hosts are bracketed) starts the port.
        let host_end = authority.rfind(']').unwrap_or(0);
        let (host, port) = match authority[host_end..].rfind(':') {
            Some(i) => (&authority[..host_end + i], Some(&authority[host_end + i + 1..])),
            None => (authority, None),
        };
        let (path, query) = match after.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (after, None),
        };
        Some(Self { scheme, host, port, path, query })
    }

    /// Reassembles the URL with the given port and query.
    fn build(&self, port: Option<&str>, query: Option<&str>) -> String {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        format!("{}://{}{port}{}{query}", self.scheme, self.host, self.path)
    }

    /// The port Twilio may add for this scheme (§A2 point 4).
    fn default_port(&self) -> Option<&'static str> {
        match self.scheme.to_ascii_lowercase().as_str() {
            "https" => Some("443"),
            "http" => Some("80"),
            _ => None,
        }
    }
}

/// Every spelling of `url` that Twilio's validators accept, starting with `url` itself.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some(parts) = UrlParts::parse(url) else {
        return variants;
    };
    // §A2 point 4: with and without the port; a URL without one is also tried with the default.
    let mut ports = vec![parts.port, None];
    if parts.port.is_none() {
        ports.push(parts.default_port());
    }
    // §A2 point 5: as sent, as WHATWG `new URL()` re-encodes it, and as Node's legacy
    // `querystring` re-serialises it.
    let queries = match parts.query {
        Some(query) => vec![Some(query.to_string()), Some(query.replace('\'', "%27")), Some(legacy_query(query))],
        None => vec![None],
    };
    for port in &ports {
        for query in &queries {
            let variant = parts.build(*port, query.as_deref());
            if !variants.contains(&variant) {
                variants.push(variant);
            }
        }
    }
    variants
}

/// Re-serialises a query the way twilio-node's `withLegacyQuerystring` does: Node
/// `querystring.parse` then `querystring.stringify` (which leaves `'` unescaped). Pairs keep
/// their order; Node would group repeated keys, which Twilio's own URLs do not have.
fn legacy_query(query: &str) -> String {
    let pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            format!("{}={}", node_escape(&form_decode(name)), node_escape(&form_decode(value)))
        })
        .collect();
    pairs.join("&")
}

/// Percent-encodes like Node's `querystring.escape`: everything but `A-Za-z0-9-_.!~*'()`.
fn node_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte; malformed
/// escapes are kept literally and invalid UTF-8 is replaced, as Node's `querystring` does.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (byte, None) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The form-decoded value of the first query parameter called `name`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key) == name).then(|| form_decode(value))
    })
}

/// Lowercase hex, the form Twilio uses for `bodySHA256`.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors from reference §A2, taken from twilio-python's request validator tests.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn call_params() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    #[test]
    fn form_params_match_the_twilio_test_vector() {
        assert_eq!(compute_signature(TOKEN, URL, &call_params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(validate(TOKEN, URL, &call_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn a_signature_made_with_port_443_validates_without_it_and_the_reverse() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(compute_signature(TOKEN, with_port, &call_params()), "kvajT1Ptam85bY51eRf/AJRuM3w=");
        assert!(validate(TOKEN, URL, &call_params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(validate(TOKEN, with_port, &call_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn a_signature_made_with_http_port_80_validates_without_it() {
        let with_port = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
        assert_eq!(compute_signature(TOKEN, with_port, &call_params()), "0ZXoZLH/DfblKGATFgpif+LLRf4=");
        let without_port = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(validate(TOKEN, without_port, &call_params(), "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    }

    #[test]
    fn a_non_default_port_is_tried_as_given_and_stripped() {
        let with_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        let signed_with_port = compute_signature(TOKEN, with_port, &call_params());
        assert!(validate(TOKEN, with_port, &call_params(), &signed_with_port));
        assert!(validate(TOKEN, with_port, &call_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!validate(TOKEN, with_port, &call_params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
    }

    #[test]
    fn duplicate_keys_are_deduplicated_and_sorted() {
        let dup = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(compute_signature(TOKEN, URL, &dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn a_json_body_matches_the_twilio_test_vector() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(hex(&Sha256::digest(body)), hash);
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(compute_signature(TOKEN, &url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(validate_with_body(TOKEN, &url, body, "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn a_json_body_that_does_not_match_its_hash_is_rejected() {
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("{URL}&bodySHA256={hash}");
        let tampered = br#"{"property": "evil", "boolean": true}"#;
        assert!(!validate_with_body(TOKEN, &url, tampered, "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn a_json_body_without_a_hash_in_the_url_is_rejected() {
        let signature = compute_signature(TOKEN, URL, &[]);
        assert!(!validate_with_body(TOKEN, URL, b"{}", &signature));
    }

    #[test]
    fn a_forged_signature_is_rejected() {
        assert!(!validate(TOKEN, URL, &call_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B9="));
        assert!(!validate(TOKEN, URL, &call_params(), ""));
    }

    #[test]
    fn a_signature_made_with_another_token_is_rejected() {
        let other = compute_signature("54321", URL, &call_params());
        assert!(!validate(TOKEN, URL, &call_params(), &other));
    }

    #[test]
    fn a_tampered_parameter_is_rejected() {
        let mut tampered = call_params();
        tampered[1].1 = "9999".to_string();
        assert!(!validate(TOKEN, URL, &tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn a_blank_value_is_kept_and_changes_the_signature() {
        let mut with_blank = call_params();
        with_blank.push(("Body".to_string(), String::new()));
        let signature = compute_signature(TOKEN, URL, &with_blank);
        assert_ne!(signature, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(validate(TOKEN, URL, &with_blank, &signature));
        assert!(!validate(TOKEN, URL, &call_params(), &signature));
    }

    #[test]
    fn the_order_params_are_given_in_does_not_matter() {
        let mut reversed = call_params();
        reversed.reverse();
        assert_eq!(compute_signature(TOKEN, URL, &reversed), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn a_quote_in_the_query_validates_escaped_or_not() {
        // twilio-node's "legacy querystring" test (§A2 point 5).
        let raw = "https://mycompany.com/myapp.php?test=param'WithQuote";
        let escaped = "https://mycompany.com/myapp.php?test=param%27WithQuote";
        let signed_raw = compute_signature(TOKEN, raw, &call_params());
        let signed_escaped = compute_signature(TOKEN, escaped, &call_params());
        assert_ne!(signed_raw, signed_escaped);
        assert!(validate(TOKEN, escaped, &call_params(), &signed_raw));
        assert!(validate(TOKEN, raw, &call_params(), &signed_escaped));
    }

    #[test]
    fn urls_are_split_into_scheme_host_port_path_and_query() {
        let parts = UrlParts::parse("https://[::1]:8443/a/b?x=1").unwrap();
        assert_eq!((parts.scheme, parts.host, parts.port), ("https", "[::1]", Some("8443")));
        assert_eq!((parts.path, parts.query), ("/a/b", Some("x=1")));
        let parts = UrlParts::parse("http://example.com").unwrap();
        assert_eq!((parts.host, parts.port, parts.path, parts.query), ("example.com", None, "", None));
    }
}
