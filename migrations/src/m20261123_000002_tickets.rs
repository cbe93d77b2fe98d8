//! Tickets, their messages and events, and idempotency records.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tickets")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(text("subject"))
                    .col(string("category"))
                    .col(string("priority"))
                    // low 0 … urgent 3, for the operator inbox's ordering
                    .col(small_integer("priority_rank"))
                    .col(string("status"))
                    .col(text("description"))
                    .col(string_null("call_id"))
                    .col(string_null("source_session_id"))
                    .col(string("contact_email"))
                    .col(string("plan_tier"))
                    .col(string("sla_tier"))
                    .col(string("sla_first_response_target"))
                    .col(boolean("sla_priority_queue"))
                    .col(timestamp_with_time_zone_null("first_response_due_at"))
                    .col(timestamp_with_time_zone_null("first_response_at"))
                    .col(big_integer("charge_cents"))
                    .col(string("charge_status"))
                    .col(uuid_null("charge_entry_id"))
                    .col(string("bounty_status"))
                    .col(big_integer("bounty_cents"))
                    .col(string("email_status"))
                    .col(string_null("email_reason"))
                    .col(integer("message_count"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("tickets", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tickets_tenant_id")
                    .table("tickets")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tickets_inbox")
                    .table("tickets")
                    .col("status")
                    .col("sla_priority_queue")
                    .col("priority_rank")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .col(uuid("id").primary_key())
                    .col(uuid("ticket_id"))
                    .col(uuid("tenant_id"))
                    // customer | operator | triage_bot | system
                    .col(string("author"))
                    .col(string_null("author_name"))
                    .col(text("body"))
                    .col(boolean("internal"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("messages", "ticket_id")
                            .to("tickets", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_ticket")
                    .table("messages")
                    .col("ticket_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("ticket_events")
                    .col(uuid("id").primary_key())
                    .col(uuid("ticket_id"))
                    .col(uuid("tenant_id"))
                    // created | message_added | status_changed | bounty_awarded | erased
                    .col(string("kind"))
                    // customer | operator:<name> | system
                    .col(string("actor"))
                    .col(json_null("data"))
                    // false for events about internal notes
                    .col(boolean("public"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("ticket_events", "ticket_id")
                            .to("tickets", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_events_ticket")
                    .table("ticket_events")
                    .col("ticket_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(uuid("tenant_id"))
                    .col(string_len("key", 255))
                    .col(string("request_hash"))
                    // in_progress | done
                    .col(string("state"))
                    .col(integer_null("response_status"))
                    .col(text_null("response_body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("tenant_id").col("key"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_created")
                    .table("idempotency_keys")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["idempotency_keys", "ticket_events", "messages", "tickets"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
