-- pgbench script: the SQL of one ticket create (src/tickets/ops.rs::create_batch with
-- src/ledger.rs::charge_fees and src/events.rs::emit_many), for the bench's own seeded tenant
-- b0000000-0000-7000-8000-00000000be9c (an enterprise tenant with a large balance, no webhook
-- endpoints, no ops webhook, no Resend key: exactly what the `create` scenario exercises).
-- Statement for statement what the server sends for one create (checked against the
-- PostgreSQL statement log of a real create), in one transaction: 9 round trips. (The
-- server opens the creates that queue up in a tenant's actor together, one statement per
-- table for the whole group; this baseline is always one ticket per transaction.)
-- Run by bench/run.sh as: pgbench -n -M prepared -c C -j 2 -T D -f bench/create.sql DB
\set r random(1, 281474976710655)
BEGIN;
-- ledger::charge_fees: the conditional debit returning the tenant (plan, email, new balance), the entry and its billing job
UPDATE "tenants" SET "balance_cents" = "balance_cents" - 1, "updated_at" = now() WHERE "tenants"."id" = 'b0000000-0000-7000-8000-00000000be9c' AND "tenants"."balance_cents" >= 1 RETURNING "id", "name", "email", "plan", "limits_mode", "limit_rpm", "limit_burst", "balance_cents", "created_at", "updated_at";
INSERT INTO "ledger_entries" ("id", "tenant_id", "kind", "amount_cents", "balance_after_cents", "ticket_id", "note", "status", "settle_attempts", "next_attempt_at", "last_error", "created_at", "settled_at") VALUES (gen_random_uuid(), 'b0000000-0000-7000-8000-00000000be9c', 'ticket_fee', -1, 99999999, ('00000000-0000-7000-8000-' || lpad(to_hex(:r::bigint), 12, '0'))::uuid, NULL, 'pending', 0, now(), NULL, now(), NULL);
INSERT INTO "outbox" ("id", "queue", "payload", "available_at", "claim_token", "claimed_until", "sent_at", "created_at") VALUES (gen_random_uuid(), 'billing', '{"entry_id": "0197f0c4-1d2e-7a51-9c3b-5d0e1f2a3b4c"}', now(), NULL, NULL, NULL, now());
-- the ticket and its first message
INSERT INTO "tickets" ("id", "tenant_id", "subject", "category", "priority", "priority_rank", "status", "description", "call_id", "source_session_id", "contact_email", "plan_tier", "sla_tier", "sla_first_response_target", "sla_priority_queue", "first_response_due_at", "first_response_at", "charge_cents", "charge_status", "charge_entry_id", "bounty_status", "bounty_cents", "email_status", "email_reason", "message_count", "created_at", "updated_at", "resolved_at", "closed_at") VALUES (('00000000-0000-7000-8000-' || lpad(to_hex(:r::bigint), 12, '0'))::uuid, 'b0000000-0000-7000-8000-00000000be9c', 'Bench ticket', 'api_sdk', 'normal', 1, 'open', 'Creating a call with the Node SDK times out after 30 seconds (bench).', NULL, NULL, 'pgbench@bench.test', 'enterprise', 'enterprise', '4 hours, 24/7 for urgent issues', true, now() + interval '4 hours', NULL, 1, 'pending', gen_random_uuid(), 'none', 0, 'skipped', 'RESEND_API_KEY is not configured', 1, now(), now(), NULL, NULL);
INSERT INTO "messages" ("id", "ticket_id", "tenant_id", "author", "author_name", "body", "internal", "created_at") VALUES (gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(:r::bigint), 12, '0'))::uuid, 'b0000000-0000-7000-8000-00000000be9c', 'customer', NULL, 'Creating a call with the Node SDK times out after 30 seconds (bench).', false, now());
-- the ticket event, the subscribed endpoints (none: so no webhook event is stored)
INSERT INTO "ticket_events" ("id", "ticket_id", "tenant_id", "kind", "actor", "data", "public", "created_at") VALUES (gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(:r::bigint), 12, '0'))::uuid, 'b0000000-0000-7000-8000-00000000be9c', 'created', 'customer', '{"status": "open"}', true, now());
SELECT "webhook_endpoints"."id", "webhook_endpoints"."tenant_id", "webhook_endpoints"."url", "webhook_endpoints"."events", "webhook_endpoints"."description", "webhook_endpoints"."secret", "webhook_endpoints"."enabled", "webhook_endpoints"."disabled_reason", "webhook_endpoints"."created_at", "webhook_endpoints"."updated_at" FROM "webhook_endpoints" WHERE "webhook_endpoints"."tenant_id" = 'b0000000-0000-7000-8000-00000000be9c' AND "webhook_endpoints"."enabled" = true;
COMMIT;
