import { createHash } from 'node:crypto';
import { SchemaRegistryClient, valueSubject, type TableShape } from '@walrelay/core';
import { RecordDecoder, type RowValues, type TargetDriver } from '@walrelay/sink';
import { REGISTRY_URL } from '../support/env.js';

/**
 * The sinks' ceiling: the same driver (SqliteTarget / MysqlTarget) writing the same rows as
 * multi-row upserts with the offsets row, in transactions of the sink's batch size, with no
 * Kafka and no decoding — what a sink could reach if consuming and decoding were free. The
 * table's shape is the topic's newest value schema, so the DDL is the sink's; the rows are the
 * workload's (bench/run.ts), built before the clock starts.
 */
export async function tableShape(topic: string): Promise<TableShape> {
  const registry = new SchemaRegistryClient({ url: REGISTRY_URL });
  try {
    const latest = await new RecordDecoder(registry).latestShape(valueSubject(topic));
    if (!latest) throw new Error(`no value schema for ${topic}`);
    return latest.shape;
  } finally {
    registry.close();
  }
}

/** The workload's row `g` as the sink's decoder yields it, in the shape's column order. */
function workloadRow(shape: TableShape, g: number, nowMicros: bigint): RowValues {
  const x = g % 100_000;
  return shape.columns.map((c) => {
    switch (c.name) {
      case 'id':
        return BigInt(g);
      case 'a':
        return x;
      case 'b':
        return BigInt(g) * 7919n;
      case 'c':
        return createHash('md5').update(String(g)).digest('hex').padEnd(100, 'x');
      case 'd':
        return nowMicros;
      case 'e':
        return `${Math.floor(x / 100)}.${String(x % 100).padStart(2, '0')}`;
      case 'f':
        return g % 2 === 0;
      default:
        throw new Error(`driver ceiling: unexpected column ${c.name}`);
    }
  }) as RowValues;
}

export async function driverCeiling(driver: TargetDriver, shape: TableShape, n: number, txRows: number): Promise<{ rows: number; seconds: number; rowsPerSecond: number; txRows: number }> {
  await driver.connect();
  try {
    await driver.ensureOffsetsTable();
    const table = { name: shape.table, shape };
    await driver.createTable(table);
    const now = BigInt(Date.now()) * 1000n;
    const batches: RowValues[][] = [];
    for (let i = 0; i < n; i += txRows) {
      const rows: RowValues[] = [];
      for (let g = i + 1; g <= Math.min(n, i + txRows); g++) rows.push(workloadRow(shape, g, now));
      batches.push(rows);
    }
    const started = performance.now();
    let next = 0n;
    for (const rows of batches) {
      const expectedFrom = next;
      next += BigInt(rows.length);
      await driver.apply({
        table,
        steps: [{ kind: 'upsert', columns: shape.columns, rows }],
        offsets: [{ groupId: 'ceiling', topic: 'ceiling', partition: 0, nextOffset: next, sourceLsn: null, expectedFrom }],
      });
    }
    const seconds = (performance.now() - started) / 1000;
    return { rows: n, seconds, rowsPerSecond: n / seconds, txRows };
  } finally {
    await driver.close();
  }
}
