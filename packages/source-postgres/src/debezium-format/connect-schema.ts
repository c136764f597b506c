import { avroNamespace, SchemaError, type SchemaColumn, type TableShape } from '@walrelay/core';

/**
 * Avro schemas in the shape Debezium's PostgreSQL connector writes them (Kafka Connect's
 * AvroData of its Connect schemas), for `format: debezium`, with the connector's default
 * settings: decimal.handling.mode=precise, time.precision.mode=adaptive,
 * interval.handling.mode=numeric, binary.handling.mode=bytes.
 *
 * Key `<topic>.Key`, value `<topic>.Envelope` with `before`/`after` of `<topic>.Value`, the
 * `io.debezium.connector.postgresql.Source` block, `transaction` (`event.block`), `op`, `ts_ms`,
 * `ts_us`, `ts_ns`. A NOT NULL column is a required field, a nullable one `["null", T]` with
 * default null — as Debezium does (column defaults are not carried).
 */

type AvroSchema = string | Record<string, unknown>;

/** How a column's value is written (see connect-values.ts). */
export type ConnectEncoding =
  | 'same'
  | 'int16'
  | 'decimal'
  | 'variableScaleDecimal'
  | 'money'
  | 'date'
  | 'microTime'
  | 'milliTime'
  | 'microTimestamp'
  | 'milliTimestamp'
  | 'zonedTimestamp'
  | 'zonedTime'
  | 'microDuration'
  | 'bit1'
  | 'bits'
  | 'varbits';

export interface ConnectField {
  readonly column: SchemaColumn;
  readonly encoding: ConnectEncoding;
  /** For arrays: the encoding of each element. */
  readonly element: ConnectEncoding | null;
  /** The Avro base type Debezium's unchanged-TOAST placeholder must take here. */
  readonly placeholder: 'string' | 'bytes' | 'stringArray' | 'bytesArray' | null;
  /** Fractional digits of a ZonedTimestamp (the column's precision, default 6). */
  readonly fraction: number;
  /** bit(n): bytes to pad to. */
  readonly bitBytes: number;
}

function connect(type: string, name: string, parameters?: Record<string, string>): Record<string, unknown> {
  return { type, 'connect.version': 1, ...(parameters ? { 'connect.parameters': parameters } : {}), 'connect.name': name };
}

const VARIABLE_SCALE_DECIMAL = {
  type: 'record',
  name: 'VariableScaleDecimal',
  namespace: 'io.debezium.data',
  fields: [
    { name: 'scale', type: 'int' },
    { name: 'value', type: 'bytes' },
  ],
  'connect.doc': 'Variable scaled decimal',
  'connect.version': 1,
  'connect.name': 'io.debezium.data.VariableScaleDecimal',
};

interface Scalar {
  readonly schema: AvroSchema;
  readonly encoding: ConnectEncoding;
}

