import { DecodeError, ValueError, type ChangeEnvelope, type Op, type SchemaColumn, type SourceBlock, type TableShape } from '@walrelay/core';
import { connectColumn, type ConnectColumn } from './connect-column.js';

/**
 * Records written by Debezium's PostgreSQL connector (Avro through a Confluent-compatible
 * registry), read as walrelay's own: the value schema gives the table shape, the key schema the
 * key columns, and each envelope becomes a walrelay ChangeEnvelope whose row images hold
 * walrelay's value representation. Debezium's unchanged-TOAST placeholder becomes a column named
 * in `unchanged_toast` (never written), exactly like walrelay's own records.
 */

/** Debezium's default `unavailable.value.placeholder`. */
export const DEBEZIUM_UNAVAILABLE_VALUE = '__debezium_unavailable_value';

interface RawField {
  readonly name?: unknown;
  readonly type?: unknown;
}

interface RawRecord {
  readonly type?: unknown;
  readonly name?: unknown;
  readonly namespace?: unknown;
  readonly fields?: readonly RawField[];
  readonly 'connect.name'?: unknown;
}

/** Whether a parsed value schema is a Debezium PostgreSQL change envelope. */
export function isDebeziumEnvelopeSchema(parsed: unknown): boolean {
  const env = parsed as RawRecord;
  if (typeof env !== 'object' || env === null || env.type !== 'record' || !Array.isArray(env.fields)) return false;
  const source = env.fields.find((f) => f.name === 'source');
  const op = env.fields.find((f) => f.name === 'op');
  const cn = (source?.type as RawRecord | undefined)?.['connect.name'];
  return op !== undefined && typeof cn === 'string' && cn.startsWith('io.debezium.connector.postgresql');
}

/** The non-null branch of an optional field type. */
function nonNull(type: unknown): { type: unknown; optional: boolean } {
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== 'null');
    if (rest.length !== 1) throw new DecodeError(`union ${JSON.stringify(type)} is not an optional type`);
    return { type: rest[0], optional: rest.length < type.length };
  }
  return { type, optional: false };
}

export interface DebeziumTable {
  readonly shape: TableShape;
  /** Converts a decoded Debezium value record (row image) into walrelay's, keyed by Avro field name. */
  row(image: Record<string, unknown> | null, where: string): { row: Record<string, unknown> | null; unavailable: string[] };
  /** Converts a decoded Debezium key record. */
  key(key: Record<string, unknown>, where: string): Record<string, unknown>;
}

/**
 * The table a Debezium value schema describes. `keyFields` are the key schema's field names in
 * key order (from `<topic>-key`); `schema`/`table` come from the records' `source` block.
 */
