//! Ticket mutations. Each runs in one write transaction that also records the ticket event
//! (and, for creation, the fee's ledger entry). They are called from the tenant's actor, so
//! one tenant's mutations never overlap on this node; the conditional updates below keep the
//! same invariants when several nodes share a database.
use std::time::Instant;

use chrono::{DateTime, Utc};
use entities::values::{
    BountyStatus, ChargeStatus, MessageAuthor, NotificationKind, TicketEmailStatus, TicketEventKind,
};
use entities::{ledger_entries, messages, tenants, ticket_events, tickets};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, ExprTrait, IntoActiveModel, QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::billing::ledger::{self, ApplyError, Change, LedgerKind};
use crate::config::Config;
use crate::db::begin_write;
use crate::domain::ids::{EventId, MessageId, TicketId};
use crate::domain::plan::Plan;
use crate::domain::sla::SlaSnapshot;
use crate::domain::status::{self, TicketStatus, TransitionError};
use crate::domain::tags::Tags;
use crate::domain::template;
use crate::domain::ticket::{Category, Priority};
use crate::domain::validate::{Description, Email, MessageBody, ShortRef, Subject};
use crate::emails::{self, EmailKind};
use crate::feed::{self, Visibility};
use crate::metrics::{CreateStage, observe_create_stage};
use crate::notifications::{self, Notice, preferences};
use crate::staff;
use crate::tickets::error::TicketError;
use crate::tickets::view::{MessageOut, TicketOut};
use crate::webhooks::events::{self, Audience};

/// How many times a mutation is retried when another node changed the ticket under it.
const RACE_RETRIES: usize = 5;

/// A tenant is told its balance is low when it falls below this many ticket fees.
pub const LOW_BALANCE_FEES: i64 = 10;

pub const EMAIL_NOT_CONFIGURED: &str = "RESEND_API_KEY is not configured";

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: Subject,
    pub category: Category,
    pub description: Description,
    pub priority: Priority,
    pub call_id: Option<ShortRef>,
    pub source_session_id: Option<ShortRef>,
    pub contact_email: Option<Email>,
}

/// Who changes a ticket, as recorded on its events and messages (not to be confused with the
/// tenant actor that runs the change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    Customer,
    Operator(String),
    /// An automated replier: its messages are `triage_bot`'s, never an operator's answer.
    Bot(String),
    System,
}

impl Author {
    fn label(&self) -> String {
        match self {
            Author::Customer => "customer".into(),
            Author::Operator(name) => format!("operator:{name}"),
            Author::Bot(name) => format!("bot:{name}"),
            Author::System => "system".into(),
        }
    }
}

/// `Raced`: the ticket changed between our read and our write (another node); try again.
pub(super) enum Attempt<T> {
    Done(T),
    Raced,
}

pub(super) async fn retry_on_race<T, F, Fut>(mut attempt: F) -> Result<T, TicketError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Attempt<T>, TicketError>>,
{
    for _ in 0..RACE_RETRIES {
        if let Attempt::Done(value) = attempt().await? {
            return Ok(value);
        }
    }
    Err(TicketError::ConcurrentUpdate)
}

pub(crate) fn event(
    ticket: &tickets::Model,
    kind: TicketEventKind,
    actor: &Author,
    data: Value,
    public: bool,
    now: DateTime<Utc>,
) -> ticket_events::ActiveModel {
    ticket_events::ActiveModel {
        id: Set(EventId::new().uuid()),
        ticket_id: Set(ticket.id),
        tenant_id: Set(ticket.tenant_id),
        kind: Set(kind),
        actor: Set(actor.label()),
        data: Set(Some(data)),
        public: Set(public),
        created_at: Set(now),
    }
}

fn tags_change(ticket: &tickets::Model, to: &Tags) -> Value {
    json!({"from": Tags::from_stored(&ticket.tags), "to": to.as_slice()})
}

/// Event feed: assignment and tags, operators only (`support.ticket_updated`, internal).
async fn internal_update(
    txn: &DatabaseTransaction,
    ticket_now: &tickets::Model,
    changes: serde_json::Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), TicketError> {
    if changes.is_empty() {
        return Ok(());
    }
    let tenant_id = ticket_now.tenant_id;
    let ticket = TicketOut::summary(ticket_now.clone(), now).for_operator(tenant_id);
    let data = json!({"ticket": ticket, "changes": changes});
    feed::record_one(
        txn,
        tenant_id,
        feed::TICKET_UPDATED,
        data,
        Visibility::Internal,
        now,
    )
    .await?;
    Ok(())
}

