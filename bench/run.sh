#!/usr/bin/env bash
# The performance table of issue 9 from one command (docs/PERFORMANCE.md):
#
#   bench/run.sh                       # 3 runs on PostgreSQL + Redis, then 3 on SQLite
#
# Builds release, starts PostgreSQL and Redis if they are not running, and per run: a fresh
# database and Redis prefix, `helpline serve`, the baselines measured in the same run
# (pgbench running bench/create.sql — the SQL of one ticket create — at the same client
# concurrency against the same database, and Helpline's own /healthz), then the scenarios;
# `webhook-drain` runs against `helpline api` and starts `helpline worker` once the N tickets
# are in (deliveries/s of the backlog). Finally `helpline-bench report` prints the medians as
# ratios to their baselines and checks them against the targets.
#
# Knobs (environment): RUNS=3 CONCURRENCY=16 DURATION=10 WARMUP=1 TENANTS_N=100000
# WEBHOOK_N=5000 BACKENDS="postgres sqlite" ACTOR_IDLE=10s RATE_LIMIT_BACKEND=redis (PostgreSQL
# runs; SQLite runs use local) SCENARIOS=… SKIP_BUILD=1 OUT=dir PORT=18080
# PG_SSLMODE=disable (the server, psql and pgbench alike; `prefer` measures TLS to the local
# database as well) HELPLINE=path (another server binary, e.g. an older commit's, for an A/B)
# SCALE_SIZES=1000,100000,1000000 SCALE_REPEATS=3 (`scale`: 1,000 tenants filled to each total,
# the big one holding a fifth; issue 15's reads at each size, each beside
# a pgbench run of its own SQL; e.g. SCENARIOS=healthz,scale WEBHOOK_N=0 RUNS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${RUNS:-3}
C=${CONCURRENCY:-16}
D=${DURATION:-10}
WARMUP=${WARMUP:-1}
TENANTS_N=${TENANTS_N:-100000}
WEBHOOK_N=${WEBHOOK_N:-5000}
BACKENDS=${BACKENDS:-postgres sqlite}
ACTOR_IDLE=${ACTOR_IDLE:-10s}
PORT=${PORT:-18080}
SCENARIOS=${SCENARIOS:-healthz,create,read,reply,reject,mixed,tenants}
SCALE_SIZES=${SCALE_SIZES:-1000,100000,1000000}
SCALE_REPEATS=${SCALE_REPEATS:-3}
case ",$SCENARIOS," in
  *,create,* | *,mixed,*) CREATE_BASELINE=1 ;;
  *) CREATE_BASELINE="" ;;
esac
STAMP=$(date -u +%Y%m%d%H%M%S)
OUT=${OUT:-$ROOT/bench/results/$STAMP}
PG_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
# The compose file's PostgreSQL speaks plain TCP on its private network; Debian's local
# cluster has `ssl = on`, which would add TLS to both sides of every round trip here.
PG_SSLMODE=${PG_SSLMODE:-disable}
ADMIN_TOKEN="hl_staff_bench$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$OUT"

