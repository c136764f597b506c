import {
  avroType,
  decodeAvro,
  DecodeError,
  tableShapeFromValueSchema,
  unframe,
  type ChangeEnvelope,
  type SchemaRegistryClient,
  type TableShape,
} from '@walrelay/core';
import type avro from 'avsc';

export const TRUNCATE_HEADER = 'walrelay.truncate';

/** A Kafka record decoded into what the runtime needs. */
export type DecodedRecord =
  | { readonly kind: 'change'; readonly schemaId: number; readonly shape: TableShape; readonly key: Record<string, unknown>; readonly envelope: ChangeEnvelope }
  | { readonly kind: 'truncate'; readonly schemaId: number; readonly shape: TableShape; readonly envelope: ChangeEnvelope }
  /** A null value: the key's row is gone (the change record before it may have been compacted away). */
  | { readonly kind: 'tombstone'; readonly key: Record<string, unknown> | null };

interface SchemaEntry {
  readonly type: avro.Type;
  readonly shape: TableShape | null;
}

/**
 * Decodes Confluent-framed Avro keys and values through the registry. Schemas are
 * fetched once per id and their avsc types and table shapes cached.
 */
/** What the decoder needs of a registry client. */
export type SchemaLookup = Pick<SchemaRegistryClient, 'schemaById' | 'latest'>;

export class RecordDecoder {
  readonly #registry: SchemaLookup;
  readonly #schemas = new Map<number, Promise<SchemaEntry>>();

  constructor(registry: SchemaLookup) {
    this.#registry = registry;
  }

  async decode(key: Buffer | null, value: Buffer | null, headers: Record<string, unknown> | undefined): Promise<DecodedRecord> {
    if (value === null || value.length === 0) return { kind: 'tombstone', key: key && key.length > 0 ? await this.#key(key) : null };
    const v = unframe(value);
    const valueEntry = await this.#schema(v.schemaId, true);
    const envelope = decodeAvro(valueEntry.type, v.payload) as ChangeEnvelope;
    if (typeof envelope?.op !== 'string') throw new DecodeError(`record with schema id ${v.schemaId} is not a change envelope`);
    const shape = valueEntry.shape as TableShape;
    if (envelope.op === 't' || (headers && headers[TRUNCATE_HEADER] !== undefined)) {
      return { kind: 'truncate', schemaId: v.schemaId, shape, envelope };
    }
    if (!key) throw new DecodeError(`change record without a key (op ${envelope.op})`);
    return { kind: 'change', schemaId: v.schemaId, shape, key: await this.#key(key), envelope };
  }

  /**
   * The table shape of the newest value schema of a topic's subject, or null when the
   * registry has none (a topic read from its tombstones alone).
   */
  async latestShape(subject: string): Promise<{ schemaId: number; shape: TableShape } | null> {
    const latest = await this.#registry.latest(subject);
    if (!latest) return null;
    return { schemaId: latest.id, shape: tableShapeFromValueSchema(latest.schema) };
  }

  async #key(key: Buffer): Promise<Record<string, unknown>> {
    const k = unframe(key);
    const keyEntry = await this.#schema(k.schemaId, false);
    const keyValue = decodeAvro(keyEntry.type, k.payload) as Record<string, unknown>;
    if (typeof keyValue !== 'object' || keyValue === null) throw new DecodeError(`key with schema id ${k.schemaId} is not a record`);
    return keyValue;
  }

  #schema(id: number, isValue: boolean): Promise<SchemaEntry> {
    let entry = this.#schemas.get(id);
    if (!entry) {
      entry = this.#registry.schemaById(id).then((text) => ({
        type: avroType(text),
        shape: isValue ? tableShapeFromValueSchema(text) : null,
      }));
      this.#schemas.set(id, entry);
      entry.catch(() => this.#schemas.delete(id));
    }
    return entry;
  }
}
