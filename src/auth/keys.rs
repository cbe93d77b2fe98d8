//! Secret material: generation, hashing and the visible prefix. Full keys are shown once
//! and never stored; the database keeps the SHA-256 hex of each.
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

pub const SECRET_KEY_PREFIX: &str = "hl_sk_";
pub const PUBLISHABLE_KEY_PREFIX: &str = "hl_pk_";
pub const STAFF_TOKEN_PREFIX: &str = "hl_staff_";

/// Random characters after the type prefix.
const RANDOM_LEN: usize = 40;
/// How many random characters the visible prefix keeps.
const VISIBLE_LEN: usize = 8;

/// The kind of a tenant key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(KeyKind::Secret),
            "publishable" => Some(KeyKind::Publishable),
            _ => None,
        }
    }

    fn token_prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => SECRET_KEY_PREFIX,
            KeyKind::Publishable => PUBLISHABLE_KEY_PREFIX,
        }
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
    mint(kind.token_prefix())
}

pub fn mint_staff_token() -> MintedToken {
    mint(STAFF_TOKEN_PREFIX)
}

fn mint(type_prefix: &str) -> MintedToken {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let token = format!("{type_prefix}{random}");
    MintedToken {
        hash: hash_token(&token),
        prefix: format!("{type_prefix}{}", &random[..VISIBLE_LEN]),
        token,
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_have_prefix_hash_and_visible_part() {
        let k = mint_key(KeyKind::Secret);
        assert!(k.token.starts_with("hl_sk_"));
        assert_eq!(k.token.len(), 6 + RANDOM_LEN);
        assert!(k.token.starts_with(&k.prefix));
        assert_eq!(k.hash, hash_token(&k.token));
        assert_eq!(k.hash.len(), 64);
        assert_ne!(k.token, mint_key(KeyKind::Secret).token);
        assert!(mint_key(KeyKind::Publishable).token.starts_with("hl_pk_"));
        assert!(mint_staff_token().token.starts_with("hl_staff_"));
    }
}
