#!/usr/bin/env bash
# Measures everything BENCHMARKS.md reports, side by side in one run on this
# machine: core apply rate, durable commit rate (SQLite, fsync), the bare hyper
# ceiling vs. the availability endpoint, and flash sales over HTTP (the demo arena,
# and a 150,000-place stadium so the order rate is a steady state, not a burst), and
# the waiting room (queue memory in the core, the rush through the room, status polls).
# Usage: bash bench/run.sh > bench/last-run.txt
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/rel}"
BIN="$CARGO_TARGET_DIR/release/sturmfest"
PORT_HELLO=18401
PORT_API=18402
PORT_RUSH=18403
WORK=$(mktemp -d)
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
PIDS=()
trap cleanup EXIT

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
cargo build --release -p sturmfest -q

echo "== core apply rate (one core, in memory)"
cargo bench -q -p sturmfest-core --bench apply 2>&1 | grep -v '^$'

echo "== durable commit rate (Committer → SQLite WAL, synchronous=FULL, one fsync per batch)"
cargo bench -q -p sturmfest-server --bench durable 2>&1 | grep -v '^$'

echo "== restart with a 10,000,000-record log (Committer::recover on SQLite, worst-case tail)"
cargo bench -q -p sturmfest-server --bench restart 2>&1 | grep -v '^$'

echo "== HTTP: bare hyper hello (ceiling) vs. availability, 64 connections, 10 s each"
"$BIN" load hello --addr 127.0.0.1:$PORT_HELLO > "$WORK/hello.out" & PIDS+=($!)
"$BIN" demo --data-dir "$WORK/demo" --listen 127.0.0.1:$PORT_API > "$WORK/demo.out" 2> "$WORK/demo.err" & PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$WORK/demo.out" 2>/dev/null && grep -q listening "$WORK/hello.out" 2>/dev/null && break; sleep 0.2; done
TOKEN=$(grep -o 'sft_[0-9a-f]*' "$WORK/demo.out" | head -1)
echo "-- hello"; "$BIN" load get --url http://127.0.0.1:$PORT_HELLO/ --concurrency 64 --seconds 10
echo "-- availability"; "$BIN" load get --url http://127.0.0.1:$PORT_API/api/v1/demo/events/0/availability --concurrency 64 --seconds 10

echo "== flash sale, demo arena (6,000 places), 256 connections"
"$BIN" load flash-sale --url http://127.0.0.1:$PORT_API --tenant demo --token "$TOKEN" --concurrency 256 --fans 50000 2>/dev/null

echo "== flash sale, stadium (50,000 seats + 100,000 standing), 256 connections"
rows='[' ; for r in $(seq 1 50); do rows+="{\"label\":\"$r\",\"seat_count\":50,\"y\":$((r*10)),\"dx\":10},"; done; rows="${rows%,}]"
blocks='['; for b in $(seq 1 20); do blocks+="{\"name\":\"S$b\",\"rows\":$rows},"; done; blocks="${blocks%,}]"
VENUE=$(curl -s -X POST "http://127.0.0.1:$PORT_API/api/v1/demo/venues" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H "Idempotency-Key: stadium-$$" \
  -d "{\"name\":\"Stadion\",\"blocks\":$blocks,\"standing\":[{\"name\":\"Nordkurve\",\"capacity\":50000},{\"name\":\"Südkurve\",\"capacity\":50000}]}" \
  | sed -E 's/.*"id":([0-9]+).*/\1/')
"$BIN" load flash-sale --url http://127.0.0.1:$PORT_API --tenant demo --token "$TOKEN" --venue "$VENUE" \
  --concurrency 256 --fans 400000 --max-seconds 120 2>/dev/null

echo "== restart after SIGKILL: time until the API serves again"
DEMO_PID=${PIDS[1]}
kill -9 "$DEMO_PID"; wait "$DEMO_PID" 2>/dev/null || true
START=$(date +%s.%N)
"$BIN" serve --data-dir "$WORK/demo" --listen 127.0.0.1:$PORT_API > "$WORK/serve.out" 2> "$WORK/serve.err" & PIDS+=($!)
until curl -sf "http://127.0.0.1:$PORT_API/healthz" > /dev/null; do sleep 0.01; done
END=$(date +%s.%N)
grep -o 'tenant recovered.*' "$WORK/serve.err" | sed 's/\x1b\[[0-9;]*m//g'
echo "serving again after $(python3 -c "print(round($END - $START, 3))") s"
"$BIN" verify --data-dir "$WORK/demo" 2>/dev/null

echo "== waiting room in the core: a million fans joined and drawn (counting allocator)"
cargo bench -q -p sturmfest-core --bench queue 2>&1 | grep -v '^$'

echo "== the rush: 50,000 fans through the waiting room, demo arena, box office alongside"
# Proof of work at its cheapest and without the rise a long line brings: the load
# generator solves every fan's challenge on the same two cores as the server.
STURMFEST_POW_BASE_BITS=12 STURMFEST_POW_BITS_MAX=12 \
  "$BIN" demo --data-dir "$WORK/rush" --listen 127.0.0.1:$PORT_RUSH > "$WORK/rush.out" 2> "$WORK/rush.err" & PIDS+=($!)
RUSH_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/rush.out" 2>/dev/null && break; sleep 0.2; done
RUSH_TOKEN=$(grep -o 'sft_[0-9a-f]*' "$WORK/rush.out" | head -1)
"$BIN" load rush --url http://127.0.0.1:$PORT_RUSH --tenant demo --token "$RUSH_TOKEN" --server-pid "$RUSH_PID" 2>/dev/null

echo "== status polls: 50,000 fans queued, their places polled round-robin, 64 connections, 10 s"
"$BIN" load rush --url http://127.0.0.1:$PORT_RUSH --tenant demo --token "$RUSH_TOKEN" --server-pid "$RUSH_PID" \
  --polls-only --fans 50000 --opens-in 45 --poll-seconds 10 --concurrency 64 2>/dev/null
echo "-- availability on the same server, for the ratio"
"$BIN" load get --url http://127.0.0.1:$PORT_RUSH/api/v1/demo/events/0/availability --concurrency 64 --seconds 5
