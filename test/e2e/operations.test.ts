import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, mkdirSync, createWriteStream, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import kafkajs from 'kafkajs';
import { commonEnv, describeSettings, tableTopic, type ChangeEnvelope } from '@walrelay/core';
import { sourceConfigSchema, sourceEnv } from '@walrelay/source-postgres';
import { sinkConfigSchema, sinkEnv } from '@walrelay/sink';
import { KAFKA_BROKERS, PG_URL, REGISTRY_URL, uniqueName } from '../support/env.js';
import { dropPgArtifacts, pgConnect, q } from '../support/postgres.js';
import { testKafka, TopicCollector } from '../support/kafka.js';
import { ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/**
 * The operator's view of every binary, through the linked bins in node_modules/.bin (as
 * `npx walrelay-source` runs them after `npm ci && npm run build`): --help, --version,
 * usage errors, configuration errors naming where a value came from, a busy HTTP port,
 * unreachable services at start (nothing created, one line per attempt, SIGTERM within
 * 5 s), logs that are JSON lines only, and a record the broker refuses for its size.
 */

const BINS = ['walrelay-source', 'walrelay-sink-mysql', 'walrelay-sink-mssql', 'walrelay-sink-sqlite'] as const;
type Bin = (typeof BINS)[number];

interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** stderr as JSON lines; fails on any line that is not JSON. */
  logs(): Record<string, unknown>[];
  /** SIGTERM; resolves with the exit code and how long it took. */
  term(): Promise<{ code: number | null; ms: number }>;
}

function binPath(bin: Bin): string {
  return path.join(ROOT, 'node_modules', '.bin', bin);
}

function spawnBin(bin: Bin, env: Record<string, string>, args: readonly string[] = []): Spawned {
  const child = spawn(binPath(bin), args, { cwd: ROOT, env: { ...process.env, WALRELAY_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  mkdirSync(path.join(ROOT, '.test-logs'), { recursive: true });
  const file = createWriteStream(path.join(ROOT, '.test-logs', `ops-${bin}-${child.pid}.log`));
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => {
    file.write(c);
    err += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      file.end();
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    logs: () => jsonLines(err),
    term: async () => {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return { code, ms: Date.now() - started };
    },
  };
}

function jsonLines(text: string): Record<string, unknown>[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`a log line is not JSON: ${line}\n--- whole log:\n${text.slice(-4000)}`);
    }
  });
}

/** No kafkajs line at warn/error, no start-up warning of its own, and no warning from Node. */
function assertQuietLogs(s: Spawned, what: string): void {
  const logs = s.logs();
  const kafkaNoise = logs.filter((l) => l.kafka !== undefined && (l.level === 'error' || l.level === 'warn'));
  assert.deepEqual(kafkaNoise, [], `${what}: kafkajs lines at warn/error`);
  assert.ok(!/partitioner|Limiting retries|TimeoutNegativeWarning|\(node:\d+\)/i.test(s.stderr()), `${what}: a start-up warning:\n${s.stderr().slice(-3000)}`);
  assert.equal(s.stdout(), '', `${what}: stdout stays free of logs`);
}

async function httpGet(port: number, p: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: await res.text() };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function listenedPort(s: Spawned): number | undefined {
  const line = s.logs().find((l) => l.msg === 'metrics and health endpoints listening');
  return line ? Number(line.port) : undefined;
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Waits until the source has created `topic` (a collector subscribed earlier would fail). */
async function topicExists(topic: string): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await waitFor(`topic ${topic}`, async () => (await admin.listTopics()).includes(topic), { timeoutMs: 90_000, intervalMs: 250 });
  } finally {
    await admin.disconnect();
  }
}

