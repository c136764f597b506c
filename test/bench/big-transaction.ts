/**
 * Benchmark: one N-row PostgreSQL transaction (default 10,000,000 narrow rows)
 * through walrelay-source into Kafka, with the source's memory sampled throughout.
 *
 *   node --conditions=development --import tsx test/bench/big-transaction.ts [rows]
 *
 * Starts a real source process on its own schema/slot/prefix, commits
 * `INSERT ... SELECT generate_series(1, N)` in one transaction, and from the commit
 * until a read_committed consumer (which only counts, keeps nothing) has seen all N
 * records, reads the source's VmRSS from /proc/<pid>/status every 500 ms. Prints
 * rows, seconds, changes/s and peak RSS; writes .bench/big-transaction.json.
 * The source runs with its production defaults (Kafka transactions of 20,000 changes).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { checkpointTopic, tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { testKafka } from '../support/kafka.js';
import { ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { pgConnect, q } from '../support/postgres.js';

const rows = Number(process.argv[2] ?? 10_000_000);
if (!Number.isInteger(rows) || rows < 1) {
  process.stderr.write(`usage: big-transaction.ts [rows]  (got ${process.argv[2]})\n`);
  process.exit(2);
}

function rssKiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

async function main(): Promise<void> {
  const p = new TestPipeline('bench_bigtx');
  const kafka = testKafka();
  const admin = kafka.admin();
  const topic = tableTopic(p.prefix, p.schema, 't');
  const consumer = kafka.consumer({ groupId: `walrelay-bench-${randomUUID()}`, readUncommitted: false, allowAutoTopicCreation: false, maxBytes: 32 * 1024 * 1024 });
  let sampler: NodeJS.Timeout | undefined;
  let dbBroken = false;
  try {
    await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v int4 NOT NULL)`]);
    p.db.on('error', (e) => {
      dbBroken = true;
      process.stderr.write(`big-transaction: PostgreSQL connection error: ${e.message}\n`);
    });
    p.capture('t');
    const source = p.startSource({ WALRELAY_TX_MAX_DELAY_MS: '100' }, 'bench-source');
    const pid = source.child.pid!;
    // Never leave the source behind, whatever happens to this process.
    process.on('exit', () => source.kill('SIGKILL'));
    await waitFor('the source to stream', () => source.output().includes('"starting replication"'), { timeoutMs: 60_000, describe: () => source.output() });

    // A counting read_committed consumer, joined before the commit.
    let seen = 0;
    let lastAt = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        lastAt = Date.now();
      },
    });
    await waitFor('the consumer to join', () => joined, { timeoutMs: 60_000 });

    const baseline = rssKiB(pid) ?? 0;
    process.stdout.write(`source pid ${pid}, RSS before the transaction ${mib(baseline)} MiB; inserting ${rows.toLocaleString('en')} rows in one transaction…\n`);
    const insertStarted = Date.now();
    await p.db.query('BEGIN');
    await p.db.query(`INSERT INTO ${q(p.schema)}.t (id, v) SELECT g, (g % 1000)::int4 FROM generate_series(1, $1::int8) g`, [rows]);
    await p.db.query('COMMIT');
    const committed = Date.now();
    process.stdout.write(`committed after ${((committed - insertStarted) / 1000).toFixed(1)} s; streaming…\n`);

    let peak = baseline;
    const samples: { t: number; rssKiB: number; seen: number }[] = [];
    const sample = (): void => {
      const r = rssKiB(pid);
      if (r === undefined) return;
      peak = Math.max(peak, r);
      samples.push({ t: Date.now() - committed, rssKiB: r, seen });
    };
    sample();
    let lastReport = Date.now();
    sampler = setInterval(() => {
      sample();
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        process.stdout.write(`  ${((Date.now() - committed) / 1000).toFixed(0)} s: ${seen.toLocaleString('en')} records readable, source RSS ${mib(samples.at(-1)?.rssKiB ?? 0)} MiB (peak ${mib(peak)})\n`);
      }
    }, 500);
    await waitFor(
      `${rows} records to be readable`,
      () => {
        if (source.child.exitCode !== null) throw new Error(`the source exited with ${source.child.exitCode}`);
        return seen >= rows;
      },
      { timeoutMs: Math.max(600_000, rows / 1_000 * 1_000), intervalMs: 50, describe: () => source.output().slice(-3000) },
    );
    clearInterval(sampler);
    sampler = undefined;
    sample();
    const seconds = (lastAt - committed) / 1000;
    const result = {
      benchmark: 'big-transaction',
      rows,
      seconds: Math.round(seconds * 100) / 100,
      changesPerSecond: Math.round(rows / seconds),
      peakRssMiB: mib(peak),
      baselineRssMiB: mib(baseline),
      insertSeconds: Math.round((committed - insertStarted) / 10) / 100,
      recordsRead: seen,
      samples: samples.map((s) => ({ t: s.t, rssMiB: mib(s.rssKiB), seen: s.seen })),
      settings: { kafkaTransactionMaxChanges: 20_000, partitions: 3 },
      machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      at: new Date().toISOString(),
    };
    const dir = path.join(ROOT, '.bench');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'big-transaction.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `rows ${rows.toLocaleString('en')}  seconds ${result.seconds}  changes/s ${result.changesPerSecond.toLocaleString('en')}  peak RSS ${result.peakRssMiB} MiB (before: ${result.baselineRssMiB} MiB)\n` +
        `written to .bench/big-transaction.json\n`,
    );
    const code = await source.stop();
    if (code !== 0) throw new Error(`the source exited with ${code}:\n${source.output().slice(-2000)}`);
  } finally {
    if (sampler) clearInterval(sampler);
    await consumer.disconnect().catch(() => undefined);
    // PostgreSQL may have restarted meanwhile: clean up (above all, drop the slot) on a new connection.
    if (dbBroken) {
      await p.db.end().catch(() => undefined);
      p.db = await waitFor('PostgreSQL for the cleanup', () => pgConnect().catch(() => undefined), { timeoutMs: 120_000, intervalMs: 1_000 });
    }
    await p.cleanup();
    // The topics hold N records: remove them.
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic, checkpointTopic(p.prefix)] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`big-transaction: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
