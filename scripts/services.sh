#!/usr/bin/env bash
# walrelay local services, no Docker needed:  scripts/services.sh up|down|status [service...]
#
#   postgres  the machine's PostgreSQL cluster, reconfigured for logical replication   127.0.0.1:5432
#   mariadb   the machine's MariaDB, databases walrelay and walrelay_test, user walrelay    127.0.0.1:3306
#   kafka     Apache Kafka 4.1.1, KRaft combined broker+controller, jars from Maven    127.0.0.1:9092 (controller 9093)
#   registry  Apicurio Registry 3.0.9 (in-memory), Confluent API at /apis/ccompat/v7  127.0.0.1:8081
#   debezium  on demand only: Kafka Connect 4.1.1 with Debezium's PostgreSQL connector and JDBC sink
#             and Apicurio's Avro converter, jars from Maven Central                  127.0.0.1:8083
#
# up      idempotent: starts what is not running, reuses a healthy service already on its port
#         (even one started from another checkout), and waits on real readiness.
# down    stops only what `up` started from this checkout (pid files under .services/).
# status  prints every service's URL and health; exit code 3 when one is not healthy.
#
# Data, logs and pid files live under .services/ (gitignored). See docs/services.md.
# Environment: WALRELAY_SERVICES_TIMEOUT (seconds per service, default 180),
#              WALRELAY_JAVA (java binary, default java), WALRELAY_KAFKA_HEAP (default 1g).
source "$(dirname "$0")/node-env.sh"
set -euo pipefail

ROOT="$WALRELAY_ROOT"
SVC="$ROOT/.services"
TIMEOUT="${WALRELAY_SERVICES_TIMEOUT:-180}"
JAVA="${WALRELAY_JAVA:-java}"
KAFKA_HEAP="${WALRELAY_KAFKA_HEAP:-1g}"
POM="$ROOT/scripts/services/kafka-pom.xml"

HOST=127.0.0.1
PG_PORT=5432; MARIADB_PORT=3306; KAFKA_PORT=9092; KAFKA_CONTROLLER_PORT=9093; REGISTRY_PORT=8081
APICURIO_VERSION=3.0.9
REGISTRY_URL="http://$HOST:$REGISTRY_PORT/apis/ccompat/v7"
MARIADB_USER=walrelay; MARIADB_PASSWORD=walrelay; MARIADB_DB=walrelay_test
PG_DB=walrelay

