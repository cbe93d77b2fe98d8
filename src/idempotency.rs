//! Stored outcomes of `POST` requests sent with an `Idempotency-Key`, kept 24 h. A record
//! belongs to the API key that made it: another key (of the same tenant or not) never sees,
//! replays, blocks or probes it. Its request is the method, path and body, fingerprinted; a
//! row is claimed (`in_progress`) before the request runs and completed with its response
//! afterwards. The claim records the process that holds it (`workers::lease`): when that
//! process dies, its claims are forgotten as soon as it is known dead, so the client's retry
//! runs.
//!
//! Responses may carry secrets shown once (a rotated `hl_sk_`, a webhook's `whsec_`), so they
//! are sealed (AES-256-GCM) with a key derived from the caller's own token, which the
//! database never holds (it keeps a SHA-256 of the token, from which this key cannot be
//! derived). A replay by the same key opens it; the database alone cannot.
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use entities::idempotency_keys as keys;
use entities::idempotency_usage as usage;
use entities::values::IdempotencyState;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::caps::{self, Cap};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::hours(24);
/// A claim with no recorded owner older than this was abandoned and may be taken over.
pub const ABANDONED_AFTER: Duration = Duration::seconds(60);

/// Domain separation for the sealing key; a new version label would re-key every record.
const SEALING_LABEL: &[u8] = b"helpline idempotency sealing v1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] DbErr),
    /// Only possible if the row was altered: the same token always derives the same key.
    #[error("a stored idempotent response could not be opened")]
    Unreadable,
    #[error("the system random generator failed")]
    Random,
}

/// The API key sending a request, and the sealing key its token derives.
pub struct Caller {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    sealing: LessSafeKey,
}

impl Caller {
    pub fn new(tenant_id: Uuid, key_id: Uuid, token: &str) -> Self {
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SEALING_LABEL),
            token.as_bytes(),
        );
        let unbound = UnboundKey::new(&AES_256_GCM, mac.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 output is an AES-256 key"));
        Self {
            tenant_id,
            key_id,
            sealing: LessSafeKey::new(unbound),
        }
    }

    /// Binds a sealed response to its record and status.
    fn aad(&self, key: &str, status: u16) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + key.len() + 2);
        aad.extend_from_slice(self.key_id.as_bytes());
        aad.extend_from_slice(&status.to_be_bytes());
        aad.extend_from_slice(key.as_bytes());
        aad
    }

    fn seal(&self, key: &str, status: u16, body: &[u8]) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Random)?;
        let mut sealed = body.to_vec();
        self.sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(key, status)),
                &mut sealed,
            )
            .map_err(|_| Error::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(B64.encode(out))
    }

    fn open(&self, key: &str, status: u16, stored: &str) -> Result<String, Error> {
        let raw = B64.decode(stored).map_err(|_| Error::Unreadable)?;
        if raw.len() < NONCE_LEN {
            return Err(Error::Unreadable);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Unreadable)?;
        let mut sealed = sealed.to_vec();
        let body = self
            .sealing
            .open_in_place(nonce, Aad::from(self.aad(key, status)), &mut sealed)
            .map_err(|_| Error::Unreadable)?;
        String::from_utf8(body.to_vec()).map_err(|_| Error::Unreadable)
    }
}

/// The fingerprint of a request: same method, path and body is the same request.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the request, then `complete` or `release`.
    Fresh,
    /// Same key, same request, already answered.
    Replay { status: u16, body: String },
    /// Same key, different request.
    Mismatch,
    /// Same key while the first request still runs.
    InProgress,
    /// A new key past the tenant's daily cap (`caps::IDEMPOTENCY_KEYS`); nothing was stored.
    CapReached(Cap),
}