/// Tags are the operators' business: an internal event.
fn tags_event(
    ticket: &tickets::Model,
    actor: &Author,
    to: &Tags,
    now: DateTime<Utc>,
) -> ticket_events::ActiveModel {
    event(
        ticket,
        TicketEventKind::TagsChanged,
        actor,
        tags_change(ticket, to),
        false,
        now,
    )
}

/// Before any change: a merged ticket answers with where it went, and the collision guard
/// lets a change sent with `If-Match` apply only to the version it names.
pub(super) fn check_version(
    ticket: &tickets::Model,
    if_match: Option<i64>,
) -> Result<(), TicketError> {
    if let Some(into) = ticket.merged_into {
        return Err(TicketError::Merged { into });
    }
    match if_match {
        Some(expected) if expected != ticket.version => Err(TicketError::PreconditionFailed {
            current: ticket.version,
        }),
        _ => Ok(()),
    }
}

/// Finds a ticket; `tenant_id` scopes it to one tenant (operators pass `None`).
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    ticket_id: Uuid,
    tenant_id: Option<Uuid>,
) -> Result<tickets::Model, TicketError> {
    let mut query = tickets::Entity::find_by_id(ticket_id);
    if let Some(tenant_id) = tenant_id {
        query = query.filter(tickets::Column::TenantId.eq(tenant_id));
    }
    query.one(conn).await?.ok_or(TicketError::NotFound)
}

pub struct Created {
    pub ticket: tickets::Model,
    pub message: messages::Model,
}

/// Each create of a batch, or the error that failed the whole batch.
pub type BatchResult = Result<Vec<Result<Created, TicketError>>, TicketError>;

/// Opens a batch of one tenant's tickets in one transaction (its actor gathers the creates
/// waiting in its mailbox; docs/PERFORMANCE.md): see [`create_batch_in`].
pub async fn create_batch(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: Uuid,
    batch: Vec<NewTicket>,
    now: DateTime<Utc>,
) -> BatchResult {
    in_create_transaction(db, async |txn| {
        create_batch_in(txn, config, tenant_id, batch, now).await
    })
    .await
}

/// Runs `write` in a write transaction and commits it unless `write` failed (then nothing
/// it did is kept), timing the create stages `Begin` and `Transaction` for `/metrics`.
pub async fn in_create_transaction<T>(
    db: &DatabaseConnection,
    write: impl AsyncFnOnce(&DatabaseTransaction) -> Result<T, TicketError>,
) -> Result<T, TicketError> {
    let begin = Instant::now();
    let txn = begin_write(db).await?;
    let began = Instant::now();
    observe_create_stage(CreateStage::Begin, began - begin);
    let written = write(&txn).await?;
    txn.commit().await?;
    observe_create_stage(CreateStage::Transaction, began.elapsed());
    Ok(written)
}

