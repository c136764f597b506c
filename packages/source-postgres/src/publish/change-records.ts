import {
  encodeFramed,
  partitionForKey,
  TRUNCATE_HEADER,
  TRUNCATE_ID_HEADER,
  TRUNCATE_KEY,
  truncateId,
  type Op,
  type SchemaColumn,
  type SourceBlock,
} from '@walrelay/core';
import type avro from 'avsc';
import type { OutRecord } from './publisher.js';
import { debeziumChangeRecords, debeziumTruncateRecords, type DebeziumTableFormat } from '../debezium-format/debezium-records.js';

/** Everything needed to turn a row change of one table into Kafka records. */
export interface TableTopic {
  readonly schema: string;
  readonly table: string;
  readonly topic: string;
  readonly partitions: number;
  readonly columns: readonly SchemaColumn[];
  /** Indexes into `columns` of the key columns, in key order. */
  readonly keyIndexes: readonly number[];
  readonly keySchemaId: number;
  readonly valueSchemaId: number;
  readonly keyType: avro.Type;
  readonly valueType: avro.Type;
  /** Set when the source writes Debezium's format (`format: debezium`). */
  readonly debezium?: DebeziumTableFormat | undefined;
}

/** A row image keyed by Avro field name. */
export type RowImage = Record<string, unknown>;

/** The truncate marker's key and headers are part of the wire contract (core's wire/truncate-marker.ts). */
export { TRUNCATE_KEY, TRUNCATE_HEADER, TRUNCATE_ID_HEADER };

export function keyImage(t: TableTopic, row: RowImage): RowImage {
  const key: RowImage = {};
  for (const i of t.keyIndexes) {
    const c = t.columns[i] as SchemaColumn;
    key[c.field] = row[c.field];
  }
  return key;
}

export interface ChangeInput {
  readonly op: Op;
  readonly before: RowImage | null;
  readonly after: RowImage | null;
  readonly unchanged: readonly string[];
  readonly source: SourceBlock;
}

let lastNow = 0;
let lastNowBig = 0n;

/** `BigInt(Date.now())`, made once per millisecond rather than once per change. */
function nowMs(): bigint {
  const now = Date.now();
  if (now !== lastNow) {
    lastNow = now;
    lastNowBig = BigInt(now);
  }
  return lastNowBig;
}

/** The Kafka record of one change (and the tombstone after a delete when asked). */
export function changeRecords(t: TableTopic, change: ChangeInput, tombstone: boolean): OutRecord[] {
  if (t.debezium) return debeziumChangeRecords(t, t.debezium, change, tombstone);
  const keyRow = keyImage(t, (change.op === 'd' ? change.before : change.after) as RowImage);
  const key = encodeFramed(t.keyType, t.keySchemaId, keyRow);
  // The partition hashes the key's Avro payload (after the 5-byte framing).
  const partition = partitionForKey(key.subarray(5), t.partitions);
  const value = encodeFramed(t.valueType, t.valueSchemaId, {
    before: change.before,
    after: change.after,
    source: change.source,
    op: change.op,
    ts_ms: nowMs(),
    unchanged_toast: change.unchanged,
  });
  const out: OutRecord[] = [{ topic: t.topic, partition, key, value }];
  if (change.op === 'd' && tombstone) out.push({ topic: t.topic, partition, key, value: null });
  return out;
}

/**
 * A truncate becomes one marker per partition (same non-Avro key in each), so a
 * sink sees it in order with every partition's changes. The value is a normal
 * envelope with op `t`.
 */
export function truncateRecords(t: TableTopic, source: SourceBlock): OutRecord[] {
  if (t.debezium) return debeziumTruncateRecords(t, source);
  const value = encodeFramed(t.valueType, t.valueSchemaId, {
    before: null,
    after: null,
    source,
    op: 't',
    ts_ms: BigInt(Date.now()),
    unchanged_toast: [],
  });
  const out: OutRecord[] = [];
  for (let p = 0; p < t.partitions; p++) {
    out.push({
      topic: t.topic,
      partition: p,
      key: TRUNCATE_KEY,
      value,
      headers: { [TRUNCATE_HEADER]: String(t.partitions), [TRUNCATE_ID_HEADER]: truncateId(source.commit_lsn ?? source.lsn ?? 0n, source.tx_seq ?? 0n) },
    });
  }
  return out;
}
