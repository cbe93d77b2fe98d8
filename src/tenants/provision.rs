//! Creating tenants and operators, shared by the CLI and the admin API.
use chrono::Utc;
use entities::values::LimitsMode;
use entities::{api_keys, staff, tenants};
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};
use uuid::Uuid;

use crate::auth::keys::{self, KeyKind, MintedToken};
use crate::billing::ledger::{self, ApplyError, Change, LedgerKind};
use crate::domain::plan::Plan;
use crate::domain::validate::{Email, Name};
use crate::domain::web::AllowedOrigins;

pub struct NewTenant {
    pub name: Name,
    pub email: Email,
    pub plan: Plan,
    pub balance_cents: i64,
}

/// Creates the tenant, its opening `top_up` ledger entry and its first secret key.
pub async fn create_tenant(
    db: &DatabaseConnection,
    new: NewTenant,
) -> Result<(tenants::Model, MintedToken), DbErr> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = crate::db::begin_write(db).await?;
    tenants::Entity::insert(tenants::ActiveModel {
        id: Set(id),
        name: Set(new.name.into_inner()),
        email: Set(new.email.into_inner()),
        plan: Set(new.plan.as_str().to_string()),
        limits_mode: Set(LimitsMode::Plan),
        limit_rpm: Set(None),
        limit_burst: Set(None),
        balance_cents: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(&txn)
    .await?;
    if new.balance_cents > 0 {
        let opening = Change {
            tenant_id: id,
            kind: LedgerKind::TopUp,
            amount_cents: new.balance_cents,
            ticket_id: None,
            note: Some("opening balance".into()),
        };
        ledger::apply(&txn, opening, now)
            .await
            .map_err(|e| match e {
                ApplyError::Db(e) => e,
                ApplyError::InsufficientBalance => DbErr::Custom("opening balance refused".into()),
            })?;
    }
    let key = insert_key(&txn, id, KeyKind::Secret, None).await?;
    let tenant = tenants::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("tenant".into()))?;
    txn.commit().await?;
    Ok((tenant, key))
}

/// Mints a key of `kind` for the tenant and stores its hash.
pub async fn insert_key<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    kind: KeyKind,
    label: Option<String>,
) -> Result<MintedToken, DbErr> {
    insert_key_for_origins(conn, tenant_id, kind, label, None).await
}

/// [`insert_key`] for a publishable key restricted to `allowed_origins` (`None`: any origin).
pub async fn insert_key_for_origins<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    kind: KeyKind,
    label: Option<String>,
    allowed_origins: Option<&AllowedOrigins>,
) -> Result<MintedToken, DbErr> {
    let minted = keys::mint_key(kind);
    api_keys::Entity::insert(api_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        kind: Set(kind),
        prefix: Set(minted.prefix.clone()),
        key_hash: Set(minted.hash.clone()),
        label: Set(label),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        allowed_origins: Set(allowed_origins.map(AllowedOrigins::to_stored)),
    })
    .exec(conn)
    .await?;
    Ok(minted)
}

pub async fn create_staff(
    db: &DatabaseConnection,
    name: Name,
) -> Result<(staff::Model, MintedToken), DbErr> {
    let minted = keys::mint_staff_token();
    let member = staff::Entity::insert(staff::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.into_inner()),
        prefix: Set(minted.prefix.clone()),
        token_hash: Set(minted.hash.clone()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    })
    .exec_with_returning(db)
    .await?;
    Ok((member, minted))
}
