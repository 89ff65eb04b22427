//! Reviewer credentials: argon2id password hashes (OWASP's first choice for password
//! storage), random session and CSRF tokens, and the SHA-256 under which session tokens
//! are stored (a stolen database holds no usable session).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use sha2::{Digest, Sha256};

/// Letters and digits that cannot be confused with each other when read aloud or copied.
const PASSWORD_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A new random password: 20 characters of [`PASSWORD_ALPHABET`] (about 114 bits).
pub fn new_password() -> String {
    let mut rng = rand::rng();
    (0..20).map(|_| PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())] as char).collect()
}

/// The argon2id hash of `password` (PHC string, salt and parameters included).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hash: {e}"))?;
    Ok(hash.to_string())
}

/// A hash of a random password, made once with the same parameters as every account's: a
/// login for a name no account has is checked against it, so it costs the same time as a
/// wrong password for a real name (issue 21: the time told which names exist).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_token()).expect("argon2 hashes a random password"))
}

/// True when `password` matches `hash` (constant time inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A random token (session, CSRF): 32 bytes, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored for a session token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Login attempts per client address in fixed one-minute windows (OWASP's authentication
/// cheat sheet: throttle by source as well as by account, since an attacker trying one
/// password on many accounts never trips a per-account lock-out).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    windows: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (std::time::Instant, u32)>>,
}

impl LoginLimiter {
    /// Counts an attempt from `ip` at `now`; false when it is over `per_minute`.
    pub fn allow(&self, ip: std::net::IpAddr, per_minute: u32, now: std::time::Instant) -> bool {
        let minute = std::time::Duration::from_secs(60);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 10_000 {
            // Many addresses: forget the ones whose window has ended.
            windows.retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let (start, count) = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= minute {
            (*start, *count) = (now, 0);
        }
        *count += 1;
        *count <= per_minute
    }
}

/// A CSRF token for the login form, bound to the server: a random nonce and its HMAC-SHA256
/// under `key` (issue 21: a double-submit pair the client picks was accepted, so an attacker
/// who can set a cookie could log a victim in). `{nonce}.{mac}`, hex.
pub fn login_csrf_token(key: &str) -> String {
    let nonce = new_token();
    format!("{nonce}.{}", login_csrf_mac(key, &nonce))
}

/// Whether `token` is one [`login_csrf_token`] made under `key` (compared in constant time).
pub fn login_csrf_valid(key: &str, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some((nonce, mac)) = token.split_once('.') else { return false };
    let expected = login_csrf_mac(key, nonce);
    nonce.len() == 64 && bool::from(expected.as_bytes().ct_eq(mac.as_bytes()))
}

fn login_csrf_mac(key: &str, nonce: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac takes any key length");
    mac.update(b"backtalk login csrf\0");
    mac.update(nonce.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_csrf_token_is_valid_only_under_its_key() {
        let token = login_csrf_token("key-one");
        assert!(login_csrf_valid("key-one", &token));
        assert!(!login_csrf_valid("key-two", &token));
        let (nonce, _) = token.split_once('.').unwrap();
        assert!(!login_csrf_valid("key-one", &format!("{nonce}.{}", "0".repeat(64))));
        assert!(!login_csrf_valid("key-one", nonce), "no mac");
    }

    #[test]
    fn logins_are_limited_per_address_and_minute() {
        let limiter = LoginLimiter::default();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = std::time::Instant::now();
        assert!((0..3).all(|_| limiter.allow(a, 3, t0)));
        assert!(!limiter.allow(a, 3, t0), "the fourth in a minute is refused");
        assert!(limiter.allow(b, 3, t0), "another address has its own count");
        assert!(limiter.allow(a, 3, t0 + std::time::Duration::from_secs(61)), "a new minute starts over");
    }

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let password = new_password();
        assert_eq!(password.len(), 20);
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password(&password, "not a hash"));
        assert_ne!(hash_password(&password).unwrap(), hash, "salted");
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