pub async fn claim(
    db: &DatabaseConnection,
    caller: &Caller,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Claim, Error> {
    for _ in 0..3 {
        let inserted = keys::Entity::insert(keys::ActiveModel {
            api_key_id: Set(caller.key_id),
            key: Set(key.to_string()),
            tenant_id: Set(caller.tenant_id),
            request_hash: Set(request_hash.to_string()),
            state: Set(IdempotencyState::InProgress),
            response_status: Set(None),
            response_sealed: Set(None),
            created_at: Set(now),
            lease_owner: Set(workers::lease::owner()),
        })
        .on_conflict(
            OnConflict::columns([keys::Column::ApiKeyId, keys::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted == 1 {
            if take_daily_slot(db, caller.tenant_id, now).await? {
                return Ok(Claim::Fresh);
            }
            release(db, caller, key).await?;
            return Ok(Claim::CapReached(caps::IDEMPOTENCY_KEYS));
        }
        let Some(existing) = keys::Entity::find_by_id((caller.key_id, key.to_string()))
            .one(db)
            .await?
        else {
            continue;
        };
        let expired = existing.created_at < now - RETENTION
            || (existing.state == IdempotencyState::InProgress
                && existing.lease_owner.is_none()
                && existing.created_at < now - ABANDONED_AFTER);
        if expired {
            keys::Entity::delete_many()
                .filter(keys::Column::ApiKeyId.eq(caller.key_id))
                .filter(keys::Column::Key.eq(key))
                .filter(keys::Column::CreatedAt.eq(existing.created_at))
                .exec(db)
                .await?;
            continue;
        }
        if existing.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        return match (
            existing.state,
            existing.response_status.and_then(|s| u16::try_from(s).ok()),
            existing.response_sealed,
        ) {
            (IdempotencyState::Done, Some(status), Some(sealed)) => Ok(Claim::Replay {
                status,
                body: caller.open(key, status, &sealed)?,
            }),
            _ => Ok(Claim::InProgress),
        };
    }
    Ok(Claim::InProgress)
}

pub async fn complete(
    db: &DatabaseConnection,
    caller: &Caller,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), Error> {
    let sealed = caller.seal(key, status, body)?;
    keys::Entity::update_many()
        .col_expr(keys::Column::State, Expr::value(IdempotencyState::Done))
        .col_expr(keys::Column::ResponseStatus, Expr::value(i32::from(status)))
        .col_expr(keys::Column::ResponseSealed, Expr::value(sealed))
        .filter(keys::Column::ApiKeyId.eq(caller.key_id))
        .filter(keys::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Counts one new record against the tenant's day, unless the day is full: one conditional
/// upsert, exact on both backends however many requests race.
async fn take_daily_slot(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let cap = i64::try_from(caps::IDEMPOTENCY_KEYS.limit).unwrap_or(i64::MAX);
    let claimed = Expr::col((usage::Entity, usage::Column::Claimed));
    let taken = usage::Entity::insert(usage::ActiveModel {
        tenant_id: Set(tenant_id),
        day: Set(now.date_naive()),
        claimed: Set(1),
    })
    .on_conflict(
        OnConflict::columns([usage::Column::TenantId, usage::Column::Day])
            .value(usage::Column::Claimed, claimed.clone().add(1))
            .action_and_where(claimed.lt(cap))
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(taken == 1)
}

/// Forgets a claim whose request failed on our side, so the client may retry it.
pub async fn release(db: &DatabaseConnection, caller: &Caller, key: &str) -> Result<(), DbErr> {
    keys::Entity::delete_many()
        .filter(keys::Column::ApiKeyId.eq(caller.key_id))
        .filter(keys::Column::Key.eq(key))
        .filter(keys::Column::State.eq(IdempotencyState::InProgress))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes keys past retention, and the daily counts of days before yesterday.
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    usage::Entity::delete_many()
        .filter(usage::Column::Day.lt((now - Duration::days(1)).date_naive()))
        .exec(db)
        .await?;
    Ok(keys::Entity::delete_many()
        .filter(keys::Column::CreatedAt.lt(now - RETENTION))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_response_opens_only_for_the_token_and_record_that_sealed_it() {
        let tenant = Uuid::new_v4();
        let key_id = Uuid::new_v4();
        let caller = Caller::new(tenant, key_id, "hl_sk_first");
        let body = br#"{"secret_key":"hl_sk_new"}"#;
        let sealed = caller.seal("rotate-1", 200, body).expect("seal");
        assert!(!sealed.contains("hl_sk_"));
        assert_eq!(
            caller
                .open("rotate-1", 200, &sealed)
                .expect("open")
                .as_bytes(),
            body
        );
        // Another token (even claiming the same key id), another record, another status.
        let other = Caller::new(tenant, key_id, "hl_sk_other");
        assert!(matches!(
            other.open("rotate-1", 200, &sealed),
            Err(Error::Unreadable)
        ));
        assert!(caller.open("rotate-2", 200, &sealed).is_err());
        assert!(caller.open("rotate-1", 201, &sealed).is_err());
        // A fresh nonce each time.
        assert_ne!(sealed, caller.seal("rotate-1", 200, body).expect("seal"));
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let base = fingerprint("POST", "/v1/webhooks", b"{}");
        assert_ne!(base, fingerprint("PUT", "/v1/webhooks", b"{}"));
        assert_ne!(base, fingerprint("POST", "/v1/auth/regenerate-key", b"{}"));
        assert_ne!(base, fingerprint("POST", "/v1/webhooks", b"{ }"));
        assert_eq!(base, fingerprint("POST", "/v1/webhooks", b"{}"));
    }
}
