#!/usr/bin/env bash
# schemathesis against the live service: `helpline serve` on a temporary SQLite database,
# fuzzed through its own /openapi.json as a tenant (/v1) and as an operator (/admin and the
# operations routes). Fails on any 5xx, any response the document does not describe, or any
# panic in the server's log.
#
# Knobs: SCHEMATHESIS_MAX_EXAMPLES (default 20 per operation), SCHEMATHESIS_SEED (default
# fixed, for a reproducible CI; `random` for a fresh one), SCHEMATHESIS_VENV (where
# schemathesis is installed; default under ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-20}
SEED=${SCHEMATHESIS_SEED:-20261123}
VENV=${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/helpline-ci/schemathesis-$ST_VERSION}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "installing schemathesis $ST_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

WORK=$(mktemp -d)
cargo build --quiet --bin helpline
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# A copy, so a concurrent build in a shared target directory cannot swap it under us.
BIN="$WORK/helpline"
cp "$TARGET_DIR/debug/helpline" "$BIN"

SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
ADMIN_TOKEN="ci-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

# Outbound HTTP (webhook deliveries to whatever URLs the fuzzer registers) goes through a
# proxy on a closed local port: nothing leaves the machine, loopback included. That is why
# private targets may be allowed: webhook URLs are then accepted without a DNS lookup (there
# is no DNS here), so the fuzzer reaches the endpoints it creates. Email, billing and the
# ops webhook stay unset.
(
  cd "$WORK"
  exec env -u REDIS_URL -u RESEND_API_KEY -u HELPLINE_OPS_WEBHOOK_URL -u HELPLINE_BILLING_URL \
    HELPLINE_LISTEN="127.0.0.1:$PORT" \
    DATABASE_URL="sqlite://$WORK/helpline.db?mode=rwc" \
    HELPLINE_ADMIN_TOKEN="$ADMIN_TOKEN" \
    HELPLINE_ALLOW_PRIVATE_TARGETS=true \
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 all_proxy=http://127.0.0.1:9 \
    NO_PROXY= no_proxy= \
    "$BIN" serve
) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 60); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.5
done
curl -fs "$BASE/readyz" >/dev/null

# A tenant on the enterprise plan (no rate limit) with a balance that never runs out.
new_tenant() {
  curl -fsS -X POST "$BASE/admin/tenants" \
    -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$1\", \"email\": \"fuzz@example.com\", \"plan\": \"enterprise\", \"balance_cents\": 100000000}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["secret_key"])'
}
TENANT_KEY=$(new_tenant "Schemathesis")
THROWAWAY_KEY=$(new_tenant "Schemathesis key rotation")

# Some data for the operations that need existing objects (reached through the document's
# links): a webhook endpoint and its deliveries, a ticket, an operator reply (which notifies
# the tenant), and so queued and retrying jobs.
api() {
  local token=$1 method=$2 path=$3 body=${4:-}
  if [ -n "$body" ]; then
    curl -fsS -X "$method" "$BASE$path" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "$body"
  else
    curl -fsS -X "$method" "$BASE$path" -H "Authorization: Bearer $token"
  fi
}
field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
WEBHOOK_ID=$(api "$TENANT_KEY" POST /v1/webhooks \
  '{"url": "https://hooks.example.com/helpline", "events": ["support.ticket_created", "support.message_created"]}' |
  field '["id"]')
api "$TENANT_KEY" POST "/v1/webhooks/$WEBHOOK_ID/test" >/dev/null
TICKET_ID=$(api "$TENANT_KEY" POST /v1/support/tickets \
  '{"subject": "Seed ticket", "category": "bug", "description": "A ticket for the fuzzer to find."}' |
  field '["ticket"]["id"]')
api "$ADMIN_TOKEN" POST "/admin/support/tickets/$TICKET_ID/reply" \
  '{"body": "We are looking into it."}' >/dev/null
api "$TENANT_KEY" POST /v1/agents '{"name": "Seed agent"}' >/dev/null
api "$TENANT_KEY" POST /v1/numbers '{"number": "+15550001111"}' >/dev/null

seed_args=()
if [ "$SEED" != random ]; then seed_args=(--seed "$SEED"); fi

run() {
  local name=$1
  shift
  printf '\n-- schemathesis: %s\n' "$name"
  # From the scratch directory: schemathesis keeps a cache in its working directory.
  (cd "$WORK" && "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" \
    --workers 2 \
    --request-timeout 20 \
    --generation-with-security-parameters false \
    --generation-database none \
    --no-color \
    "${seed_args[@]}" \
    "$@")
}

status=0
# Regenerating the key revokes it, so it gets a tenant of its own.
run "tenant (/v1)" -H "Authorization: Bearer $TENANT_KEY" \
  --include-path-regex '^/v1/' --exclude-path /v1/auth/regenerate-key || status=1
run "tenant key rotation" -H "Authorization: Bearer $THROWAWAY_KEY" \
  --include-path /v1/auth/regenerate-key --phases examples,coverage,fuzzing || status=1
run "operator (/admin and operations)" -H "Authorization: Bearer $ADMIN_TOKEN" \
  --include-path-regex '^/(admin/|healthz$|readyz$|openapi\.json$|docs$)' || status=1

if grep -q "panicked" "$WORK/server.log"; then
  echo "the server panicked:" >&2
  grep -A2 "panicked" "$WORK/server.log" | head -40 >&2
  status=1
fi

kill -TERM "$SERVER_PID"
if ! wait "$SERVER_PID"; then
  echo "helpline serve did not exit cleanly on SIGTERM" >&2
  status=1
fi
SERVER_PID=

if [ "$status" -ne 0 ]; then
  echo "schemathesis found problems; the server's errors:" >&2
  grep -E "internal error|ERROR" "$WORK/server.log" | head -n 20 >&2 || true
  echo "server log tail:" >&2
  tail -n 50 "$WORK/server.log" >&2
fi
exit "$status"
