import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SchemaColumn, TableShape } from '@walrelay/core';
import { StaleBatchError, type TargetTable } from '@walrelay/sink';
import { SqliteTarget } from '../src/index.js';

const id: SchemaColumn = { name: 'id', field: 'id', kind: 'int64', pgType: 'int8', typmod: -1, nullable: false, key: 1 };
const v: SchemaColumn = { name: 'v', field: 'v', kind: 'text', pgType: 'text', typmod: -1, nullable: true, key: null };
const shape: TableShape = { schema: 'public', table: 'fenced', columns: [id, v] };
const table: TargetTable = { name: 'fenced', shape };
const offset = (nextOffset: bigint, expectedFrom: bigint) => ({ groupId: 'g', topic: 't', partition: 0, nextOffset, sourceLsn: null, expectedFrom });

test('a batch that starts before the stored offset (a stale owner after a rebalance) is refused and changes nothing', async () => {
  const target = new SqliteTarget({ url: ':memory:' });
  await target.connect();
  await target.ensureOffsetsTable();
  await target.createTable(table);
  // The new owner applied offsets 0..19: the row ends deleted.
  await target.apply({ table, steps: [{ kind: 'upsert', columns: [id, v], rows: [[1n, 'new owner']] }], offsets: [offset(10n, 0n)] });
  await target.apply({ table, steps: [{ kind: 'delete', columns: [id], keys: [[1n]] }], offsets: [offset(20n, 10n)] });
  // The old owner's late commit of offsets 5..9 would re-insert the row and move the offset back.
  await assert.rejects(
    target.apply({ table, steps: [{ kind: 'upsert', columns: [id, v], rows: [[1n, 'stale']] }], offsets: [offset(10n, 5n)] }),
    StaleBatchError,
  );
  const stored = await target.loadOffsets('g');
  assert.equal(stored[0]?.nextOffset, 20n);
  assert.deepEqual(await target.existingColumns('fenced'), ['id', 'v']);
  // A batch that starts exactly at the stored offset is the normal case.
  await target.apply({ table, steps: [{ kind: 'upsert', columns: [id, v], rows: [[2n, 'next']] }], offsets: [offset(21n, 20n)] });
  assert.equal((await target.loadOffsets('g'))[0]?.nextOffset, 21n);
  await target.close();
});
