import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkpointTopic, createKafka, createLogger, deadLetterTopic } from '@walrelay/core';
import { readCheckpoint } from '@walrelay/source-postgres';
import type { StatusReport } from '@walrelay/cli';
import { TestPipeline } from '../support/pipeline.js';
import { sqliteRows } from '../support/checker.js';
import { runWalrelay, type CliRun } from '../support/cli.js';
import { KAFKA_BROKERS } from '../support/env.js';
import { waitFor } from '../support/wait.js';
import { pgConnect } from '../support/postgres.js';
import { ROOT } from '../support/processes.js';

/**
 * `walrelay status` and `walrelay drop-source` against a real pipeline (PostgreSQL →
 * walrelay-source → Kafka → walrelay-sink-sqlite → SQLite), as separate processes.
 */
describe('walrelay status and drop-source', () => {
  const p = new TestPipeline('cli');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-cli-')), 'target.sqlite');
  const rows = (t: string) => sqliteRows(file, t);
  const group = `${p.id}_group`;
  let sink = undefined as ReturnType<TestPipeline['startSink']> | undefined;
  let source = undefined as ReturnType<TestPipeline['startSource']> | undefined;

  const env = (): Record<string, string> => ({ ...p.sourceEnv(), WALRELAY_GROUP_ID: group, WALRELAY_TARGET_URL: file, WALRELAY_LOG_LEVEL: 'warn' });
  const status = async (...args: string[]): Promise<{ run: CliRun; report: StatusReport }> => {
    const run = await runWalrelay(['status', '--json', ...args], env());
    assert.ok(run.stdout.trim().startsWith('{'), `status printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    return { run, report: JSON.parse(run.stdout) as StatusReport };
  };

  before(async () => {
    await p.setup((s) => [`CREATE TABLE ${s}.orders (id int8 PRIMARY KEY, note text)`, `INSERT INTO ${s}.orders SELECT g, 'snap ' || g FROM generate_series(1, 50) g`]);
    p.capture('orders');
    source = p.startSource();
    sink = p.startSink('sink-sqlite', file);
  });

  after(async () => {
    await p.cleanup();
  });

  test('--help and --version exit 0 and touch no service; an unknown flag exits 2 naming it', async () => {
    const help = await runWalrelay(['--help'], { WALRELAY_PG_URL: 'postgres://nobody@127.0.0.1:1/none', WALRELAY_KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /walrelay status/);
    assert.match(help.stdout, /WALRELAY_PG_URL/);
    assert.match(help.stdout, /Exit codes/);
    const version = await runWalrelay(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^walrelay \d+\.\d+\.\d+/);
    const bad = await runWalrelay(['status', '--frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--frobnicate/);
    const unknown = await runWalrelay(['stats']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "stats"/);
  });

  test('the linked bin works after npm run build (npx walrelay --help)', () => {
    const r = spawnSync(path.join(ROOT, 'node_modules/.bin/walrelay'), ['--help'], { encoding: 'utf8' });
    assert.equal(r.error, undefined, 'node_modules/.bin/walrelay runs (scripts/test.sh builds first; else npm run build)');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^walrelay \d+\.\d+\.\d+: operate a walrelay pipeline/);
  });

  test('running pipeline: healthy, slot active with the lock holder, checkpoint, topic offsets, group caught up', async () => {
    await p.waitConsistent('orders', rows('orders'));
    await p.db.query(`INSERT INTO "${p.schema}".orders SELECT g, 'stream ' || g FROM generate_series(51, 80) g`);
    await p.waitConsistent('orders', rows('orders'));
    // The sink commits its Kafka offsets right after the target; wait for status to agree.
    const { run, report } = await waitFor(
      'status to report the group caught up',
      async () => {
        const r = await status();
        return r.run.code === 0 && r.report.sinks[0]?.totalLag === 0 && r.report.sinks[0]?.members.length === 1 ? r : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(report.healthy, true, report.problems.join('\n'));
    const src = report.sources.find((s) => s.slot === p.slot);
    assert.ok(src, 'the slot is reported');
    assert.equal(src.exists, true);
    assert.equal(src.active, true);
    assert.ok(src.lockHolder && src.lockHolder.pid > 0, 'a process holds the standby lock');
    assert.equal(src.lockHolder.applicationName, 'walrelay-source-catalog');
    assert.match(src.confirmedLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(typeof src.retainedWalBytes === 'number' && src.retainedWalBytes >= 0);
    assert.equal(src.checkpoint?.snapshot, 'DONE');
    assert.equal(src.checkpoint?.partial, null);
    assert.ok((src.checkpoint?.ageSeconds ?? -1) >= 0);
    const topic = report.topics.find((t) => t.topic === `${p.prefix}.${p.schema}.orders`);
    assert.ok(topic, 'the table topic is listed');
    assert.ok(topic.partitions.reduce((s, x) => s + Number(x.high), 0) >= 80, 'end offsets cover the 80 rows');
    const g = report.sinks.find((x) => x.groupId === group);
    assert.ok(g, 'the sink group is reported');
    assert.equal(g.members.length, 1);
    assert.equal(g.totalLag, 0);
    assert.equal(g.secondsBehind, 0);
    assert.match(g.caughtUpToLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(g.partitions.some((x) => x.targetOffset !== null && x.targetLsn !== null), 'the target offsets are read');
    assert.ok(g.lastApplied && g.lastApplied.ageSeconds < 600, 'the last applied change has a commit time');
    assert.equal(g.deadLetters, 0);
    assert.equal(g.deadLetterTopic, deadLetterTopic(p.prefix, "sqlite"));
    const human = await runWalrelay(['status'], env());
    assert.equal(human.code, 0, human.stdout + human.stderr);
    assert.match(human.stdout, new RegExp(`${p.slot}\\s+active \\(pid \\d+\\)`));
    assert.match(human.stdout, /target caught up to LSN [0-9A-F]+\/[0-9A-F]+, 0\.0 s behind; 0 change\(s\) pending/);
    assert.match(human.stdout, /HEALTHY/);
    // The target-name claims: orders is written by its topic.
    const owners = report.targets.flatMap((tg) => tg.tableOwners);
    assert.deepEqual(
      owners.map((o) => [o.table, o.source, o.topic]),
      [['orders', `${p.schema}.orders`, `${p.prefix}.${p.schema}.orders`]],
    );
    assert.match(owners[0]!.claimedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.match(human.stdout, new RegExp(`TARGET TABLES of .*\\n[\\s\\S]*orders\\s+${p.schema}\\.orders\\s+${p.prefix}\\.${p.schema}\\.orders`));
  });

  test('stopped sink: lag grows, status names the partition and exits 1 above the threshold', async () => {
    assert.equal(await sink!.stop(30_000), 0);
    await p.db.query(`INSERT INTO "${p.schema}".orders SELECT g, 'while stopped ' || g FROM generate_series(1001, 1020) g`);
    const first = await waitFor('lag of 20', async () => {
      const r = await status('--max-lag-records', '5');
      return r.report.sinks[0]?.totalLag === 20 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    assert.equal(first.run.code, 1);
    assert.equal(first.report.healthy, false);
    const g = first.report.sinks[0]!;
    assert.equal(g.members.length, 0);
    assert.ok(g.secondsBehind > 0, 'seconds behind counts from the oldest pending commit');
    assert.ok(g.partitions.some((x) => x.oldestPendingCommit !== null));
    assert.ok(first.report.problems.some((m) => new RegExp(`group ${group}: .*orders/\\d+ is \\d+ records behind, above --max-lag-records 5`).test(m)), first.report.problems.join('\n'));
    // Within a lenient threshold the same state is healthy again.
    const lenient = await status('--max-lag-records', '1000');
    assert.equal(lenient.run.code, 0, lenient.report.problems.join('\n'));
    await p.db.query(`INSERT INTO "${p.schema}".orders SELECT g, 'more ' || g FROM generate_series(2001, 2010) g`);
    await waitFor('lag to grow to 30', async () => ((await status()).report.sinks[0]?.totalLag === 30 ? true : undefined), { timeoutMs: 60_000, intervalMs: 1000 });
    // A seconds threshold trips as well.
    await waitFor('seconds behind above 1', async () => {
      const r = await status('--max-lag-seconds', '1');
      return r.run.code === 1 && r.report.problems.some((m) => /above --max-lag-seconds 1/.test(m)) ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000 });
  });

  test('drop-source refuses while the source is active', async () => {
    const r = await runWalrelay(['drop-source'], env());
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`slot ${p.slot} is in use: walrelay-source session pid \\d+`));
    assert.match(r.stderr, /--force/);
    const still = await p.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
    assert.equal(still.rows.length, 1, 'the slot is still there');
  });

  test('a dropped slot: status exits 1 and says the slot is missing while a checkpoint exists; drop-source removes the checkpoint', async () => {
    assert.equal(await source!.stop(30_000), 0);
    await waitFor('the slot to be inactive', async () => {
      const r = await p.db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
      return r.rows[0]?.active === false ? true : undefined;
    });
    await p.db.query('SELECT pg_drop_replication_slot($1)', [p.slot]);
    const { run, report } = await status();
    assert.equal(run.code, 1);
    const src = report.sources.find((s) => s.slot === p.slot)!;
    assert.equal(src.exists, false);
    assert.ok(src.checkpoint, 'the checkpoint is still in Kafka');
    assert.ok(report.problems.some((m) => m.includes(`slot ${p.slot}: missing in PostgreSQL, but a checkpoint exists`)), report.problems.join('\n'));
    const human = await runWalrelay(['status'], env());
    assert.equal(human.code, 1);
    assert.match(human.stdout, /UNHEALTHY: slot .* missing in PostgreSQL/);

    const drop = await runWalrelay(['drop-source'], env());
    assert.equal(drop.code, 0, drop.stdout + drop.stderr);
    assert.match(drop.stdout, new RegExp(`replication slot ${p.slot} did not exist`));
    assert.match(drop.stdout, new RegExp(`removed the checkpoint of ${p.slot}`));
    const after = await status('--slot', p.slot);
    assert.equal(after.report.sources[0]?.checkpoint, null);
    // The source itself reads no checkpoint any more: it would start from scratch.
    const kafka = createKafka({ brokers: KAFKA_BROKERS, clientId: 't', ssl: false, connectionTimeoutMs: 10_000, requestTimeoutMs: 30_000, compression: 'none' }, createLogger('test', 'warn'));
    assert.equal(await readCheckpoint(kafka, checkpointTopic(p.prefix), p.slot, createLogger('test', 'warn')), null);
  });

  test('drop-source --force terminates an active source and drops its slot and checkpoint', async () => {
    const s2 = p.startSource({ WALRELAY_SNAPSHOT: 'never' }, 'source2');
    await waitFor('the new slot to be active', async () => {
      const r = await p.db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
      return r.rows[0]?.active === true ? true : undefined;
    }, { timeoutMs: 60_000 });
    await p.db.query(`INSERT INTO "${p.schema}".orders VALUES (5000, 'after restart')`);
    await waitFor('a checkpoint again', async () => ((await status('--slot', p.slot)).report.sources[0]?.checkpoint ? true : undefined), { timeoutMs: 60_000, intervalMs: 1000 });
    assert.equal(await s2.stop(30_000), 0);
    await waitFor('inactive', async () => ((await p.db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [p.slot])).rows[0]?.active === false ? true : undefined));
    // A plain client holding the slot's lock stands for a running source here.
    const holder = await pgConnect();
    await holder.query("SELECT set_config('application_name', 'walrelay-source-catalog', false)");
    await holder.query("SELECT pg_advisory_lock(hashtextextended('walrelay-source:' || $1, 0))", [p.slot]);
    holder.on('error', () => undefined);
    const refused = await runWalrelay(['drop-source'], env());
    assert.equal(refused.code, 1, refused.stderr);
    const forced = await runWalrelay(['drop-source', '--force', '--drop-publication'], env());
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    assert.match(forced.stdout, /terminated sessions \d+/);
    assert.match(forced.stdout, new RegExp(`dropped replication slot ${p.slot}`));
    assert.match(forced.stdout, new RegExp(`removed the checkpoint of ${p.slot}`));
    const gone = await p.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
    assert.equal(gone.rows.length, 0);
    assert.match(forced.stdout, new RegExp(`dropped publication ${p.publication}`));
    assert.equal((await p.db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [p.publication])).rows.length, 0, 'the publication is gone');
    await holder.end().catch(() => undefined);
  });
});