/** The Connect schema of one scalar PostgreSQL column (or array element) and how its value is written. */
function scalar(c: Pick<SchemaColumn, 'kind' | 'pgType' | 'typmod' | 'precision' | 'scale' | 'enumLabels' | 'name'>, named: { vsd: boolean }): Scalar {
  const timePrecision = c.precision ?? 6;
  switch (c.kind) {
    case 'boolean':
      return { schema: 'boolean', encoding: 'same' };
    case 'int16':
      return { schema: { type: 'int', 'connect.type': 'int16' }, encoding: 'int16' };
    case 'int32':
      return { schema: 'int', encoding: 'same' };
    case 'int64':
      return { schema: 'long', encoding: 'same' };
    case 'float32':
      return { schema: 'float', encoding: 'same' };
    case 'float64':
      return { schema: 'double', encoding: 'same' };
    case 'decimal': {
      const precision = c.precision ?? 0;
      const scale = c.scale ?? 0;
      return {
        schema: {
          type: 'bytes',
          scale,
          precision,
          'connect.version': 1,
          'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
          'connect.name': 'org.apache.kafka.connect.data.Decimal',
          logicalType: 'decimal',
        },
        encoding: 'decimal',
      };
    }
    case 'numeric': {
      // The record type is defined once per schema; later uses refer to it by name.
      const schema = named.vsd ? 'io.debezium.data.VariableScaleDecimal' : VARIABLE_SCALE_DECIMAL;
      named.vsd = true;
      return { schema, encoding: 'variableScaleDecimal' };
    }
    case 'text':
      return { schema: 'string', encoding: 'same' };
    case 'bytes':
      return { schema: 'bytes', encoding: 'same' };
    case 'uuid':
      return { schema: connect('string', 'io.debezium.data.Uuid'), encoding: 'same' };
    case 'json':
      return { schema: connect('string', 'io.debezium.data.Json'), encoding: 'same' };
    case 'date':
      return { schema: connect('int', 'io.debezium.time.Date'), encoding: 'date' };
    case 'time':
      return timePrecision <= 3
        ? { schema: connect('int', 'io.debezium.time.Time'), encoding: 'milliTime' }
        : { schema: connect('long', 'io.debezium.time.MicroTime'), encoding: 'microTime' };
    case 'timestamp':
      return timePrecision <= 3
        ? { schema: connect('long', 'io.debezium.time.Timestamp'), encoding: 'milliTimestamp' }
        : { schema: connect('long', 'io.debezium.time.MicroTimestamp'), encoding: 'microTimestamp' };
    case 'timestamptz':
      return { schema: connect('string', 'io.debezium.time.ZonedTimestamp'), encoding: 'zonedTimestamp' };
    case 'timetz':
      return { schema: connect('string', 'io.debezium.time.ZonedTime'), encoding: 'zonedTime' };
    case 'interval':
      return { schema: connect('long', 'io.debezium.time.MicroDuration'), encoding: 'microDuration' };
    case 'enum':
      return { schema: connect('string', 'io.debezium.data.Enum', { allowed: (c.enumLabels ?? []).join(',') }), encoding: 'same' };
    case 'array':
      throw new SchemaError(`column ${c.name}: arrays of arrays are not representable`);
    case 'other':
      switch (c.pgType) {
        case 'bit': {
          const n = c.typmod > 0 ? c.typmod : 1;
          if (n === 1) return { schema: 'boolean', encoding: 'bit1' };
          return { schema: connect('bytes', 'io.debezium.data.Bits', { length: String(n) }), encoding: 'bits' };
        }
        case 'varbit':
          return { schema: connect('bytes', 'io.debezium.data.Bits', { length: String(c.typmod > 0 ? c.typmod : 2_147_483_647) }), encoding: 'varbits' };
        case 'xml':
          return { schema: connect('string', 'io.debezium.data.Xml'), encoding: 'same' };
        case 'ltree':
          return { schema: connect('string', 'io.debezium.data.Ltree'), encoding: 'same' };
        case 'money':
          return {
            schema: { type: 'bytes', scale: 2, precision: 64, 'connect.version': 1, 'connect.parameters': { scale: '2' }, 'connect.name': 'org.apache.kafka.connect.data.Decimal', logicalType: 'decimal' },
            encoding: 'money',
          };
        default:
          return { schema: 'string', encoding: 'same' };
      }
  }
}

export interface DebeziumSchemas {
  readonly key: string;
  readonly value: string;
  readonly fields: readonly ConnectField[];
}

function baseOf(schema: AvroSchema): string {
  if (typeof schema === 'string') return schema === 'io.debezium.data.VariableScaleDecimal' ? 'record' : schema;
  return String(schema.type);
}