log() { printf '\n== %s\n' "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  log "cargo build --release -p helpline -p helpline-bench"
  cargo build --release -p helpline -p helpline-bench
fi
HELPLINE=${HELPLINE:-$TARGET/release/helpline}
BENCH=${BENCH:-$TARGET/release/helpline-bench}

log "services"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

SERVER_PID=""
WORKER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
CUR_DB=""
CUR_PREFIX=""
# Stops the server and drops this run's database and Redis keys (also on failure).
cleanup() {
  stop_server
  if [ -z "${KEEP_DB:-}" ]; then
    if [ -n "$CUR_DB" ]; then
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $CUR_DB WITH (FORCE)" || true
    fi
    if [ -n "$CUR_PREFIX" ]; then
      redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$CUR_PREFIX*" |
        xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 DEL >/dev/null || true
    fi
  fi
  CUR_DB=""
  CUR_PREFIX=""
}
trap cleanup EXIT

# start_server MODE LOGFILE: runs `helpline MODE` with the current env; waits for /healthz.
start_server() {
  "$HELPLINE" "$1" >"$2" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "helpline $1 did not start; see $2" >&2
  tail -20 "$2" >&2
  exit 1
}

idle_secs() { # 10s → 10 (plus one sweep and the actor's idle check)
  local v=${ACTOR_IDLE%s}
  echo $((v + 20))
}

run_backend() {
  local backend=$1 i=$2
  local label="$backend/$i"
  local json="$OUT/$backend-$i.json"
  local seed pg_tps="" pg_tps1="" pg_url=""
  export HELPLINE_ADMIN_TOKEN=$ADMIN_TOKEN HELPLINE_LISTEN="127.0.0.1:$PORT" \
    HELPLINE_ALLOW_PRIVATE_TARGETS=true HELPLINE_ACTOR_IDLE=$ACTOR_IDLE RUST_LOG=warn \
    HELPLINE_LOG_FORMAT=text
  unset RESEND_API_KEY HELPLINE_OPS_WEBHOOK_URL HELPLINE_BILLING_URL
  if [ "$backend" = postgres ]; then
    local db="helpline_bench_${STAMP}_$i"
    psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
    CUR_DB=$db
    CUR_PREFIX="helpline-bench:$STAMP:$i:"
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=$PG_SSLMODE"
    export REDIS_URL="redis://127.0.0.1:6379" HELPLINE_REDIS_PREFIX="helpline-bench:$STAMP:$i:"
    export HELPLINE_RATE_LIMIT_BACKEND=${RATE_LIMIT_BACKEND:-redis}
    seed="psql -q -v ON_ERROR_STOP=1 $DATABASE_URL"
    pg_url=$DATABASE_URL
  else
    local dir="$OUT/sqlite-$i"
    mkdir -p "$dir"
    export DATABASE_URL="sqlite://$dir/helpline.db?mode=rwc"
    unset REDIS_URL HELPLINE_REDIS_PREFIX
    export HELPLINE_RATE_LIMIT_BACKEND=local
    seed="sqlite3 $dir/helpline.db"
  fi

  log "$label: helpline serve"
  start_server serve "$OUT/$backend-$i-serve.log"

  # The create baseline only when a create is measured: its tickets would otherwise add to the
  # database `scale` fills to an exact total.
  if [ "$backend" = postgres ] && [ -n "$CREATE_BASELINE" ]; then
    log "$label: baseline pgbench (bench/create.sql, -c $C)"
    psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "INSERT INTO tenants (id, name, email, plan, limits_mode, balance_cents, created_at, updated_at) VALUES ('b0000000-0000-7000-8000-00000000be9c', 'pgbench', 'pgbench@bench.test', 'enterprise', 'plan', 1000000000, now(), now())"
    pgbench -n -M prepared -c "$C" -j 2 -T "$WARMUP" -f bench/create.sql "$DATABASE_URL" >/dev/null 2>&1 || true
    if ! pgbench -n -M prepared -c "$C" -j 2 -T "$D" -f bench/create.sql "$DATABASE_URL" >"$OUT/$backend-$i-pgbench.txt" 2>&1; then
      tail -5 "$OUT/$backend-$i-pgbench.txt" >&2
      exit 1
    fi
    pg_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/$backend-$i-pgbench.txt" | head -n1)
    grep -E '^(tps|latency average|number of failed)' "$OUT/$backend-$i-pgbench.txt" >&2 || true
    # One client: the best one tenant's serialized creates can do (its actor runs them one
    # at a time).
    pgbench -n -M prepared -c 1 -j 1 -T "$D" -f bench/create.sql "$DATABASE_URL" >"$OUT/$backend-$i-pgbench-1.txt" 2>&1 || true
    pg_tps1=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/$backend-$i-pgbench-1.txt" | head -n1)
    echo "pgbench 1 client: tps = $pg_tps1" >&2
  fi

  log "$label: scenarios $SCENARIOS"
  "$BENCH" run --base-url "http://127.0.0.1:$PORT" --scenarios "$SCENARIOS" \
    --concurrency "$C" --duration "$D" --warmup "$WARMUP" --label "$label" \
    ${pg_tps:+--pgbench-tps "$pg_tps"} ${pg_tps1:+--pgbench-serial-tps "$pg_tps1"} --server-pid "$SERVER_PID" \
    --tenants-n "$TENANTS_N" --seed-cmd "$seed" --seed-dialect "$backend" \
    --scale-sizes "$SCALE_SIZES" --scale-repeats "$SCALE_REPEATS" \
    ${pg_url:+--pgbench-url "$pg_url"} \
    --idle-wait "$(idle_secs)" --json "$json" | tee "$OUT/$backend-$i.txt" | grep -v '^{' >&2
  stop_server

  if [ -n "$WEBHOOK_N" ] && [ "$WEBHOOK_N" != 0 ]; then
    log "$label: webhook-drain ($WEBHOOK_N tickets into helpline api, then helpline worker)"
    start_server api "$OUT/$backend-$i-api.log"
    "$BENCH" run --base-url "http://127.0.0.1:$PORT" --scenarios webhook-drain \
      --concurrency "$C" --label "$label" --webhook-n "$WEBHOOK_N" \
      --workers-cmd "$HELPLINE worker --no-migrate >>$OUT/$backend-$i-worker.log 2>&1" \
      --json "$OUT/$backend-$i-drain.json" | tee "$OUT/$backend-$i-drain.txt" | grep -v '^{' >&2
    stop_server
  fi
  cleanup
}

for backend in $BACKENDS; do
  for i in $(seq 1 "$RUNS"); do
    run_backend "$backend" "$i"
  done
done

log "medians ($OUT)"
"$BENCH" report --json "$OUT/summary.json" "$OUT"/*.json | tee "$OUT/summary.txt"