log()  { printf '[services %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die()  { printf '[services %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# port_open HOST PORT: something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PIDFILE MARKER: the pid in PIDFILE runs and its command line contains MARKER
# (guards against a recycled pid after a reboot).
pid_alive() {
  local f="$1" marker="$2" pid
  [ -s "$f" ] || return 1
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

# wait_ready NAME LOG PIDFILE MARKER CHECK...: run CHECK until it succeeds. Fails fast when the
# process we started died, and after $TIMEOUT seconds, naming the service and its log.
wait_ready() {
  local name="$1" logf="$2" pidf="$3" marker="$4"; shift 4
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pidf" ] && ! pid_alive "$pidf" "$marker"; then
      echo "---- last lines of $logf ----" >&2; tail -n 40 "$logf" >&2 2>/dev/null || true
      die "$name exited during start-up; its log is $logf"
    fi
    if (( SECONDS - start >= TIMEOUT )); then
      echo "---- last lines of $logf ----" >&2; tail -n 40 "$logf" >&2 2>/dev/null || true
      die "$name did not become ready within ${TIMEOUT}s; its log is $logf"
    fi
    sleep 0.5
  done
  log "$name: ready after $(( SECONDS - start ))s"
}

# find_service_pid DIR: pid of the process started with -Dwalrelay.services.dir=DIR (exact argument).
find_service_pid() {
  local dir="$1" pid
  for pid in $(pgrep -f -- '-Dwalrelay.services.dir=' || true); do
    if tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -Fxq -- "-Dwalrelay.services.dir=$dir"; then echo "$pid"; return 0; fi
  done
  return 1
}

# launch PIDFILE DIR OUT CMD...: start CMD in DIR in its own session (it outlives this shell and
# the npm process group), stdio to OUT, the lock fd closed; record its real pid in PIDFILE.
# CMD must contain -Dwalrelay.services.dir=DIR so its pid can be found exactly.
launch() {
  local pidf="$1" dir="$2" out="$3" i pid=""; shift 3
  ( cd "$dir" && exec setsid nohup "$@" > "$out" 2>&1 < /dev/null 9>&- ) &
  for (( i = 0; i < 100; i++ )); do
    pid="$(find_service_pid "$dir")" && break
    sleep 0.1
  done
  [ -n "$pid" ] || { tail -n 20 "$out" >&2 2>/dev/null || true; die "could not start: $*; output in $out"; }
  echo "$pid" > "$pidf"
}

# port_owner PORT: "pid N (command)" of the process listening on 127.0.0.1:PORT, for messages.
port_owner() {
  local pid
  pid="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)"
  if [ -n "$pid" ]; then echo "pid $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-100))"; else echo "an unknown process"; fi
}

# stop_pid NAME PIDFILE MARKER GRACE: SIGTERM, wait up to GRACE seconds, then SIGKILL.
stop_pid() {
  local name="$1" pidf="$2" marker="$3" grace="$4" pid start=$SECONDS
  if ! pid_alive "$pidf" "$marker"; then
    if [ -e "$pidf" ]; then rm -f "$pidf"; log "$name: not running (stale pid file removed)"; else log "$name: not started by this checkout; left alone"; fi
    return 0
  fi
  pid="$(cat "$pidf")"
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS - start >= grace )); then log "$name: still running after ${grace}s, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.3
  done
  rm -f "$pidf"
  log "$name: stopped"
}

# ---------------------------------------------------------------- PostgreSQL
# Choice: reconfigure the machine's own cluster (ALTER SYSTEM, restart only when a setting
# needs it) instead of running a second cluster: one server, standard port, no extra disk.
pg_cluster() {
  local v; v="${WALRELAY_PG_CLUSTER_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
  echo "$v"
}
pg_log() { echo "/var/log/postgresql/postgresql-$(pg_cluster)-main.log"; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres -At "$@"; }
pg_alive() { pg_isready -q -h "$HOST" -p "$PG_PORT" && psql_admin -d postgres -c 'select 1' >/dev/null; }
pg_replication_ok() {
  psql -X -q -At "host=$HOST port=$PG_PORT user=postgres dbname=$PG_DB replication=database" -c 'IDENTIFY_SYSTEM' >/dev/null
}
pg_healthy() {
  pg_alive && [ "$(psql_admin -d postgres -c 'show wal_level')" = logical ] && pg_replication_ok
}

postgres_up() {
  local v; v="$(pg_cluster)"
  if ! pg_alive 2>/dev/null; then
    if port_open "$HOST" "$PG_PORT"; then
      log "postgres: port $PG_PORT is open but not answering yet; waiting"
    elif [ -n "$v" ] && command -v pg_ctlcluster >/dev/null; then
      log "postgres: not running; starting the machine's cluster $v/main"
      pg_ctlcluster --skip-systemctl-redirect "$v" main start 9>&-
      mkdir -p "$SVC"; echo "$v" > "$SVC/postgres.started-by-up"
    else
      die "postgres: nothing on $HOST:$PG_PORT and no local cluster to start (set WALRELAY_PG_URL to your own server)"
    fi
    wait_ready postgres "$(pg_log)" "" "" pg_alive
  fi
  # Logical decoding settings. wal_level and the two maxima need a restart; the rest reload.
  psql_admin -d postgres <<'SQL'
ALTER SYSTEM SET wal_level = 'logical';
ALTER SYSTEM SET max_replication_slots = 20;
ALTER SYSTEM SET max_wal_senders = 20;
-- a forgotten test slot must not fill the disk: past this much retained WAL it is invalidated
ALTER SYSTEM SET max_slot_wal_keep_size = '4GB';
SELECT pg_reload_conf() \g /dev/null
SQL
  local pending current
  pending="$(psql_admin -d postgres -c "select string_agg(name, ',') from pg_settings where pending_restart")"
  current="$(psql_admin -d postgres -c 'show wal_level')"
  if [ -n "$pending" ] || [ "$current" != logical ]; then
    [ -n "$v" ] || die "postgres: settings need a restart ($pending) but no local cluster was found to restart"
    log "postgres: restarting cluster $v/main to apply ${pending:-wal_level}"
    pg_ctlcluster --skip-systemctl-redirect "$v" main restart 9>&-
    wait_ready postgres "$(pg_log)" "" "" pg_alive
  fi
  if [ "$(psql_admin -d postgres -c "select count(*) from pg_database where datname = '$PG_DB'")" = 0 ]; then
    psql_admin -d postgres -c "CREATE DATABASE $PG_DB" && log "postgres: created database $PG_DB"
  fi
  pg_replication_ok || die "postgres: a replication connection (replication=database) as user postgres over $HOST:$PG_PORT is refused; check pg_hba.conf (a 'host all postgres 127.0.0.1/32' line covers logical walsenders); log: $(pg_log)"
  log "postgres: healthy at postgresql://postgres@$HOST:$PG_PORT/$PG_DB (wal_level=logical, replication connection ok)"
}

postgres_down() {
  if [ -f "$SVC/postgres.started-by-up" ]; then
    local v; v="$(cat "$SVC/postgres.started-by-up")"
    log "postgres: stopping cluster $v/main (it was started by services.sh up)"
    pg_ctlcluster --skip-systemctl-redirect "$v" main stop || true
    rm -f "$SVC/postgres.started-by-up"
  else
    log "postgres: the machine's cluster was already running before up; left running"
  fi
}

# ---------------------------------------------------------------- MariaDB
mariadb_root() { mariadb --protocol=socket -uroot "$@"; }
mariadb_alive() { port_open "$HOST" "$MARIADB_PORT" && mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }
mariadb_healthy() {
  mariadb -h "$HOST" -P "$MARIADB_PORT" -u"$MARIADB_USER" -p"$MARIADB_PASSWORD" -e 'select 1' "$MARIADB_DB" >/dev/null 2>&1
}

mariadb_up() {
  if ! mariadb_alive; then
    if ! port_open "$HOST" "$MARIADB_PORT" && [ -x /usr/sbin/mariadbd ]; then
      log "mariadb: not running; starting the machine's mariadbd"
      install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd 9>&-
      mkdir -p "$SVC"; touch "$SVC/mariadb.started-by-up"
    elif ! port_open "$HOST" "$MARIADB_PORT"; then
      die "mariadb: nothing on $HOST:$MARIADB_PORT and no /usr/sbin/mariadbd to start"
    fi
    wait_ready mariadb /var/log/mysql/error.log "" "" mariadb_alive
  fi
  mariadb_root <<SQL
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DB\`;
CREATE DATABASE IF NOT EXISTS \`walrelay\`;
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON \`walrelay%\`.* TO '$MARIADB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`walrelay%\`.* TO '$MARIADB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
  mariadb_healthy || die "mariadb: user $MARIADB_USER cannot log in over $HOST:$MARIADB_PORT; log: /var/log/mysql/error.log"
  log "mariadb: healthy at mysql://$MARIADB_USER:$MARIADB_PASSWORD@$HOST:$MARIADB_PORT/$MARIADB_DB"
}

mariadb_down() {
  if [ -f "$SVC/mariadb.started-by-up" ]; then
    log "mariadb: stopping mariadbd (it was started by services.sh up)"
    start-stop-daemon --stop --oknodo --retry 30 --pidfile /run/mysqld/mysqld.pid --exec /usr/sbin/mariadbd || true
    rm -f "$SVC/mariadb.started-by-up"
  else
    log "mariadb: the machine's server was already running before up; left running"
  fi
}

# ---------------------------------------------------------------- Kafka
KDIR="$SVC/kafka"
KAFKA_MARKER="-Dwalrelay.service=kafka"
kafka_healthy() { port_open "$HOST" "$KAFKA_PORT" && node "$ROOT/scripts/services/kafka-probe.mjs" "$HOST:$KAFKA_PORT"; }

kafka_fetch() {
  local stamp; stamp="$(sha1sum "$POM" | cut -c1-40)"
  if [ -f "$KDIR/libs/.pom-sha1" ] && [ "$(cat "$KDIR/libs/.pom-sha1")" = "$stamp" ]; then return 0; fi
  log "kafka: fetching jars with Maven (cached in ~/.m2 after the first time)"
  rm -rf "$KDIR/libs"; mkdir -p "$KDIR/libs"
  mkdir -p "$KDIR/logs"
  mvn -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$KDIR/libs" > "$KDIR/logs/maven.log" 2>&1 \
    || { tail -n 30 "$KDIR/logs/maven.log" >&2; die "kafka: Maven could not fetch the Kafka jars ($POM); log: $KDIR/logs/maven.log"; }
  echo "$stamp" > "$KDIR/libs/.pom-sha1"
}

kafka_config() {
  mkdir -p "$KDIR/data" "$KDIR/logs"
  cat > "$KDIR/server.properties" <<EOF
# Generated by scripts/services.sh; edits are overwritten on the next up.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KDIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# one node: every internal topic has replication factor 1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=168
log.segment.bytes=104857600
log.cleaner.dedupe.buffer.size=33554432
num.network.threads=2
num.io.threads=4
EOF
}

kafka_up() {
  local pidf="$KDIR/kafka.pid" logf="$KDIR/logs/server.log" out="$KDIR/logs/kafka.out"
  if pid_alive "$pidf" "$KAFKA_MARKER"; then
    log "kafka: already running from this checkout (pid $(cat "$pidf"))"
    wait_ready kafka "$logf" "$pidf" "$KAFKA_MARKER" kafka_healthy
    return 0
  fi
  if port_open "$HOST" "$KAFKA_PORT" || port_open "$HOST" "$KAFKA_CONTROLLER_PORT"; then
    if kafka_healthy >/dev/null 2>&1; then
      log "kafka: a healthy broker already listens on $HOST:$KAFKA_PORT (not started from this checkout); reusing it"
      return 0
    fi
    log "kafka: $HOST:$KAFKA_PORT or :$KAFKA_CONTROLLER_PORT is taken by $(port_owner "$KAFKA_PORT") but no broker answers yet; waiting for it"
    wait_ready "kafka (ports $KAFKA_PORT/$KAFKA_CONTROLLER_PORT held by $(port_owner "$KAFKA_PORT"), not by this checkout)" "$logf" "" "" kafka_healthy
    return 0
  fi
  kafka_fetch
  kafka_config
  if [ ! -f "$KDIR/data/meta.properties" ]; then
    [ -s "$KDIR/cluster-id" ] || "$JAVA" -cp "$KDIR/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 > "$KDIR/cluster-id"
    log "kafka: formatting storage (cluster id $(cat "$KDIR/cluster-id"))"
    "$JAVA" -cp "$KDIR/libs/*" -Dlog4j2.configurationFile="$ROOT/scripts/services/kafka-log4j2.properties" -Dkafka.logs.dir="$KDIR/logs" \
      kafka.tools.StorageTool format --standalone -t "$(cat "$KDIR/cluster-id")" -c "$KDIR/server.properties" >> "$KDIR/logs/format.log" 2>&1 \
      || { tail -n 20 "$KDIR/logs/format.log" >&2; die "kafka: storage format failed; log: $KDIR/logs/format.log"; }
  fi
  log "kafka: starting Kafka 4.1.1 (KRaft broker+controller) on $HOST:$KAFKA_PORT"
  launch "$pidf" "$KDIR" "$out" "$JAVA" "$KAFKA_MARKER" -Dwalrelay.services.dir="$KDIR" \
    -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/scripts/services/kafka-log4j2.properties" -Dkafka.logs.dir="$KDIR/logs" \
    -cp "$KDIR/libs/*" kafka.Kafka "$KDIR/server.properties"
  wait_ready kafka "$logf" "$pidf" "$KAFKA_MARKER" kafka_healthy
}

kafka_down() { stop_pid kafka "$KDIR/kafka.pid" "$KAFKA_MARKER" 60; }

# ---------------------------------------------------------------- Apicurio Registry
ADIR="$SVC/apicurio"
REGISTRY_MARKER="-Dwalrelay.service=registry"
REGISTRY_JAR="$ADIR/app/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
registry_alive() { curl -fs -o /dev/null --max-time 5 "$REGISTRY_URL/subjects"; }
registry_healthy() {
  registry_alive && [ "$(curl -fsS --max-time 5 "$REGISTRY_URL/config")" = '{"compatibilityLevel":"BACKWARD"}' ]
}

registry_fetch() {
  [ -f "$REGISTRY_JAR" ] && return 0
  log "registry: fetching Apicurio Registry $APICURIO_VERSION with Maven (cached in ~/.m2 after the first time)"
  rm -rf "$ADIR/dist" "$ADIR/app"; mkdir -p "$ADIR/dist" "$ADIR/app" "$ADIR/logs"
  mvn -B -Dstyle.color=never -f "$POM" dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:zip:all" -DoutputDirectory="$ADIR/dist" > "$ADIR/logs/maven.log" 2>&1 \
    || { tail -n 30 "$ADIR/logs/maven.log" >&2; die "registry: Maven could not fetch io.apicurio:apicurio-registry-app:$APICURIO_VERSION:zip:all; log: $ADIR/logs/maven.log"; }
  (cd "$ADIR/app" && unzip -q -o "$ADIR/dist/apicurio-registry-app-$APICURIO_VERSION-all.zip") || die "registry: could not unpack the Apicurio archive"
  rm -rf "$ADIR/dist"
}

# Global BACKWARD compatibility (Apicurio's default is NONE: it accepts anything). Through the
# ccompat API this creates Apicurio's global COMPATIBILITY rule, which the ccompat API enforces.
registry_configure() {
  curl -fsS --max-time 10 -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    -d '{"compatibility":"BACKWARD"}' "$REGISTRY_URL/config" >/dev/null
}

registry_up() {
  local pidf="$ADIR/registry.pid" logf="$ADIR/logs/registry.log"
  if pid_alive "$pidf" "$REGISTRY_MARKER"; then
    log "registry: already running from this checkout (pid $(cat "$pidf"))"
    wait_ready registry "$logf" "$pidf" "$REGISTRY_MARKER" registry_alive
  elif port_open "$HOST" "$REGISTRY_PORT"; then
    if registry_alive; then
      log "registry: a registry already answers at $REGISTRY_URL (not started from this checkout); reusing it"
    else
      log "registry: port $REGISTRY_PORT is taken by $(port_owner "$REGISTRY_PORT") but $REGISTRY_URL/subjects does not answer yet; waiting for it"
      wait_ready "registry (port $REGISTRY_PORT held by $(port_owner "$REGISTRY_PORT"), not by this checkout)" "$logf" "" "" registry_alive
    fi
  else
    registry_fetch
    mkdir -p "$ADIR/logs"
    log "registry: starting Apicurio Registry $APICURIO_VERSION (in-memory) on $HOST:$REGISTRY_PORT"
    # 3.0.9 opens no management port (9000 stays free; checked with ss). The default-global
    # rule property enforces BACKWARD from the first request; registry_configure then makes
    # the ccompat GET /config report it too (with the property alone it reports NONE).
    launch "$pidf" "$ADIR" "$logf" "$JAVA" "$REGISTRY_MARKER" -Dwalrelay.services.dir="$ADIR" \
      -Xms128m -Xmx512m -XX:+UseG1GC \
      -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dapicurio.rules.global.compatibility=BACKWARD \
      -Dapicurio.ccompat.use-canonical-hash=true \
      -Dapicurio.rest.deletion.group.enabled=true \
      -Dapicurio.rest.deletion.artifact.enabled=true \
      -Dapicurio.rest.deletion.artifact-version.enabled=true \
      -jar "$REGISTRY_JAR"
    wait_ready registry "$logf" "$pidf" "$REGISTRY_MARKER" registry_alive
  fi
  # A concurrent `up` from another checkout may have created the rule first (409): the result counts.
  registry_configure || registry_healthy || die "registry: could not set global BACKWARD compatibility at $REGISTRY_URL/config; log: $logf"
  registry_healthy || die "registry: global compatibility is not BACKWARD after configuring it; log: $logf"
  log "registry: healthy at $REGISTRY_URL (global compatibility BACKWARD)"
}

registry_down() { stop_pid registry "$ADIR/registry.pid" "$REGISTRY_MARKER" 30; }

# ---------------------------------------------------------------- Kafka Connect + Debezium (on demand)
# Not in the default set: `services.sh up debezium`. A distributed Connect worker (REST on
# 127.0.0.1:8083, internal topics __walrelay_connect_*) with Debezium's PostgreSQL connector,
# Debezium's JDBC sink and Apicurio's Kafka Connect Avro converter (Confluent wire format,
# content ids the ccompat API serves) on its plugin path. Everything from Maven Central.
CDIR="$SVC/connect"
CONNECT_MARKER="-Dwalrelay.service=connect"
CONNECT_PORT=8083
CONNECT_URL="http://$HOST:$CONNECT_PORT"
DEBEZIUM_VERSION="${WALRELAY_DEBEZIUM_VERSION:-3.6.1.Final}"
DEBEZIUM_JDBC_VERSION="${WALRELAY_DEBEZIUM_JDBC_VERSION:-3.6.0.Final}"   # 3.6.1.Final of the JDBC sink is not on Maven Central
CONNECT_HEAP="${WALRELAY_CONNECT_HEAP:-1g}"
MVN_SETTINGS="$ROOT/scripts/services/maven-settings.xml"
debezium_alive() { curl -fs -o /dev/null --max-time 5 "$CONNECT_URL/connector-plugins"; }
debezium_healthy() {
  local plugins; plugins="$(curl -fsS --max-time 5 "$CONNECT_URL/connector-plugins")" || return 1
  grep -q 'io.debezium.connector.postgresql.PostgresConnector' <<<"$plugins" && grep -q 'io.debezium.connector.jdbc.JdbcSinkConnector' <<<"$plugins"
}

debezium_fetch() {
  local stamp
  stamp="$(cat "$ROOT/scripts/services/connect-pom.xml" "$ROOT/scripts/services/apicurio-converter-pom.xml" | sha1sum | cut -c1-40)-$DEBEZIUM_VERSION-$DEBEZIUM_JDBC_VERSION"
  if [ -f "$CDIR/.fetched" ] && [ "$(cat "$CDIR/.fetched")" = "$stamp" ]; then return 0; fi
  log "debezium: fetching Kafka Connect 4.1.1, Debezium $DEBEZIUM_VERSION (JDBC sink $DEBEZIUM_JDBC_VERSION) and Apicurio's converter with Maven"
  rm -rf "$CDIR/libs" "$CDIR/plugins" "$CDIR/dist"; mkdir -p "$CDIR/libs" "$CDIR/plugins/apicurio-converter" "$CDIR/dist" "$CDIR/logs"
  local mlog="$CDIR/logs/maven.log"; : > "$mlog"
  mvn -B -Dstyle.color=never -s "$MVN_SETTINGS" -f "$ROOT/scripts/services/connect-pom.xml" dependency:copy-dependencies -DoutputDirectory="$CDIR/libs" >> "$mlog" 2>&1 \
    || { tail -n 30 "$mlog" >&2; die "debezium: Maven could not fetch the Kafka Connect jars; log: $mlog"; }
  mvn -B -Dstyle.color=never -s "$MVN_SETTINGS" -f "$ROOT/scripts/services/apicurio-converter-pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$CDIR/plugins/apicurio-converter" >> "$mlog" 2>&1 \
    || { tail -n 30 "$mlog" >&2; die "debezium: Maven could not fetch Apicurio's converter; log: $mlog"; }
  # Debezium's own Connect plugin archives: the JDBC sink's pom needs org.hibernate:hibernate-agroal,
  # which Maven Central does not serve, but the archive bundles it.
  local a
  for a in "io.debezium:debezium-connector-postgres:$DEBEZIUM_VERSION:tar.gz:plugin" "io.debezium:debezium-connector-jdbc:$DEBEZIUM_JDBC_VERSION:tar.gz:plugin"; do
    mvn -B -Dstyle.color=never -s "$MVN_SETTINGS" -f "$POM" dependency:copy -Dartifact="$a" -DoutputDirectory="$CDIR/dist" >> "$mlog" 2>&1 \
      || { tail -n 30 "$mlog" >&2; die "debezium: Maven could not fetch $a; log: $mlog"; }
  done
  for a in "$CDIR"/dist/*.tar.gz; do tar -xzf "$a" -C "$CDIR/plugins" || die "debezium: could not unpack $a"; done
  # The plugins bundle slf4j-api 1.7, which has no binding there: their log lines would vanish.
  rm -f "$CDIR"/plugins/*/slf4j-api-1.*.jar
  rm -rf "$CDIR/dist"
  echo "$stamp" > "$CDIR/.fetched"
}

debezium_config() {
  cat > "$CDIR/worker.properties" <<EOF
# Generated by scripts/services.sh; edits are overwritten on the next up.
bootstrap.servers=$HOST:$KAFKA_PORT
group.id=walrelay-connect
config.storage.topic=__walrelay_connect_configs
offset.storage.topic=__walrelay_connect_offsets
status.storage.topic=__walrelay_connect_status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
listeners=$CONNECT_URL
rest.advertised.host.name=$HOST
rest.advertised.port=$CONNECT_PORT
plugin.path=$CDIR/plugins
plugin.discovery=hybrid_warn
EOF
}

debezium_up() {
  local pidf="$CDIR/connect.pid" logf="$CDIR/logs/connect.log" out="$CDIR/logs/connect.out"
  if pid_alive "$pidf" "$CONNECT_MARKER"; then
    log "debezium: already running from this checkout (pid $(cat "$pidf"))"
  elif port_open "$HOST" "$CONNECT_PORT"; then
    if debezium_alive; then
      log "debezium: a Kafka Connect worker already answers at $CONNECT_URL (not started from this checkout); reusing it"
    else
      log "debezium: port $CONNECT_PORT is taken by $(port_owner "$CONNECT_PORT") but $CONNECT_URL does not answer yet; waiting for it"
    fi
    wait_ready "debezium (port $CONNECT_PORT, not started from this checkout)" "$logf" "" "" debezium_healthy
  else
    kafka_healthy >/dev/null 2>&1 || die "debezium: Kafka Connect needs Kafka at $HOST:$KAFKA_PORT (services.sh up kafka registry debezium)"
    debezium_fetch
    debezium_config
    log "debezium: starting Kafka Connect 4.1.1 (distributed worker) with Debezium $DEBEZIUM_VERSION on $CONNECT_URL"
    launch "$pidf" "$CDIR" "$out" "$JAVA" "$CONNECT_MARKER" -Dwalrelay.services.dir="$CDIR" \
      -Xms256m -Xmx"$CONNECT_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      -Dconnect.log.file="$logf" -Dlog4j2.configurationFile="$ROOT/scripts/services/connect-log4j2.properties" \
      -cp "$CDIR/libs/*" org.apache.kafka.connect.cli.ConnectDistributed "$CDIR/worker.properties"
  fi
  wait_ready debezium "$logf" "$pidf" "$CONNECT_MARKER" debezium_healthy
  log "debezium: healthy at $CONNECT_URL (PostgresConnector $DEBEZIUM_VERSION, JdbcSinkConnector $DEBEZIUM_JDBC_VERSION, Apicurio AvroConverter)"
}

debezium_down() { stop_pid debezium "$CDIR/connect.pid" "$CONNECT_MARKER" 60; }

# ---------------------------------------------------------------- status
status_line() {
  local name="$1" url="$2" check="$3" detail="$4" state
  if $check >/dev/null 2>&1; then state=healthy; else state=DOWN; STATUS_RC=3; fi
  printf '%-9s %-8s %-55s %s\n' "$name" "$state" "$url" "$detail"
}
owner_of() { # NAME PIDFILE MARKER LOG
  if pid_alive "$2" "$3"; then echo "pid $(cat "$2"), started by services.sh; log $4"
  else echo "not started from this checkout (reused or down); log $4"; fi
}

status() {
  STATUS_RC=0
  printf '%-9s %-8s %-55s %s\n' SERVICE HEALTH URL DETAIL
  status_line postgres "postgresql://postgres@$HOST:$PG_PORT/$PG_DB" pg_healthy \
    "wal_level=$(psql_admin -d postgres -c 'show wal_level' 2>/dev/null || echo '?'); machine cluster $(pg_cluster)/main; log $(pg_log)"
  status_line mariadb "mysql://$MARIADB_USER:$MARIADB_PASSWORD@$HOST:$MARIADB_PORT/$MARIADB_DB" mariadb_healthy \
    "machine service; log /var/log/mysql/error.log"
  status_line kafka "$HOST:$KAFKA_PORT" kafka_healthy "$(owner_of kafka "$KDIR/kafka.pid" "$KAFKA_MARKER" "$KDIR/logs/server.log")"
  status_line registry "$REGISTRY_URL" registry_healthy "$(owner_of registry "$ADIR/registry.pid" "$REGISTRY_MARKER" "$ADIR/logs/registry.log")"
  if debezium_alive >/dev/null 2>&1 || pid_alive "$CDIR/connect.pid" "$CONNECT_MARKER"; then
    status_line debezium "$CONNECT_URL" debezium_healthy "$(owner_of debezium "$CDIR/connect.pid" "$CONNECT_MARKER" "$CDIR/logs/connect.log")"
  fi
  return $STATUS_RC
}

# ---------------------------------------------------------------- main
ALL=(postgres mariadb kafka registry)
# On demand only (started when named; `down` without names stops it too when it runs).
OPTIONAL=(debezium)
cmd="${1:-}"; shift || true
services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  services=("${ALL[@]}")
  if [ "$cmd" = down ]; then services+=("${OPTIONAL[@]}"); fi
fi
for s in "${services[@]}"; do
  case " ${ALL[*]} ${OPTIONAL[*]} " in *" $s "*) ;; *) die "unknown service '$s' (known: ${ALL[*]} ${OPTIONAL[*]})";; esac
done

mkdir -p "$SVC"
# One `up`/`down` at a time per checkout (engineers and test runs share the tree).
exec 9>"$SVC/.lock"
case "$cmd" in
  up)
    flock -w "$TIMEOUT" 9 || die "another services.sh holds $SVC/.lock"
    t0=$SECONDS
    for s in "${services[@]}"; do "${s}_up"; done
    log "all up in $(( SECONDS - t0 ))s: ${services[*]}"
    ;;
  down)
    flock -w "$TIMEOUT" 9 || die "another services.sh holds $SVC/.lock"
    for (( i=${#services[@]}-1; i>=0; i-- )); do "${services[$i]}_down"; done
    ;;
  status) status ;;
  *) echo "usage: $0 up|down|status [${ALL[*]} ${OPTIONAL[*]}]" >&2; exit 2 ;;
esac
