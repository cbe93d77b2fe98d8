//! How many of each thing one tenant may hold. Every cap is a number in `docs/RELIABILITY.md`
//! ("Caps and limits") and answers `409 limit_reached` naming the cap in `detail`.
//!
//! A cap is checked by counting before the insert. SQLite runs one write at a time, so there
//! it is exact; on PostgreSQL, creates racing each other may pass it together, so a tenant
//! can exceed a cap by the number of its own creates running at that instant.
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, Select};

/// One cap: what is counted (also the `detail` of the refusal) and the most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub what: &'static str,
    pub limit: u64,
    /// What the limit is counted over, as the refusal words it.
    pub per: &'static str,
}

/// Webhook endpoints per tenant: every event is delivered to each, so this bounds what one
/// event costs (500 endpoints turned one 1-cent ticket into 1,490 requests).
pub const WEBHOOK_ENDPOINTS: Cap = Cap {
    what: "webhook_endpoints",
    limit: 20,
    per: "per account",
};
/// Live (unrevoked) publishable keys per tenant.
pub const PUBLISHABLE_KEYS: Cap = Cap {
    what: "publishable_keys",
    limit: 20,
    per: "per account",
};
/// Agents per tenant.
pub const AGENTS: Cap = Cap {
    what: "agents",
    limit: 500,
    per: "per account",
};
/// Phone numbers per tenant.
pub const NUMBERS: Cap = Cap {
    what: "numbers",
    limit: 1_000,
    per: "per account",
};
/// Idempotency records a tenant may claim per UTC day. They are kept 24 h and each holds a
/// sealed response, so this bounds what one tenant can make the database hold; 100,000 a day
/// is over an hour of a `pilot` tenant's whole rate limit, every request carrying a key.
pub const IDEMPOTENCY_KEYS: Cap = Cap {
    what: "idempotency_keys",
    limit: 100_000,
    per: "per account per UTC day",
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("at most {} {} {}", .0.limit, .0.what.replace('_', " "), .0.per)]
    Reached(Cap),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl Cap {
    /// `Err(Reached)` when the tenant already holds `limit` of what `existing` counts.
    pub async fn ensure_room<E, C>(self, db: &C, existing: Select<E>) -> Result<(), Error>
    where
        E: EntityTrait,
        E::Model: Sync,
        C: ConnectionTrait,
    {
        if existing.count(db).await? >= self.limit {
            return Err(Error::Reached(self));
        }
        Ok(())
    }
}