/** The key and value schemas of a table's topic in Debezium's format. */
export function deriveDebeziumSchemas(topic: string, shape: TableShape): DebeziumSchemas {
  const namespace = avroNamespace(topic);
  const keyCols = shape.columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  if (keyCols.length === 0) {
    throw new SchemaError(`table ${shape.schema}.${shape.table} has no primary key or replica identity index: walrelay cannot key its records`);
  }
  const fields: ConnectField[] = [];
  const named = { vsd: false };
  const valueFields = shape.columns.map((c) => {
    let schema: AvroSchema;
    let encoding: ConnectEncoding;
    let element: ConnectEncoding | null = null;
    let placeholder: ConnectField['placeholder'];
    if (c.kind === 'array') {
      const el = scalar({ name: c.name, kind: c.element ?? 'other', pgType: c.elementPgType ?? 'text', typmod: -1, ...(c.enumLabels ? { enumLabels: c.enumLabels } : {}) }, named);
      schema = { type: 'array', items: ['null', el.schema] };
      encoding = 'same';
      element = el.encoding;
      const b = baseOf(el.schema);
      placeholder = b === 'string' ? 'stringArray' : b === 'bytes' && el.encoding === 'same' ? 'bytesArray' : null;
    } else {
      const s = scalar(c, named);
      schema = s.schema;
      encoding = s.encoding;
      const b = baseOf(s.schema);
      placeholder = b === 'string' ? 'string' : b === 'bytes' && (encoding === 'same' || encoding === 'bits' || encoding === 'varbits') ? 'bytes' : null;
    }
    const bits = c.typmod > 0 ? c.typmod : 1;
    fields.push({ column: c, encoding, element, placeholder, fraction: c.precision ?? 6, bitBytes: Math.ceil(bits / 8) });
    return { c, schema };
  });
  // The key's fields repeat the value's types; a named type (VariableScaleDecimal) is defined in the key anew.
  const keyNamed = { vsd: false };
  const key = {
    type: 'record',
    name: 'Key',
    namespace,
    fields: keyCols.map((c) => {
      if (c.kind === 'array') throw new SchemaError(`key column ${c.name} of ${shape.schema}.${shape.table} is an array, which Debezium's format cannot key`);
      return { name: c.field, type: scalar(c, keyNamed).schema };
    }),
    'connect.name': `${namespace}.Key`,
  };
  const valueRecord = {
    type: 'record',
    name: 'Value',
    fields: valueFields.map(({ c, schema }) => (c.nullable && c.key === null ? { name: c.field, type: ['null', schema], default: null } : { name: c.field, type: schema })),
    'connect.name': `${namespace}.Value`,
  };
  const value = {
    type: 'record',
    name: 'Envelope',
    namespace,
    fields: [
      { name: 'before', type: ['null', valueRecord], default: null },
      { name: 'after', type: ['null', 'Value'], default: null },
      { name: 'source', type: DEBEZIUM_SOURCE_SCHEMA },
      { name: 'transaction', type: ['null', TRANSACTION_BLOCK], default: null },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: ['null', 'long'], default: null },
      { name: 'ts_us', type: ['null', 'long'], default: null },
      { name: 'ts_ns', type: ['null', 'long'], default: null },
    ],
    'connect.version': 2,
    'connect.name': `${namespace}.Envelope`,
  };
  return { key: JSON.stringify(key), value: JSON.stringify(value), fields };
}

/** Debezium 3.6's `io.debezium.connector.postgresql.Source`. */
export const DEBEZIUM_SOURCE_SCHEMA = {
  type: 'record',
  name: 'Source',
  namespace: 'io.debezium.connector.postgresql',
  fields: [
    { name: 'version', type: 'string' },
    { name: 'connector', type: 'string' },
    { name: 'name', type: 'string' },
    { name: 'ts_ms', type: 'long' },
    {
      name: 'snapshot',
      type: [
        {
          type: 'string',
          'connect.version': 1,
          'connect.parameters': { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
          'connect.default': 'false',
          'connect.name': 'io.debezium.data.Enum',
        },
        'null',
      ],
      default: 'false',
    },
    { name: 'db', type: 'string' },
    { name: 'sequence', type: ['null', 'string'], default: null },
    { name: 'ts_us', type: ['null', 'long'], default: null },
    { name: 'ts_ns', type: ['null', 'long'], default: null },
    { name: 'schema', type: 'string' },
    { name: 'table', type: 'string' },
    { name: 'txId', type: ['null', 'long'], default: null },
    { name: 'lsn', type: ['null', 'long'], default: null },
    { name: 'xmin', type: ['null', 'long'], default: null },
    { name: 'origin', type: ['null', 'string'], default: null },
    { name: 'origin_lsn', type: ['null', 'long'], default: null },
  ],
  'connect.version': 1,
  'connect.name': 'io.debezium.connector.postgresql.Source',
} as const;

const TRANSACTION_BLOCK = {
  type: 'record',
  name: 'block',
  namespace: 'event',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'total_order', type: 'long' },
    { name: 'data_collection_order', type: 'long' },
  ],
  'connect.version': 1,
  'connect.name': 'event.block',
};

/**
 * The field names of the row record (`before`'s Value) of a Debezium-format value schema, or
 * null when the text is not one. A source that compares a table's new columns with those its
 * topic already has (ADD COLUMN … DEFAULT detection) reads Debezium-format schemas with this.
 */
export function debeziumValueFieldNames(valueSchema: string): string[] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(valueSchema);
  } catch {
    return null;
  }
  const env = parsed as { fields?: { name?: unknown; type?: unknown }[] };
  const source = env.fields?.find((f) => f.name === 'source')?.type as { 'connect.name'?: unknown } | undefined;
  if (source?.['connect.name'] !== DEBEZIUM_SOURCE_SCHEMA['connect.name']) return null;
  const before = env.fields?.find((f) => f.name === 'before')?.type;
  const value = Array.isArray(before) ? (before.find((t) => typeof t === 'object' && t !== null) as { fields?: { name?: unknown }[] } | undefined) : undefined;
  return value?.fields ? value.fields.map((f) => String(f.name)) : null;
}
