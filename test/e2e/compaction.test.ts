import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestPipeline } from '../support/pipeline.js';
import { sqliteRows } from '../support/checker.js';
import { testKafka, TopicCollector, type ReadRecord } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';
import type { RunningProcess } from '../support/processes.js';

/**
 * A sink that is behind the Kafka log cleaner: while it is stopped, rows are deleted and
 * a table is truncated three times, and compaction removes the delete records (only
 * their tombstones stay) and, in one partition only, the older truncate markers. The
 * restarted sink must still delete those rows and apply the truncates in order: the
 * partitions stop at different truncates, and the oldest are passed over.
 * Topics get an aggressive cleaner config here (1 MB segments, no compaction lag). Segments
 * roll by size, not by time, so which partitions the cleaner reaches does not depend on how
 * fast the source publishes: only the partitions the filler writes ≥ 1 MB to.
 */
/** Kafka's smallest segment.bytes; the filler's large values fill it in seconds. */
const SEGMENT_BYTES = 1_048_576;

describe('a sink behind the log cleaner (compacted topics, SQLite)', () => {
  const p = new TestPipeline('compact');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-')), 'target.sqlite');
  const rows = (t: string) => sqliteRows(file, t);
  let sink: RunningProcess;
  let filler: ReturnType<typeof setInterval> | undefined;

  before(async () => {
    await p.setup((s) => [`CREATE TABLE ${s}.keep (id int8 PRIMARY KEY, v text)`, `CREATE TABLE ${s}.trunc (id int8 PRIMARY KEY, v text)`]);
    p.capture('keep', 'trunc');
    p.startSource({
      WALRELAY_TOPIC_CONFIG: JSON.stringify({ 'min.compaction.lag.ms': '0', 'segment.bytes': String(SEGMENT_BYTES), 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '86400000' }),
    });
    sink = p.startSink('sink-sqlite', file);
  });

  after(async () => {
    if (filler) clearInterval(filler);
    await p.cleanup();
  });

  test('deletes and truncates the sink only finds as tombstones and last markers still apply', { timeout: 300_000 }, async () => {
    const s = `"${p.schema}"`;
    const keepTopic = `${p.prefix}.${p.schema}.keep`;
    const truncTopic = `${p.prefix}.${p.schema}.trunc`;
    await p.db.query(`INSERT INTO ${s}.keep SELECT g, 'v' || g FROM generate_series(1, 300) g`);
    await p.db.query(`INSERT INTO ${s}.trunc SELECT g, 'first' FROM generate_series(1, 60) g`);
    await p.waitConsistent('keep', rows('keep'));
    await p.waitConsistent('trunc', rows('trunc'));
    await sink.stop(10_000);
    assert.equal(sink.child.exitCode, 0);

    // While the sink is stopped.
    await p.db.query(`DELETE FROM ${s}.keep WHERE id BETWEEN 100 AND 150`);
    await p.db.query(`TRUNCATE ${s}.trunc`);
    await p.db.query(`INSERT INTO ${s}.trunc SELECT g, 'second' FROM generate_series(100, 160) g`);
    await p.db.query(`TRUNCATE ${s}.trunc`);
    await p.db.query(`INSERT INTO ${s}.trunc SELECT g, 'third' FROM generate_series(200, 260) g`);
    await p.db.query(`TRUNCATE ${s}.trunc`);
    await p.db.query(`INSERT INTO ${s}.trunc SELECT g, 'last' FROM generate_series(300, 330) g`);

    // Keep appending large values so segments roll (segment.bytes): in every partition of keep,
    // and in partition 0 of trunc only, so only that partition of trunc is compacted. Partitions 1
    // and 2 of trunc never reach 1 MB, so their markers stay in their active segments.
    // The source may not have published the last rows yet: wait until the topic holds them.
    let trunc: ReadRecord[] = [];
    const lastRows = (rs: readonly ReadRecord[]) => rs.filter((r) => r.value?.op === 'c' && Number((r.key as { id: bigint }).id) >= 300);
    await waitFor('the last rows of trunc in its topic', async () => lastRows((trunc = await readTopic(truncTopic))).length === 31, {
      timeoutMs: 90_000,
      intervalMs: 500,
      describe: () => `${lastRows(trunc).length} of 31`,
    });
    const p0Keys = [...new Set(trunc.filter((r) => r.partition === 0 && r.value?.op === 'c' && Number((r.key as { id: bigint }).id) >= 300).map((r) => Number((r.key as { id: bigint }).id)))];
    assert.ok(p0Keys.length > 0, 'some of the last rows of trunc are in partition 0');
    let round = 0;
    filler = setInterval(() => {
      round++;
      // ≈6.4 KB per row: 50 rows of keep and the partition-0 rows of trunc per round.
      const fill = `'fill ${round} ' || repeat(md5(random()::text), 200)`;
      p.db.query(`UPDATE ${s}.keep SET v = ${fill} WHERE id > 250`).catch(() => undefined);
      p.db.query(`UPDATE ${s}.trunc SET v = ${fill} WHERE id = ANY($1::int8[])`, [p0Keys]).catch(() => undefined);
    }, 400);

    // Wait for the cleaner: no delete record of keep left (only tombstones), and partition 0
    // of trunc down to its last marker while the other partitions still hold older ones.
    let state = '';
    await waitFor(
      'compaction of the delete records and of the older truncate markers in trunc partition 0',
      async () => {
        const keep = await readTopic(keepTopic);
        const deletes = keep.filter((r) => r.value?.op === 'd').length;
        const tombstones = keep.filter((r) => r.value === null).length;
        const markers = (await readTopic(truncTopic)).filter((r) => r.headers['walrelay.truncate'] !== undefined);
        const perPartition = [0, 1, 2].map((q) => markers.filter((r) => r.partition === q).length);
        state = `keep: ${deletes} delete records, ${tombstones} tombstones; trunc markers per partition: ${perPartition.join('/')}`;
        // Partitions 1 and 2 are never cleaned: all three markers stay, so they stop at an
        // older truncate than partition 0.
        return deletes === 0 && tombstones === 51 && perPartition[0] === 1 && perPartition[1] === 3 && perPartition[2] === 3;
      },
      { timeoutMs: 240_000, intervalMs: 2_000, describe: () => state },
    );
    clearInterval(filler);
    filler = undefined;

    sink = p.startSink('sink-sqlite', file, {}, 'sink-sqlite-2');
    const k = await p.waitConsistent('keep', rows('keep'));
    assert.equal(k.sourceRows, 249);
    const t = await p.waitConsistent('trunc', rows('trunc'));
    assert.equal(t.sourceRows, 31);
    assert.match(sink.output(), /partitions stopped at different truncates/, 'the partitions that still had the older markers were passed over them');
  });
});

/** Every committed record of a topic, read from the beginning by a fresh consumer. */
async function readTopic(topic: string): Promise<ReadRecord[]> {
  const admin = testKafka().admin();
  await admin.connect();
  const high = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const collector = new TopicCollector([topic]);
  await collector.start();
  try {
    // A partition's last data record sits just before the commit marker that ends it.
    await waitFor(`all of ${topic}`, () =>
      high.every((h) => {
        const end = BigInt(h.high) - 2n;
        return end < 0n || collector.records.some((r) => r.partition === h.partition && r.offset >= end);
      }),
    { timeoutMs: 60_000 });
    return collector.records;
  } finally {
    await collector.stop();
  }
}
