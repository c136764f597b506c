import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SOURCE_SCHEMA } from '@walrelay/core';
import { CHECKPOINT_SCHEMA, decodeCheckpoint, encodeCheckpoint } from '../src/publish/checkpoint.js';

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
  };
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint(cp)), cp);
  assert.throws(() => decodeCheckpoint(Buffer.from([9, 1, 2])), /format version/);
});
