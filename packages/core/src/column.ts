/**
 * What walrelay knows about a column. The source derives it from PostgreSQL's catalog;
 * it travels as the `pg` property of each Avro field so a sink can create a faithful
 * column without asking PostgreSQL.
 */
export type ValueKind =
  | 'boolean'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float32'
  | 'float64'
  | 'decimal' // numeric(p,s): JS string, Avro bytes/decimal
  | 'numeric' // numeric without typmod: JS string, lossless
  | 'text'
  | 'bytes'
  | 'uuid'
  | 'json'
  | 'date' // days since 1970-01-01 (number)
  | 'time' // microseconds since midnight (bigint)
  | 'timetz' // ISO text with offset
  | 'timestamp' // microseconds since epoch, no zone (bigint)
  | 'timestamptz' // microseconds since epoch, UTC (bigint)
  | 'interval' // ISO 8601 duration text
  | 'enum' // label text
  | 'array' // JS array of element values (null allowed)
  | 'other'; // text as PostgreSQL prints it; pgType names the type

export interface ColumnSpec {
  /** Column name exactly as in PostgreSQL. */
  readonly name: string;
  readonly kind: ValueKind;
  /** PostgreSQL type name (for a domain: the domain's base type; `domain` names the domain). */
  readonly pgType: string;
  readonly typmod: number;
  readonly nullable: boolean;
  /** 1-based position in the key (primary key or replica identity index), or null. */
  readonly key: number | null;
  /** varchar(n)/char(n) length. */
  readonly length?: number;
  /** numeric(p,s), or fractional-second precision of time/timestamp types. */
  readonly precision?: number;
  readonly scale?: number;
  /** For arrays: the element kind and PostgreSQL element type. */
  readonly element?: ValueKind;
  readonly elementPgType?: string;
  readonly domain?: string;
  readonly enumLabels?: readonly string[];
  /**
   * pg_attribute.attnum: stays with the column through RENAME COLUMN and ALTER COLUMN TYPE
   * (absent in schemas written before walrelay carried it; those match columns by name).
   */
  readonly attnum?: number;
  /** Earlier names of this column, oldest first (RENAME COLUMN), so a sink can rename its target column. */
  readonly formerNames?: readonly string[];
}

/** A column of a table as carried in a schema: the spec plus the Avro field name. */
export interface SchemaColumn extends ColumnSpec {
  readonly field: string;
}

/** The shape of one captured table. Columns in table order. */
export interface TableShape {
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly SchemaColumn[];
}

export function keyColumns(shape: TableShape): SchemaColumn[] {
  return shape.columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
}

/** Maps a PostgreSQL base type name and typmod to walrelay's value kind and size facts. */
export function kindOfPgType(
  pgType: string,
  typmod: number,
  typeCategory?: string,
): Pick<ColumnSpec, 'kind' | 'length' | 'precision' | 'scale'> {
  switch (pgType) {
    case 'bool':
      return { kind: 'boolean' };
    case 'int2':
      return { kind: 'int16' };
    case 'int4':
      return { kind: 'int32' };
    case 'int8':
      return { kind: 'int64' };
    case 'float4':
      return { kind: 'float32' };
    case 'float8':
      return { kind: 'float64' };
    case 'numeric':
      if (typmod >= 4) {
        const t = typmod - 4;
        // PostgreSQL 15 allows a negative scale, stored as an 11-bit signed field.
        let scale = t & 0x7ff;
        if (scale & 0x400) scale -= 0x800;
        const precision = (t >> 16) & 0xffff;
        // Avro's decimal requires 0 <= scale <= precision; PostgreSQL 15 also allows a
        // negative scale and a scale above the precision (numeric(3,5)): keep those as text.
        if (scale >= 0 && scale <= precision) return { kind: 'decimal', precision, scale };
      }
      return { kind: 'numeric' };
    case 'varchar':
    case 'bpchar':
      return typmod >= 4 ? { kind: 'text', length: typmod - 4 } : { kind: 'text' };
    case 'text':
    case 'name':
    case 'char':
    case 'citext':
      return { kind: 'text' };
    case 'bytea':
      return { kind: 'bytes' };
    case 'uuid':
      return { kind: 'uuid' };
    case 'json':
    case 'jsonb':
      return { kind: 'json' };
    case 'date':
      return { kind: 'date' };
    case 'time':
      return typmod >= 0 ? { kind: 'time', precision: typmod } : { kind: 'time' };
    case 'timetz':
      return typmod >= 0 ? { kind: 'timetz', precision: typmod } : { kind: 'timetz' };
    case 'timestamp':
      return typmod >= 0 ? { kind: 'timestamp', precision: typmod } : { kind: 'timestamp' };
    case 'timestamptz':
      return typmod >= 0 ? { kind: 'timestamptz', precision: typmod } : { kind: 'timestamptz' };
    case 'interval':
      return { kind: 'interval' };
    default:
      if (typeCategory === 'E') return { kind: 'enum' };
      return { kind: 'other' };
  }
}