describe('command line of every binary (through node_modules/.bin)', () => {
  let db: pg.Client;
  const id = uniqueName('opscli');
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-cli-'));
  const sqliteFile = path.join(dir, 'never-created.sqlite');
  // Settings that would touch the services if the binary started.
  const env = { WALRELAY_PG_URL: PG_URL, WALRELAY_SLOT: `${id}_slot`, WALRELAY_PUBLICATION: `${id}_pub`, WALRELAY_TOPIC_PREFIX: id, WALRELAY_TARGET_URL: sqliteFile };

  before(async () => {
    db = await pgConnect();
  });

  after(async () => {
    await dropPgArtifacts(db, { slot: env.WALRELAY_SLOT, publication: env.WALRELAY_PUBLICATION });
    await db.end();
  });

  test('the linked bins exist and are executable right after npm ci && npm run build', () => {
    for (const bin of BINS) {
      assert.ok(existsSync(binPath(bin)), `${binPath(bin)} is linked`);
      accessSync(binPath(bin), constants.X_OK);
    }
  });

  for (const bin of BINS) {
    test(`${bin} --help / -h: what it does, every setting with its variable and default, exit codes; exit 0, nothing touched`, async () => {
      const settings =
        bin === 'walrelay-source'
          ? describeSettings(sourceConfigSchema, sourceEnv)
          : describeSettings(sinkConfigSchema(bin.slice('walrelay-sink-'.length), 'x'), sinkEnv);
      for (const flag of ['--help', '-h']) {
        const s = spawnBin(bin, env, [flag]);
        assert.equal(await s.exited, 0, s.stderr());
        const help = s.stdout();
        assert.match(help, new RegExp(`^${bin} \\d+\\.\\d+\\.\\d+\\n`));
        assert.match(help, /Usage: /);
        for (const setting of settings) {
          const row = help.split('\n').find((l) => l.trimStart().startsWith(`${setting.path} `));
          assert.ok(row, `${flag} lists ${setting.path}`);
          if (setting.env) assert.ok(row.includes(setting.env), `${setting.path} names ${setting.env}`);
          if (setting.path !== 'target.url') assert.ok(row.includes(setting.defaultValue), `${setting.path} shows its default ${setting.defaultValue}: ${row}`);
        }
        for (const name of Object.keys(commonEnv)) assert.ok(help.includes(name), `${name} is in the help`);
        assert.match(help, /Exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 /);
        assert.equal(s.stderr(), '', 'nothing is logged');
      }
      assert.ok(!existsSync(sqliteFile), 'no target was opened');
      const pub = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $2', [env.WALRELAY_PUBLICATION, env.WALRELAY_SLOT]);
      assert.equal(pub.rows.length, 0, 'no publication or slot was created');
    });

    test(`${bin} --version prints the version; an unknown flag or argument exits 2 naming it`, async () => {
      const v = spawnBin(bin, env, ['--version']);
      assert.equal(await v.exited, 0);
      assert.match(v.stdout(), new RegExp(`^${bin} \\d+\\.\\d+\\.\\d+\\n$`));
      const flag = spawnBin(bin, env, ['--frobnicate']);
      assert.equal(await flag.exited, 2);
      assert.match(flag.stderr(), /unknown option --frobnicate/);
      const arg = spawnBin(bin, env, ['start']);
      assert.equal(await arg.exited, 2);
      assert.match(arg.stderr(), /unexpected argument "start"/);
      assert.ok(!existsSync(sqliteFile));
    });
  }

  test('--config <file>: a wrong type in the file is named by its key, not by the environment variable; the environment is named when it is the source', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, "http:\n  port: \"eighty\"\nsnapshot: sometimes\n");
    const s = spawnBin('walrelay-source', env, ['--config', file]);
    assert.equal(await s.exited, 2);
    const fatal = s.logs().find((l) => l.level === 'fatal');
    assert.ok(fatal, s.stderr());
    assert.match(String(fatal.err), new RegExp(`http\\.port \\(key http\\.port in ${file.replace(/[.]/g, '\\.')}\\)`));
    assert.match(String(fatal.err), /snapshot \(key snapshot in .*\): .*initial/);
    assert.doesNotMatch(String(fatal.err), /WALRELAY_HTTP_PORT/);
    const e = spawnBin('walrelay-sink-sqlite', { ...env, WALRELAY_BATCH_MAX_RECORDS: '0' }, [`--config=${file}`]);
    assert.equal(await e.exited, 2);
    assert.match(e.stderr(), /batch\.maxRecords \(WALRELAY_BATCH_MAX_RECORDS\)/);
    // A valid file is read: its setting shows in the start-up line.
    const good = path.join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ topicPrefix: `${id}_file`, kafka: { brokers: ['127.0.0.1:1'] } }));
    const g = spawnBin('walrelay-source', { WALRELAY_PG_URL: PG_URL, WALRELAY_SLOT: env.WALRELAY_SLOT, WALRELAY_PUBLICATION: env.WALRELAY_PUBLICATION }, ['-c', good]);
    await waitFor('the start-up line', () => g.logs().find((l) => l.msg === 'walrelay-source starting'), { timeoutMs: 30_000 });
    assert.equal(g.logs().find((l) => l.msg === 'walrelay-source starting')?.topicPrefix, `${id}_file`);
    assert.equal((await g.term()).code, 0);
  });

  test('a busy HTTP port is named as http.port with where it was set; exit 2, nothing touched', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      for (const bin of ['walrelay-source', 'walrelay-sink-sqlite'] as const) {
        const s = spawnBin(bin, { ...env, WALRELAY_HTTP_PORT: String(port) });
        assert.equal(await s.exited, 2, s.stderr());
        const fatal = s.logs().find((l) => l.level === 'fatal');
        assert.match(String(fatal?.err), new RegExp(`http\\.port ${port} \\(WALRELAY_HTTP_PORT\\): 127\\.0\\.0\\.1:${port} is already in use`));
      }
      assert.ok(!existsSync(sqliteFile));
      const pub = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [env.WALRELAY_PUBLICATION]);
      assert.equal(pub.rows.length, 0);
    } finally {
      blocker.close();
    }
  });
});

