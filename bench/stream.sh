#!/usr/bin/env bash
# The `stream` scenario of issue 16 on SQLite, one node (docs/PERFORMANCE.md, "The event
# feed"): a fresh database, `helpline serve` with room for the subscribers, then
# `helpline-bench run --scenarios stream-idle,create,stream` (`stream-idle` first, on the fresh
# server: the memory of an idle subscriber with nothing created before).
#
#   bench/stream.sh                    # 10,000 subscribers over 10 tenants at 200 events/s
#   QUEUE=redis bench/stream.sh        # the same with the job queue on Redis
#
# Knobs (environment): SUBSCRIBERS=10000 STREAM_TENANTS=10 STREAM_RATE=200 DURATION=10
# PORT=18090 OUT=dir SKIP_BUILD=1 (else builds release first), CARGO_TARGET_DIR,
# HELPLINE=path (another server binary, e.g. a build of an older commit to compare with),
# SCENARIOS=stream-idle,create,stream, and QUEUE=sqlite|redis: `redis` keeps the database
# on SQLite but puts the job queue on the Redis at REDIS=redis://127.0.0.1:6379 (under a
# prefix of its own, deleted at the end), so that the embedded queue's own CPU use is not
# in the stream's numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SUBSCRIBERS=${SUBSCRIBERS:-10000}
STREAM_TENANTS=${STREAM_TENANTS:-10}
STREAM_RATE=${STREAM_RATE:-200}
D=${DURATION:-10}
PORT=${PORT:-18090}
STAMP=$(date -u +%Y%m%d%H%M%S)
OUT=${OUT:-$ROOT/bench/results/stream-$STAMP}
mkdir -p "$OUT"

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p helpline -p helpline-bench
fi

# Each subscriber is one file on each side: the hard limit must be above SUBSCRIBERS.
ulimit -n "$(ulimit -Hn)"
PER_TENANT=$(((SUBSCRIBERS + STREAM_TENANTS - 1) / STREAM_TENANTS))
export HELPLINE_ADMIN_TOKEN=${HELPLINE_ADMIN_TOKEN:-"hl_staff_bench$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"}
export HELPLINE_LISTEN="127.0.0.1:$PORT" HELPLINE_ALLOW_PRIVATE_TARGETS=true RUST_LOG=warn \
  HELPLINE_LOG_FORMAT=text HELPLINE_RATE_LIMIT_BACKEND=local \
  HELPLINE_STREAMS_PER_TENANT=$PER_TENANT DATABASE_URL="sqlite://$OUT/helpline.db?mode=rwc"
unset REDIS_URL HELPLINE_REDIS_PREFIX
case "${QUEUE:-sqlite}" in
  sqlite) ;;
  redis)
    export REDIS_URL=${REDIS:-redis://127.0.0.1:6379} HELPLINE_REDIS_PREFIX="bench-stream-$STAMP-$$"
    ;;
  *) echo "QUEUE must be sqlite or redis" >&2; exit 2 ;;
esac

cleanup() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  if [ -n "${HELPLINE_REDIS_PREFIX:-}" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$HELPLINE_REDIS_PREFIX*" |
      xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null
  fi
}

"${HELPLINE:-$TARGET/release/helpline}" serve >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
trap cleanup EXIT
for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$OUT/serve.log" >&2; exit 1; }
  sleep 0.2
done

"$TARGET/release/helpline-bench" run --base-url "http://127.0.0.1:$PORT" \
  --scenarios "${SCENARIOS:-stream-idle,create,stream}" --duration "$D" --subscribers "$SUBSCRIBERS" \
  --stream-tenants "$STREAM_TENANTS" --stream-rate "$STREAM_RATE" --server-pid "$SERVER_PID" \
  --json "$OUT/stream.json" | tee "$OUT/stream.txt" | grep -v '^{'
echo "results: $OUT"
