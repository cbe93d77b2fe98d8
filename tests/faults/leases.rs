//! Issue 21, one level down from the process tests: what taking back a dead instance's leases
//! does to each kind of claim, that a live instance's claims are left alone, and that a live
//! owner keeps renewing the lease of a slow job so no second worker can claim it.
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::{emails, idempotency_keys as keys, outbox, worker_instances as instances};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;
use workers::lease::{HEARTBEAT_EVERY, Instance};

async fn instance(db: &DatabaseConnection, host: &str, heartbeat_at: DateTime<Utc>) -> Uuid {
    let id = Uuid::now_v7();
    instances::Entity::insert(instances::ActiveModel {
        id: Set(id),
        kind: Set("worker".into()),
        host: Set(Some(host.into())),
        pid: Set(Some(1)),
        process_started: Set(Some(1)),
        started_at: Set(heartbeat_at),
        heartbeat_at: Set(heartbeat_at),
    })
    .exec(db)
    .await
    .expect("insert an instance");
    id
}

/// A pending email whose attempt `owner` holds until `until`.
async fn leased_email(db: &DatabaseConnection, owner: Uuid, until: DateTime<Utc>) -> Uuid {
    let id = Uuid::now_v7();
    let now = Utc::now();
    emails::Entity::insert(emails::ActiveModel {
        id: Set(id),
        tenant_id: Set(Uuid::now_v7()),
        ticket_id: Set(None),
        kind: Set("new_ticket".into()),
        to_addr: Set("support@localhost".into()),
        reply_to: Set(None),
        subject: Set("Held".into()),
        body_text: Set("Held by a worker.".into()),
        status: Set("pending".into()),
        attempts: Set(1),
        last_error: Set(None),
        provider_id: Set(None),
        next_attempt_at: Set(now),
        in_flight_until: Set(Some(until)),
        lease_owner: Set(Some(owner)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db)
    .await
    .expect("insert an email");
    id
}

async fn email(db: &DatabaseConnection, id: Uuid) -> emails::Model {
    emails::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the email")
}

async fn email_jobs_queued(db: &DatabaseConnection, id: Uuid) -> usize {
    outbox::Entity::find()
        .filter(outbox::Column::Queue.eq("email"))
        .all(db)
        .await
        .expect("read the outbox")
        .into_iter()
        .filter(|row| row.payload["email_id"] == id.to_string())
        .count()
}

#[actix_web::test]
async fn a_dead_instances_claims_are_taken_back_and_a_live_ones_are_renewed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/leases.db?mode=rwc", dir.path().display());
    let db = helpline::db::connect(&url, None).await.expect("connect");
    helpline::db::migrate(&db).await.expect("migrate");
    let now = Utc::now();
    let dead = instance(&db, "machine-b", now - chrono::Duration::minutes(1)).await;
    let live = instance(&db, "machine-c", now).await;
    let later = now + chrono::Duration::seconds(50);
    let dead_email = leased_email(&db, dead, later).await;
    let live_email = leased_email(&db, live, later).await;
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        queue: Set("billing".into()),
        payload: Set(serde_json::json!({"entry_id": Uuid::now_v7()})),
        available_at: Set(now),
        claim_token: Set(Some(Uuid::now_v7())),
        claimed_until: Set(Some(later)),
        lease_owner: Set(Some(dead)),
        sent_at: Set(None),
        created_at: Set(now),
    })
    .exec(&db)
    .await
    .expect("insert an outbox row");
    let tenant = Uuid::now_v7();
    let api_key = Uuid::now_v7();
    for (key, state, owner) in [
        ("running", "in_progress", dead),
        ("answered", "done", dead),
        ("elsewhere", "in_progress", live),
    ] {
        keys::Entity::insert(keys::ActiveModel {
            api_key_id: Set(api_key),
            tenant_id: Set(tenant),
            key: Set(key.into()),
            request_hash: Set("h".into()),
            state: Set(state.into()),
            response_status: Set((state == "done").then_some(200)),
            // What a sealed answer looks like: base64 of nonce and ciphertext.
            response_sealed: Set((state == "done").then(|| "bm9uY2VhbmRjaXBoZXJ0ZXh0".to_string())),
            created_at: Set(now),
            lease_owner: Set(Some(owner)),
        })
        .exec(&db)
        .await
        .expect("insert an idempotency claim");
    }

    // Starting takes back what the silent instance held, and only that.
    let me = Instance::start(db.clone(), "serve", Some("machine-a".into()))
        .await
        .expect("start");
    let taken = email(&db, dead_email).await;
    assert_eq!((taken.in_flight_until, taken.lease_owner), (None, None));
    assert_eq!(email_jobs_queued(&db, dead_email).await, 1);
    let kept = email(&db, live_email).await;
    assert_eq!(kept.lease_owner, Some(live));
    assert_eq!(email_jobs_queued(&db, live_email).await, 0);
    let claimed_outbox = outbox::Entity::find()
        .filter(outbox::Column::ClaimedUntil.is_not_null())
        .count(&db)
        .await
        .expect("count");
    assert_eq!(claimed_outbox, 0, "the dead relay's claim is released");
    let mut left: Vec<String> = keys::Entity::find()
        .all(&db)
        .await
        .expect("read keys")
        .into_iter()
        .map(|k| k.key)
        .collect();
    left.sort();
    assert_eq!(left, ["answered", "elsewhere"]);
    let ids: Vec<Uuid> = instances::Entity::find()
        .all(&db)
        .await
        .expect("read instances")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert!(
        !ids.contains(&dead) && ids.contains(&live) && ids.contains(&me.id()),
        "{ids:?}"
    );

    // A slow attempt of our own: its lease would lapse in 1 s, but the heartbeat renews it
    // while we live, so a second worker never finds it claimable.
    let slow = leased_email(&db, me.id(), Utc::now() + chrono::Duration::seconds(1)).await;
    crate::harness::eventually(
        "the heartbeat to renew the slow attempt's lease",
        HEARTBEAT_EVERY * 3,
        || async {
            let held = email(&db, slow).await;
            assert_eq!(held.lease_owner, Some(me.id()), "the lease changed hands");
            held.in_flight_until
                .filter(|until| *until > Utc::now() + chrono::Duration::seconds(30))
        },
    )
    .await;
    me.stop().await;
    // A clean stop hands back what was still held and deregisters.
    assert_eq!(email(&db, slow).await.lease_owner, None);
    assert_eq!(email_jobs_queued(&db, slow).await, 1);
}
