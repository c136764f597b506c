import { avroType, decodeAvro, errorMessage, unframe, type SchemaRegistryClient } from '@walrelay/core';
import type avro from 'avsc';
import type { RecordDescriber } from './publisher.js';

function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? `0x${v.toString('hex')}` : v));
}

/**
 * Names a record by what it is: the table (from the envelope's `source` block) and the key
 * (decoded with its registered schema), e.g. `public.docs key {"id":7}`. Only used for
 * errors, so it decodes from the wire bytes rather than carrying names with every record.
 */
export function recordDescriber(registry: SchemaRegistryClient): RecordDescriber {
  const types = new Map<number, Promise<avro.Type>>();
  const typeOf = (id: number): Promise<avro.Type> => {
    let t = types.get(id);
    if (!t) types.set(id, (t = registry.schemaById(id).then((schema) => avroType(schema))));
    return t;
  };
  return async (topic, key, value) => {
    let table = `topic ${topic}`;
    if (value !== null) {
      try {
        const v = unframe(value);
        const envelope = decodeAvro(await typeOf(v.schemaId), v.payload) as { source?: { schema?: string; table?: string } };
        if (envelope.source?.schema !== undefined) table = `table ${envelope.source.schema}.${envelope.source.table} (topic ${topic})`;
      } catch {
        // keep the topic
      }
    }
    let keyText: string;
    try {
      const k = unframe(key);
      keyText = json(decodeAvro(await typeOf(k.schemaId), k.payload));
    } catch (e) {
      keyText = `(${key.length} bytes, not decodable: ${errorMessage(e)})`;
    }
    return `the record of ${table} with key ${keyText}`;
  };
}
