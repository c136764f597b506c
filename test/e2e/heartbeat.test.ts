import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import Database from 'better-sqlite3';
import type { StatusReport } from '@walrelay/cli';
import { KAFKA_BROKERS, PG_URL, REGISTRY_URL, uniqueName } from '../support/env.js';
import { dropPgArtifacts, pgConnect, q } from '../support/postgres.js';
import { startProcess, type RunningProcess } from '../support/processes.js';
import { metricsPort, sample, scrape } from '../support/metrics.js';
import { runWalrelay } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

/**
 * Heartbeats: a quiet captured database next to a busy one on the same PostgreSQL server.
 * The heartbeat's actionQuery updates a published row, which travels to the SQLite target,
 * so the sink's last-change age and `walrelay status` stay fresh although nothing else
 * changes; the slot's retained WAL stays bounded while the busy database writes 100+ MB.
 */
describe('heartbeat on a quiet database next to a busy one', () => {
  const id = uniqueName('hb');
  const quietDb = `${id}_quiet`;
  const busySchema = `${id}_busy`;
  const slot = `${id}_slot`;
  const publication = `${id}_pub`;
  const group = `${id}_group`;
  const quietUrl = ((u) => ((u.pathname = `/${quietDb}`), u.toString()))(new URL(PG_URL));
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-hb-')), 'target.sqlite');
  const processes: RunningProcess[] = [];
  let admin: pg.Client;
  let quiet: pg.Client;
  let source: RunningProcess;
  let sink: RunningProcess;
  const heartbeatSql = 'INSERT INTO public.walrelay_heartbeat (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = now()';
  const common = { WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','), WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL, WALRELAY_TOPIC_PREFIX: id };
  const sourceEnv = {
    ...common,
    WALRELAY_PG_URL: quietUrl,
    WALRELAY_SLOT: slot,
    WALRELAY_PUBLICATION: publication,
    WALRELAY_TABLES: 'public.walrelay_heartbeat,public.orders',
    WALRELAY_TX_MAX_DELAY_MS: '20',
    WALRELAY_HTTP_PORT: '0',
    WALRELAY_HEARTBEAT_INTERVAL_MS: '500',
    WALRELAY_HEARTBEAT_ACTION_QUERY: heartbeatSql,
  };

  before(async () => {
    admin = await pgConnect();
    await admin.query(`CREATE DATABASE ${q(quietDb)}`);
    quiet = await pgConnect(quietUrl);
    await quiet.query('CREATE TABLE public.walrelay_heartbeat (id int PRIMARY KEY, ts timestamptz NOT NULL)');
    await quiet.query('CREATE TABLE public.orders (id int PRIMARY KEY, note text)');
    await quiet.query("INSERT INTO public.orders VALUES (1, 'the only order')");
    await admin.query(`CREATE SCHEMA ${q(busySchema)}`);
    await admin.query(`CREATE TABLE ${q(busySchema)}.load (id int, pad text)`);
    source = startProcess('source', sourceEnv, `${id}-source`);
    processes.push(source);
    sink = startProcess('sink-sqlite', { ...common, WALRELAY_TARGET_URL: file, WALRELAY_GROUP_ID: group, WALRELAY_TOPIC_REFRESH_MS: '500', WALRELAY_HTTP_PORT: '0' }, `${id}-sink`);
    processes.push(sink);
  });

  after(async () => {
    await Promise.all(processes.map((p) => p.stop(10_000)));
    await quiet?.end().catch(() => undefined);
    await dropPgArtifacts(admin, { slot, schema: busySchema });
    await admin.query(`DROP DATABASE IF EXISTS ${q(quietDb)} WITH (FORCE)`);
    await admin.end();
  });

  test('the heartbeat row reaches the target and keeps the sink\'s last-change age small', async () => {
    const sourcePort = await metricsPort(source);
    const sinkPort = await metricsPort(sink);
    await waitFor('the heartbeat row in SQLite', () => {
      try {
        const db = new Database(file, { readonly: true, fileMustExist: true });
        try {
          return (db.prepare('SELECT count(*) AS n FROM walrelay_heartbeat').get() as { n: number }).n === 1 ? true : undefined;
        } finally {
          db.close();
        }
      } catch {
        return undefined;
      }
    }, { timeoutMs: 90_000, describe: () => `${source.output().slice(-2000)}\n${sink.output().slice(-2000)}` });
    const beats0 = sample(await scrape(sourcePort), 'walrelay_source_heartbeats_total') ?? 0;
    assert.ok(beats0 >= 1, 'the source counts its heartbeats');
    // Nothing but the heartbeat changes in the quiet database: the age must still stay small, repeatedly.
    const ages: number[] = [];
    await waitFor('five fresh last-change ages', async () => {
      const age = sample(await scrape(sinkPort), 'walrelay_sink_last_change_age_seconds');
      if (age !== undefined && Number.isFinite(age)) ages.push(age);
      return ages.length >= 5 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    assert.ok(Math.max(...ages.slice(-3)) < 10, `last-change ages ${ages.join(', ')} s`);
    const beats1 = sample(await scrape(sourcePort), 'walrelay_source_heartbeats_total') ?? 0;
    assert.ok(beats1 > beats0, 'heartbeats keep coming');
    const committed = sample(await scrape(sinkPort), 'walrelay_sink_last_change_commit_timestamp_seconds', { table: 'public.walrelay_heartbeat' });
    assert.ok(committed !== undefined && Date.now() / 1000 - committed < 10, 'the heartbeat table\'s last commit is recent');
    // walrelay status says the same from PostgreSQL, Kafka and the target alone.
    const run = await runWalrelay(['status', '--json'], { ...sourceEnv, WALRELAY_GROUP_ID: group, WALRELAY_TARGET_URL: file, WALRELAY_LOG_LEVEL: 'warn' });
    const report = JSON.parse(run.stdout) as StatusReport;
    const g = report.sinks.find((s) => s.groupId === group);
    assert.ok(g?.lastApplied, run.stdout + run.stderr);
    assert.ok(g.lastApplied.ageSeconds < 15, `status: last change applied ${g.lastApplied.ageSeconds} s ago`);
  });

  test('the quiet database\'s slot retains bounded WAL while the busy database writes', async () => {
    const lsn = async (): Promise<string> => (await admin.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
    const start = await lsn();
    for (let i = 0; i < 6; i++) {
      await admin.query(`INSERT INTO ${q(busySchema)}.load SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 20000) g`);
      await admin.query(`DELETE FROM ${q(busySchema)}.load`);
    }
    const generated = Number((await admin.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint AS d', [start])).rows[0].d);
    assert.ok(generated > 64 * 1024 * 1024, `the busy database wrote ${generated} bytes of WAL`);
    const retained = await waitFor('the slot to release the busy database\'s WAL', async () => {
      await admin.query('SELECT pg_switch_wal()').catch(() => undefined);
      const r = await admin.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      const row = r.rows[0] as { retained: string; lag: string } | undefined;
      return row && Number(row.retained) < 16 * 1024 * 1024 && Number(row.lag) < 1024 * 1024 ? Number(row.retained) : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000 });
    assert.ok(retained < generated / 4, `retained ${retained} of ${generated} bytes`);
  });

  test('an actionQuery that fails stops the start with an error naming the setting (exit 2)', async () => {
    // The first source has created the publication (two creating it at once would race).
    await waitFor('the first source\'s heartbeat', () => (source.output().includes('heartbeat started') ? true : undefined), { timeoutMs: 90_000 });
    const bad = startProcess('source', { ...sourceEnv, WALRELAY_SLOT: `${slot}_bad`, WALRELAY_HTTP_PORT: '-1', WALRELAY_HEARTBEAT_ACTION_QUERY: 'UPDATE no_such_table SET x = 1' }, `${id}-bad`);
    processes.push(bad);
    const code = await Promise.race([bad.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 60_000))]);
    assert.equal(code, 2, bad.output().slice(-2000));
    assert.match(bad.output(), /heartbeat\.actionQuery \(WALRELAY_HEARTBEAT_ACTION_QUERY\) failed in the captured database: relation \\?"no_such_table\\?" does not exist/);
    const slotLeft = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`${slot}_bad`]);
    assert.equal(slotLeft.rows.length, 0, 'no slot was created');
  });
});
