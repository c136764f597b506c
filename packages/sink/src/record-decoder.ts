import {
  avroType,
  decodeAvroAt,
  DecodeError,
  PAYLOAD_START,
  schemaIdOf,
  TRUNCATE_HEADER,
  tableShapeFromValueSchema,
  type SchemaRegistryClient,
  type TableShape,
} from '@walrelay/core';
import type avro from 'avsc';
import { envelopeReader, type AppliedEnvelope, type EnvelopeReader } from './envelope-reader.js';
import { debeziumEnvelope, debeziumTable, isDebeziumEnvelopeSchema, keyFieldsOf, DEBEZIUM_UNAVAILABLE_VALUE, type DebeziumTable } from './debezium/debezium-records.js';

/** Re-exported from the wire contract (core's wire/truncate-marker.ts). */
export { TRUNCATE_HEADER };

/** A Kafka record decoded into what the runtime needs. */
export type DecodedRecord =
  | { readonly kind: 'change'; readonly schemaId: number; readonly shape: TableShape; readonly key: Record<string, unknown>; readonly envelope: AppliedEnvelope }
  /**
   * `origin: 'debezium'`: Debezium's one truncate record (no key, one partition), not walrelay's
   * marker written to every partition; the runtime applies it only on a one-partition topic.
   */
  | { readonly kind: 'truncate'; readonly schemaId: number; readonly shape: TableShape; readonly envelope: AppliedEnvelope; readonly origin?: 'debezium' }
  /** A null value: the key's row is gone (the change record before it may have been compacted away). */
  | { readonly kind: 'tombstone'; readonly key: Record<string, unknown> | null };

/** Who wrote a topic's records: walrelay-source, or Debezium's PostgreSQL connector. */
export type RecordFormat = 'walrelay' | 'debezium';

interface SchemaEntry {
  readonly type: avro.Type;
  /** walrelay's value schemas carry the shape; Debezium's get it per table (see #debezium). */
  readonly shape: TableShape | null;
  readonly format: RecordFormat | 'key';
  readonly text: string;
  /** walrelay's value schemas: the reader that skips the source fields a sink does not read. */
  readonly reader?: EnvelopeReader;
  /** A key schema's field names in key order, parsed once per schema id (Debezium's records need them). */
  readonly keyFields?: string[];
}

/** What the decoder needs of a registry client. */
export type SchemaLookup = Pick<SchemaRegistryClient, 'schemaById' | 'latest'>;

export interface RecordDecoderOptions {
  /** Debezium's `unavailable.value.placeholder` of the connector that wrote the topics. */
  readonly debeziumUnavailableValue?: string;
}

/**
 * Decodes Confluent-framed Avro keys and values through the registry. Schemas are
 * fetched once per id and their avsc types and table shapes cached. The format of each
 * record is told by its value schema: walrelay's carry `walrelay.table` and a `pg` column
 * description per field; Debezium's PostgreSQL envelopes are read through the Connect types
 * (packages/sink/src/debezium/), so both land in a target the same way.
 */
export class RecordDecoder {
  readonly #registry: SchemaLookup;
  readonly #schemas = new Map<number, Promise<SchemaEntry>>();
  /** The schemas fetched already, for decodeKnown. */
  readonly #resolved = new Map<number, SchemaEntry>();
  readonly #debezium = new Map<string, DebeziumTable>();
  /** Key fields of the last key schema seen per Debezium value schema (a truncate has no key). */
  readonly #keyFieldsByValue = new Map<number, string[]>();
  readonly #placeholder: string;

  constructor(registry: SchemaLookup, options: RecordDecoderOptions = {}) {
    this.#registry = registry;
    this.#placeholder = options.debeziumUnavailableValue ?? DEBEZIUM_UNAVAILABLE_VALUE;
  }

