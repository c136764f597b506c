import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Kafka, logLevel } from 'kafkajs';
import { TestPipeline } from '../support/pipeline.js';
import { sqliteRows } from '../support/checker.js';
import { KAFKA_BROKERS } from '../support/env.js';
import { metricsPort } from '../support/metrics.js';
import { ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const RULES = path.join(ROOT, 'ops/prometheus/walrelay-alerts.yml');
const RULE_TESTS = path.join(ROOT, 'ops/prometheus/walrelay-alerts.test.yml');
const DASHBOARD = path.join(ROOT, 'ops/grafana/dashboards/walrelay.json');
const DATASOURCES = path.join(ROOT, 'ops/grafana/provisioning/datasources/prometheus.yml');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: { expr: string; refId: string; datasource: { type: string; uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; schemaVersion: number; panels: Panel[] };

function tool(name: string, args: string[], cwd = ROOT): { code: number | null; out: string } {
  const r = spawnSync(name, args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`${name} is not installed (apt-get install -y prometheus brings prometheus and promtool): ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('alert rules and dashboard', () => {
  test('promtool check rules and the rules\' unit tests pass', () => {
    const check = tool('promtool', ['check', 'rules', RULES]);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /SUCCESS: \d+ rules found/);
    const unit = tool('promtool', ['test', 'rules', path.basename(RULE_TESTS)], path.dirname(RULE_TESTS));
    assert.equal(unit.code, 0, unit.out);
    assert.match(unit.out, /SUCCESS/);
  });

  test('the dashboard JSON has the structure Grafana provisions', () => {
    const ds = parseYaml(readFileSync(DATASOURCES, 'utf8')) as { datasources: { uid: string; type: string }[] };
    const uid = ds.datasources[0]?.uid;
    assert.ok(uid);
    assert.equal(typeof dashboard.uid, 'string');
    assert.equal(typeof dashboard.title, 'string');
    assert.ok(dashboard.schemaVersion >= 36);
    assert.ok(dashboard.panels.length >= 10);
    const ids = new Set<number>();
    for (const p of dashboard.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
      ids.add(p.id);
      assert.ok(['timeseries', 'stat'].includes(p.type), `${p.title}: panel type ${p.type}`);
      assert.ok(p.title.length > 0);
      assert.ok(p.gridPos.w > 0 && p.gridPos.w <= 24 && p.gridPos.h > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos`);
      assert.equal(p.datasource.uid, uid, `${p.title}: uses the provisioned datasource`);
      assert.ok(p.targets.length > 0, `${p.title}: has queries`);
      for (const t of p.targets) {
        assert.equal(t.datasource.uid, uid);
        assert.ok(/^[A-Z]$/.test(t.refId));
        assert.ok(t.expr.includes('walrelay_'), `${p.title}: ${t.expr} reads walrelay metrics`);
      }
    }
    // What the issue asks the dashboard to show.
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const want of ['wal retained', 'source lag (bytes)', 'source lag (seconds)', 'sink lag per table', 'end-to-end latency', 'dead letters', 'restarts', 'not-ready', 'snapshot progress']) {
      assert.ok(titles.includes(want), `a panel for ${want}`);
    }
  });
});

