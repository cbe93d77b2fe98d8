//! Secret material: generation, hashing and the visible prefix. Full keys are shown once
//! and never stored; the database keeps the SHA-256 hex of each.
//!
//! A token minted now ends in a checksum of the rest (6 base62 characters of its SHA-256),
//! so a string that merely looks like a key is refused without a database lookup: key
//! guessing costs the database nothing, and the per-IP guard that protects it never has to
//! refuse a well-formed key. Tokens minted before (no checksum, 40 random characters) keep
//! working.
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

pub const SECRET_KEY_PREFIX: &str = "hl_sk_";
pub const PUBLISHABLE_KEY_PREFIX: &str = "hl_pk_";
pub const STAFF_TOKEN_PREFIX: &str = "hl_staff_";
pub const BOT_TOKEN_PREFIX: &str = "hl_bot_";

/// Random characters after the type prefix.
const RANDOM_LEN: usize = 40;
/// Checksum characters after the random ones (new tokens only).
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// How many random characters the visible prefix keeps.
const VISIBLE_LEN: usize = 8;

pub use entities::values::KeyKind;

fn token_prefix(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Secret => SECRET_KEY_PREFIX,
        KeyKind::Publishable => PUBLISHABLE_KEY_PREFIX,
    }
}

/// A newly minted token: the full value (show once), its hash and its visible prefix.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub token: String,
    pub hash: String,
    pub prefix: String,
}

pub fn mint_key(kind: KeyKind) -> MintedToken {
    mint(token_prefix(kind))
}

pub fn mint_staff_token() -> MintedToken {
    mint(STAFF_TOKEN_PREFIX)
}

pub fn mint_bot_token() -> MintedToken {
    mint(BOT_TOKEN_PREFIX)
}

fn mint(type_prefix: &str) -> MintedToken {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let body = format!("{type_prefix}{random}");
    let token = format!("{body}{}", checksum(&body));
    MintedToken {
        hash: hash_token(&token),
        prefix: format!("{type_prefix}{}", &random[..VISIBLE_LEN]),
        token,
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The checksum a new token ends with: the first 4 bytes of the SHA-256 of everything
/// before it, in base62.
fn checksum(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

/// What a bearer token can be, judged without the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A current token whose checksum holds: worth a lookup.
    Checked,
    /// A token of the format before checksums: worth a lookup, but indistinguishable from
    /// a guess.
    Legacy,
    /// Not a token we ever minted: refused without a lookup.
    Junk,
}

pub fn shape(token: &str) -> Shape {
    let Some(rest) = [
        SECRET_KEY_PREFIX,
        PUBLISHABLE_KEY_PREFIX,
        STAFF_TOKEN_PREFIX,
        BOT_TOKEN_PREFIX,
    ]
    .iter()
    .find_map(|p| token.strip_prefix(p)) else {
        return Shape::Junk;
    };
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Shape::Junk;
    }
    match rest.len() {
        RANDOM_LEN => Shape::Legacy,
        n if n == RANDOM_LEN + CHECKSUM_LEN => {
            let (body, sum) = token.split_at(token.len() - CHECKSUM_LEN);
            if checksum(body) == sum {
                Shape::Checked
            } else {
                Shape::Junk
            }
        }
        _ => Shape::Junk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_have_prefix_hash_and_visible_part() {
        let k = mint_key(KeyKind::Secret);
        assert!(k.token.starts_with("hl_sk_"));
        assert_eq!(k.token.len(), 6 + RANDOM_LEN + CHECKSUM_LEN);
        assert!(k.token.starts_with(&k.prefix));
        assert_eq!(k.hash, hash_token(&k.token));
        assert_eq!(k.hash.len(), 64);
        assert_ne!(k.token, mint_key(KeyKind::Secret).token);
        assert!(mint_key(KeyKind::Publishable).token.starts_with("hl_pk_"));
        assert!(mint_staff_token().token.starts_with("hl_staff_"));
        assert!(mint_bot_token().token.starts_with("hl_bot_"));
    }

    #[test]
    fn new_tokens_carry_a_checksum_and_junk_is_told_apart_offline() {
        for token in [
            mint_key(KeyKind::Secret).token,
            mint_key(KeyKind::Publishable).token,
            mint_staff_token().token,
            mint_bot_token().token,
        ] {
            assert_eq!(shape(&token), Shape::Checked, "{token}");
            // One character changed anywhere breaks it (checked for a few positions).
            for at in [6, 20, token.len() - 1] {
                let mut bytes = token.clone().into_bytes();
                bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
                let changed = String::from_utf8(bytes).expect("ascii");
                assert_eq!(shape(&changed), Shape::Junk, "{changed}");
            }
        }
        let legacy = format!("hl_sk_{}", "A1b2C3d4E5".repeat(4));
        assert_eq!(shape(&legacy), Shape::Legacy);
        assert_eq!(
            shape(&format!("hl_staff_{}", "x".repeat(40))),
            Shape::Legacy
        );
        for junk in [
            "hl_sk_guess1",
            "hl_sk_",
            "nope",
            "hl_sk_!!!",
            "hl_xx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(shape(junk), Shape::Junk, "{junk}");
        }
        assert_eq!(shape(&format!("hl_sk_{}", "a".repeat(46))), Shape::Junk);
    }
}