export function debeziumTable(valueSchema: string, keyFields: readonly string[], schema: string, table: string, placeholder = DEBEZIUM_UNAVAILABLE_VALUE): DebeziumTable {
  let parsed: RawRecord;
  try {
    parsed = JSON.parse(valueSchema) as RawRecord;
  } catch (cause) {
    throw new DecodeError('value schema is not JSON', { cause });
  }
  if (!isDebeziumEnvelopeSchema(parsed)) throw new DecodeError(`value schema ${String(parsed.name)} is not a Debezium PostgreSQL envelope`);
  const before = (parsed.fields ?? []).find((f) => f.name === 'before');
  const valueRecord = nonNull(before?.type).type as RawRecord;
  if (typeof valueRecord !== 'object' || !Array.isArray(valueRecord.fields)) throw new DecodeError(`value schema ${String(parsed.name)} has no row record in 'before'`);
  const columns: SchemaColumn[] = [];
  const converters = new Map<string, ConnectColumn>();
  for (const f of valueRecord.fields) {
    if (typeof f.name !== 'string') throw new DecodeError(`value schema ${String(parsed.name)} has a field without a name`);
    const { type, optional } = nonNull(f.type);
    const c = connectColumn(f.name, type as never);
    const keyPos = keyFields.indexOf(f.name);
    converters.set(f.name, c);
    columns.push({ ...c.spec, field: f.name, nullable: optional, key: keyPos >= 0 ? keyPos + 1 : null });
  }
  for (const k of keyFields) {
    if (!converters.has(k)) throw new DecodeError(`key field ${k} of ${schema}.${table} is not a column of its value schema`);
  }
  const placeholderBytes = Buffer.from(placeholder, 'utf8');
  const isPlaceholder = (v: unknown): boolean =>
    v === placeholder ||
    (Buffer.isBuffer(v) && v.equals(placeholderBytes)) ||
    (Array.isArray(v) && v.length === 1 && (v[0] === placeholder || (Buffer.isBuffer(v[0]) && v[0].equals(placeholderBytes))));
  const convertRecord = (image: Record<string, unknown>, where: string, unavailable: string[] | null): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [field, c] of converters) {
      const v = image[field];
      if (v === null || v === undefined) {
        out[field] = null;
      } else if (unavailable && isPlaceholder(v)) {
        // Debezium cannot tell a value equal to its placeholder from the placeholder: neither can we.
        unavailable.push(field);
        out[field] = null;
      } else {
        try {
          out[field] = c.convert(v, `${where}.${c.spec.name}`);
        } catch (e) {
          if (e instanceof ValueError) throw e;
          throw new ValueError(`${where}.${c.spec.name}: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    return out;
  };
  return {
    shape: { schema, table, columns },
    row(image, where) {
      if (image === null) return { row: null, unavailable: [] };
      const unavailable: string[] = [];
      return { row: convertRecord(image, where, unavailable), unavailable };
    },
    key(key, where) {
      const out: Record<string, unknown> = {};
      for (const k of keyFields) {
        const c = converters.get(k) as ConnectColumn;
        const v = key[k];
        out[k] = v === null || v === undefined ? null : c.convert(v, `${where}.${c.spec.name}`);
      }
      return out;
    },
  };
}

/** Field names of a key schema, in key order. */
export function keyFieldsOf(keySchema: string): string[] {
  let parsed: RawRecord;
  try {
    parsed = JSON.parse(keySchema) as RawRecord;
  } catch (cause) {
    throw new DecodeError('key schema is not JSON', { cause });
  }
  if (parsed.type !== 'record' || !Array.isArray(parsed.fields)) throw new DecodeError(`key schema ${String(parsed.name)} is not a record`);
  return parsed.fields.map((f) => String(f.name));
}

const SNAPSHOT_READ = new Set(['true', 'first', 'last', 'first_in_data_collection', 'last_in_data_collection']);

/** A decoded Debezium envelope → walrelay's (row images converted by `table`). */
export function debeziumEnvelope(raw: Record<string, unknown>, table: DebeziumTable): ChangeEnvelope {
  const op = raw.op;
  if (op !== 'c' && op !== 'u' && op !== 'd' && op !== 'r' && op !== 't') {
    throw new DecodeError(`Debezium record of ${table.shape.schema}.${table.shape.table} has op ${JSON.stringify(op)}, which walrelay does not apply`);
  }
  const s = (raw.source ?? {}) as Record<string, unknown>;
  const where = `${table.shape.schema}.${table.shape.table}`;
  const before = table.row((raw.before as Record<string, unknown> | null) ?? null, where);
  const after = table.row((raw.after as Record<string, unknown> | null) ?? null, where);
  const big = (v: unknown): bigint | null => (typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : null);
  const snapshot = typeof s.snapshot === 'string' ? (SNAPSHOT_READ.has(s.snapshot) ? 'true' : s.snapshot) : null;
  const source: SourceBlock = {
    version: String(s.version ?? ''),
    connector: String(s.connector ?? 'postgresql'),
    name: String(s.name ?? ''),
    ts_ms: big(s.ts_ms) ?? 0n,
    ts_us: big(s.ts_us),
    snapshot,
    db: String(s.db ?? ''),
    sequence: typeof s.sequence === 'string' ? s.sequence : null,
    schema: String(s.schema ?? table.shape.schema),
    table: String(s.table ?? table.shape.table),
    txId: big(s.txId),
    lsn: big(s.lsn),
    commit_lsn: null,
    tx_seq: null,
    xmin: big(s.xmin),
  };
  return { before: before.row, after: after.row, source, op: op as Op, ts_ms: big(raw.ts_ms), unchanged_toast: after.unavailable };
}
