import { DecodeError, SchemaError } from '../errors.js';
import type { ColumnSpec, SchemaColumn, TableShape, ValueKind } from '../column.js';
import { SOURCE_SCHEMA } from './source-block.js';

/** Avro names allow [A-Za-z_][A-Za-z0-9_]*. Anything else is replaced by `_`. */
export function avroName(name: string): string {
  let n = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (n === '' || /^[0-9]/.test(n)) n = `_${n}`;
  return n;
}

/** Gives each column a unique Avro field name, deterministically in column order. */
export function assignFieldNames(columns: readonly ColumnSpec[]): SchemaColumn[] {
  const used = new Set<string>();
  return columns.map((c) => {
    const base = avroName(c.name);
    let field = base;
    for (let i = 2; used.has(field); i++) field = `${base}_${i}`;
    used.add(field);
    return { ...c, field };
  });
}

export function avroNamespace(topic: string): string {
  return topic.split('.').map(avroName).join('.');
}

type AvroSchema = string | Record<string, unknown> | AvroSchema[];

export function avroTypeOfKind(kind: ValueKind, spec: Pick<ColumnSpec, 'precision' | 'scale' | 'element'>): AvroSchema {
  switch (kind) {
    case 'boolean':
      return 'boolean';
    case 'int16':
    case 'int32':
      return 'int';
    case 'int64':
      return 'long';
    case 'float32':
      return 'float';
    case 'float64':
      return 'double';
    case 'decimal':
      return { type: 'bytes', logicalType: 'decimal', precision: spec.precision ?? 0, scale: spec.scale ?? 0 };
    case 'bytes':
      return 'bytes';
    case 'uuid':
      return { type: 'string', logicalType: 'uuid' };
    case 'date':
      return { type: 'int', logicalType: 'date' };
    case 'time':
      return { type: 'long', logicalType: 'time-micros' };
    case 'timestamp':
      return { type: 'long', logicalType: 'local-timestamp-micros' };
    case 'timestamptz':
      return { type: 'long', logicalType: 'timestamp-micros' };
    case 'array': {
      const element = spec.element ?? 'other';
      if (element === 'array') throw new SchemaError('arrays of arrays are not representable');
      // Element precision/scale are not tracked: decimal elements travel as text.
      const item = element === 'decimal' ? 'string' : avroTypeOfKind(element, {});
      return { type: 'array', items: ['null', item] };
    }
    case 'numeric':
    case 'text':
    case 'json':
    case 'timetz':
    case 'interval':
    case 'enum':
    case 'other':
      return 'string';
  }
}

function specProps(c: SchemaColumn): Record<string, unknown> {
  const { field: _field, ...spec } = c;
  return spec;
}

export interface ChangeSchemas {
  readonly key: string;
  readonly value: string;
  readonly columns: readonly SchemaColumn[];
}

/**
 * The key and value (envelope) schemas of a table's topic.
 * Value fields are all optional with default null, so adding a column is a
 * backward-compatible new version; the `pg` property keeps the real nullability.
 */
export function deriveChangeSchemas(topic: string, shape: TableShape): ChangeSchemas {
  const namespace = avroNamespace(topic);
  const keyCols = shape.columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  if (keyCols.length === 0) {
    throw new SchemaError(`table ${shape.schema}.${shape.table} has no primary key or replica identity index: walrelay cannot key its records`);
  }
  const fieldNames = new Set(shape.columns.map((c) => c.field));
  const fieldOf = (c: SchemaColumn, optional: boolean): Record<string, unknown> => {
    const t = avroTypeOfKind(c.kind, c);
    // A renamed column's former field names as Avro aliases: a reader of the new schema resolves
    // records written with the old one (the registry's compatibility check does the same).
    const aliases = [...new Set((c.formerNames ?? []).map(avroName))].filter((a) => !fieldNames.has(a));
    const named = aliases.length > 0 ? { name: c.field, aliases } : { name: c.field };
    return optional ? { ...named, type: ['null', t], default: null, pg: specProps(c) } : { ...named, type: t, pg: specProps(c) };
  };
  const key = {
    type: 'record',
    name: 'Key',
    namespace,
    fields: keyCols.map((c) => fieldOf(c, false)),
  };
  const value = {
    type: 'record',
    name: 'Envelope',
    namespace,
    'walrelay.table': { schema: shape.schema, table: shape.table },
    fields: [
      {
        name: 'before',
        type: ['null', { type: 'record', name: 'Value', fields: shape.columns.map((c) => fieldOf(c, true)) }],
        default: null,
      },
      { name: 'after', type: ['null', 'Value'], default: null },
      { name: 'source', type: SOURCE_SCHEMA },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: ['null', 'long'], default: null },
      { name: 'unchanged_toast', type: { type: 'array', items: 'string' }, default: [] },
    ],
  };
  return { key: JSON.stringify(key), value: JSON.stringify(value), columns: shape.columns };
}

interface RawField {
  name?: unknown;
  type?: unknown;
  pg?: unknown;
}

/** Reads the table shape back from a value (envelope) schema, as a sink does. */
export function tableShapeFromValueSchema(valueSchema: string): TableShape {
  let parsed: unknown;
  try {
    parsed = JSON.parse(valueSchema);
  } catch (cause) {
    throw new DecodeError('value schema is not JSON', { cause });
  }
  const env = parsed as { name?: unknown; fields?: RawField[]; 'walrelay.table'?: { schema?: unknown; table?: unknown } };
  const before = Array.isArray(env.fields) ? env.fields.find((f) => f.name === 'before') : undefined;
  const valueRecord = Array.isArray(before?.type)
    ? (before.type as unknown[]).find((t): t is { fields: RawField[] } => typeof t === 'object' && t !== null && 'fields' in t)
    : undefined;
  const table = env['walrelay.table'];
  if (!valueRecord || typeof table?.schema !== 'string' || typeof table.table !== 'string') {
    throw new DecodeError(`value schema ${String(env.name)} is not a walrelay change envelope`);
  }
  const columns = valueRecord.fields.map((f): SchemaColumn => {
    if (typeof f.name !== 'string' || typeof f.pg !== 'object' || f.pg === null) {
      throw new DecodeError(`field ${String(f.name)} of value schema ${String(env.name)} has no pg column description`);
    }
    const spec = f.pg as ColumnSpec;
    if (typeof spec.name !== 'string' || typeof spec.kind !== 'string') {
      throw new DecodeError(`field ${f.name} of value schema ${String(env.name)} has an invalid pg column description`);
    }
    return { ...spec, field: f.name };
  });
  return { schema: table.schema, table: table.table, columns };
}
