import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SOURCE_SCHEMA } from '@walrelay/core';
import { CHECKPOINT_SCHEMA, decodeCheckpoint, encodeCheckpoint, encodeCheckpointV1, encodeCheckpointV2 } from '../src/publish/checkpoint.js';

const strip = (s: Record<string, unknown>): unknown =>
  JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === 'doc' ? undefined : v)));

test('schemas/*.avsc are the schemas the code writes', () => {
  const root = new URL('../../../schemas/', import.meta.url);
  assert.deepEqual(strip(JSON.parse(readFileSync(new URL('source.avsc', root), 'utf8'))), strip(SOURCE_SCHEMA as unknown as Record<string, unknown>));
  assert.deepEqual(strip(JSON.parse(readFileSync(new URL('checkpoint.avsc', root), 'utf8'))), strip(CHECKPOINT_SCHEMA as unknown as Record<string, unknown>));
});

test('a checkpoint round-trips, including LSNs above 2^53', () => {
  const cp = {
    slot: 's',
    commitLsn: 2n ** 60n + 7n,
    endLsn: 2n ** 60n + 99n,
    partialFinalLsn: 2n ** 60n + 1000n,
    partialPublished: 12345n,
    snapshot: 'DONE' as const,
    snapshotConsistentLsn: 5n,
    slotCreatedMs: 1_700_000_000_000n,
    incremental: [{ id: 'x1', schema: 'public', table: 'a"b', condition: "id > 5 AND name <> 'x'", lastKey: '["7","é"]', rows: 42n, reason: 'new_table' }],
    knownTables: [{ schema: 'public', table: 'a"b' }],
    resyncOwed: true,
  };
  const { updatedMs, ...decoded } = decodeCheckpoint(encodeCheckpoint(cp));
  assert.ok(typeof updatedMs === 'bigint' && updatedMs > 0n);
  assert.deepEqual(decoded, cp);
  assert.throws(() => decodeCheckpoint(Buffer.from([9, 1, 2])), /format version/);
});

test('a format-1 checkpoint (walrelay 0.1) still reads, with the new fields at their defaults', () => {
  const old = { slot: 's', commitLsn: 10n, endLsn: 11n, partialFinalLsn: null, partialPublished: 0n, snapshot: 'DONE' as const, snapshotConsistentLsn: 3n };
  const decoded = decodeCheckpoint(encodeCheckpointV1(old, 123n));
  assert.deepEqual(decoded, { ...old, slotCreatedMs: null, updatedMs: 123n, incremental: [], knownTables: null, resyncOwed: false });
});

test('a format-2 checkpoint (before resync_owed) still reads, with resync_owed false', () => {
  const cp = { slot: 's', commitLsn: 10n, endLsn: 11n, partialFinalLsn: null, partialPublished: 0n, snapshot: 'DONE' as const, snapshotConsistentLsn: 3n, slotCreatedMs: 5n, incremental: [], knownTables: [{ schema: 'public', table: 't' }] };
  const bytes = encodeCheckpointV2({ ...cp, resyncOwed: true });
  assert.equal(bytes[0], 2);
  const { updatedMs: _u, ...decoded } = decodeCheckpoint(bytes);
  assert.deepEqual(decoded, { ...cp, resyncOwed: false });
});
