//! Token → principal, cached in memory. A cached entry lives `ttl` (5 s), so a key revoked
//! on another node stops working within that time; the revoking node forgets it at once.
use std::time::{Duration, Instant};

use dashmap::DashMap;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use subtle::ConstantTimeEq;

use super::keys;
use super::{BotPrincipal, Principal, StaffPrincipal, TenantPrincipal};
use crate::domain::web::AllowedOrigins;
use entities::{api_keys, bots, staff, tenants};

pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// How long a token that authenticated is remembered as "was valid" (its hash only), so a
/// token without a checksum is not refused for the failures of others on its IP.
pub const SEEN_VALID_FOR: Duration = Duration::from_secs(24 * 3600);

struct Cached {
    principal: Principal,
    loaded_at: Instant,
}

pub struct AuthCache {
    db: DatabaseConnection,
    admin_token_hash: Option<String>,
    entries: DashMap<String, Cached>,
    ttl: Duration,
    /// Hashes of tokens that authenticated, and when they last did.
    seen_valid: DashMap<String, Instant>,
}

impl AuthCache {
    pub fn new(db: DatabaseConnection, admin_token: Option<&str>) -> Self {
        Self {
            db,
            admin_token_hash: admin_token.map(keys::hash_token),
            entries: DashMap::new(),
            ttl: CACHE_TTL,
            seen_valid: DashMap::new(),
        }
    }

    /// The principal if the token is the bootstrap admin token or a cached key: no database
    /// work. `None` means "ask [`Self::resolve`]".
    pub fn cached(&self, token: &str) -> Option<Principal> {
        let hash = keys::hash_token(token);
        if let Some(admin) = &self.admin_token_hash
            && bool::from(admin.as_bytes().ct_eq(hash.as_bytes()))
        {
            return Some(Principal::Staff(StaffPrincipal {
                id: None,
                name: "admin".to_string(),
            }));
        }
        self.entries
            .get(&hash)
            .filter(|hit| hit.loaded_at.elapsed() < self.ttl)
            .map(|hit| hit.principal.clone())
    }

    /// `Ok(None)` when the token is unknown or revoked.
    pub async fn resolve(&self, token: &str) -> Result<Option<Principal>, DbErr> {
        let hash = keys::hash_token(token);
        if let Some(admin) = &self.admin_token_hash
            && bool::from(admin.as_bytes().ct_eq(hash.as_bytes()))
        {
            return Ok(Some(Principal::Staff(StaffPrincipal {
                id: None,
                name: "admin".to_string(),
            })));
        }
        if let Some(hit) = self.entries.get(&hash)
            && hit.loaded_at.elapsed() < self.ttl
        {
            return Ok(Some(hit.principal.clone()));
        }
        let found = if token.starts_with(keys::STAFF_TOKEN_PREFIX) {
            self.load_staff(&hash).await?
        } else if token.starts_with(keys::BOT_TOKEN_PREFIX) {
            self.load_bot(&hash).await?
        } else if token.starts_with(keys::SECRET_KEY_PREFIX)
            || token.starts_with(keys::PUBLISHABLE_KEY_PREFIX)
        {
            self.load_key(&hash).await?
        } else {
            None
        };
        match &found {
            Some(principal) => {
                self.seen_valid.insert(hash.clone(), Instant::now());
                self.entries.insert(
                    hash,
                    Cached {
                        principal: principal.clone(),
                        loaded_at: Instant::now(),
                    },
                );
            }
            None => {
                self.entries.remove(&hash);
            }
        }
        Ok(found)
    }

    /// Whether this token authenticated on this node within [`SEEN_VALID_FOR`]. No database
    /// work.
    pub fn seen_valid(&self, token: &str) -> bool {
        self.seen_valid
            .get(&keys::hash_token(token))
            .is_some_and(|at| at.elapsed() < SEEN_VALID_FOR)
    }

    /// Drops a revoked key's entry on this node at once.
    pub fn forget(&self, key_hash: &str) {
        self.entries.remove(key_hash);
        self.seen_valid.remove(key_hash);
    }

    /// Drops every cached key of a tenant, e.g. after its limits changed.
    pub fn forget_tenant(&self, tenant_id: uuid::Uuid) {
        self.entries.retain(
            |_, c| !matches!(&c.principal, Principal::Tenant(t) if t.tenant_id == tenant_id),
        );
    }

    /// Drops expired entries; run on an interval so the map only holds recently used keys.
    pub fn sweep(&self) {
        self.entries.retain(|_, c| c.loaded_at.elapsed() < self.ttl);
        self.seen_valid
            .retain(|_, at| at.elapsed() < SEEN_VALID_FOR);
    }

    async fn load_key(&self, hash: &str) -> Result<Option<Principal>, DbErr> {
        let found = api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(hash))
            .filter(api_keys::Column::RevokedAt.is_null())
            .find_also_related(tenants::Entity)
            .one(&self.db)
            .await?;
        let Some((key, Some(tenant))) = found else {
            return Ok(None);
        };
        Ok(Some(Principal::Tenant(TenantPrincipal {
            tenant_id: key.tenant_id,
            key_id: key.id,
            kind: key.kind,
            prefix: key.prefix,
            key_hash: key.key_hash,
            limits: crate::tenants::rate_spec(&tenant),
            allowed_origins: key
                .allowed_origins
                .as_deref()
                .map(|stored| std::sync::Arc::new(AllowedOrigins::from_stored(stored))),
        })))
    }

    async fn load_bot(&self, hash: &str) -> Result<Option<Principal>, DbErr> {
        let bot = bots::Entity::find()
            .filter(bots::Column::TokenHash.eq(hash))
            .filter(bots::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?;
        Ok(bot.map(|b| {
            Principal::Bot(BotPrincipal {
                id: b.id,
                name: b.name,
                token_hash: b.token_hash,
            })
        }))
    }

    async fn load_staff(&self, hash: &str) -> Result<Option<Principal>, DbErr> {
        let member = staff::Entity::find()
            .filter(staff::Column::TokenHash.eq(hash))
            .filter(staff::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?;
        Ok(member.map(|s| {
            Principal::Staff(StaffPrincipal {
                id: Some(s.id),
                name: s.name,
            })
        }))
    }
}
