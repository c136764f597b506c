import { readFileSync } from 'node:fs';
import { cpuSeconds, procStatus } from './process-stats.js';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type pg from 'pg';
import { MYSQL_URL } from '../support/env.js';
import { testKafka } from '../support/kafka.js';
import { ROOT } from '../support/processes.js';
import { apicurioConverter, connectAvailable, connectorStatus, createConnector, debeziumPostgresConfig, deleteConnector } from '../support/debezium.js';

/**
 * `npm run bench -- --compare debezium`: the bench workload through Debezium's PostgreSQL
 * connector and JDBC sink (Kafka Connect 4.1.1 distributed, one worker, started by
 * `scripts/services.sh up debezium`), on the same PostgreSQL, Kafka, registry and MariaDB as
 * walrelay's phases, interleaved with them by run.ts. Both sides write Avro in the Confluent
 * framing through the same registry: walrelay its own encoder, Debezium Apicurio's
 * AvroConverter 2.6.13 (as-confluent, contentId).
 *
 * The Connect worker is one JVM for connector and sink tasks: its CPU seconds are the
 * worker's over the phase (it is otherwise idle), its RSS the worker's largest sample during
 * the phase (the heap is sized by the JVM, not by the work).
 */

/** The Kafka Connect worker's pid (services.sh writes it). */
export function connectPid(): number {
  const pid = Number(readFileSync(path.join(ROOT, '.services/connect/connect.pid'), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('no Kafka Connect worker pid in .services/connect/connect.pid');
  return pid;
}

export async function requireConnect(): Promise<void> {
  if (!(await connectAvailable())) throw new Error('--compare debezium needs Kafka Connect with Debezium: run bash scripts/services.sh up debezium');
}

export interface PhaseResult {
  readonly seconds: number;
  readonly perSecond: number;
  readonly cpuSeconds: number;
  readonly cpuSecondsPer100k: number;
  readonly peakRssMB: number;
}

/** Throws with the trace when the connector or one of its tasks FAILED. */
async function healthy(connector: string): Promise<void> {
  const s = await connectorStatus(connector);
  const failed = [s.connector, ...(s.tasks ?? [])].find((x) => x?.state === 'FAILED');
  if (failed) throw new Error(`connector ${connector} FAILED: ${(failed.trace ?? 'no trace').slice(0, 2000)}`);
}

/** Waits until `count()` reaches `n`, sampling every 250 ms; the rate runs from the last sample before any progress. */
async function measure(n: number, count: () => Promise<number>, pid: number, timeoutMs: number, what: string, connector: string): Promise<PhaseResult> {
  const cpu0 = cpuSeconds(pid);
  let peak = procStatus(pid, 'VmRSS');
  let before = Date.now();
  let c = 0;
  const started = Date.now();
  for (;;) {
    const t = Date.now();
    c = await count().catch(() => 0);
    peak = Math.max(peak, procStatus(pid, 'VmRSS'));
    if (c === 0) before = t;
    if (c >= n) break;
    await healthy(connector);
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: timed out at ${c} of ${n}`);
    await sleep(250);
  }
  const seconds = (Date.now() - before) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  return { seconds, perSecond: n / Math.max(0.001, seconds), cpuSeconds: cpu, cpuSecondsPer100k: (cpu * 100_000) / n, peakRssMB: Math.round(peak / 1048576) };
}

async function topicRecords(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    return (await admin.fetchTopicOffsets(topic)).reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Debezium's connector catches up `n` changes waiting in its slot: done when they are all in its topic. */
export async function debeziumSource(o: {
  readonly name: string;
  readonly topicPrefix: string;
  readonly slot: string;
  readonly publication: string;
  readonly database: string;
  readonly table: string;
  readonly n: number;
}): Promise<PhaseResult & { readonly topic: string }> {
  const topic = `${o.topicPrefix}.${o.table}`;
  const pid = connectPid();
  const config = debeziumPostgresConfig({
    topicPrefix: o.topicPrefix,
    slot: o.slot,
    publication: o.publication,
    database: o.database,
    tables: [o.table],
    extra: { 'snapshot.mode': 'no_data', 'publication.autocreate.mode': 'disabled' },
  });
  const cpu0 = cpuSeconds(pid);
  await createConnector(o.name, config);
  const r = await measure(o.n, () => topicRecords(topic), pid, 900_000, `Debezium connector ${o.name}`, o.name);
  const cpu = cpuSeconds(pid) - cpu0;
  await deleteConnector(o.name);
  return { ...r, cpuSeconds: cpu, cpuSecondsPer100k: (cpu * 100_000) / o.n, topic };
}

/** Debezium's JDBC sink replays `topic` into an empty MariaDB database: done when the table holds `n` rows. */
export async function debeziumJdbcSink(o: { readonly name: string; readonly topic: string; readonly database: string; readonly n: number }): Promise<PhaseResult> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`CREATE DATABASE \`${o.database}\``);
  await admin.end();
  const url = MYSQL_URL.replace(/\/[^/]*$/, `/${o.database}`);
  const conn = await mysql.createConnection({ uri: url });
  const pid = connectPid();
  const cpu0 = cpuSeconds(pid);
  try {
    await createConnector(o.name, {
      'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
      'tasks.max': '1',
      topics: o.topic,
      'connection.url': `jdbc:mariadb://127.0.0.1:3306/${o.database}`,
      'connection.username': 'walrelay',
      'connection.password': 'walrelay',
      'insert.mode': 'upsert',
      'delete.enabled': 'true',
      'primary.key.mode': 'record_key',
      'schema.evolution': 'basic',
      ...apicurioConverter('key'),
      ...apicurioConverter('value'),
    });
    const count = async (): Promise<number> => {
      const [tables] = await conn.query('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()');
      const t = (tables as { t: string }[])[0]?.t;
      if (!t) return 0;
      const [rows] = await conn.query(`SELECT COUNT(*) AS n FROM \`${t.replace(/`/g, '``')}\``);
      return Number((rows as { n: number }[])[0]?.n ?? 0);
    };
    const r = await measure(o.n, count, pid, 1_800_000, `Debezium JDBC sink ${o.name}`, o.name);
    const cpu = cpuSeconds(pid) - cpu0;
    return { ...r, cpuSeconds: cpu, cpuSecondsPer100k: (cpu * 100_000) / o.n };
  } finally {
    await deleteConnector(o.name).catch(() => undefined);
    await conn.end();
    // The JDBC sink looks tables up without naming the database: a same-named table left in
    // another database makes the next run believe its table exists. Drop this run's.
    await dropDatabases([o.database]);
  }
}

export async function dropDatabases(names: readonly string[]): Promise<void> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  for (const n of names) await admin.query(`DROP DATABASE IF EXISTS \`${n}\``).catch(() => undefined);
  await admin.end();
}

export async function dropSlots(db: pg.Client, slots: readonly string[]): Promise<void> {
  for (const s of slots) {
    for (let i = 0; i < 50; i++) {
      const r = await db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [s]);
      if (r.rows.length === 0 || r.rows[0].active === false) break;
      await sleep(200);
    }
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [s]).catch(() => undefined);
  }
}