describe('a real Prometheus scraping a running source and sink', () => {
  const p = new TestPipeline('prom');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-prom-')), 'target.sqlite');
  const promDir = mkdtempSync(path.join(tmpdir(), 'walrelay-prometheus-'));
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let writer: NodeJS.Timeout | undefined;
  let sink: ReturnType<TestPipeline['startSink']>;

  const query = async (expr: string): Promise<unknown[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data?.result ?? [];
  };

  before(async () => {
    await p.setup((s) => [
      `CREATE TABLE ${s}.orders (id int8 PRIMARY KEY, note text)`,
      `CREATE TABLE ${s}.heartbeat (id int PRIMARY KEY, ts timestamptz)`,
      `INSERT INTO ${s}.orders SELECT g, 'snap ' || g FROM generate_series(1, 2000) g`,
      `INSERT INTO ${s}.heartbeat VALUES (1, now())`,
      `ANALYZE ${s}.orders`,
    ]);
    p.capture('orders', 'heartbeat');
    const source = p.startSource({
      WALRELAY_HTTP_PORT: '0',
      WALRELAY_HEARTBEAT_INTERVAL_MS: '1000',
      WALRELAY_HEARTBEAT_ACTION_QUERY: `INSERT INTO "${p.schema}".heartbeat VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = now()`,
    });
    sink = p.startSink('sink-sqlite', file, { WALRELAY_HTTP_PORT: '0', WALRELAY_ON_ERROR: 'dlq' });
    const [sourcePort, sinkPort, port] = [await metricsPort(source), await metricsPort(sink), await freePort()];
    const config = path.join(promDir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(RULES)}]`,
        'scrape_configs:',
        `  - { job_name: walrelay-source, static_configs: [ { targets: ['127.0.0.1:${sourcePort}'] } ] }`,
        `  - { job_name: walrelay-sink-sqlite, static_configs: [ { targets: ['127.0.0.1:${sinkPort}'] } ] }`,
        '',
      ].join('\n'),
    );
    const log = createWriteStream(path.join(ROOT, '.test-logs', `${p.id}-prometheus.log`));
    prom = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout?.pipe(log);
    prom.stderr?.pipe(log);
    promUrl = `http://127.0.0.1:${port}`;
    await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok === true || undefined, { timeoutMs: 60_000, intervalMs: 250 });
    await p.waitConsistent('orders', sqliteRows(file, 'orders'));
    // Changes keep coming while the test runs (end-to-end latency, throughput).
    let next = 10_000;
    writer = setInterval(() => {
      p.db.query(`INSERT INTO "${p.schema}".orders VALUES ($1, 'live')`, [next++]).catch(() => undefined);
    }, 300);
    // A record no decoder can read lands in the table topic: the sink dead-letters it.
    const kafka = new Kafka({ clientId: 'walrelay-test', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: `${p.prefix}.${p.schema}.orders`, messages: [{ key: 'not avro', value: 'not avro either', partition: 0 }] });
    await producer.disconnect();
  });

  after(async () => {
    clearInterval(writer);
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    rmSync(promDir, { recursive: true, force: true });
    await p.cleanup();
  });

  test('every dashboard panel\'s query returns data', async () => {
    const pending = new Map(dashboard.panels.flatMap((panel) => panel.targets.map((t) => [`${panel.title} [${t.refId}]: ${t.expr}`, t.expr] as const)));
    await waitFor(
      'every panel query to return data',
      async () => {
        for (const [name, expr] of [...pending]) {
          const result = (await query(expr)) as { value: [number, string] }[];
          if (result.length > 0 && result.some((r) => r.value[1] !== 'NaN')) pending.delete(name);
        }
        return pending.size === 0 ? true : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 2000, describe: () => `no data yet for:\n${[...pending.keys()].join('\n')}` },
    );
    // Every metric the rules and the dashboard name is one the binaries export.
    const names = new Set(((await (await fetch(`${promUrl}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data);
    const referenced = new Set([...`${readFileSync(RULES, 'utf8')}\n${readFileSync(DASHBOARD, 'utf8')}`.matchAll(/\bwalrelay_[a-z0-9_]+/g)].map((m) => m[0]));
    const unknown = [...referenced].filter((n) => !names.has(n) && !names.has(`${n}_bucket`)); // a histogram by its base name
    assert.deepEqual(unknown, [], `metrics named in ops/ that no binary exports: ${unknown.join(', ')}`);
    // A few values that must be what the pipeline did, not just present.
    const dlq = (await query('sum(walrelay_sink_dead_letters_total)')) as { value: [number, string] }[];
    assert.equal(Number(dlq[0]?.value[1]), 1, 'one dead letter');
    const snapshot = (await query(`walrelay_source_snapshot_rows_total{table="${p.schema}.orders"}`)) as { value: [number, string] }[];
    assert.equal(Number(snapshot[0]?.value[1]), 2000, 'the snapshot read 2000 rows');
    const wal = (await query('walrelay_source_slot_retained_wal_bytes')) as { metric: { slot: string }; value: [number, string] }[];
    assert.equal(wal[0]?.metric.slot, p.slot);
    const age = (await query('walrelay_sink_last_change_age_seconds')) as { value: [number, string] }[];
    assert.ok(Number(age[0]?.value[1]) < 30, `last change age ${age[0]?.value[1]}`);
  });

  test('a stopped sink makes WalrelayDown fire', async () => {
    assert.equal(await sink.stop(30_000), 0);
    const alert = await waitFor(
      'WalrelayDown to fire for the sink',
      async () => {
        const res = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
        return res.data.alerts.find((a) => a.labels.alertname === 'WalrelayDown' && a.labels.job === 'walrelay-sink-sqlite' && a.state === 'firing');
      },
      { timeoutMs: 180_000, intervalMs: 2000 },
    );
    assert.equal(alert.labels.severity, 'critical');
    const source = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string> }[] } };
    assert.ok(!source.data.alerts.some((a) => a.labels.alertname === 'WalrelayDown' && a.labels.job === 'walrelay-source'), 'the running source is not reported down');
  });
});
