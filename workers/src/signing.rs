//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
//! keyed by the base64-decoded part of the `whsec_` secret.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook secret must be whsec_ followed by base64")]
pub struct BadSecret;

/// A new random signing secret (24 bytes of key material).
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

fn key_bytes(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).map_err(|_| BadSecret)
}

pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = key_bytes(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Checks a `webhook-signature` header (space-separated `v1,<sig>` entries) in constant time.
pub fn verify(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(key) = key_bytes(secret) else {
        return false;
    };
    header.split(' ').any(|candidate| {
        let Some(sig) = candidate.strip_prefix("v1,") else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice checks the length first, then compares in constant time.
        mac.verify_slice(&sig).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        assert_eq!(sign(SECRET, ID, TS, BODY).as_deref(), Ok(EXPECTED));
        assert!(verify(SECRET, ID, TS, BODY, EXPECTED));
    }

    #[test]
    fn refuses_tampering_and_truncation() {
        assert!(!verify(SECRET, ID, TS + 1, BODY, EXPECTED));
        assert!(!verify(SECRET, ID, TS, b"{}", EXPECTED));
        assert!(!verify(SECRET, ID, TS, BODY, "v1,"));
        assert!(!verify(SECRET, ID, TS, BODY, "v1,tZ1I4/hDygAJ"));
        assert!(!verify(
            SECRET,
            ID,
            TS,
            BODY,
            "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        ));
        assert!(verify(
            SECRET,
            ID,
            TS,
            BODY,
            &format!("v1,bogus {EXPECTED}")
        ));
    }

    #[test]
    fn new_secrets_sign() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        let sig = sign(&secret, "evt_1", 1, b"x").expect("valid secret");
        assert!(verify(&secret, "evt_1", 1, b"x", &sig));
    }
}
