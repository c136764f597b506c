#!/usr/bin/env bash
# walrelay demo: PostgreSQL → walrelay-source → Kafka → walrelay-sink-sqlite → SQLite, on local services.
#
#   bash scripts/demo.sh         (npm run demo) start services, source and sink; write changes; show them arrive
#   bash scripts/demo.sh stop    stop the demo's processes (services stay up: npm run services:down)
#
# Idempotent: a previous demo is stopped and its table, slot, publication, topics and target
# file are recreated. Everything it writes lives in .demo/ (logs, pids, demo.sqlite).
source "$(dirname "$0")/node-env.sh"
set -euo pipefail
cd "$WALRELAY_ROOT"
export TURBO_TELEMETRY_DISABLED=1

DEMO="$WALRELAY_ROOT/.demo"
DB_FILE="$DEMO/demo.sqlite"
PG_URL="${WALRELAY_DEMO_PG_URL:-postgres://postgres@127.0.0.1:5432/walrelay}"
NAME=demo   # slot, publication, topic prefix and consumer group
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# stop_demo: SIGTERM each process the demo started (pid file + a walrelay command line), SIGKILL after 20 s.
stop_demo() {
  local f pid i
  for f in "$DEMO"/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qE 'packages/.*/dist/(main|walrelay-[a-z-]+)\.js'; then
      kill -TERM "$pid" 2>/dev/null || true
      for (( i = 0; i < 200; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      echo "stopped $(basename "$f" .pid) (pid $pid)"
    fi
    rm -f "$f"
  done
}

if [ "${1:-}" = stop ]; then
  stop_demo
  echo "demo stopped; the services keep running until: npm run services:down"
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [stop]" >&2; exit 2; }

mkdir -p "$DEMO"
stop_demo

say "install and build"
if [ ! -x node_modules/.bin/turbo ] || [ ! -d node_modules/better-sqlite3 ]; then npm ci --no-audit --no-fund; fi
need_build=0
for p in source-postgres/walrelay-source sink-sqlite/walrelay-sink-sqlite; do
  main="packages/${p%%/*}/dist/${p##*/}.js"
  if [ ! -f "$main" ] || [ -n "$(find packages/*/src -newer "$main" -name '*.ts' -print -quit)" ]; then need_build=1; fi
done
if [ "$need_build" = 1 ]; then npm run build --silent; else echo "dist is up to date"; fi

say "local services (scripts/services.sh up)"
bash scripts/services.sh up

say "PostgreSQL: table demo.orders (recreated)"
psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" <<SQL
SET client_min_messages = warning;
SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '$NAME' AND active_pid IS NOT NULL \g /dev/null
SELECT pg_drop_replication_slot('$NAME') FROM pg_replication_slots WHERE slot_name = '$NAME' \g /dev/null
DROP PUBLICATION IF EXISTS $NAME;
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
CREATE TABLE demo.orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), status text NOT NULL DEFAULT 'new');
SQL
echo "demo.orders created"

# The previous demo's topics and consumer group would replay old rows into the new file.
node --no-warnings --input-type=module -e "
import { Kafka, logLevel } from 'kafkajs';
const admin = new Kafka({ clientId: 'walrelay-demo', brokers: (process.env.WALRELAY_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING }).admin();
await admin.connect();
const topics = (await admin.listTopics()).filter((t) => t.startsWith('$NAME.') || t.startsWith('${NAME}_') || t === '$NAME');
if (topics.length) { await admin.deleteTopics({ topics }); console.log('deleted the previous demo topics: ' + topics.join(', ')); }
await admin.deleteGroups(['$NAME']).catch(() => {});
await admin.disconnect();
"
rm -f "$DB_FILE" "$DB_FILE-wal" "$DB_FILE-shm"

say "starting walrelay-source and walrelay-sink-sqlite (logs in .demo/)"
start() { # NAME MAIN ENV...
  local name="$1" main="$2"; shift 2
  ( exec env "$@" setsid nohup node "$main" > "$DEMO/$name.log" 2>&1 < /dev/null ) &
  echo $! > "$DEMO/$name.pid"
  echo "$name: pid $(cat "$DEMO/$name.pid"), log .demo/$name.log"
}
start source packages/source-postgres/dist/walrelay-source.js WALRELAY_PG_URL="$PG_URL" WALRELAY_SLOT=$NAME WALRELAY_PUBLICATION=$NAME \
  WALRELAY_TOPIC_PREFIX=$NAME WALRELAY_TABLES=demo.orders WALRELAY_TX_MAX_DELAY_MS=20
start sink-sqlite packages/sink-sqlite/dist/walrelay-sink-sqlite.js WALRELAY_TARGET_URL="$DB_FILE" WALRELAY_GROUP_ID=$NAME \
  WALRELAY_TOPIC_PREFIX=$NAME WALRELAY_TOPIC_REFRESH_MS=1000

pg() { psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"; echo "PostgreSQL> $1"; }

# show_when EXPECTED: waits (60 s) until SQLite's demo rows, as JSON, equal EXPECTED; prints them as a table.
show_when() {
  node --input-type=module -e "
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
const [file, expected] = process.argv.slice(1);
const deadline = Date.now() + 60000;
for (;;) {
  let rows = [];
  try {
    if (existsSync(file)) {
      const db = new Database(file, { readonly: true });
      if (db.prepare(\"SELECT 1 FROM sqlite_master WHERE name = 'orders'\").get()) rows = db.prepare('SELECT id, customer, amount, status FROM orders ORDER BY id').all();
      db.close();
    }
  } catch {}
  if (JSON.stringify(rows.map((r) => [r.id, r.status])) === expected) {
    console.log('SQLite (' + file.replace(process.cwd() + '/', '') + ') orders:');
    if (rows.length) console.table(rows); else console.log('  (no rows)');
    process.exit(0);
  }
  if (Date.now() > deadline) { console.error('timed out: SQLite has ' + JSON.stringify(rows) + '; see .demo/*.log'); process.exit(1); }
  await new Promise((r) => setTimeout(r, 200));
}" "$DB_FILE" "$1"
}

say "1. insert three orders"
pg "INSERT INTO demo.orders (id, customer, amount) VALUES (1, 'Ada', 12.50), (2, 'Grace', 99.00), (3, 'Linus', 7.25)"
show_when '[[1,"new"],[2,"new"],[3,"new"]]'

say "2. update: order 2 ships"
pg "UPDATE demo.orders SET status = 'shipped' WHERE id = 2"
show_when '[[1,"new"],[2,"shipped"],[3,"new"]]'

say "3. delete: order 3 is cancelled"
pg "DELETE FROM demo.orders WHERE id = 3"
show_when '[[1,"new"],[2,"shipped"]]'

say "the pipeline keeps running: change demo.orders (psql $PG_URL) and watch .demo/demo.sqlite"
echo "stop it with: bash scripts/demo.sh stop   (services: npm run services:down)"
