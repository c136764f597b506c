// Quick local probe (not a test): source throughput for N inserted rows.
import { TestPipeline } from './pipeline.js';
import { testKafka } from './kafka.js';
import { tableTopic } from '@walrelay/core';
import { waitFor } from './wait.js';

const n = Number(process.argv[2] ?? 100_000);
const p = new TestPipeline('perf');
await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, name text, amount numeric(12,2), at timestamptz default now())`]);
p.capture('t');
const src = p.startSource({ WALRELAY_SNAPSHOT: 'never', WALRELAY_TOPIC_PARTITIONS: '3', ...(process.env.PROF ? { NODE_OPTIONS: '--cpu-prof --cpu-prof-dir=/tmp/perf' } : {}) });
const admin = testKafka().admin();
await admin.connect();
const topic = tableTopic(p.prefix, p.schema, 't');
await waitFor('streaming', () => src.output().includes('starting replication'), { timeoutMs: 60_000 });
const t0 = Date.now();
await p.db.query(`INSERT INTO "${p.schema}".t SELECT g, 'name ' || g, g / 7.0 FROM generate_series(1, ${n}) g`);
const t1 = Date.now();
let peak = 0;
const timer = setInterval(async () => {
  const fs = await import('node:fs');
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${src.child.pid}/status`, 'utf8'));
    if (m) peak = Math.max(peak, Number(m[1]));
  } catch {}
}, 200);
await waitFor('all records', async () => {
  const o = await admin.fetchTopicOffsets(topic).catch(() => []);
  return o.reduce((s, x) => s + Number(x.high), 0) >= n;
}, { timeoutMs: 600_000, intervalMs: 100 });
const t2 = Date.now();
clearInterval(timer);
console.log(JSON.stringify({ rows: n, insertMs: t1 - t0, commitToKafkaMs: t2 - t1, changesPerSec: Math.round(n / ((t2 - t1) / 1000)), peakRssMb: Math.round(peak / 1024) }));
await admin.disconnect();
await p.cleanup();