describe('unreachable services at start: named, retried with backoff, nothing created, SIGTERM within 5 s', () => {
  let db: pg.Client;
  const id = uniqueName('opsunr');
  const schema = `${id}_s`;
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-unr-'));
  const base = {
    WALRELAY_PG_URL: PG_URL,
    WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    WALRELAY_SLOT: `${id}_slot`,
    WALRELAY_PUBLICATION: `${id}_pub`,
    WALRELAY_TOPIC_PREFIX: id,
    WALRELAY_TABLES: `${schema}.t`,
  };

  before(async () => {
    db = await pgConnect();
    await db.query(`CREATE SCHEMA ${q(schema)}`);
    await db.query(`CREATE TABLE ${q(schema)}.t (id int PRIMARY KEY)`);
  });

  after(async () => {
    await dropPgArtifacts(db, { slot: base.WALRELAY_SLOT, publication: base.WALRELAY_PUBLICATION, schema });
    await db.end();
  });

  async function nothingCreated(): Promise<void> {
    const pg = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $2', [base.WALRELAY_PUBLICATION, base.WALRELAY_SLOT]);
    assert.equal(pg.rows.length, 0, 'no publication or slot');
    const admin = testKafka().admin();
    await admin.connect();
    try {
      assert.deepEqual((await admin.listTopics()).filter((t) => t.startsWith(`${id}.`)), [], 'no topic');
    } finally {
      await admin.disconnect();
    }
  }

  const cases: { name: string; bin: Bin; env: Record<string, string>; service: string; address: RegExp }[] = [
    { name: 'Kafka (source)', bin: 'walrelay-source', env: { WALRELAY_KAFKA_BROKERS: '127.0.0.1:1' }, service: 'kafka', address: /127\.0\.0\.1:1\b/ },
    { name: 'the registry (source)', bin: 'walrelay-source', env: { WALRELAY_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/apis/ccompat/v7' }, service: 'schema registry', address: /127\.0\.0\.1:1\b/ },
    { name: 'PostgreSQL (source)', bin: 'walrelay-source', env: { WALRELAY_PG_URL: 'postgres://postgres:pw-secret-1@127.0.0.1:1/walrelay' }, service: 'postgresql', address: /127\.0\.0\.1:1\/walrelay/ },
    { name: 'Kafka (sink)', bin: 'walrelay-sink-sqlite', env: { WALRELAY_KAFKA_BROKERS: '127.0.0.1:1' }, service: 'kafka', address: /127\.0\.0\.1:1\b/ },
    { name: 'the target (sink)', bin: 'walrelay-sink-mysql', env: { WALRELAY_TARGET_URL: 'mysql://walrelay:pw-secret-2@127.0.0.1:1/walrelay_test' }, service: 'mysql', address: /127\.0\.0\.1:1\/walrelay_test/ },
  ];

  for (const c of cases) {
    test(`${c.name} unreachable`, async () => {
      const sqlite = path.join(dir, `${c.service.replace(/\W/g, '_')}.sqlite`);
      const s = spawnBin(c.bin, { ...base, WALRELAY_TARGET_URL: sqlite, WALRELAY_GROUP_ID: `${id}_g`, ...c.env });
      const started = Date.now();
      const unreachable = (): Record<string, unknown>[] => s.logs().filter((l) => l.dependency === c.service && l.level === 'warn');
      await waitFor('the first line naming the service', () => unreachable().length >= 1, { timeoutMs: 60_000, describe: () => s.stderr() });
      assert.ok(Date.now() - started < 10_000 + 5_000, `named within the connection timeout (${Date.now() - started} ms, process start included)`);
      await waitFor('a retry', () => unreachable().length >= 2, { timeoutMs: 30_000, describe: () => s.stderr() });
      const [first, second] = unreachable();
      assert.match(String(first!.msg), new RegExp(`^${c.service} at .* unreachable; reconnecting in`));
      assert.match(String(first!.address), c.address);
      assert.ok(Number(second!.retryInMs) > 0 && Number(second!.attempt) === 2);
      assert.equal(s.child.exitCode, null, 'still running, retrying');
      // Each binary restarted itself in place with its own heap settings (the SQLite sink's young generation is smaller).
      if (process.env.WALRELAY_NODE_FLAGS === undefined && !/--max[-_]semi/.test(process.env.NODE_OPTIONS ?? '')) {
        const command = readFileSync(`/proc/${s.child.pid}/cmdline`, 'utf8').split('\0');
        const semi = `--max-semi-space-size=${c.bin === 'walrelay-sink-sqlite' ? 4 : 8}`;
        assert.equal(command.filter((a) => a.startsWith('--max-semi-space-size')).join(' '), semi, command.join(' '));
      }
      await nothingCreated();
      assert.ok(!existsSync(sqlite) || c.service === 'mysql', 'the SQLite target is not created');
      const { code, ms } = await s.term();
      assert.equal(code, 0);
      assert.ok(ms < 5_000, `SIGTERM took ${ms} ms`);
      assert.ok(!/pw-secret/.test(s.stderr()), 'a password appears in the logs');
      assert.equal(s.logs().filter((l) => l.kafka !== undefined && (l.level === 'error' || l.level === 'warn')).length, 0, 'kafkajs lines are folded, not repeated raw');
      assert.equal(s.logs().filter((l) => l.level === 'error').length, 0);
    });
  }

  test('SIGTERM while a start-up check waits on a broker that does not answer: exit 0 within 5 s', async () => {
    const server = net.createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const s = spawnBin('walrelay-source', { ...base, WALRELAY_KAFKA_BROKERS: `127.0.0.1:${port}` });
      await waitFor('the start-up line', () => s.logs().some((l) => l.msg === 'walrelay-source starting'), { timeoutMs: 30_000 });
      const { code, ms } = await s.term();
      assert.equal(code, 0, s.stderr());
      assert.ok(ms < 5_000, `SIGTERM took ${ms} ms`);
      await nothingCreated();
    } finally {
      server.close();
    }
  });
});

describe('a running pipeline logs JSON lines only, with no start-up warnings; a standby and a rebalance', () => {
  let db: pg.Client;
  const id = uniqueName('opslog');
  const schema = `${id}_s`;
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-logs-'));
  const env = {
    WALRELAY_PG_URL: PG_URL,
    WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    WALRELAY_SLOT: `${id}_slot`,
    WALRELAY_PUBLICATION: `${id}_pub`,
    WALRELAY_TOPIC_PREFIX: id,
    WALRELAY_TABLES: `${schema}.t`,
    WALRELAY_TX_MAX_DELAY_MS: '20',
    WALRELAY_GROUP_ID: `${id}_g`,
    WALRELAY_TOPIC_REFRESH_MS: '500',
  };
  const procs: Spawned[] = [];

  before(async () => {
    db = await pgConnect();
    await db.query(`CREATE SCHEMA ${q(schema)}`);
    await db.query(`CREATE TABLE ${q(schema)}.t (id int PRIMARY KEY, v text)`);
    await db.query(`INSERT INTO ${q(schema)}.t SELECT g, 'v' || g FROM generate_series(1, 10) g`);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.term()));
    await dropPgArtifacts(db, { slot: env.WALRELAY_SLOT, publication: env.WALRELAY_PUBLICATION, schema });
    await db.end();
  });

  test('source, standby and two sinks of one group: rows arrive, every line is JSON, no kafkajs warning, rebalances at info, SIGTERM < 5 s', async () => {
    const source = spawnBin('walrelay-source', env);
    procs.push(source);
    const sinkA = spawnBin('walrelay-sink-sqlite', { ...env, WALRELAY_TARGET_URL: path.join(dir, 'a.sqlite') });
    procs.push(sinkA);
    await waitFor('the source to stream', () => source.logs().some((l) => l.msg === 'starting replication'), { timeoutMs: 90_000, describe: () => source.stderr() });
    await waitFor('sink A to apply the snapshot', () => sinkA.logs().some((l) => l.msg === 'created target table'), { timeoutMs: 90_000, describe: () => sinkA.stderr() });
    // A second sink of the group: a rebalance; a second source: a standby.
    const sinkB = spawnBin('walrelay-sink-sqlite', { ...env, WALRELAY_TARGET_URL: path.join(dir, 'b.sqlite') });
    procs.push(sinkB);
    const standby = spawnBin('walrelay-source', env);
    procs.push(standby);
    await waitFor('the standby', () => standby.logs().some((l) => /hot standby/.test(String(l.msg))), { timeoutMs: 60_000, describe: () => standby.stderr() });
    await waitFor('sink B to get partitions', () => sinkB.logs().some((l) => l.msg === 'partitions assigned; positions taken from the target' && Number(l.partitions) > 0), {
      timeoutMs: 90_000,
      describe: () => sinkB.stderr(),
    });
    await waitFor('sink A to be reassigned', () => sinkA.logs().filter((l) => l.msg === 'partitions assigned; positions taken from the target').length >= 2, { timeoutMs: 90_000, describe: () => sinkA.stderr() });
    await db.query(`INSERT INTO ${q(schema)}.t SELECT g, 'w' || g FROM generate_series(11, 40) g`);
    await topicExists(tableTopic(id, schema, 't'));
    const collector = new TopicCollector([tableTopic(id, schema, 't')]);
    await collector.start();
    try {
      await collector.waitForCount(40, 60_000);
    } finally {
      await collector.stop();
    }
    for (const [name, p] of [['standby', standby], ['sink B', sinkB], ['sink A', sinkA], ['source', source]] as const) {
      const { code, ms } = await p.term();
      assert.equal(code, 0, `${name}: ${p.stderr().slice(-2000)}`);
      assert.ok(ms < 5_000, `${name}: SIGTERM took ${ms} ms`);
    }
    for (const [name, p] of [['source', source], ['standby', standby], ['sink A', sinkA], ['sink B', sinkB]] as const) {
      assertQuietLogs(p, name);
      assert.deepEqual(p.logs().filter((l) => l.level === 'error' || l.level === 'fatal'), [], `${name}: error lines`);
      for (const l of p.logs().filter((x) => /rebalanc/i.test(String(x.msg)))) assert.equal(l.level, 'info', `${name}: ${JSON.stringify(l)}`);
    }
  });
});

