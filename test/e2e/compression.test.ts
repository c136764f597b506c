import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { sqliteRows } from '../support/checker.js';
import { q } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

/**
 * `kafka.compression: zstd`, all real: the source sends zstd record batches (read back from the
 * broker's own log files: the codec bits of every data batch), and the SQLite sink reads them
 * into a target equal to PostgreSQL.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The local broker's log directory (scripts/services.sh). */
const KAFKA_LOG_DIR = process.env.WALRELAY_TEST_KAFKA_LOG_DIR ?? path.join(ROOT, '.services/kafka/data');

interface BatchHeader {
  readonly codec: number;
  readonly control: boolean;
  readonly records: number;
}

/** The record batches of one partition's log segments: codec (attributes & 7), control flag, record count. */
function batchesOf(partitionDir: string): BatchHeader[] {
  const out: BatchHeader[] = [];
  for (const file of readdirSync(partitionDir).filter((f) => f.endsWith('.log')).sort()) {
    const log = readFileSync(path.join(partitionDir, file));
    let pos = 0;
    while (pos + 61 <= log.length) {
      const length = log.readInt32BE(pos + 8);
      const attributes = log.readInt16BE(pos + 21);
      out.push({ codec: attributes & 0x07, control: (attributes & 0x20) !== 0, records: log.readInt32BE(pos + 57) });
      pos += 12 + length;
    }
  }
  return out;
}

describe('zstd-compressed topics, end to end', () => {
  const pipe = new TestPipeline('zstd');
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-zstd-'));
  const file = path.join(dir, 'target.sqlite');

  before(async () => {
    await pipe.setup((s) => [`CREATE TABLE ${s}.docs (id int8 PRIMARY KEY, title text, body text, n numeric(12,2))`]);
    pipe.capture('docs');
  });
  after(async () => {
    await pipe.cleanup();
  });

  test('the source writes zstd batches and the sink applies them exactly', async () => {
    const source = pipe.startSource({ WALRELAY_KAFKA_COMPRESSION: 'zstd', WALRELAY_TOPIC_PARTITIONS: '3' });
    pipe.startSink('sink-sqlite', `sqlite://${file}`);
    // The changes below go through the stream (not the initial snapshot, which would read only the final rows).
    await waitFor('the source streaming', () => source.output().includes('starting replication'), { timeoutMs: 90_000, describe: () => source.output().slice(-2500) });
    const docs = `${q(pipe.schema)}.docs`;
    // Compressible rows (repeated words), in several transactions; then updates and deletes.
    for (let t = 0; t < 10; t++) {
      await pipe.db.query(
        `INSERT INTO ${docs} SELECT g, 'title ' || g, repeat('walrelay carries every change exactly once ', 1 + g % 20), g / 7.0 FROM generate_series($1::int, $2::int) g`,
        [t * 300 + 1, (t + 1) * 300],
      );
    }
    await pipe.db.query(`UPDATE ${docs} SET body = body || ' (edited)' WHERE id % 3 = 0`);
    await pipe.db.query(`DELETE FROM ${docs} WHERE id % 10 = 0`);
    const rows = sqliteRows(file, 'docs');
    const check = await pipe.waitConsistent('docs', async () => (existsSync(file) ? rows() : []));
    assert.equal(check.sourceRows, 2700);

    const topic = tableTopic(pipe.prefix, pipe.schema, 'docs');
    assert.ok(existsSync(KAFKA_LOG_DIR), `the broker's log directory ${KAFKA_LOG_DIR} (set WALRELAY_TEST_KAFKA_LOG_DIR for a broker elsewhere)`);
    const data = [0, 1, 2].flatMap((p) => batchesOf(path.join(KAFKA_LOG_DIR, `${topic}-${p}`)).filter((b) => !b.control));
    assert.ok(data.length >= 3, `data batches on the broker: ${data.length}`);
    assert.deepEqual([...new Set(data.map((b) => b.codec))], [4], 'every data batch is zstd (codec 4)');
    // inserts + updates + deletes with their tombstones
    assert.equal(data.reduce((n, b) => n + b.records, 0), 3000 + 1000 + 2 * 300);
  });
});