/// Writes a batch of one tenant's tickets in `txn`: each is charged its fee in order,
/// snapshots its SLA and saves its description as the first message. A ticket the balance
/// cannot pay for gets `402` and nothing of it is saved. The outer error fails the whole
/// batch (the caller rolls back what it wrote).
pub async fn create_batch_in(
    txn: &DatabaseTransaction,
    config: &Config,
    tenant_id: Uuid,
    batch: Vec<NewTicket>,
    now: DateTime<Utc>,
) -> BatchResult {
    let now = crate::db::as_stored(now);
    let ticket_ids: Vec<Uuid> = batch.iter().map(|_| TicketId::new().uuid()).collect();
    let fee = config.ticket_fee_cents;
    let (tenant, charges) = if fee > 0 {
        let fees = ledger::charge_fees(txn, tenant_id, fee, &ticket_ids, now)
            .await?
            .ok_or(TicketError::NotFound)?;
        (fees.tenant, fees.entries.into_iter().map(Some).collect())
    } else {
        let tenant = tenants::Entity::find_by_id(tenant_id)
            .one(txn)
            .await?
            .ok_or(TicketError::NotFound)?;
        (tenant, vec![None; batch.len()])
    };
    let refused = batch.len() - charges.len();
    let refusals = std::iter::repeat_with(|| Err(TicketError::InsufficientCredits)).take(refused);
    if charges.is_empty() {
        return Ok(refusals.collect());
    }
    let low_balance_after = charges
        .iter()
        .flatten()
        .map(|e| e.balance_after_cents)
        .find(|&after| {
            let threshold = fee.saturating_mul(LOW_BALANCE_FEES);
            after < threshold && after + fee >= threshold
        });
    let plan = Plan::from_stored(&tenant.plan);
    let mut created = Vec::with_capacity(charges.len());
    for ((new, id), charge) in batch.into_iter().zip(ticket_ids).zip(charges) {
        created.push(new_ticket(config, &tenant, plan, id, new, charge, now));
    }
    tickets::Entity::insert_many(
        created
            .iter()
            .map(|c| c.ticket.clone().into_active_model().reset_all()),
    )
    .exec_without_returning(txn)
    .await?;
    crate::sla::schedule(txn, config, created.iter().map(|c| &c.ticket), now).await?;
    messages::Entity::insert_many(
        created
            .iter()
            .map(|c| c.message.clone().into_active_model().reset_all()),
    )
    .exec_without_returning(txn)
    .await?;
    ticket_events::Entity::insert_many(created.iter().map(|c| {
        event(
            &c.ticket,
            TicketEventKind::Created,
            &Author::Customer,
            json!({"status": TicketStatus::Open}),
            true,
            now,
        )
    }))
    .exec_without_returning(txn)
    .await?;
    let payloads = created
        .iter()
        .map(|c| json!({"ticket": TicketOut::summary(c.ticket.clone(), now)}))
        .collect();
    events::emit_many(
        txn,
        config,
        tenant_id,
        events::TICKET_CREATED,
        payloads,
        Audience::Subscribers,
        now,
    )
    .await?;
    // After the tickets: the notice takes the feed's lock, which must come after every row
    // this transaction writes (a ticket's count rows may wait on another create's).
    if let Some(balance_after) = low_balance_after {
        notifications::notify(txn, tenant_id, low_balance(balance_after, fee), now).await?;
    }
    let drafts = created.iter().map(|c| {
        let draft = emails::to_support(config, &c.ticket, EmailKind::NewTicket, &c.message.body);
        (&c.ticket, draft)
    });
    emails::queue_many(txn, config, drafts, now).await?;
    Ok(created.into_iter().map(Ok).chain(refusals).collect())
}

fn low_balance(balance_cents: i64, fee: i64) -> Notice {
    Notice {
        kind: NotificationKind::LowBalance,
        title: "Your balance is running low".into(),
        body: format!(
            "Your balance is {balance_cents} cents, enough for {} more tickets. Ask us for a top-up to keep opening tickets.",
            balance_cents / fee
        ),
        ticket_id: None,
    }
}

/// The rows of one new ticket, as they will be stored.
fn new_ticket(
    config: &Config,
    tenant: &tenants::Model,
    plan: Plan,
    id: Uuid,
    new: NewTicket,
    charge: Option<ledger_entries::Model>,
    now: DateTime<Utc>,
) -> Created {
    let sla = SlaSnapshot::for_ticket(plan, new.priority, now, &config.business_hours);
    let (email_status, email_reason) = if config.resend_api_key.is_some() {
        (TicketEmailStatus::Queued, None)
    } else {
        (
            TicketEmailStatus::Skipped,
            Some(EMAIL_NOT_CONFIGURED.to_string()),
        )
    };
    let fee = config.ticket_fee_cents;
    let ticket = tickets::Model {
        id,
        tenant_id: tenant.id,
        subject: new.subject.into_inner(),
        category: new.category,
        priority: new.priority,
        priority_rank: i16::from(new.priority.rank()),
        status: TicketStatus::Open,
        description: new.description.as_str().to_string(),
        call_id: new.call_id.map(ShortRef::into_inner),
        source_session_id: new.source_session_id.map(ShortRef::into_inner),
        contact_email: new
            .contact_email
            .map(Email::into_inner)
            .unwrap_or_else(|| tenant.email.clone()),
        plan_tier: plan.as_str().to_string(),
        sla_tier: sla.tier,
        sla_first_response_target: sla.first_response_target,
        sla_priority_queue: sla.priority_queue,
        first_response_due_at: sla.first_response_due_at,
        first_response_at: None,
        charge_cents: fee,
        charge_status: if fee > 0 {
            ChargeStatus::Pending
        } else {
            ChargeStatus::None
        },
        charge_entry_id: charge.map(|e| e.id),
        bounty_status: BountyStatus::None,
        bounty_cents: 0,
        email_status,
        email_reason,
        message_count: 1,
        created_at: now,
        updated_at: now,
        resolved_at: None,
        closed_at: None,
        version: 1,
        assignee_id: None,
        tags: String::new(),
        merged_into: None,
    };
    let message = message_row(
        &ticket,
        &Author::Customer,
        new.description.into_inner(),
        false,
        now,
    );
    Created { ticket, message }
}