  /**
   * The same as `decode` without waiting, when everything it needs is known already (the
   * schemas of a walrelay record were fetched before): undefined otherwise (then call decode).
   * The hot path of a replay: no promise per record.
   */
  decodeKnown(key: Buffer | null, value: Buffer | null, headers: Record<string, unknown> | undefined): DecodedRecord | undefined {
    if (value === null || value.length === 0) return undefined;
    const valueId = schemaIdOf(value);
    const valueEntry = this.#resolved.get(valueId);
    if (!valueEntry || valueEntry.format !== 'walrelay') return undefined;
    // Decoded in place, after the framing (no view of the payload per record).
    const envelope = envelopeAt(valueId, valueEntry, value) as unknown as AppliedEnvelope;
    // A truncate marker's key is not Avro: it is never decoded.
    const truncate = walrelayTruncate(valueId, valueEntry, envelope, headers);
    if (truncate) return truncate;
    if (!key) throw new DecodeError(`change record without a key (op ${envelope.op})`);
    const keyId = schemaIdOf(key);
    const keyEntry = this.#resolved.get(keyId);
    if (!keyEntry) return undefined;
    return { kind: 'change', schemaId: valueId, shape: valueEntry.shape as TableShape, key: keyAt(keyId, keyEntry, key), envelope };
  }

  /** `topic` is needed only for a Debezium truncate (no key) of a table not seen before. */
  async decode(key: Buffer | null, value: Buffer | null, headers: Record<string, unknown> | undefined, topic?: string): Promise<DecodedRecord> {
    if (value === null || value.length === 0) return { kind: 'tombstone', key: key && key.length > 0 ? (await this.#key(key)).value : null };
    const valueId = schemaIdOf(value);
    const valueEntry = await this.#schema(valueId, true);
    const raw = envelopeAt(valueId, valueEntry, value);
    if (valueEntry.format === 'debezium') return this.#decodeDebezium(valueId, valueEntry, raw, key, topic);
    const envelope = raw as unknown as AppliedEnvelope;
    const truncate = walrelayTruncate(valueId, valueEntry, envelope, headers);
    if (truncate) return truncate;
    if (!key) throw new DecodeError(`change record without a key (op ${envelope.op})`);
    return { kind: 'change', schemaId: valueId, shape: valueEntry.shape as TableShape, key: (await this.#key(key)).value, envelope };
  }

  /**
   * The table shape of the newest value schema of a topic's subject, or null when the
   * registry has none (a topic read from its tombstones alone).
   */
  async latestShape(subject: string): Promise<{ schemaId: number; shape: TableShape } | null> {
    const latest = await this.#registry.latest(subject);
    if (!latest) return null;
    const parsed = JSON.parse(latest.schema) as unknown;
    if (!isDebeziumEnvelopeSchema(parsed)) return { schemaId: latest.id, shape: tableShapeFromValueSchema(latest.schema) };
    const keySubject = subject.replace(/-value$/, '-key');
    const key = await this.#registry.latest(keySubject);
    if (!key) throw new DecodeError(`Debezium topic of subject ${subject} has no key schema under ${keySubject}: walrelay needs the key to apply it`);
    // Schema and table from the namespace `<topic.prefix>.<schema>.<table>` (only for a topic read from tombstones alone).
    const ns = String((parsed as { namespace?: unknown }).namespace ?? '').split('.');
    const table = this.#debeziumTable(latest.id, latest.schema, keyFieldsOf(key.schema), ns.at(-2) ?? '', ns.at(-1) ?? '');
    return { schemaId: latest.id, shape: table.shape };
  }

  async #decodeDebezium(schemaId: number, entry: SchemaEntry, raw: Record<string, unknown>, key: Buffer | null, topic: string | undefined): Promise<DecodedRecord> {
    const src = (raw.source ?? {}) as { schema?: unknown; table?: unknown };
    const schema = String(src.schema ?? '');
    const tableName = String(src.table ?? '');
    let keyFields: string[] | undefined;
    let keyValue: Record<string, unknown> | null = null;
    if (key && key.length > 0) {
      const k = await this.#key(key);
      keyFields = k.fields;
      keyValue = k.value;
      this.#keyFieldsByValue.set(schemaId, keyFields);
    } else {
      keyFields = this.#keyFieldsByValue.get(schemaId);
      if (!keyFields && topic) {
        const latestKey = await this.#registry.latest(`${topic}-key`);
        if (latestKey) keyFields = keyFieldsOf(latestKey.schema);
      }
    }
    if (!keyFields) {
      throw new DecodeError(`Debezium record of ${schema}.${tableName} (op ${String(raw.op)}) has no key and no key schema is known: walrelay applies keyed tables only (give the table a primary key or message.key.columns in Debezium)`);
    }
    const table = this.#debeziumTable(schemaId, entry.text, keyFields, schema, tableName);
    const envelope = debeziumEnvelope(raw, table);
    if (envelope.op === 't') return { kind: 'truncate', schemaId, shape: table.shape, envelope, origin: 'debezium' };
    if (!keyValue) throw new DecodeError(`Debezium change record of ${schema}.${tableName} without a key (op ${envelope.op})`);
    return { kind: 'change', schemaId, shape: table.shape, key: table.key(keyValue, `${schema}.${tableName} key`), envelope };
  }

  #debeziumTable(schemaId: number, text: string, keyFields: readonly string[], schema: string, table: string): DebeziumTable {
    const id = `${schemaId}\u0000${keyFields.join('\u0000')}\u0000${schema}\u0000${table}`;
    let t = this.#debezium.get(id);
    if (!t) {
      t = debeziumTable(text, keyFields, schema, table, this.#placeholder);
      if (this.#debezium.size > 10_000) this.#debezium.clear();
      this.#debezium.set(id, t);
    }
    return t;
  }

  async #key(key: Buffer): Promise<{ value: Record<string, unknown>; fields: string[] }> {
    const keyId = schemaIdOf(key);
    const entry = await this.#schema(keyId, false);
    return { value: keyAt(keyId, entry, key), fields: entry.keyFields ?? [] };
  }

  #schema(id: number, isValue: boolean): Promise<SchemaEntry> {
    let entry = this.#schemas.get(id);
    if (!entry) {
      entry = this.#registry.schemaById(id).then((text): SchemaEntry => {
        const type = avroType(text);
        if (!isValue) return { type, shape: null, format: 'key', text, ...keyFieldsIfRecord(text) };
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (cause) {
          throw new DecodeError(`value schema ${id} is not JSON`, { cause });
        }
        if (isDebeziumEnvelopeSchema(parsed)) return { type, shape: null, format: 'debezium', text };
        const reader = envelopeReader(parsed as { fields?: unknown }, type);
        return { type, shape: tableShapeFromValueSchema(text), format: 'walrelay', text, ...(reader ? { reader } : {}) };
      });
      this.#schemas.set(id, entry);
      entry.then(
        (resolved) => this.#resolved.set(id, resolved),
        () => this.#schemas.delete(id),
      );
    }
    return entry;
  }
}

