import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SchemaRegistryClient } from '@walrelay/core';
import { coalesce, RecordDecoder, type TableChange } from '@walrelay/sink';
import { testKafka } from '../support/kafka.js';
import { percentile } from './percentile.js';
import { REGISTRY_URL } from '../support/env.js';

/**
 * The sink's own work per row, stage by stage, in one process and without a database: what
 * consuming a topic costs a sink above its driver (the part of a sink's rate its ceiling does
 * not have; docs/performance.md, Session 18). It reads `--count` records of `--topic` (a topic the
 * bench kept: `npm run bench -- --keep`) into memory, then times, over `--rounds` rounds:
 * - decode: `RecordDecoder.decodeKnown` of every record (the Avro key and envelope);
 * - coalesce: the decoded changes of each chunk of `--chunk` records folded into apply steps.
 * It prints the median and the fastest round in µs per row, and the heap allocated per row.
 *
 *   node --conditions=development --import tsx test/bench/sink-stages.ts --topic <topic>
 */
const { values: args } = parseArgs({
  options: {
    topic: { type: 'string' },
    count: { type: 'string', default: '200000' },
    chunk: { type: 'string', default: '3175' },
    rounds: { type: 'string', default: '9' },
  },
});
if (!args.topic) throw new Error('--topic is required (a topic the bench kept with --keep)');
const TOPIC = args.topic;
const COUNT = Number(args.count);
const CHUNK = Number(args.chunk);
const ROUNDS = Number(args.rounds);

interface RawRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, unknown>;
}

async function readTopic(): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  const consumer = testKafka().consumer({ groupId: `sink-stages-${randomUUID()}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let lastRecordAt = Date.now();
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      if (records.length >= COUNT) return;
      records.push({ key: message.key && Buffer.from(message.key), value: message.value && Buffer.from(message.value), headers: { ...message.headers } });
      lastRecordAt = Date.now();
      if (records.length === COUNT) done();
    },
  });
  // A topic with fewer records: what it has, once nothing new arrived for 10 s.
  const quiet = setInterval(() => {
    if (Date.now() - lastRecordAt > 10_000) done();
  }, 1_000);
  await finished;
  clearInterval(quiet);
  await consumer.disconnect();
  if (records.length === 0) throw new Error(`no records read from ${TOPIC}`);
  return records;
}

function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 0.5);
}

const records = await readTopic();
const registry = new SchemaRegistryClient({ url: REGISTRY_URL });
const decoder = new RecordDecoder(registry);
// The first record of each schema goes through the waiting path (fetches the schemas).
for (const r of records.slice(0, 10)) await decoder.decode(r.key, r.value, r.headers, TOPIC);

const timings: Record<string, number[]> = { decode: new Array<number>(ROUNDS).fill(0), coalesce: new Array<number>(ROUNDS).fill(0) };
const allocated: Record<string, number[]> = { decode: [], coalesce: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (let at = 0; at < records.length; at += CHUNK) {
    const chunk = records.slice(at, at + CHUNK);
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const decoded = [];
    for (const r of chunk) {
      const d = decoder.decodeKnown(r.key, r.value, r.headers);
      if (!d) throw new Error('a record whose schemas are not known yet');
      decoded.push(d);
    }
    const t1 = performance.now();
    const heap1 = process.memoryUsage().heapUsed;
    const changes: TableChange[] = [];
    let shape;
    for (const d of decoded) {
      if (d.kind !== 'change') continue;
      shape = d.shape;
      changes.push({ kind: 'change', key: d.key, envelope: d.envelope });
    }
    if (shape) coalesce(shape, changes);
    const t2 = performance.now();
    const heap2 = process.memoryUsage().heapUsed;
    timings.decode![round]! += t1 - t0;
    timings.coalesce![round]! += t2 - t1;
    // heapUsed falls when a scavenge ran within the stage: those chunks are not counted.
    if (heap1 > heap0) allocated.decode!.push((heap1 - heap0) / chunk.length);
    if (heap2 > heap1) allocated.coalesce!.push((heap2 - heap1) / chunk.length);
  }
}
registry.close();
console.log(`sink stages: ${records.length} records of ${TOPIC}, chunks of ${CHUNK}, ${ROUNDS} rounds (node ${process.version})`);
for (const [stage, ms] of Object.entries(timings)) {
  const perRow = ms.slice(1).map((m) => (m * 1000) / records.length);
  console.log(`  ${stage.padEnd(9)} median ${median(perRow).toFixed(3)} µs/row, fastest ${Math.min(...perRow).toFixed(3)} µs/row, allocated ≈${Math.round(median(allocated[stage]!))} B/row`);
}