describe('a record larger than the topic accepts', () => {
  let db: pg.Client;
  const id = uniqueName('opsbig');
  const schema = `${id}_s`;
  const env = {
    WALRELAY_PG_URL: PG_URL,
    WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    WALRELAY_SLOT: `${id}_slot`,
    WALRELAY_PUBLICATION: `${id}_pub`,
    WALRELAY_TOPIC_PREFIX: id,
    WALRELAY_TABLES: `${schema}.docs`,
    WALRELAY_TX_MAX_DELAY_MS: '20',
    WALRELAY_SNAPSHOT: 'never',
  };
  let source: Spawned | undefined;

  before(async () => {
    db = await pgConnect();
    await db.query(`CREATE SCHEMA ${q(schema)}`);
    await db.query(`CREATE TABLE ${q(schema)}.docs (id int PRIMARY KEY, body text)`);
  });

  after(async () => {
    await source?.term();
    await dropPgArtifacts(db, { slot: env.WALRELAY_SLOT, publication: env.WALRELAY_PUBLICATION, schema });
    await db.end();
  });

  test('records that fit one by one but not together are sent in several requests: a 5 MB transaction of 400 KB rows arrives whole', async () => {
    await db.query(`CREATE TABLE ${q(schema)}.parts (id int PRIMARY KEY, body text)`);
    const s = spawnBin('walrelay-source', { ...env, WALRELAY_SLOT: `${id}_slot2`, WALRELAY_PUBLICATION: `${id}_pub2`, WALRELAY_TOPIC_PREFIX: `${id}_2`, WALRELAY_TABLES: `${schema}.parts` });
    try {
      await waitFor('the source to stream', () => s.logs().some((l) => l.msg === 'starting replication'), { timeoutMs: 90_000, describe: () => s.stderr() });
      await db.query('BEGIN');
      for (let i = 1; i <= 12; i++) await db.query(`INSERT INTO ${q(schema)}.parts VALUES ($1, $2)`, [i, randomBytes(200_000).toString('hex')]);
      await db.query('COMMIT');
      await topicExists(tableTopic(`${id}_2`, schema, 'parts'));
      const collector = new TopicCollector([tableTopic(`${id}_2`, schema, 'parts')]);
      await collector.start();
      try {
        await waitFor('12 rows', () => collector.changes().length >= 12, { timeoutMs: 90_000, describe: () => s.stderr().slice(-3000) });
      } finally {
        await collector.stop();
      }
      assert.equal(s.logs().filter((l) => l.msg === 'source pipeline failed; restarting from the last checkpoint').length, 0, s.stderr().slice(-3000));
    } finally {
      await s.term();
      await dropPgArtifacts(db, { slot: `${id}_slot2`, publication: `${id}_pub2` });
    }
  });

  test('stops (never skips) with an error naming table, key, size, limit and setting; /readyz 503, /healthz reports the stall, lag seconds grow; raising the limit lets it through', async () => {
    const port = await freePort();
    source = spawnBin('walrelay-source', { ...env, WALRELAY_HTTP_PORT: String(port) });
    await waitFor('the source to stream', () => source!.logs().some((l) => l.msg === 'starting replication'), { timeoutMs: 90_000, describe: () => source!.stderr() });
    assert.equal(listenedPort(source), port);
    await db.query(`INSERT INTO ${q(schema)}.docs VALUES (1, 'small')`);
    // 5 MB of incompressible text (PostgreSQL's TOAST compression does not reach Kafka anyway).
    const big = randomBytes(2_600_000).toString('hex').slice(0, 5_000_000);
    // Row 6 goes in the same transaction, before the big one: it is published (with the
    // transaction's position) and the source stops exactly at row 7.
    await db.query('BEGIN');
    await db.query(`INSERT INTO ${q(schema)}.docs VALUES (6, 'before the big one')`);
    await db.query(`INSERT INTO ${q(schema)}.docs VALUES (7, $1)`, [big]);
    await db.query('COMMIT');
    await db.query(`INSERT INTO ${q(schema)}.docs VALUES (8, 'after the big one')`);
    const failures = (): Record<string, unknown>[] => source!.logs().filter((l) => l.msg === 'source pipeline failed; restarting from the last checkpoint' && l.code === 'RECORD_TOO_LARGE');
    await waitFor('the refusal', () => failures().length >= 1, { timeoutMs: 60_000, describe: () => source!.stderr() });
    const err = String(failures()[0]!.err);
    assert.match(err, new RegExp(`table ${schema}\\.docs`));
    assert.match(err, /key \{"id":7\}/);
    assert.match(err, /is 5\d{6} bytes/);
    assert.match(err, /max\.message\.bytes = 1048588/);
    assert.match(err, /topics\.config/);
    assert.match(err, /never skips/);

    const ready = await httpGet(port, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(JSON.parse(ready.body).reason as string, /max\.message\.bytes/);
    await waitFor('/healthz to report the stall', async () => (await httpGet(port, '/healthz')).status === 503, { timeoutMs: 90_000, describe: () => source!.stderr().slice(-3000) });
    const health = JSON.parse((await httpGet(port, '/healthz')).body) as { live: boolean; reason: string };
    assert.equal(health.live, false);
    assert.match(health.reason, /key \{"id":7\}.*failed \d+ times in a row/);
    const lag1 = metric((await httpGet(port, '/metrics')).body, 'walrelay_source_replication_lag_seconds');
    await waitFor('the lag to grow', async () => (metric((await httpGet(port, '/metrics')).body, 'walrelay_source_replication_lag_seconds') ?? 0) > (lag1 ?? 0) + 1, { timeoutMs: 30_000 });
    assert.ok((lag1 ?? 0) > 0, `lag seconds while stalled: ${lag1}`);

    // Never skipped: the row after it is not in the topic.
    const topic = tableTopic(id, schema, 'docs');
    await topicExists(topic);
    const collector = new TopicCollector([topic]);
    await collector.start();
    try {
      await collector.waitForCount(2, 60_000, () => source!.stderr().slice(-3000));
      const ids = (): unknown[] => collector.changes().map((c) => (c.after as { id?: unknown } | null)?.id);
      assert.deepEqual([...ids()].sort(), [1, 6]);

      // The operator raises the topic's limit: the source passes without a restart, in order.
      const admin = new kafkajs.Kafka({ clientId: 'walrelay-test', brokers: KAFKA_BROKERS, logLevel: kafkajs.logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(8 * 1024 * 1024) }] }] });
      } finally {
        await admin.disconnect();
      }
      await waitFor('rows 7 and 8', () => ids().length >= 4, { timeoutMs: 90_000, describe: () => source!.stderr().slice(-3000) });
      // The rows may sit on different partitions: order them by commit LSN, then LSN. Each once.
      const at = (c: ChangeEnvelope): [bigint, bigint] => [BigInt(String(c.source.commit_lsn)), BigInt(String(c.source.lsn))];
      const byLsn = [...collector.changes()].sort((a, b) => {
        const [ca, la] = at(a);
        const [cb, lb] = at(b);
        return ca !== cb ? (ca < cb ? -1 : 1) : la < lb ? -1 : la > lb ? 1 : 0;
      });
      assert.deepEqual(byLsn.map((c) => (c.after as { id?: unknown } | null)?.id), [1, 6, 7, 8]);
      assert.equal((byLsn[2]!.after as { body: string }).body.length, 5_000_000);
    } finally {
      await collector.stop();
    }
    await waitFor('/healthz and /readyz to recover', async () => (await httpGet(port, '/healthz')).status === 200 && (await httpGet(port, '/readyz')).status === 200, { timeoutMs: 90_000 });
    await waitFor('the lag to go back to 0', async () => metric((await httpGet(port, '/metrics')).body, 'walrelay_source_replication_lag_seconds') === 0, { timeoutMs: 30_000 });
    const { code, ms } = await source.term();
    assert.equal(code, 0);
    assert.ok(ms < 5_000, `SIGTERM took ${ms} ms`);
    assertQuietLogs(source, 'source');
    source = undefined;
  });
});
