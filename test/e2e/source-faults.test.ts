import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { tableTopic } from '@walrelay/core';
import { PG_URL } from '../support/env.js';
import { q } from '../support/postgres.js';
import { TestPipeline } from '../support/pipeline.js';
import { TopicCollector } from '../support/kafka.js';
import type { RunningProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import {
  diffStates,
  hasLog,
  logLines,
  pgState,
  replayTopic,
  runTransactions,
  seededRandom,
  WorkloadPlanner,
  type PlannedTx,
  type ReplayResult,
} from '../support/changes.js';

/**
 * The source's proof tests against real PostgreSQL, Kafka and the registry:
 * kill -9 at random points of a large workload, hot standby takeover, SIGTERM,
 * misconfiguration, an interrupted snapshot, and a snapshot under concurrent writes.
 * Everything is read back by read_committed consumers and replayed strictly
 * (test/support/changes.ts): an insert of an existing key, an update or delete of a
 * missing key, an update that does not add exactly 1, a change seen twice or out of
 * commit order all fail the test, and the replayed final image must equal PostgreSQL.
 */

const SEED = Number(process.env.WALRELAY_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`# source-faults seed ${SEED} (rerun with WALRELAY_TEST_SEED=${SEED})\n`);

const TABLE_DDL = (schema: string, ...tables: string[]): string[] => tables.map((t) => `CREATE TABLE ${schema}.${q(t)} (id int8 PRIMARY KEY, v int8 NOT NULL)`);

function processLogs(ps: readonly RunningProcess[]): string {
  return ps.map((p) => `--- ${p.name} (${p.logFile})\n${p.output().slice(-2500)}`).join('\n');
}

/** Starts collectors of the pipeline's table topics once the source has created them. */
async function collectorsFor(p: TestPipeline, tables: readonly string[]): Promise<Record<string, TopicCollector>> {
  const out: Record<string, TopicCollector> = {};
  for (const t of tables) {
    const c = new TopicCollector([tableTopic(p.prefix, p.schema, t)]);
    await waitFor(
      `topic of ${t}`,
      async () => {
        try {
          await c.start();
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 60_000, describe: () => processLogs(p.processes) },
    );
    out[t] = c;
  }
  return out;
}

/**
 * Truncates the tables and waits until every partition of every topic delivered the
 * truncate marker: everything committed before it has then been read.
 */
async function drainWithTruncate(p: TestPipeline, collectors: Record<string, TopicCollector>, timeoutMs = 120_000): Promise<void> {
  await p.db.query(`TRUNCATE ${Object.keys(collectors).map((t) => `${q(p.schema)}.${q(t)}`).join(', ')}`);
  const scanned: Record<string, { index: number; partitions: Set<number> }> = {};
  for (const t of Object.keys(collectors)) scanned[t] = { index: 0, partitions: new Set() };
  await waitFor(
    'the truncate marker on every partition',
    () => {
      for (const [t, c] of Object.entries(collectors)) {
        const s = scanned[t]!;
        for (; s.index < c.records.length; s.index++) {
          const r = c.records[s.index]!;
          if (r.value?.op === 't') s.partitions.add(r.partition);
        }
        if (s.partitions.size < 3) return false;
      }
      return true;
    },
    {
      timeoutMs,
      intervalMs: 250,
      describe: () => `${Object.entries(collectors).map(([t, c]) => `${t}: ${c.records.length} records`).join(', ')}\n${processLogs(p.processes)}`,
    },
  );
}

function assertReplay(table: string, r: ReplayResult): void {
  assert.deepEqual(r.errors, [], `${table}: the topic is not every change exactly once in commit order:\n  ${r.errors.join('\n  ')}`);
  assert.equal(r.counts.tombstone, r.counts.d, `${table}: one tombstone per delete`);
}

function total(collectors: Record<string, TopicCollector>): number {
  return Object.values(collectors).reduce((s, c) => s + c.records.length, 0);
}

/** Stops the consumers; bounded, so a broker that went away cannot hold the test process open. */
async function stopAll(collectors: Record<string, TopicCollector>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(Object.values(collectors).map((c) => c.stop().catch(() => undefined))),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 15_000))),
  ]);
  clearTimeout(timer);
}

