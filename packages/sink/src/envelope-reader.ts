import { avroType, type ChangeEnvelope, type SourceBlock } from '@walrelay/core';
import type avro from 'avsc';

/**
 * The fields of an envelope's `source` block a sink reads: commit time and snapshot flag
 * (latency metrics, the end-to-end clock), schema and table (the clock's labels), and the
 * LSNs stored beside the offsets and ordering truncates. The others (version, connector,
 * name, db, sequence, ts_us, txId, tx_seq, xmin) are skipped while decoding: no strings or
 * bigints are built for them (≈40% of a narrow record's decoding time).
 */
export const APPLIED_SOURCE_FIELDS = ['ts_ms', 'snapshot', 'schema', 'table', 'lsn', 'commit_lsn'] as const;

/** The source block as a sink decodes it (a field its writer's schema lacks is undefined). */
export type AppliedSource = Pick<SourceBlock, (typeof APPLIED_SOURCE_FIELDS)[number]>;

/** A change envelope as a sink decodes it. */
export type AppliedEnvelope = Omit<ChangeEnvelope, 'source'> & { readonly source: AppliedSource };

/** A reader type and its resolver from the writer's type: decode with `reader.fromBuffer(bytes, resolver)`. */
export interface EnvelopeReader {
  readonly type: avro.Type;
  readonly resolver: ReturnType<avro.Type['createResolver']>;
}

interface FieldSchema {
  readonly name?: unknown;
  readonly type?: unknown;
}

/**
 * The reader of a walrelay envelope schema (parsed JSON, `writer` built from it) that skips the source fields a sink does not read,
 * or undefined when the schema has no inline `source` record to project (then it is decoded
 * whole). Only the fields the writer has are kept, so resolving never needs a default.
 */
export function envelopeReader(parsed: { readonly fields?: unknown }, writer: avro.Type): EnvelopeReader | undefined {
  if (!Array.isArray(parsed.fields)) return undefined;
  let projected = false;
  const fields = (parsed.fields as FieldSchema[]).map((f) => {
    const t = f.type as { type?: unknown; fields?: unknown } | undefined;
    if (f.name !== 'source' || typeof t !== 'object' || t === null || t.type !== 'record' || !Array.isArray(t.fields)) return f;
    const keep = (t.fields as FieldSchema[]).filter((sf) => (APPLIED_SOURCE_FIELDS as readonly unknown[]).includes(sf.name));
    if (keep.length === t.fields.length) return f;
    projected = true;
    return { ...f, type: { ...t, fields: keep } };
  });
  if (!projected) return undefined;
  try {
    const type = avroType({ ...parsed, fields });
    return { type, resolver: type.createResolver(writer) };
  } catch {
    // Projection is only a shortcut: a schema avsc cannot resolve this way is decoded whole, exactly.
    return undefined;
  }
}
