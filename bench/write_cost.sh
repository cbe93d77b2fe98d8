#!/usr/bin/env bash
# What the kept counts and the search index cost the write path (issue 15), on PostgreSQL +
# Redis (docs/PERFORMANCE.md, "The write path with the counts and the index"):
#
#   SKIP_BUILD=1 CARGO_TARGET_DIR=… bench/write_cost.sh
#
# One database, one `helpline serve`. Alternates two states of the same schema, ROUNDS times:
#   on  — as migrated: the count and search triggers and issue 15's six indexes;
#   off — those triggers disabled and those indexes dropped (the old inbox index back),
# and in each state runs pgbench of bench/create.sql (16 clients), then the `create` and
# `mixed` scenarios through the API (`create` req/s; `create@half` p99, open loop at half the
# `create` rate). The trigger functions' own time per call comes from pg_stat_user_functions
# (`track_functions = pl` on the database). Knobs: ROUNDS=2 DURATION=10 CONCURRENCY=16
# PORT=18090 OUT=dir.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ROUNDS=${ROUNDS:-2}
D=${DURATION:-10}
C=${CONCURRENCY:-16}
PORT=${PORT:-18090}
STAMP=$(date -u +%Y%m%d%H%M%S)
OUT=${OUT:-$ROOT/bench/results/write-cost-$STAMP}
mkdir -p "$OUT"
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p helpline -p helpline-bench
fi

DB="helpline_write_cost_$STAMP"
PG_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export REDIS_URL="redis://127.0.0.1:6379" HELPLINE_REDIS_PREFIX="helpline-write-cost:$STAMP:"
export HELPLINE_RATE_LIMIT_BACKEND=redis
export HELPLINE_ADMIN_TOKEN="hl_staff_bench$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export HELPLINE_LISTEN="127.0.0.1:$PORT" HELPLINE_ALLOW_PRIVATE_TARGETS=true \
  HELPLINE_ACTOR_IDLE=10s RUST_LOG=warn HELPLINE_LOG_FORMAT=text
unset RESEND_API_KEY HELPLINE_OPS_WEBHOOK_URL HELPLINE_BILLING_URL

SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "helpline-write-cost:$STAMP:*" |
    xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 DEL >/dev/null || true
}
trap cleanup EXIT

psql "$PG_ADMIN" -qc "CREATE DATABASE $DB"
psql "$PG_ADMIN" -qc "ALTER DATABASE $DB SET track_functions = 'pl'"
"$TARGET/release/helpline" serve >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "INSERT INTO tenants (id, name, email, plan, limits_mode, balance_cents, created_at, updated_at) VALUES ('b0000000-0000-7000-8000-00000000be9c', 'pgbench', 'pgbench@bench.test', 'enterprise', 'plan', 1000000000, now(), now())"

INDEXES="CREATE INDEX idx_tickets_inbox_status ON tickets (status, inbox_rank, inbox_due, id);
CREATE INDEX idx_tickets_inbox_all ON tickets (inbox_rank, inbox_due, id);
CREATE INDEX idx_tickets_tenant_status ON tickets (tenant_id, status, id);
CREATE INDEX idx_tickets_tenant_status_priority ON tickets (tenant_id, status, priority, id);
CREATE INDEX idx_tickets_search_public ON tickets USING gin (search_public);
CREATE INDEX idx_tickets_search_all ON tickets USING gin ((search_public || search_internal));"
state() {
  if [ "$1" = off ]; then
    psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 <<SQL
ALTER TABLE tickets DISABLE TRIGGER ticket_counts_insert, DISABLE TRIGGER ticket_search_insert;
ALTER TABLE messages DISABLE TRIGGER message_search_insert;
DROP INDEX idx_tickets_inbox_status, idx_tickets_inbox_all, idx_tickets_tenant_status,
  idx_tickets_tenant_status_priority, idx_tickets_search_public, idx_tickets_search_all;
CREATE INDEX idx_tickets_inbox ON tickets (status, sla_priority_queue, priority_rank);
SQL
  else
    psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 <<SQL
ALTER TABLE tickets ENABLE TRIGGER ticket_counts_insert, ENABLE TRIGGER ticket_search_insert;
ALTER TABLE messages ENABLE TRIGGER message_search_insert;
DROP INDEX IF EXISTS idx_tickets_inbox;
$INDEXES
SQL
  fi
  psql -q "$DATABASE_URL" -c "VACUUM ANALYZE tickets" >/dev/null
}
functions() {
  psql -At "$DATABASE_URL" -c "SELECT funcname, calls, round(total_time::numeric, 1), round(self_time::numeric, 1) FROM pg_stat_user_functions ORDER BY funcname"
}

# The database starts "on" (as migrated).
printf 'round state pgbench_tps create_rps create_p99_ms half_rate half_p99_ms load\n' >"$OUT/summary.txt"
for round in $(seq 1 "$ROUNDS"); do
  for s in on off; do
    [ "$round" = 1 ] && [ "$s" = on ] || state "$s"
    pgbench -n -M prepared -c "$C" -j 2 -T 1 -f bench/create.sql "$DATABASE_URL" >/dev/null 2>&1 || true
    pgbench -n -M prepared -c "$C" -j 2 -T "$D" -f bench/create.sql "$DATABASE_URL" \
      >"$OUT/pgbench-$round-$s.txt" 2>&1
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench-$round-$s.txt" | head -n1)
    functions >"$OUT/functions-before-$round-$s.txt"
    "$TARGET/release/helpline-bench" run --base-url "http://127.0.0.1:$PORT" \
      --scenarios create,mixed --concurrency "$C" --duration "$D" --label "$s/$round" \
      --json "$OUT/bench-$round-$s.json" >"$OUT/bench-$round-$s.txt"
    sleep 1
    functions >"$OUT/functions-after-$round-$s.txt"
    jq -r --arg r "$round" --arg s "$s" --arg tps "$tps" --arg load "$(cut -d' ' -f1 /proc/loadavg)" '
      (.scenarios | map({(.scenario): .}) | add) as $x
      | [$r, $s, $tps, ($x.create.rps | floor), $x.create.p99_ms, ($x["create@half"].extra.rate | floor),
         $x["create@half"].p99_ms, $load] | @tsv' "$OUT/bench-$round-$s.json" >>"$OUT/summary.txt"
    tail -n1 "$OUT/summary.txt" >&2
  done
done
column -t "$OUT/summary.txt"
echo "trigger functions (name, calls, total ms, self ms) after the last 'on' round:"
cat "$OUT/functions-after-$ROUNDS-on.txt"
