import { encodeAvro, frame, partitionForKey, TRUNCATE_HEADER, TRUNCATE_ID_HEADER, truncateId, ValueError, type SchemaColumn, type SourceBlock } from '@walrelay/core';
import type { OutRecord } from '../publish/publisher.js';
import type { ChangeInput, RowImage, TableTopic } from '../publish/change-records.js';
import type { ConnectField } from './connect-schema.js';
import { connectValue } from './connect-values.js';

/** Debezium's default `unavailable.value.placeholder`. */
export const DEBEZIUM_UNAVAILABLE_VALUE = '__debezium_unavailable_value';
const PLACEHOLDER_BYTES = Buffer.from(DEBEZIUM_UNAVAILABLE_VALUE, 'utf8');

/** What a table needs to be written in Debezium's format (see connect-schema.ts). */
export interface DebeziumTableFormat {
  readonly fields: readonly ConnectField[];
}

function where(t: TableTopic, c: SchemaColumn): string {
  return `column "${c.name}" of ${t.schema}.${t.table}`;
}

function image(t: TableTopic, fmt: DebeziumTableFormat, row: RowImage | null, unchanged: ReadonlySet<string>): RowImage | null {
  if (row === null) return null;
  const out: RowImage = {};
  for (const f of fmt.fields) {
    const c = f.column;
    if (unchanged.has(c.field)) {
      switch (f.placeholder) {
        case 'string':
          out[c.field] = DEBEZIUM_UNAVAILABLE_VALUE;
          break;
        case 'bytes':
          out[c.field] = PLACEHOLDER_BYTES;
          break;
        case 'stringArray':
          out[c.field] = [DEBEZIUM_UNAVAILABLE_VALUE];
          break;
        case 'bytesArray':
          out[c.field] = [PLACEHOLDER_BYTES];
          break;
        case null:
          throw new ValueError(
            `${where(t, c)}: an unchanged TOAST value of a ${c.pgType} column has no Debezium placeholder (it is neither text nor bytes): set REPLICA IDENTITY FULL on the table so the value is sent, or use format walrelay`,
            { details: { table: `${t.schema}.${t.table}`, column: c.name } },
          );
      }
      continue;
    }
    const v = row[c.field];
    if (v === null || v === undefined) {
      out[c.field] = null;
    } else if (f.element !== null) {
      const el = f.element;
      out[c.field] = (v as unknown[]).map((x) => (x === null ? null : connectValue(el, x, f, where(t, c))));
    } else {
      out[c.field] = connectValue(f.encoding, v, f, where(t, c));
    }
  }
  return out;
}

function key(t: TableTopic, fmt: DebeziumTableFormat, row: RowImage): RowImage {
  const out: RowImage = {};
  for (const i of t.keyIndexes) {
    const f = fmt.fields[i] as ConnectField;
    out[f.column.field] = connectValue(f.encoding, row[f.column.field], f, where(t, f.column));
  }
  return out;
}

function sourceBlock(s: SourceBlock): Record<string, unknown> {
  return {
    version: s.version,
    connector: s.connector,
    name: s.name,
    ts_ms: s.ts_ms,
    snapshot: s.snapshot,
    db: s.db,
    sequence: s.sequence,
    ts_us: s.ts_us,
    ts_ns: s.ts_us === null ? null : s.ts_us * 1000n,
    schema: s.schema,
    table: s.table,
    txId: s.txId,
    lsn: s.lsn,
    xmin: s.xmin,
    origin: null,
    origin_lsn: null,
  };
}

function envelope(t: TableTopic, fields: Record<string, unknown>, source: SourceBlock): Buffer {
  const nowUs = BigInt(Math.round(performance.timeOrigin * 1000 + performance.now() * 1000));
  return frame(
    t.valueSchemaId,
    encodeAvro(t.valueType, { ...fields, source: sourceBlock(source), transaction: null, ts_ms: nowUs / 1000n, ts_us: nowUs, ts_ns: nowUs * 1000n }),
  );
}

/** The Kafka records of one change in Debezium's format (and the tombstone after a delete when asked). */
export function debeziumChangeRecords(t: TableTopic, fmt: DebeziumTableFormat, change: ChangeInput, tombstone: boolean): OutRecord[] {
  const keyRow = key(t, fmt, (change.op === 'd' ? change.before : change.after) as RowImage);
  const keyPayload = encodeAvro(t.keyType, keyRow);
  const framedKey = frame(t.keySchemaId, keyPayload);
  const partition = partitionForKey(keyPayload, t.partitions);
  const unchanged = new Set(change.unchanged);
  const value = envelope(t, { before: image(t, fmt, change.before, new Set()), after: image(t, fmt, change.after, unchanged), op: change.op }, change.source);
  const out: OutRecord[] = [{ topic: t.topic, partition, key: framedKey, value }];
  if (change.op === 'd' && tombstone) out.push({ topic: t.topic, partition, key: framedKey, value: null });
  return out;
}

/**
 * A truncate as Debezium writes it — op `t`, null key, no before/after — once on every partition,
 * each copy also carrying walrelay's truncate headers so walrelay's sinks apply it as a barrier
 * across partitions (a Debezium consumer sees one truncate per partition; see README).
 */
export function debeziumTruncateRecords(t: TableTopic, source: SourceBlock): OutRecord[] {
  const value = envelope(t, { before: null, after: null, op: 't' }, source);
  const headers = { [TRUNCATE_HEADER]: String(t.partitions), [TRUNCATE_ID_HEADER]: truncateId(source.commit_lsn ?? source.lsn ?? 0n, source.tx_seq ?? 0n) };
  const out: OutRecord[] = [];
  for (let p = 0; p < t.partitions; p++) out.push({ topic: t.topic, partition: p, key: null, value, headers });
  return out;
}