describe('walrelay-source under faults', () => {
  test('kill -9 at random points of a large workload: every change arrives exactly once, per key in commit order', async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const p = new TestPipeline('flt_kill');
    let collectors: Record<string, TopicCollector> = {};
    const gen = new pg.Client({ connectionString: PG_URL });
    try {
      await p.setup((s) => TABLE_DDL(s, 'a', 'b'));
      p.capture('a', 'b');
      const plan = new WorkloadPlanner(SEED, p.schema, ['a', 'b']);
      const initial = { a: 2_000, b: 1_000 };
      for (const [table, n] of Object.entries(initial)) {
        const s = plan.initialRows(table, n);
        await p.db.query(s.sql, s.params);
      }
      // Transactions of 1..20 rows, of a few hundred, and three of ~20k (each spans
      // dozens of Kafka transactions of 500 changes, so partial checkpoints are written).
      const N = 700;
      const txs: PlannedTx[] = [];
      for (let i = 0; i < N; i++) {
        if (i === 100) {
          const from = plan.nextId;
          txs.push(plan.big([plan.bulkInsert('a', 20_000)]));
          txs.push(plan.small());
          // Next to it: an update of most of those rows and of b, in one transaction.
          txs.push(plan.big([plan.bulkRange('a', 14_000, 'update', from), plan.bulkInsert('b', 6_000)]));
        } else if (i === 450) {
          const from = plan.nextId - 6_000;
          txs.push(plan.big([plan.bulkRange('b', 6_000, 'update', from), plan.bulkRange('a', 5_000, 'delete', from - 20_000), plan.bulkInsert('a', 9_000)]));
        } else {
          txs.push(plan.random() < 0.85 ? plan.small() : plan.medium(400));
        }
      }
      const expectedChanges = Object.values(plan.expected).reduce((s, e) => s + e.c + e.u + e.d, 0);
      t.diagnostic(`workload: ${txs.length} transactions, ${expectedChanges} changes, ${JSON.stringify(plan.expected)}`);
      const expectedRecords = initial.a + initial.b + plan.expectedRecords('a') + plan.expectedRecords('b');

      const env = { WALRELAY_TX_MAX_CHANGES: '500', WALRELAY_TX_MAX_DELAY_MS: '20' };
      let source = p.startSource(env, 'kill-0');
      collectors = await collectorsFor(p, ['a', 'b']);
      await gen.connect();
      const started = Date.now();
      let committed = 0;
      const generator = runTransactions(gen, txs, { onCommitted: () => committed++ });
      let generatorError: unknown;
      generator.catch((e: unknown) => (generatorError = e));

      // Five kills: the first while a ~20k-row transaction is partly published, the
      // others when the consumers have seen a random share of the workload.
      const rnd = seededRandom(SEED ^ 0x5eed);
      const thresholds = Array.from({ length: 4 }, () => Math.floor((0.15 + rnd() * 0.7) * expectedRecords)).sort((x, y) => x - y);
      const restarts: RunningProcess[] = [];
      for (let k = 0; k < 5; k++) {
        const sinceRestart = total(collectors);
        const aIndex = collectors.a!.records.length;
        await waitFor(
          `kill point ${k}`,
          () => {
            if (generatorError) throw generatorError;
            const now = total(collectors);
            const progressed = now > sinceRestart || now >= expectedRecords;
            if (k === 0) {
              const recs = collectors.a!.records;
              for (let i = aIndex; i < recs.length; i++) {
                const seq = recs[i]!.value?.source.tx_seq;
                if (typeof seq === 'bigint' && seq > 1_000n && seq < 15_000n) return true;
              }
              return false;
            }
            return progressed && now >= thresholds[k - 1]!;
          },
          { timeoutMs: 120_000, intervalMs: 20, describe: () => `${total(collectors)} of ${expectedRecords} records, ${committed} transactions committed\n${processLogs([source])}` },
        );
        source.kill('SIGKILL');
        await source.exited;
        t.diagnostic(`kill ${k}: after ${total(collectors)} of ${expectedRecords} records, ${committed}/${txs.length} transactions committed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
        source = p.startSource(env, `kill-${k + 1}`);
        restarts.push(source);
      }
      await generator;
      assert.equal(committed, txs.length);
      const final = { a: await pgState(p.db, p.schema, 'a'), b: await pgState(p.db, p.schema, 'b') };
      await drainWithTruncate(p, collectors, 150_000);
      t.diagnostic(`all records read after ${((Date.now() - started) / 1000).toFixed(1)} s`);

      for (const table of ['a', 'b'] as const) {
        const r = replayTopic(collectors[table]!.records, { updatesIncrementV: true });
        assertReplay(table, r);
        assert.equal(r.counts.r, initial[table], `${table}: snapshot reads`);
        assert.deepEqual({ c: r.counts.c, u: r.counts.u, d: r.counts.d }, plan.expected[table], `${table}: changes per op`);
        assert.deepEqual(diffStates(new Map([...plan.tables[table]!.v].map(([id, v]) => [String(id), String(v)])), final[table]), [], `${table}: the workload model and PostgreSQL differ`);
        assert.deepEqual(diffStates(final[table], r.state), [], `${table}: replayed topic vs PostgreSQL`);
      }
      // The kill inside a large transaction did leave a partial checkpoint that a restart resumed from.
      const partialResumes = restarts.filter((r) => logLines(r).some((l) => l.msg === 'checkpoint read' && l.partial === true));
      assert.ok(partialResumes.length >= 1, `no restart resumed from a partial checkpoint:\n${processLogs(restarts)}`);
      t.diagnostic(`${partialResumes.length} of 5 restarts resumed inside a PostgreSQL transaction`);
    } finally {
      await gen.end().catch(() => undefined);
      await stopAll(collectors);
      await p.cleanup();
    }
  });

  test('hot standby: a second source waits, and takes over within seconds of a kill -9 with nothing lost or repeated', async (t) => {
    const p = new TestPipeline('flt_hot');
    let collectors: Record<string, TopicCollector> = {};
    try {
      await p.setup((s) => TABLE_DDL(s, 'a'));
      p.capture('a');
      const env = { WALRELAY_HTTP_PORT: '0', WALRELAY_TX_MAX_CHANGES: '500' };
      const a = p.startSource(env, 'active');
      collectors = await collectorsFor(p, ['a']);
      await waitFor('A to stream', () => hasLog(a, 'starting replication'), { describe: () => processLogs([a]) });
      const b = p.startSource(env, 'standby');
      await waitFor('B to wait as a hot standby', () => hasLog(b, 'another source is active on this slot: waiting as a hot standby'), { describe: () => processLogs([a, b]) });
      const port = (proc: RunningProcess): number => {
        const l = logLines(proc).find((x) => x.msg === 'metrics and health endpoints listening');
        assert.ok(l, `no health endpoint in ${proc.name}`);
        return Number(l.port);
      };
      const ready = async (proc: RunningProcess): Promise<{ status: number; body: { ready: boolean; reason: string } }> => {
        const res = await fetch(`http://127.0.0.1:${port(proc)}/readyz`);
        return { status: res.status, body: (await res.json()) as { ready: boolean; reason: string } };
      };
      const standby = await ready(b);
      assert.equal(standby.status, 503);
      assert.match(standby.body.reason, /^standby/);
      assert.equal((await ready(a)).status, 200);

      const insert = async (from: number, to: number): Promise<void> => {
        for (let lo = from; lo <= to; lo += 50) {
          await p.db.query(`INSERT INTO ${q(p.schema)}.a (id, v) SELECT g, 0 FROM generate_series($1::int8, $2::int8) g`, [lo, Math.min(to, lo + 49)]);
        }
      };
      await insert(1, 200);
      await collectors.a!.waitForCount(200);
      await p.db.query(`UPDATE ${q(p.schema)}.a SET v = v + 1 WHERE id <= 100`);

      a.kill('SIGKILL');
      const killed = Date.now();
      await a.exited;
      // Committed while no source is active.
      await insert(201, 400);
      await p.db.query(`UPDATE ${q(p.schema)}.a SET v = v + 1 WHERE id > 150 AND id <= 300`);
      await p.db.query(`DELETE FROM ${q(p.schema)}.a WHERE id % 10 = 0`);
      const expected = await pgState(p.db, p.schema, 'a');
      await waitFor(
        'B to publish the changes committed after the kill',
        () => {
          const r = replayTopic(collectors.a!.records);
          return r.counts.d >= 40 ? r : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 50, describe: () => processLogs([a, b]) },
      );
      const takeoverMs = Date.now() - killed;
      t.diagnostic(`takeover: changes committed after the kill readable ${takeoverMs} ms after it`);
      assert.ok(takeoverMs < 15_000, `takeover took ${takeoverMs} ms`);
      assert.ok(hasLog(b, 'the active source went away: taking over'), processLogs([b]));
      await waitFor('B to be ready', async () => (await ready(b)).status === 200);

      await drainWithTruncate(p, collectors);
      const r = replayTopic(collectors.a!.records, { updatesIncrementV: true });
      assertReplay('a', r);
      assert.deepEqual({ c: r.counts.c, u: r.counts.u, d: r.counts.d }, { c: 400, u: 250, d: 40 });
      assert.deepEqual(diffStates(expected, r.state), []);
    } finally {
      await stopAll(collectors);
      await p.cleanup();
    }
  });

  test('SIGTERM in the middle of a large transaction: exit code 0, and a restart continues with no duplicate and no gap', async (t) => {
    const p = new TestPipeline('flt_term');
    let collectors: Record<string, TopicCollector> = {};
    const gen = new pg.Client({ connectionString: PG_URL });
    try {
      await p.setup((s) => TABLE_DDL(s, 'a', 'b'));
      p.capture('a', 'b');
      const plan = new WorkloadPlanner(SEED + 1, p.schema, ['a', 'b']);
      const txs: PlannedTx[] = [];
      for (let i = 0; i < 40; i++) txs.push(plan.small());
      txs.push(plan.big([plan.bulkInsert('a', 25_000), plan.bulkInsert('b', 5_000)]));
      for (let i = 0; i < 200; i++) txs.push(plan.random() < 0.9 ? plan.small() : plan.medium(200));
      const env = { WALRELAY_TX_MAX_CHANGES: '500' };
      let source = p.startSource(env, 'term-0');
      await waitFor('the source to stream', () => hasLog(source, 'starting replication'), { describe: () => processLogs([source]) });
      collectors = await collectorsFor(p, ['a', 'b']);
      await gen.connect();
      const generator = runTransactions(gen, txs);
      await waitFor(
        'part of the large transaction to be published',
        () => collectors.a!.records.some((r) => typeof r.value?.source.tx_seq === 'bigint' && r.value.source.tx_seq > 1_000n),
        { timeoutMs: 60_000, intervalMs: 20, describe: () => processLogs([source]) },
      );
      const code = await source.stop();
      assert.equal(code, 0, processLogs([source]));
      assert.ok(hasLog(source, 'walrelay-source stopped'));
      source = p.startSource(env, 'term-1');
      await generator;
      const final = { a: await pgState(p.db, p.schema, 'a'), b: await pgState(p.db, p.schema, 'b') };
      await drainWithTruncate(p, collectors);
      const resumed = logLines(source).find((l) => l.msg === 'checkpoint read');
      t.diagnostic(`restart read the checkpoint ${JSON.stringify(resumed)}`);
      assert.equal(resumed?.partial, true, 'SIGTERM inside the large transaction commits a partial checkpoint');
      for (const table of ['a', 'b'] as const) {
        const r = replayTopic(collectors[table]!.records, { updatesIncrementV: true });
        assertReplay(table, r);
        assert.deepEqual({ c: r.counts.c, u: r.counts.u, d: r.counts.d }, plan.expected[table], `${table}: changes per op`);
        assert.deepEqual(diffStates(final[table], r.state), [], `${table}: replayed topic vs PostgreSQL`);
      }
      assert.equal(await source.stop(), 0);
    } finally {
      await gen.end().catch(() => undefined);
      await stopAll(collectors);
      await p.cleanup();
    }
  });

  describe('misconfiguration gets a clear error', () => {
    test('a bad WALRELAY_SNAPSHOT exits with code 2 and names the setting', async () => {
      const p = new TestPipeline('flt_cfg');
      try {
        const proc = p.startSource({ WALRELAY_SNAPSHOT: 'sometimes' }, 'bad-snapshot');
        assert.equal(await proc.exited, 2);
        assert.match(proc.output(), /snapshot \(WALRELAY_SNAPSHOT\)/);
        assert.match(proc.output(), /initial/);
      } finally {
        await p.cleanup();
      }
    });

    test('unreachable PostgreSQL is logged and retried, without the password, until SIGTERM', async () => {
      const p = new TestPipeline('flt_unr');
      const password = 'Sup3r-S3cret-pw';
      try {
        // Port 1: nothing listens there.
        const proc = p.startSource({ WALRELAY_PG_URL: `postgres://walrelay_user:${password}@127.0.0.1:1/walrelay` }, 'unreachable');
        const failures = (): Record<string, unknown>[] =>
          // The start-up check names PostgreSQL before anything else is touched (issue 11).
          logLines(proc).filter((l) => l.dependency === 'postgresql' && /^postgresql at .* unreachable/.test(String(l.msg)));
        await waitFor('two retries of the PostgreSQL connection', () => failures().length >= 2, { timeoutMs: 30_000, describe: () => proc.output() });
        assert.equal(proc.child.exitCode, null, 'the source keeps retrying instead of exiting');
        assert.match(String(failures()[0]!.address), /127\.0\.0\.1:1/);
        assert.ok(!proc.output().includes(password), `the password appears in the logs:\n${proc.output()}`);
        assert.equal(await proc.stop(), 0);
        assert.ok(!proc.output().includes(password));
      } finally {
        await p.cleanup();
      }
    });

    test('a slot that exists with another plugin fails with an error naming the slot', async () => {
      const p = new TestPipeline('flt_plg');
      try {
        await p.setup((s) => TABLE_DDL(s, 'a'));
        p.capture('a');
        await p.db.query("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [p.slot]);
        const proc = p.startSource({}, 'other-plugin');
        const code = await waitFor('the source to exit', () => (proc.child.exitCode !== null ? proc.child.exitCode : undefined), { timeoutMs: 60_000, describe: () => proc.output() });
        assert.equal(code, 1);
        const fatal = logLines(proc).find((l) => l.msg === 'walrelay-source failed');
        assert.ok(fatal, proc.output());
        assert.match(String(fatal.err), new RegExp(`slot ${p.slot} .*test_decoding`));
        // The slot is left alone.
        const slot = await p.db.query('SELECT plugin FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
        assert.equal(slot.rows[0]?.plugin, 'test_decoding');
      } finally {
        await p.cleanup();
      }
    });
  });

  test('kill -9 during a snapshot: the restart resumes it after the last key published; every row arrives once as r, later changes exactly once', async (t) => {
    const p = new TestPipeline('flt_snapk');
    let collectors: Record<string, TopicCollector> = {};
    try {
      await p.setup((s) => TABLE_DDL(s, 'big', 'big2'));
      p.capture('big', 'big2');
      const plan = new WorkloadPlanner(SEED + 2, p.schema, ['big', 'big2']);
      const rows = { big: 200_000, big2: 100_000 };
      for (const [table, n] of Object.entries(rows)) {
        const s = plan.initialRows(table, n);
        await p.db.query(s.sql, s.params);
      }
      await p.db.query(`ANALYZE ${q(p.schema)}.big, ${q(p.schema)}.big2`);
      const env = { WALRELAY_SNAPSHOT_PARALLELISM: '2', WALRELAY_TX_MAX_CHANGES: '2000' };
      const first = p.startSource(env, 'snap-0');
      collectors = await collectorsFor(p, ['big', 'big2']);
      await waitFor('part of the snapshot to be published', () => total(collectors) >= 30_000, { timeoutMs: 60_000, intervalMs: 20, describe: () => processLogs([first]) });
      first.kill('SIGKILL');
      await first.exited;
      assert.ok(!hasLog(first, 'snapshot published'), 'the kill came after the snapshot had finished');
      const firstAttempt = total(collectors);
      t.diagnostic(`killed after ${firstAttempt} snapshot records were readable`);

      const second = p.startSource(env, 'snap-1');
      await waitFor('the snapshot to be resumed and finished', () => hasLog(second, 'initial snapshot finished (resumed incrementally)'), { timeoutMs: 300_000, describe: () => processLogs([second]) });
      assert.ok(hasLog(second, /keeping the slot, streaming from its consistent point/), 'the restart kept the slot');
      assert.ok(hasLog(second, 'incremental snapshot of the table: resuming after the last key published'), 'a table resumed after its last key');
      // Streaming after the snapshot's DONE point.
      const txs: PlannedTx[] = [];
      for (let i = 0; i < 150; i++) txs.push(plan.random() < 0.8 ? plan.small() : plan.medium(300));
      await runTransactions(p.db, txs);
      const final = { big: await pgState(p.db, p.schema, 'big'), big2: await pgState(p.db, p.schema, 'big2') };
      await drainWithTruncate(p, collectors);
      for (const table of ['big', 'big2'] as const) {
        const r = replayTopic(collectors[table]!.records, { updatesIncrementV: true });
        assertReplay(table, r);
        assert.equal(r.reads.size, rows[table], `${table}: every row arrives as r`);
        assert.ok([...r.reads.values()].every((n) => n === 1), `${table}: every row read exactly once across the kill`);
        t.diagnostic(`${table}: ${r.counts.r} r records for ${rows[table]} rows`);
        assert.deepEqual({ c: r.counts.c, u: r.counts.u, d: r.counts.d }, plan.expected[table], `${table}: streamed changes per op`);
        assert.deepEqual(diffStates(final[table], r.state), [], `${table}: replayed topic vs PostgreSQL`);
      }
      const rTotal = collectors.big!.records.concat(collectors.big2!.records).filter((r) => r.value?.op === 'r').length;
      assert.equal(rTotal, rows.big + rows.big2, 'no row published twice (the interrupted attempt is resumed, not redone)');
    } finally {
      await stopAll(collectors);
      await p.cleanup();
    }
  });

  test('writes during the snapshot are neither lost nor duplicated relative to it', async (t) => {
    const p = new TestPipeline('flt_snapw');
    let collectors: Record<string, TopicCollector> = {};
    const gen = new pg.Client({ connectionString: PG_URL });
    try {
      await p.setup((s) => TABLE_DDL(s, 'w'));
      p.capture('w');
      const plan = new WorkloadPlanner(SEED + 3, p.schema, ['w']);
      const s0 = plan.initialRows('w', 100_000);
      await p.db.query(s0.sql, s0.params);
      await gen.connect();
      // A writer that keeps committing small transactions from before the slot exists
      // until well after the snapshot is published.
      const commits: number[] = [];
      let stop = false;
      let afterSnapshot = -1;
      const writer = (async () => {
        while (!stop) await runTransactions(gen, [plan.small(6)], { onCommitted: () => commits.push(Date.now()) });
      })();
      await waitFor('the writer to run', () => commits.length >= 20);
      const source = p.startSource({ WALRELAY_TX_MAX_CHANGES: '1000' }, 'snapw');
      collectors = await collectorsFor(p, ['w']);
      await waitFor('the snapshot to be published', () => hasLog(source, 'snapshot published'), { timeoutMs: 90_000, describe: () => processLogs([source]) });
      afterSnapshot = commits.length;
      await waitFor('writes after the snapshot', () => commits.length >= afterSnapshot + 300);
      stop = true;
      await writer;
      const final = await pgState(p.db, p.schema, 'w');
      await drainWithTruncate(p, collectors);

      const lines = logLines(source);
      const slotAt = Date.parse(String(lines.find((l) => l.msg === 'created replication slot with an exported snapshot')?.time));
      const doneAt = Date.parse(String(lines.find((l) => l.msg === 'snapshot published')?.time));
      assert.ok(slotAt > 0 && doneAt >= slotAt, 'log times of the snapshot');
      const during = commits.filter((c) => c >= slotAt && c <= doneAt).length;
      const beforeSlot = commits.filter((c) => c < slotAt).length;
      t.diagnostic(`${commits.length} writer transactions: ${beforeSlot} before the slot, ${during} during the snapshot (${doneAt - slotAt} ms), the rest after`);
      assert.ok(during > 0, 'the writer committed during the snapshot');

      const r = replayTopic(collectors.w!.records, { updatesIncrementV: true });
      assertReplay('w', r);
      assert.ok(r.counts.r > 0 && r.counts.c + r.counts.u + r.counts.d > 0);
      assert.deepEqual(diffStates(final, r.state), [], 'the snapshot plus the streamed changes, applied in order, equal PostgreSQL');
      // Every key of PostgreSQL's final table was either read by the snapshot or created by a streamed insert.
      assert.equal(r.counts.r + r.counts.c - r.counts.d, final.size);
    } finally {
      await gen.end().catch(() => undefined);
      await stopAll(collectors);
      await p.cleanup();
    }
  });
});
