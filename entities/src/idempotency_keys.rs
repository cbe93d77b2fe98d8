use sea_orm::entity::prelude::*;

use crate::values::IdempotencyState;

/// The outcome of one `POST` sent with an `Idempotency-Key`, owned by the API key that sent
/// it. The response is stored sealed (see `src/idempotency.rs`), never in plaintext.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub api_key_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub tenant_id: Uuid,
    /// SHA-256 hex of method, path and body.
    pub request_hash: String,
    pub state: IdempotencyState,
    pub response_status: Option<i32>,
    /// base64 of a nonce and the AES-256-GCM ciphertext of the response body.
    pub response_sealed: Option<String>,
    pub created_at: DateTimeUtc,
    /// The `worker_instances` row of the process holding the claim.
    pub lease_owner: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