/** A framed value decoded with its schema, where it lies (no view of the payload): it must be a change envelope. */
function envelopeAt(schemaId: number, entry: SchemaEntry, framed: Buffer): Record<string, unknown> {
  const raw = (entry.reader ? decodeAvroAt(entry.reader.type, framed, PAYLOAD_START, entry.reader.resolver) : decodeAvroAt(entry.type, framed, PAYLOAD_START)) as Record<string, unknown>;
  if (typeof raw?.op !== 'string') throw new DecodeError(`record with schema id ${schemaId} is not a change envelope`);
  return raw;
}

/** A walrelay truncate (op `t`, or a marker's header), else undefined. */
function walrelayTruncate(schemaId: number, entry: SchemaEntry, envelope: AppliedEnvelope, headers: Record<string, unknown> | undefined): DecodedRecord | undefined {
  if (envelope.op !== 't' && (!headers || headers[TRUNCATE_HEADER] === undefined)) return undefined;
  return { kind: 'truncate', schemaId, shape: entry.shape as TableShape, envelope };
}

/** A framed key decoded with its schema, where it lies: it must be a record. */
function keyAt(schemaId: number, entry: SchemaEntry, framed: Buffer): Record<string, unknown> {
  const keyValue = decodeAvroAt(entry.type, framed, PAYLOAD_START);
  if (typeof keyValue !== 'object' || keyValue === null) throw new DecodeError(`key with schema id ${schemaId} is not a record`);
  return keyValue as Record<string, unknown>;
}

/** The field names of a record key schema (none for another kind: the decoded key is refused then). */
function keyFieldsIfRecord(text: string): { keyFields?: string[] } {
  try {
    return { keyFields: keyFieldsOf(text) };
  } catch {
    return {};
  }
}
