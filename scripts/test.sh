#!/usr/bin/env bash
# Runs every walrelay test: build, local services up, then node's test runner over all suites.
#   bash scripts/test.sh            all of packages/*/test/**/*.test.ts and test/**/*.test.ts
#   bash scripts/test.sh FILES...   only those files (services are still started)
# The test runner's own summary is the last thing printed and its exit code is this script's.
source "$(dirname "$0")/node-env.sh"
set -euo pipefail
cd "$WALRELAY_ROOT"
export TURBO_TELEMETRY_DISABLED=1

step() { printf '[test %s] == %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ ! -x node_modules/.bin/turbo ] || [ ! -d node_modules/better-sqlite3 ]; then
  step "npm ci (no node_modules yet)"
  npm ci --no-audit --no-fund
fi

step "build (npm run build)"
npm run build

step "services (npm run services:up)"
npm run services:up
# Kafka Connect with Debezium for the interoperability suites (test/debezium). WALRELAY_TEST_DEBEZIUM=0
# leaves it out (those suites then report themselves skipped, naming the command that starts it).
if [ "${WALRELAY_TEST_DEBEZIUM:-1}" != 0 ]; then
  step "services: debezium (Kafka Connect + Debezium, scripts/services.sh up debezium)"
  bash scripts/services.sh up debezium
fi

if [ $# -gt 0 ]; then files=("$@"); else files=('packages/*/test/**/*.test.ts' 'test/**/*.test.ts'); fi
step "tests: node --test ${files[*]}"
# Globs are expanded by node's test runner, not the shell. One file at a time: suites share the
# broker, the registry and the databases, and several start processes of their own.
exec node --conditions=development --import tsx --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
