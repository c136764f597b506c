import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { deadLetterTopic, tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { mysqlRows, sqliteRows, type TargetRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { TopicCollector, testKafka } from '../support/kafka.js';
import { pgConnect } from '../support/postgres.js';
import { startProcess, type RunningProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/**
 * The sink under faults, against the real services: kill -9 mid-batch, a consumer group
 * rebalancing under load, undecodable records, an unreachable target.
 *
 * How "nothing applied twice" is seen although upserts are idempotent: the workload's
 * `events` table is insert-only in PostgreSQL (each row inserted once, never updated), and
 * the test puts a trigger on the target's copy that logs every physical write (insert or
 * update) into `apply_log`, in the same target transaction as the batch. A batch applied
 * again after a crash or by a second sink shows up as a second log entry for its ids (an
 * AFTER UPDATE from the upsert); a lost change shows up as a missing row and a missing entry.
 */

const WORKLOAD_DDL = (s: string): string[] => [
  `CREATE TABLE ${s}.events (id bigserial PRIMARY KEY, worker int4 NOT NULL, seq int4 NOT NULL, payload text)`,
  `CREATE TABLE ${s}.counters (id int4 PRIMARY KEY, n int8 NOT NULL, last_worker int4, last_seq int4)`,
  `INSERT INTO ${s}.counters SELECT g, 0, NULL, NULL FROM generate_series(1, 20) g`,
  `INSERT INTO ${s}.events (worker, seq, payload) VALUES (0, 0, 'seed')`,
];

/** Sinks get a 6 s session timeout so a killed member leaves the group quickly. */
function sinkConfigFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-sinkcfg-')), 'sink.json');
  writeFileSync(file, JSON.stringify({ sessionTimeoutMs: 6000 }));
  return file;
}

/**
 * Writers that keep PostgreSQL busy: each transaction inserts 1..20 events and bumps a few
 * counters (same keys over and over: the target must end with the last value).
 */
class Workload {
  #stop = false;
  #running: Promise<void>[] = [];
  #clients: pg.Client[] = [];
  transactions = 0;

  constructor(private readonly schema: string) {}

  async start(workers: number): Promise<void> {
    for (let w = 1; w <= workers; w++) {
      const db = await pgConnect();
      this.#clients.push(db);
      this.#running.push(this.#loop(db, w));
    }
  }

  async #loop(db: pg.Client, worker: number): Promise<void> {
    const s = `"${this.schema}"`;
    let seq = 0;
    while (!this.#stop) {
      const n = 1 + Math.floor(Math.random() * 20);
      const counter = 1 + Math.floor(Math.random() * 20);
      await db.query('BEGIN');
      await db.query(`INSERT INTO ${s}.events (worker, seq, payload) SELECT $1, $2 + g, repeat(md5(g::text), 4) FROM generate_series(1, $3::int) g`, [worker, seq, n]);
      await db.query(`UPDATE ${s}.counters SET n = n + 1, last_worker = $1, last_seq = $2 WHERE id = $3 OR id = ($3 % 20) + 1`, [worker, seq + n, counter]);
      await db.query('COMMIT');
      seq += n;
      this.transactions++;
      // Pace the writers (~1,000 events/s in all) so a sink on a 2-core CI machine keeps up
      // and the run ends soon after the workload; this is load shaping, not a wait.
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#running);
    await Promise.all(this.#clients.map((c) => c.end()));
  }
}

/** Reads a topic's records as they are (no decoding), headers as strings. */
async function readRaw(topic: string): Promise<{ records: { value: Buffer | null; headers: Record<string, string> }[]; stop: () => Promise<void> }> {
  const records: { value: Buffer | null; headers: Record<string, string> }[] = [];
  const consumer = testKafka().consumer({ groupId: `walrelay-test-raw-${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      records.push({ value: message.value, headers });
    },
  });
  return { records, stop: () => consumer.disconnect() };
}

/** Every partition of `topic`: the stored next offset is the offset of its last record + 1. */
async function assertOffsetsAtEnd(topic: string, stored: Map<number, bigint>): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  const high = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  await admin.disconnect();
  for (const [partition, h] of high) {
    if (h > 0n) assert.ok(stored.has(partition), `partition ${partition} of ${topic} holds records but the target has no offset for it`);
  }
  for (const [partition, next] of stored) assert.ok(next <= (high.get(partition) ?? -1n), `partition ${partition}: stored ${next} beyond the high watermark`);
  const collector = new TopicCollector([topic]);
  await collector.start();
  try {
    await waitFor(
      `${topic} read up to the stored offsets`,
      () => {
        const last = new Map<number, bigint>();
        for (const r of collector.records) if ((last.get(r.partition) ?? -1n) < r.offset) last.set(r.partition, r.offset);
        for (const [partition, off] of last) {
          const next = stored.get(partition);
          if (next === undefined || off + 1n > next) throw new Error(`partition ${partition}: a record at ${off} but the stored next offset is ${next}`);
        }
        return [...stored].every(([partition, next]) => last.get(partition) === next - 1n) || undefined;
      },
      { timeoutMs: 30_000, describe: () => `stored ${JSON.stringify([...stored].map(([k, v]) => [k, String(v)]))}` },
    );
  } finally {
    await collector.stop();
  }
}

interface AuditTarget {
  rows: (table: string) => TargetRows;
  /** Creates apply_log and the triggers on the target's events table. */
  installTriggers(): Promise<void>;
  /** Entries of apply_log: total, distinct ids, ids written more than once. */
  applyLog(): Promise<{ total: number; distinct: number; duplicates: string[] }>;
  offsets(group: string, topic: string): Promise<Map<number, bigint>>;
}

function sqliteAudit(file: string): AuditTarget {
  const open = (): Database.Database => {
    const db = new Database(file, { fileMustExist: true });
    db.pragma('busy_timeout = 20000');
    return db;
  };
  return {
    rows: (t) => sqliteRows(file, t),
    async installTriggers() {
      const db = open();
      try {
        db.exec(`CREATE TABLE apply_log (n INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL, op TEXT NOT NULL);
          CREATE TRIGGER events_ins AFTER INSERT ON events BEGIN INSERT INTO apply_log (id, op) VALUES (NEW.id, 'insert'); END;
          CREATE TRIGGER events_upd AFTER UPDATE ON events BEGIN INSERT INTO apply_log (id, op) VALUES (NEW.id, 'update'); END;`);
      } finally {
        db.close();
      }
    },
    async applyLog() {
      const db = open();
      try {
        const t = db.prepare('SELECT count(*) AS total, count(DISTINCT id) AS distinct_ids FROM apply_log').get() as { total: number; distinct_ids: number };
        const dups = db.prepare('SELECT id, count(*) AS c, group_concat(op) AS ops FROM apply_log GROUP BY id HAVING count(*) > 1 LIMIT 10').all() as { id: number; c: number; ops: string }[];
        return { total: t.total, distinct: t.distinct_ids, duplicates: dups.map((d) => `${d.id}×${d.c} (${d.ops})`) };
      } finally {
        db.close();
      }
    },
    async offsets(group, topic) {
      const db = open();
      try {
        const rows = db.prepare('SELECT kafka_partition AS p, next_offset AS o FROM walrelay_offsets WHERE group_id = ? AND topic = ?').safeIntegers(true).all(group, topic) as { p: bigint; o: bigint }[];
        return new Map(rows.map((r) => [Number(r.p), r.o]));
      } finally {
        db.close();
      }
    },
  };
}

function mysqlAudit(target: MysqlTestDatabase): AuditTarget {
  return {
    rows: (t) => mysqlRows(target.url, t),
    async installTriggers() {
      await target.query('CREATE TABLE apply_log (n BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL, op VARCHAR(10) NOT NULL)');
      await target.query("CREATE TRIGGER events_ins AFTER INSERT ON events FOR EACH ROW INSERT INTO apply_log (id, op) VALUES (NEW.id, 'insert')");
      await target.query("CREATE TRIGGER events_upd AFTER UPDATE ON events FOR EACH ROW INSERT INTO apply_log (id, op) VALUES (NEW.id, 'update')");
    },
    async applyLog() {
      const [t] = await target.query<{ total: number; distinct_ids: number }>('SELECT count(*) AS total, count(DISTINCT id) AS distinct_ids FROM apply_log');
      const dups = await target.query<{ id: string; c: number; ops: string }>('SELECT id, count(*) AS c, group_concat(op) AS ops FROM apply_log GROUP BY id HAVING count(*) > 1 LIMIT 10');
      return { total: Number(t!.total), distinct: Number(t!.distinct_ids), duplicates: dups.map((d) => `${d.id}×${d.c} (${d.ops})`) };
    },
    async offsets(group, topic) {
      const rows = await target.query<{ p: number; o: string }>(
        'SELECT kafka_partition AS p, CAST(next_offset AS CHAR) AS o FROM walrelay_offsets WHERE group_id = ? AND topic = ?',
        [group, topic],
      );
      return new Map(rows.map((r) => [Number(r.p), BigInt(r.o)]));
    },
  };
}

/** After the workload: target equals source, each event written exactly once, offsets at the end. */
async function checkExactlyOnce(p: TestPipeline, audit: AuditTarget, group: string): Promise<void> {
  const events = await p.waitConsistent('events', audit.rows('events'), 180_000);
  await p.waitConsistent('counters', audit.rows('counters'), 60_000);
  const log = await audit.applyLog();
  // The seed row was applied before the triggers existed.
  assert.deepEqual(log.duplicates, [], `events written more than once: ${log.duplicates.join(', ')}`);
  assert.equal(log.distinct, events.sourceRows - 1, 'every event written once');
  assert.equal(log.total, events.sourceRows - 1, 'no event written twice');
  await assertOffsetsAtEnd(tableTopic(p.prefix, p.schema, 'events'), await audit.offsets(group, tableTopic(p.prefix, p.schema, 'events')));
  await assertOffsetsAtEnd(tableTopic(p.prefix, p.schema, 'counters'), await audit.offsets(group, tableTopic(p.prefix, p.schema, 'counters')));
}

describe('sink faults: kill -9 mid-batch (SQLite)', () => {
  const p = new TestPipeline('skill');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-')), 'target.sqlite');
  const audit = sqliteAudit(file);
  const config = sinkConfigFile();
  const group = `${p.id}_group`;
  const env = () => p.sinkEnv(file, { WALRELAY_BATCH_MAX_RECORDS: '50' });

  before(async () => {
    await p.setup(WORKLOAD_DDL);
    p.capture('events', 'counters');
    p.startSource();
  });

  after(async () => {
    await p.cleanup();
  });

  test('repeated kill -9 while a workload runs: nothing lost, nothing applied twice', async () => {
    let sink = startProcess('sink-sqlite', env(), `${p.id}-sink-0`, ['--config', config]);
    p.processes.push(sink);
    await p.waitConsistent('events', audit.rows('events'));
    await p.waitConsistent('counters', audit.rows('counters'));
    await audit.installTriggers();
    const workload = new Workload(p.schema);
    await workload.start(2);
    try {
      for (let kill = 1; kill <= 3; kill++) {
        // Kill while the sink is applying: after it wrote a few hundred more events since it (re)started.
        const before = (await audit.applyLog()).total;
        const want = before + 100 + Math.floor(Math.random() * 250);
        await waitFor(`sink ${kill - 1} to apply events (to ${want})`, async () => (await audit.applyLog()).total >= want, {
          timeoutMs: 90_000,
          describe: () => sink.output().slice(-3000),
        });
        sink.kill('SIGKILL');
        assert.equal(await sink.exited, -1);
        sink = startProcess('sink-sqlite', env(), `${p.id}-sink-${kill}`, ['--config', config]);
        p.processes.push(sink);
      }
    } finally {
      await workload.stop();
    }
    assert.ok(workload.transactions > 20, `workload ran ${workload.transactions} transactions`);
    await checkExactlyOnce(p, audit, group);
    assert.equal(await sink.stop(), 0);
  });
});

describe('sink faults: consumer group rebalances under load (MySQL, 3 partitions)', () => {
  const p = new TestPipeline('sgroup');
  const target = new MysqlTestDatabase(p.id);
  const audit = mysqlAudit(target);
  const config = sinkConfigFile();
  const group = `${p.id}_group`;

  before(async () => {
    await target.create();
    await p.setup(WORKLOAD_DDL);
    p.capture('events', 'counters');
    p.startSource();
  });

  after(async () => {
    await p.cleanup();
    await target.drop();
  });

  test('sinks join, leave (SIGTERM) and die (SIGKILL) mid-workload: target equals source, no duplicate, no gap', async () => {
    const start = (name: string): RunningProcess => {
      const s = startProcess('sink-mysql', p.sinkEnv(target.url, { WALRELAY_BATCH_MAX_RECORDS: '50' }), `${p.id}-${name}`, ['--config', config]);
      p.processes.push(s);
      return s;
    };
    const a = start('sink-a');
    await p.waitConsistent('events', audit.rows('events'));
    await audit.installTriggers();
    const workload = new Workload(p.schema);
    await workload.start(2);
    const progress = async (what: string, n: number): Promise<void> => {
      const from = (await audit.applyLog()).total;
      await waitFor(`${what}: ${n} more events applied`, async () => (await audit.applyLog()).total >= from + n, {
        timeoutMs: 90_000,
        describe: () => p.processes.map((x) => `--- ${x.name}\n${x.output().slice(-1500)}`).join('\n'),
      });
    };
    const assigned = (s: RunningProcess) =>
      waitFor(`${s.name} to get partitions`, () => /"partitions":[1-9]\d*,[^\n]*partitions assigned/.test(s.output()), {
        timeoutMs: 60_000,
        describe: () => s.output().slice(-2000),
      });
    let b: RunningProcess | undefined;
    let c: RunningProcess | undefined;
    try {
      await progress('sink A alone', 300);
      b = start('sink-b');
      await assigned(b);
      await progress('sinks A and B', 300);
      c = start('sink-c');
      await assigned(c);
      await progress('sinks A, B and C', 300);
      assert.equal(await a.stop(), 0, a.output().slice(-2000));
      await progress('after A left', 300);
      b.kill('SIGKILL');
      await b.exited;
      await progress('after B was killed', 300);
    } finally {
      await workload.stop();
    }
    await checkExactlyOnce(p, audit, group);
    // Per-key order: every counter ends with the last value PostgreSQL holds (compared above),
    // and its n counts every bump (no update lost or replayed out of order).
    const counters = await target.query<{ id: number; n: string }>('SELECT id, CAST(n AS CHAR) AS n FROM counters ORDER BY id');
    const pgCounters = (await p.db.query<{ id: number; n: string }>(`SELECT id, n::text AS n FROM "${p.schema}".counters ORDER BY id`)).rows;
    assert.deepEqual(counters.map((r) => [r.id, r.n]), pgCounters.map((r) => [r.id, r.n]));
    assert.equal(await c!.stop(), 0);
  });
});

describe('sink faults: undecodable records', () => {
  const p = new TestPipeline('sbadrec');
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-'));
  const file = path.join(dir, 'target.sqlite');
  const topic = () => tableTopic(p.prefix, p.schema, 'items');

  before(async () => {
    await p.setup((s) => [`CREATE TABLE ${s}.items (id int4 PRIMARY KEY, v text)`, `INSERT INTO ${s}.items VALUES (1, 'one')`]);
    p.capture('items');
    p.startSource();
  });

  after(async () => {
    await p.cleanup();
  });

  /** Two records no decoder can read: not Confluent framing, and a schema id the registry does not know. */
  async function produceGarbage(): Promise<{ partition: number; offset: string }[]> {
    const producer = testKafka().producer();
    await producer.connect();
    try {
      const unknownId = Buffer.alloc(5 + 4);
      unknownId.writeUInt8(0, 0);
      unknownId.writeUInt32BE(2_000_000_001, 1);
      const sent = await producer.send({
        topic: topic(),
        acks: -1,
        messages: [
          { key: Buffer.from('garbage-key'), value: Buffer.from('{"this is": "not avro"}'), partition: 0 },
          { key: Buffer.from('other-key'), value: unknownId, partition: 1 },
        ],
      });
      return sent.map((r) => ({ partition: r.partition, offset: r.baseOffset ?? '' }));
    } finally {
      await producer.disconnect();
    }
  }

  test('dlq policy: garbage goes to the dead-letter topic with the reason; later changes still apply', async () => {
    const sink = p.startSink('sink-sqlite', file, { WALRELAY_ON_ERROR: 'dlq' }, 'sink-dlq');
    await p.waitConsistent('items', sqliteRows(file, 'items'));
    const sent = await produceGarbage();
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.items SELECT g, 'v' || g FROM generate_series(2, 60) g`);
    await p.db.query(`UPDATE ${s}.items SET v = 'after the garbage' WHERE id = 1`);
    const r = await p.waitConsistent('items', sqliteRows(file, 'items'));
    assert.equal(r.sourceRows, 60);
    const dlq = await readRaw(deadLetterTopic(p.prefix, 'sqlite'));
    try {
      const records = await waitFor('2 dead letters', () => dlq.records.length >= 2 && dlq.records, { describe: () => sink.output().slice(-3000) });
      const byPartition = new Map(records.map((x) => [x.headers['walrelay.partition'], x.headers]));
      for (const { partition, offset } of sent) {
        const h = byPartition.get(String(partition));
        assert.ok(h, `no dead letter for partition ${partition}`);
        assert.equal(h['walrelay.topic'], topic());
        assert.equal(h['walrelay.offset'], offset);
        assert.equal(h['walrelay.error.stage'], 'decode');
        assert.ok((h['walrelay.error'] ?? '').length > 0);
      }
      assert.match(byPartition.get('1')?.['walrelay.error'] ?? '', /2000000001/);
    } finally {
      await dlq.stop().catch(() => undefined);
    }
    assert.equal(sink.child.exitCode, null);
    assert.equal(await sink.stop(), 0);
  });

  test('fail policy: the sink stops with a clear error', async () => {
    const sink = p.startSink('sink-sqlite', path.join(dir, 'fail.sqlite'), { WALRELAY_GROUP_ID: `${p.id}_fail` }, 'sink-fail');
    const code = await Promise.race([sink.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000).unref())]);
    assert.notEqual(code, 'timeout', `the sink did not stop:\n${sink.output().slice(-3000)}`);
    assert.notEqual(code, 0);
    assert.match(sink.output(), new RegExp(`record ${topic().replace(/[.]/g, '\\.')}/[01]@\\d+ could not be decoded: .*onError=fail`));
  });
});

describe('sink faults: target unreachable at start', () => {
  const p = new TestPipeline('sunreach');
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`;

  before(async () => {
    await p.setup((s) => [`CREATE TABLE ${s}.items (id int4 PRIMARY KEY)`]);
  });

  after(async () => {
    await p.cleanup();
  });

  test('a bad MySQL port: the sink says the target is unreachable, retries, never logs the password', async () => {
    const url = `mysql://walrelay:${encodeURIComponent(password)}@127.0.0.1:1/walrelay_test`;
    const sink = p.startSink('sink-mysql', url, { WALRELAY_LOG_LEVEL: 'debug' }, 'sink-unreachable');
    await waitFor('three connection attempts', () => (sink.output().match(/cannot connect to 127\.0\.0\.1:1\//g) ?? []).length >= 3, {
      timeoutMs: 60_000,
      describe: () => sink.output().slice(-3000),
    });
    assert.equal(sink.child.exitCode, null, 'still running, retrying');
    assert.match(sink.output(), /reconnecting/);
    assert.equal(await sink.stop(), 0);
    assert.ok(!sink.output().includes(password), 'the password appears in the output');
    assert.ok(!sink.output().includes(encodeURIComponent(password)), 'the encoded password appears in the output');
  });
});