async fn insert_message(
    txn: &DatabaseTransaction,
    ticket: &tickets::Model,
    actor: &Author,
    body: String,
    internal: bool,
    now: DateTime<Utc>,
) -> Result<messages::Model, TicketError> {
    let row = message_row(ticket, actor, body, internal, now);
    Ok(
        messages::Entity::insert(row.into_active_model().reset_all())
            .exec_with_returning(txn)
            .await?,
    )
}

fn message_row(
    ticket: &tickets::Model,
    actor: &Author,
    body: String,
    internal: bool,
    now: DateTime<Utc>,
) -> messages::Model {
    let (author, author_name) = match actor {
        Author::Customer => (MessageAuthor::Customer, None),
        Author::Operator(name) => (MessageAuthor::Operator, Some(name.clone())),
        Author::Bot(name) => (MessageAuthor::TriageBot, Some(name.clone())),
        Author::System => (MessageAuthor::System, None),
    };
    messages::Model {
        id: MessageId::new().uuid(),
        ticket_id: ticket.id,
        tenant_id: ticket.tenant_id,
        author,
        author_name,
        body,
        internal,
        created_at: now,
        merged_from: None,
    }
}

/// What a status change does to the ticket's timestamps.
pub(super) fn status_columns(
    update: sea_orm::UpdateMany<tickets::Entity>,
    to: TicketStatus,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<tickets::Entity> {
    let update = update.col_expr(tickets::Column::Status, Expr::value(to));
    match to {
        TicketStatus::Resolved => update.col_expr(tickets::Column::ResolvedAt, Expr::value(now)),
        TicketStatus::Closed => update.col_expr(tickets::Column::ClosedAt, Expr::value(now)),
        _ => update.col_expr(
            tickets::Column::ResolvedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
    }
}

/// Applies `to` (and any extra columns) only if the ticket is still the version we read
/// (so still has status `from`), and moves it to the next version.
async fn guarded_update(
    txn: &DatabaseTransaction,
    ticket: &tickets::Model,
    from: TicketStatus,
    to: TicketStatus,
    extra: impl FnOnce(sea_orm::UpdateMany<tickets::Entity>) -> sea_orm::UpdateMany<tickets::Entity>,
    now: DateTime<Utc>,
) -> Result<bool, TicketError> {
    let update = tickets::Entity::update_many()
        .col_expr(tickets::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            tickets::Column::Version,
            Expr::col(tickets::Column::Version).add(1),
        )
        .filter(tickets::Column::Id.eq(ticket.id))
        .filter(tickets::Column::Version.eq(ticket.version))
        .filter(tickets::Column::Status.eq(from));
    let update = if to == from {
        update
    } else {
        status_columns(update, to, now)
    };
    Ok(extra(update).exec(txn).await?.rows_affected == 1)
}

pub struct Replied {
    pub message: messages::Model,
    pub ticket: tickets::Model,
}

/// Adds a message. The customer's reply reopens `resolved`/`awaiting_user`; an operator's
/// public reply moves `open`/`in_progress` to `awaiting_user` (or to the status it names)
/// and starts the first-response clock; an internal note changes nothing.
/// A message to add to a ticket.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub ticket_id: Uuid,
    pub actor: Author,
    pub body: Compose,
    pub internal: bool,
    /// An operator may name the status the reply leaves the ticket in.
    pub status: Option<TicketStatus>,
    /// `If-Match`: the version the author saw; `None` checks nothing.
    pub if_match: Option<i64>,
}

/// What a message says: its text, or an operator's macro rendered for the ticket (whose
/// status and tags then apply too, in the same transaction).
#[derive(Debug, Clone)]
pub enum Compose {
    Text(MessageBody),
    Macro(Uuid),
}

/// A macro applied to one ticket: the rendered body, the status it sets, the tags after it.
struct Applied {
    body: MessageBody,
    status: Option<TicketStatus>,
    tags: Option<Tags>,
}

async fn apply_macro(
    txn: &DatabaseTransaction,
    ticket: &tickets::Model,
    actor: &Author,
    macro_id: Uuid,
) -> Result<Applied, TicketError> {
    let canned = match crate::macros::find(txn, macro_id).await {
        Ok(m) => m,
        Err(crate::macros::MacroError::NotFound) => return Err(TicketError::UnknownMacro),
        Err(crate::macros::MacroError::Db(e)) => return Err(e.into()),
    };
    let tenant = tenants::Entity::find_by_id(ticket.tenant_id)
        .one(txn)
        .await?
        .ok_or_else(|| TicketError::Corrupt(format!("ticket {} has no tenant", ticket.id)))?;
    let operator = match actor {
        Author::Operator(name) => name.as_str(),
        _ => "",
    };
    let ticket_ref = TicketId::from_uuid(ticket.id).to_string();
    let values = template::Values {
        ticket_subject: &ticket.subject,
        ticket_id: &ticket_ref,
        tenant_name: &tenant.name,
        contact_email: &ticket.contact_email,
        operator_name: operator,
    };
    let body =
        MessageBody::parse(&template::render(&canned.body, &values)).map_err(TicketError::Field)?;
    let status = canned.status;
    let added = Tags::from_stored(&canned.tags);
    let tags = if added.is_empty() {
        None
    } else {
        let mut all = Tags::from_stored(&ticket.tags);
        all.extend(added);
        Some(Tags::parse(&all).map_err(TicketError::Field)?)
    };
    Ok(Applied { body, status, tags })
}

pub async fn reply(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: Uuid,
    m: NewMessage,
    now: DateTime<Utc>,
) -> Result<Replied, TicketError> {
    let NewMessage {
        ticket_id,
        actor,
        body,
        internal,
        status: requested,
        if_match,
    } = m;
    retry_on_race(|| {
        let (actor, body) = (actor.clone(), body.clone());
        async move {
            let txn = begin_write(db).await?;
            let ticket = find(&txn, ticket_id, Some(tenant_id)).await?;
            check_version(&ticket, if_match)?;
            let from = ticket.status;
            let (body, requested, tags) = match body {
                Compose::Text(body) => (body, requested, None),
                Compose::Macro(id) => {
                    let applied = apply_macro(&txn, &ticket, &actor, id).await?;
                    (applied.body, requested.or(applied.status), applied.tags)
                }
            };
            let new_tags = tags.filter(|t| t.to_stored() != ticket.tags);
            let to = match &actor {
                Author::Customer => status::customer_reply(from),
                Author::Bot(_) => status::bot_reply(from),
                _ => status::operator_reply(from, internal, requested),
            }
            ?;
            let first_response = matches!(actor, Author::Operator(_))
                && !internal
                && ticket.first_response_at.is_none();
            let changed = guarded_update(
                &txn,
                &ticket,
                from,
                to,
                |u| {
                    // Internal notes are invisible to the tenant, so they do not count.
                    let u = if internal {
                        u
                    } else {
                        u.col_expr(
                            tickets::Column::MessageCount,
                            Expr::col(tickets::Column::MessageCount).add(1),
                        )
                    };
                    let u = match &new_tags {
                        Some(t) => u.col_expr(tickets::Column::Tags, Expr::value(t.to_stored())),
                        None => u,
                    };
                    if first_response {
                        u.col_expr(tickets::Column::FirstResponseAt, Expr::value(now))
                    } else {
                        u
                    }
                },
                now,
            )
            .await?;
            if !changed {
                return Ok(Attempt::Raced);
            }
            let message = insert_message(&txn, &ticket, &actor, body.into_inner(), internal, now).await?;
            let mut events = vec![event(
                &ticket,
                TicketEventKind::MessageAdded,
                &actor,
                json!({"message_id": MessageId::from_uuid(message.id).to_string(), "author": message.author, "internal": internal}),
                !internal,
                now,
            )];
            if to != from {
                events.push(event(&ticket, TicketEventKind::StatusChanged, &actor, json!({"from": from, "to": to}), true, now));
            }
            if let Some(t) = &new_tags {
                events.push(tags_event(&ticket, &actor, t, now));
            }
            ticket_events::Entity::insert_many(events).exec(&txn).await?;
            if matches!(actor, Author::Operator(_)) && !internal {
                let notice = Notice {
                    kind: NotificationKind::OperatorReply,
                    title: format!("Support replied: {}", ticket.subject),
                    body: notifications::excerpt(&message.body),
                    ticket_id: Some(ticket.id),
                };
                notifications::notify(&txn, ticket.tenant_id, notice, now).await?;
            }
            let ticket_now = find(&txn, ticket_id, None).await?;
            announce_reply(&txn, config, &ticket_now, &message, &actor, from, to, now).await?;
            if let Some(t) = &new_tags {
                let mut changes = serde_json::Map::new();
                changes.insert("tags".into(), tags_change(&ticket, t));
                internal_update(&txn, &ticket_now, changes, now).await?;
            }
            txn.commit().await?;
            Ok(Attempt::Done(Replied { message, ticket: ticket_now }))
        }
    })
    .await
}

/// A change of status and, for operators, of priority, assignee and tags. Tenants are held
/// to `status::tenant_set`.
#[derive(Debug, Clone)]
pub struct TicketChange {
    pub ticket_id: Uuid,
    pub actor: Author,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<Uuid>>,
    pub tags: Option<Tags>,
    /// `If-Match`: the version the author saw; `None` checks nothing.
    pub if_match: Option<i64>,
}

pub async fn update(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: Uuid,
    change: TicketChange,
    now: DateTime<Utc>,
) -> Result<tickets::Model, TicketError> {
    let TicketChange {
        ticket_id,
        actor,
        status: to,
        priority,
        assignee,
        tags,
        if_match,
    } = change;
    let assignee = match assignee {
        Some(Some(id)) => Some(Some(
            staff::find_active(db, id)
                .await?
                .ok_or(TicketError::UnknownAssignee)?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    retry_on_race(|| {
        let (actor, assignee, tags) = (actor.clone(), assignee.clone(), tags.clone());
        async move {
            let txn = begin_write(db).await?;
            let ticket = find(&txn, ticket_id, Some(tenant_id)).await?;
            check_version(&ticket, if_match)?;
            let from = ticket.status;
            let to = match (to, &actor) {
                (Some(to), Author::Customer) => status::tenant_set(from, to),
                (Some(to), _) => status::operator_set(from, to),
                (None, _) if from == TicketStatus::Closed => Err(TransitionError::Closed),
                (None, _) => Ok(from),
            }?;
            let new_assignee = assignee
                .as_ref()
                .map(|a| a.as_ref().map(|s| s.id))
                .filter(|a| *a != ticket.assignee_id);
            let new_tags = tags.as_ref().filter(|t| t.to_stored() != ticket.tags);
            let changed = guarded_update(
                &txn,
                &ticket,
                from,
                to,
                |u| {
                    let u = match priority {
                        Some(p) => u
                            .col_expr(tickets::Column::Priority, Expr::value(p))
                            .col_expr(
                                tickets::Column::PriorityRank,
                                Expr::value(i16::from(p.rank())),
                            ),
                        None => u,
                    };
                    let u = match new_assignee {
                        Some(a) => u.col_expr(tickets::Column::AssigneeId, Expr::value(a)),
                        None => u,
                    };
                    match new_tags {
                        Some(t) => u.col_expr(tickets::Column::Tags, Expr::value(t.to_stored())),
                        None => u,
                    }
                },
                now,
            )
            .await?;
            if !changed {
                return Ok(Attempt::Raced);
            }
            let mut events = Vec::new();
            if to != from {
                events.push(event(
                    &ticket,
                    TicketEventKind::StatusChanged,
                    &actor,
                    json!({"from": from, "to": to}),
                    true,
                    now,
                ));
            }
            if let Some(p) = priority.filter(|p| *p != ticket.priority) {
                events.push(event(
                    &ticket,
                    TicketEventKind::PriorityChanged,
                    &actor,
                    json!({"from": ticket.priority, "to": p}),
                    true,
                    now,
                ));
            }
            // Assignment and tags are the operators' business: internal events.
            if let Some(a) = &assignee
                && new_assignee.is_some()
            {
                let to = a.as_ref().map(|s| json!({"id": s.id, "name": s.name}));
                events.push(event(
                    &ticket,
                    TicketEventKind::Assigned,
                    &actor,
                    json!({"from": ticket.assignee_id, "to": to}),
                    false,
                    now,
                ));
            }
            if let Some(t) = new_tags {
                events.push(tags_event(&ticket, &actor, t, now));
            }
            if !events.is_empty() {
                ticket_events::Entity::insert_many(events)
                    .exec(&txn)
                    .await?;
            }
            if matches!(actor, Author::Operator(_)) && to != from {
                let notice = Notice {
                    kind: NotificationKind::StatusChanged,
                    title: format!("Ticket {}", to.as_str().replace('_', " ")),
                    body: format!("“{}” moved from {} to {}.", ticket.subject, from, to),
                    ticket_id: Some(ticket.id),
                };
                notifications::notify(&txn, ticket.tenant_id, notice, now).await?;
            }
            let ticket_now = find(&txn, ticket_id, None).await?;
            if to != from {
                announce_status(&txn, config, &ticket_now, &actor, from, to, now).await?;
            }
            if let Some(p) = priority.filter(|p| *p != ticket.priority) {
                // Event feed: fields without a webhook of their own.
                let changes = json!({"priority": {"from": ticket.priority, "to": p}});
                let data = json!({"ticket": TicketOut::summary(ticket_now.clone(), now), "changes": changes});
                feed::record_one(&txn, tenant_id, feed::TICKET_UPDATED, data, Visibility::Tenant, now).await?;
            }
            let mut internal = serde_json::Map::new();
            if let (Some(a), Some(_)) = (&assignee, new_assignee) {
                let to = a.as_ref().map(|s| s.id);
                internal.insert("assignee_id".into(), json!({"from": ticket.assignee_id, "to": to}));
            }
            if let Some(t) = new_tags {
                internal.insert("tags".into(), tags_change(&ticket, t));
            }
            internal_update(&txn, &ticket_now, internal, now).await?;
            txn.commit().await?;
            Ok(Attempt::Done(ticket_now))
        }
    })
    .await
}

/// Credits the bounty of a confirmed bug report, once.
pub async fn award_bounty(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: Uuid,
    ticket_id: Uuid,
    operator: String,
    amount_cents: i64,
    now: DateTime<Utc>,
) -> Result<(tickets::Model, entities::ledger_entries::Model), TicketError> {
    let txn = begin_write(db).await?;
    let ticket = find(&txn, ticket_id, Some(tenant_id)).await?;
    if ticket.category != Category::Bug {
        return Err(TicketError::NotBountyEligible);
    }
    // The guard on bounty_status makes a second award a no-op on every node.
    let awarded = tickets::Entity::update_many()
        .col_expr(
            tickets::Column::BountyStatus,
            Expr::value(BountyStatus::Awarded),
        )
        .col_expr(
            tickets::Column::Version,
            Expr::col(tickets::Column::Version).add(1),
        )
        .col_expr(tickets::Column::BountyCents, Expr::value(amount_cents))
        .col_expr(tickets::Column::UpdatedAt, Expr::value(now))
        .filter(tickets::Column::Id.eq(ticket_id))
        .filter(tickets::Column::BountyStatus.eq(BountyStatus::None))
        .exec(&txn)
        .await?;
    if awarded.rows_affected != 1 {
        return Err(TicketError::BountyAlreadyAwarded);
    }
    let change = Change {
        tenant_id,
        kind: LedgerKind::BountyCredit,
        amount_cents,
        ticket_id: Some(ticket_id),
        note: Some(format!("bug bounty confirmed by {operator}")),
    };
    let entry = ledger::apply(&txn, change, now)
        .await
        .map_err(|e| match e {
            ApplyError::Db(e) => TicketError::Db(e),
            ApplyError::InsufficientBalance => TicketError::Corrupt("a credit was refused".into()),
        })?;
    let actor = Author::Operator(operator);
    ticket_events::Entity::insert(event(
        &ticket,
        TicketEventKind::BountyAwarded,
        &actor,
        json!({"amount_cents": amount_cents}),
        true,
        now,
    ))
    .exec(&txn)
    .await?;
    let notice = Notice {
        kind: NotificationKind::BountyAwarded,
        title: "Bug bounty awarded".into(),
        body: format!(
            "Thanks for reporting “{}”: {} cents were credited to your balance.",
            ticket.subject, amount_cents
        ),
        ticket_id: Some(ticket.id),
    };
    notifications::notify(&txn, tenant_id, notice, now).await?;
    let ticket = find(&txn, ticket_id, None).await?;
    let data = json!({"ticket_id": TicketId::from_uuid(ticket_id).to_string(), "amount_cents": amount_cents});
    events::emit(
        &txn,
        config,
        tenant_id,
        events::BOUNTY_AWARDED,
        data,
        Audience::Subscribers,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((ticket, entry))
}

/// Tells the outside world about a new message: the public-message webhook, the status
/// webhook when it moved, and the email to support (customer) or to the contact (operator).
#[allow(clippy::too_many_arguments)]
async fn announce_reply(
    txn: &DatabaseTransaction,
    config: &Config,
    ticket: &tickets::Model,
    message: &messages::Model,
    actor: &Author,
    from: TicketStatus,
    to: TicketStatus,
    now: DateTime<Utc>,
) -> Result<(), TicketError> {
    let data = json!({
        "ticket_id": TicketId::from_uuid(ticket.id).to_string(),
        "message": MessageOut::from(message.clone()),
        "ticket_status": to,
    });
    if message.internal {
        // Event feed: operators see internal notes; webhooks and tenants never do.
        let kind = events::MESSAGE_CREATED;
        feed::record_one(txn, ticket.tenant_id, kind, data, Visibility::Internal, now).await?;
        return Ok(());
    }
    events::emit(
        txn,
        config,
        ticket.tenant_id,
        events::MESSAGE_CREATED,
        data,
        Audience::Subscribers,
        now,
    )
    .await?;
    match actor {
        Author::Customer => {
            let draft = emails::to_support(config, ticket, EmailKind::CustomerReply, &message.body);
            emails::queue(txn, config, ticket, draft, now).await?;
        }
        Author::Operator(_) => {
            if preferences(txn, ticket.tenant_id)
                .await?
                .email_on_operator_reply
            {
                let draft = emails::to_contact(ticket, EmailKind::OperatorReply, &message.body);
                emails::queue(txn, config, ticket, draft, now).await?;
            }
        }
        Author::Bot(_) | Author::System => {}
    }
    if to != from {
        status_webhook(txn, config, ticket, actor, from, to, now).await?;
    }
    Ok(())
}

/// A status change: the webhook, and for an operator's change the contact's email if wanted.
async fn announce_status(
    txn: &DatabaseTransaction,
    config: &Config,
    ticket: &tickets::Model,
    actor: &Author,
    from: TicketStatus,
    to: TicketStatus,
    now: DateTime<Utc>,
) -> Result<(), TicketError> {
    status_webhook(txn, config, ticket, actor, from, to, now).await?;
    if matches!(actor, Author::Operator(_))
        && preferences(txn, ticket.tenant_id)
            .await?
            .email_on_status_change
    {
        let text = format!(
            "Your ticket “{}” is now {}.",
            ticket.subject,
            to.as_str().replace('_', " ")
        );
        let draft = emails::to_contact(ticket, EmailKind::StatusChanged, &text);
        emails::queue(txn, config, ticket, draft, now).await?;
    }
    Ok(())
}

pub(super) async fn status_webhook(
    txn: &DatabaseTransaction,
    config: &Config,
    ticket: &tickets::Model,
    actor: &Author,
    from: TicketStatus,
    to: TicketStatus,
    now: DateTime<Utc>,
) -> Result<(), TicketError> {
    let data = json!({
        "ticket_id": TicketId::from_uuid(ticket.id).to_string(),
        "from": from,
        "to": to,
        "actor": actor.label(),
    });
    events::emit(
        txn,
        config,
        ticket.tenant_id,
        events::STATUS_CHANGED,
        data,
        Audience::Subscribers,
        now,
    )
    .await?;
    Ok(())
}
