#!/usr/bin/env bash
# Lints the live /openapi.json with Redocly's `recommended` ruleset and Spectral's
# `spectral:oas`; any error or warning fails. The linters are installed once (pinned) under
# ~/.cache; only this script needs the network, never the service.
set -euo pipefail
cd "$(dirname "$0")/.."

REDOCLY_VERSION=2.12.0
SPECTRAL_VERSION=6.16.3
TOOLS=${OPENAPI_LINT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/helpline-ci/openapi-lint-$REDOCLY_VERSION-$SPECTRAL_VERSION}
if [ ! -x "$TOOLS/node_modules/.bin/redocly" ] || [ ! -x "$TOOLS/node_modules/.bin/spectral" ]; then
  echo "installing @redocly/cli $REDOCLY_VERSION and @stoplight/spectral-cli $SPECTRAL_VERSION into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent \
    "@redocly/cli@$REDOCLY_VERSION" "@stoplight/spectral-cli@$SPECTRAL_VERSION"
fi

WORK=$(mktemp -d)
cargo build --quiet --bin helpline
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cp "$TARGET_DIR/debug/helpline" "$WORK/helpline"
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
(
  cd "$WORK"
  exec env -u REDIS_URL HELPLINE_LISTEN="127.0.0.1:$PORT" \
    DATABASE_URL="sqlite://$WORK/helpline.db?mode=rwc" RUST_LOG=warn ./helpline serve >"$WORK/server.log" 2>&1
) &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/openapi.json" -o "$WORK/openapi.json" 2>/dev/null && break
  sleep 0.2
done
[ -s "$WORK/openapi.json" ] || { echo "the server never served /openapi.json" >&2; cat "$WORK/server.log" >&2; exit 1; }

printf 'extends: ["spectral:oas"]\n' >"$WORK/.spectral.yaml"
status=0
"$TOOLS/node_modules/.bin/redocly" lint --extends recommended --max-problems 50 "$WORK/openapi.json" 2>&1 |
  tee "$WORK/redocly.log" || status=1
# Redocly fails on errors only; its warnings fail here too.
if grep -qiE '[0-9]+ warnings?' "$WORK/redocly.log"; then status=1; fi
"$TOOLS/node_modules/.bin/spectral" lint --ruleset "$WORK/.spectral.yaml" --fail-severity hint \
  "$WORK/openapi.json" || status=1
exit "$status"
