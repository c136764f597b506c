/**
 * Table shapes from PostgreSQL's catalog, over an ordinary (non-replication) connection.
 *
 * Everything is looked up by oid or by bound parameters; no SQL is built from names.
 * Generated columns are excluded: pgoutput (PostgreSQL 12–17) does not send them
 * (verified on PostgreSQL 15: the Relation message of a table with a stored generated
 * column lists only the other columns).
 */
import type pg from 'pg';
import { SchemaError, assignFieldNames, formatTableName, kindOfPgType, tableKey } from '@walrelay/core';
import type { ColumnSpec, TableName, TableShape, ValueKind } from '@walrelay/core';

export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

/** A TableShape plus what the source needs to match it against pgoutput Relation messages. */
export interface TableShapeWithOid extends TableShape {
  readonly relationOid: number;
  readonly replicaIdentity: ReplicaIdentity;
  /** True when some column has a key position (primary key or replica identity index). */
  readonly hasKey: boolean;
  /** Which index the key positions come from. */
  readonly keySource: 'primary' | 'replica-identity-index' | 'configured' | null;
  /** pg_attribute.atttypid per column (the declared type: a domain's oid for a domain column), as pgoutput sends it. */
  readonly typeOids: readonly number[];
  /** pg_attribute.atttypmod per column (-1 for a domain column), as pgoutput sends it. */
  readonly attTypmods: readonly number[];
  /** For array columns the element type's delimiter (pg_type.typdelim), else null. */
  readonly arrayDelimiters: readonly (string | null)[];
}

/** The part of a pg Client the catalog uses (a Client or a PoolClient). */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** Quotes an SQL identifier: wraps in " and doubles embedded ". */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface ClassRow {
  oid: number;
  schema: string;
  table: string;
  relkind: string;
  relreplident: string;
}

interface AttRow {
  attnum: number;
  attname: string;
  atttypid: number;
  atttypmod: number;
  attnotnull: boolean;
}

interface TypeRow {
  oid: number;
  typname: string;
  typtype: string;
  typcategory: string;
  typbasetype: number;
  typtypmod: number;
  typnotnull: boolean;
  typelem: number;
  typdelim: string;
  typlen: number;
}

interface IndexRow {
  indisprimary: boolean;
  indisreplident: boolean;
  indkey: string; // int2vector text: '1 3'
}

const CLASS_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, c.relkind::text AS relkind,
       c.relreplident::text AS relreplident
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = $1::oid`;

/** Generated columns are left out (pgoutput does not send them); walrelay needs PostgreSQL 14+ (preflight). */
const ATT_SQL = `
SELECT a.attnum::int AS attnum, a.attname AS attname, a.atttypid::int8 AS atttypid,
       a.atttypmod AS atttypmod, a.attnotnull AS attnotnull
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 ORDER BY a.attnum`;

/** The types of the columns and, transitively, their domain base types and array element types. */
const TYPES_SQL = `
WITH RECURSIVE ts(oid) AS (
  SELECT unnest($1::oid[])
  UNION
  SELECT x.next FROM ts JOIN pg_catalog.pg_type t ON t.oid = ts.oid,
         LATERAL (VALUES (t.typbasetype), (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END)) AS x(next)
   WHERE x.next <> 0
)
SELECT t.oid::int8 AS oid, t.typname AS typname, t.typtype::text AS typtype, t.typcategory::text AS typcategory,
       t.typbasetype::int8 AS typbasetype, t.typtypmod AS typtypmod, t.typnotnull AS typnotnull,
       t.typelem::int8 AS typelem, t.typdelim::text AS typdelim, t.typlen::int AS typlen
  FROM ts JOIN pg_catalog.pg_type t ON t.oid = ts.oid`;

const INDEX_SQL = `
SELECT i.indisprimary AS indisprimary, i.indisreplident AS indisreplident, i.indkey::text AS indkey
  FROM pg_catalog.pg_index i
 WHERE i.indrelid = $1::oid AND (i.indisprimary OR i.indisreplident)`;

const ENUM_SQL = `
SELECT e.enumtypid::int8 AS typid, e.enumlabel AS label
  FROM pg_catalog.pg_enum e
 WHERE e.enumtypid = ANY($1::oid[])
 ORDER BY e.enumtypid, e.enumsortorder`;

/** Resolved facts of a (possibly domain) type. */
interface Resolved {
  base: TypeRow;
  /** Outermost domain name, if the type is a domain. */
  domain: string | undefined;
  /** First typmod found walking the domain chain (the column's own wins when not -1). */
  typmod: number;
  notNull: boolean;
}

function resolveType(types: Map<number, TypeRow>, oid: number, typmod: number, where: () => string): Resolved {
  let t = types.get(oid);
  let domain: string | undefined;
  let notNull = false;
  for (let depth = 0; t && t.typtype === 'd'; depth++) {
    if (depth > 100) throw new SchemaError(`${where()}: domain chain too deep`);
    domain ??= t.typname;
    if (typmod === -1) typmod = t.typtypmod;
    notNull ||= t.typnotnull;
    t = types.get(t.typbasetype);
  }
  if (!t) throw new SchemaError(`${where()}: type ${oid} not found in pg_type`);
  return { base: t, domain, typmod, notNull };
}

/** A true PostgreSQL array type (varlena with an element; not int2vector/oidvector). */
function isArrayType(t: TypeRow): boolean {
  return t.typcategory === 'A' && t.typelem !== 0 && t.typlen === -1 && t.typname !== 'int2vector' && t.typname !== 'oidvector';
}

function parseIndkey(text: string): number[] {
  return text
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number);
}

async function describeClass(client: Queryable, cls: ClassRow): Promise<TableShapeWithOid> {
  const atts = (await client.query<AttRow>(ATT_SQL, [cls.oid])).rows.map((a) => ({
    ...a,
    atttypid: Number(a.atttypid),
  }));
  const indexes = (await client.query<IndexRow>(INDEX_SQL, [cls.oid])).rows;
  const replicaIdentity = cls.relreplident as ReplicaIdentity;
  // pgoutput's old-key tuple carries the replica identity index columns when REPLICA
  // IDENTITY USING INDEX is set, so that index is the key then; otherwise the primary key.
  const ri = replicaIdentity === 'i' ? indexes.find((i) => i.indisreplident) : undefined;
  const pk = indexes.find((i) => i.indisprimary);
  const keyIndex = ri ?? pk;
  const keySource = ri ? 'replica-identity-index' : pk ? 'primary' : null;
  const keyAttnums = keyIndex ? parseIndkey(keyIndex.indkey) : [];
  const described = await describeAttributes(
    client,
    `${cls.schema}.${cls.table}`,
    atts.map((a) => ({ ...a, key: keyAttnums.indexOf(a.attnum) >= 0 ? keyAttnums.indexOf(a.attnum) + 1 : null })),
  );
  return {
    schema: cls.schema,
    table: cls.table,
    columns: described.columns,
    relationOid: cls.oid,
    replicaIdentity,
    hasKey: described.columns.some((c) => c.key !== null),
    keySource,
    typeOids: atts.map((a) => a.atttypid),
    attTypmods: atts.map((a) => a.atttypmod),
    arrayDelimiters: described.arrayDelimiters,
  };
}

/** One column to describe: its attribute facts (attnum may be unknown for a definition the catalog no longer has). */
export interface AttributeFacts {
  readonly attnum: number | undefined;
  readonly attname: string;
  readonly atttypid: number;
  readonly atttypmod: number;
  readonly attnotnull: boolean;
  /** 1-based key position, or null. */
  readonly key: number | null;
}

/**
 * Column specs from attribute facts: each type (a domain's base, an array's element, an enum's
 * labels) resolved through pg_type by oid. Used for the catalog's columns and for a table
 * definition the stream carries that the catalog has moved past (DDL since: see tables.ts).
 */
export async function describeAttributes(
  client: Queryable,
  tableName: string,
  atts: readonly AttributeFacts[],
): Promise<{ columns: ReturnType<typeof assignFieldNames>; arrayDelimiters: (string | null)[] }> {
  const typeRows = (await client.query<TypeRow>(TYPES_SQL, [[...new Set(atts.map((a) => a.atttypid))]])).rows;
  const types = new Map<number, TypeRow>();
  for (const r of typeRows) {
    const row: TypeRow = { ...r, oid: Number(r.oid), typbasetype: Number(r.typbasetype), typelem: Number(r.typelem) };
    types.set(row.oid, row);
  }
  const enumTypeOids = [...types.values()].filter((t) => t.typtype === 'e').map((t) => t.oid);
  const enumLabels = new Map<number, string[]>();
  if (enumTypeOids.length > 0) {
    for (const r of (await client.query<{ typid: string; label: string }>(ENUM_SQL, [enumTypeOids])).rows) {
      const id = Number(r.typid);
      let labels = enumLabels.get(id);
      if (!labels) enumLabels.set(id, (labels = []));
      labels.push(r.label);
    }
  }
  const specs: ColumnSpec[] = [];
  const arrayDelimiters: (string | null)[] = [];
  for (const a of atts) {
    const where = (): string => `table ${JSON.stringify(tableName)} column ${JSON.stringify(a.attname)}`;
    const col = resolveType(types, a.atttypid, a.atttypmod, where);
    const common = {
      name: a.attname,
      typmod: col.typmod,
      nullable: !a.attnotnull && !col.notNull,
      key: a.key,
      ...(a.attnum !== undefined ? { attnum: a.attnum } : {}),
      ...(col.domain !== undefined ? { domain: col.domain } : {}),
    };
    let spec: ColumnSpec;
    let delimiter: string | null = null;
    if (isArrayType(col.base)) {
      // An array column's typmod applies to its elements (numeric(10,2)[], varchar(5)[]).
      const el = resolveType(types, col.base.typelem, col.typmod, where);
      const elementKind = kindOfPgType(el.base.typname, el.typmod, el.base.typcategory);
      if (isArrayType(el.base)) {
        // Array of a domain over an array: not representable as an Avro array; keep the text.
        spec = { ...common, kind: 'other', pgType: col.base.typname };
      } else {
        const { kind: elKind, ...sizes } = elementKind;
        const labels = el.base.typtype === 'e' ? enumLabels.get(el.base.oid) : undefined;
        spec = {
          ...common,
          // The element domain's typmod when the column has none (money2[]).
          typmod: el.typmod,
          kind: 'array',
          pgType: col.base.typname,
          ...sizes,
          element: elKind,
          elementPgType: el.base.typname,
          ...(labels ? { enumLabels: labels } : {}),
        };
        delimiter = el.base.typdelim;
      }
    } else {
      const k = kindOfPgType(col.base.typname, col.typmod, col.base.typcategory);
      const labels = col.base.typtype === 'e' ? enumLabels.get(col.base.oid) : undefined;
      spec = {
        ...common,
        ...k,
        kind: (col.base.typtype === 'e' ? 'enum' : k.kind) satisfies ValueKind,
        pgType: col.base.typname,
        ...(labels ? { enumLabels: labels } : {}),
      };
    }
    specs.push(spec);
    arrayDelimiters.push(delimiter);
  }
  return { columns: assignFieldNames(specs), arrayDelimiters };
}

function classRow(r: ClassRow): ClassRow {
  return { ...r, oid: Number(r.oid) };
}

/** The shape of the table with this oid (ordinary or partitioned table). */
export async function describeTable(client: Queryable, relationOid: number): Promise<TableShapeWithOid> {
  const r = await client.query<ClassRow>(CLASS_SQL, [relationOid]);
  const row = r.rows[0];
  if (!row) throw new SchemaError(`relation ${relationOid} does not exist`, { details: { relationOid } });
  if (row.relkind !== 'r' && row.relkind !== 'p') {
    throw new SchemaError(`relation ${JSON.stringify(`${row.schema}.${row.table}`)} is not a table (relkind ${row.relkind})`);
  }
  return describeClass(client, classRow(row));
}

/** The shape of a table by exact (unquoted, case-sensitive) schema and table name. */
export async function describeTableByName(client: Queryable, schema: string, table: string): Promise<TableShapeWithOid> {
  const r = await client.query<{ oid: string }>(
    `SELECT c.oid::int8 AS oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [schema, table],
  );
  const row = r.rows[0];
  if (!row) {
    throw new SchemaError(`table ${quoteIdent(schema)}.${quoteIdent(table)} does not exist`, { details: { schema, table } });
  }
  return describeTable(client, Number(row.oid));
}

export interface CapturableTable {
  readonly schema: string;
  readonly table: string;
  readonly oid: number;
  /** A partition (its changes arrive under its own name unless publish_via_partition_root). */
  readonly partition: boolean;
}

export interface CapturableTables {
  readonly capturable: CapturableTable[];
  /** No primary key and no replica identity index (REPLICA IDENTITY FULL alone is keyless too). */
  readonly keyless: { schema: string; table: string; oid: number }[];
  /** Filter entries that matched no capturable or keyless table. */
  readonly missing: string[];
}

const LIST_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, c.relispartition AS partition,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                WHERE i.indrelid = c.oid
                  AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))) AS haskey
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND c.relpersistence = 'p'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
 ORDER BY n.nspname, c.relname`;

/**
 * Ordinary and partitioned (permanent, i.e. logged) tables outside the system schemas,
 * split into capturable (with a key) and keyless. `filter` entries are parsed names (the
 * `tables` setting, core's parseTablesSetting), or strings naming tables as `schema.table`
 * with the exact names, or quoted `"sch.ema"."ta""ble"`; an entry matching no table is
 * reported in `missing` (a parsed name in the `tables` syntax).
 */
export async function listCapturableTables(
  client: Queryable,
  filter?: readonly (string | TableName)[],
  /** Tables keyed by configuration (`keyColumns`): capturable without a key of their own. */
  configuredKey?: (schema: string, table: string) => boolean,
): Promise<CapturableTables> {
  const rows = (
    await client.query<{ oid: string; schema: string; table: string; partition: boolean; haskey: boolean }>(LIST_SQL)
  ).rows;
  const label = (f: string | TableName): string => (typeof f === 'string' ? f : formatTableName(f));
  let wanted: Map<string, string> | undefined;
  const matched = new Set<string>();
  if (filter) wanted = new Map(filter.map((f) => [typeof f === 'string' ? f : tableKey(f), label(f)]));
  const capturable: CapturableTable[] = [];
  const keyless: { schema: string; table: string; oid: number }[] = [];
  for (const r of rows) {
    if (wanted) {
      const hit = [tableKey(r), `${r.schema}.${r.table}`, `${quoteIdent(r.schema)}.${quoteIdent(r.table)}`].find((k) => wanted.has(k));
      if (hit === undefined) continue;
      matched.add(wanted.get(hit) as string);
    }
    const oid = Number(r.oid);
    if (r.haskey || configuredKey?.(r.schema, r.table)) capturable.push({ schema: r.schema, table: r.table, oid, partition: r.partition });
    else keyless.push({ schema: r.schema, table: r.table, oid });
  }
  const missing = filter ? filter.map(label).filter((f) => !matched.has(f)) : [];
  return { capturable, keyless, missing };
}

/** A column of a pgoutput Relation message. */
export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
  readonly typmod: number;
}

/**
 * Whether a catalog shape still describes a pgoutput Relation message: same column names
 * in the same order, and — when the shape came from describeTable — the same type oids
 * and typmods (an ALTER COLUMN TYPE keeps the name but changes the type).
 */
export function shapeMatchesRelation(shape: TableShape | TableShapeWithOid, relationColumns: readonly RelationColumn[]): boolean {
  if (shape.columns.length !== relationColumns.length) return false;
  const typeOids = 'typeOids' in shape ? shape.typeOids : undefined;
  const typmods = 'attTypmods' in shape ? shape.attTypmods : undefined;
  for (let i = 0; i < relationColumns.length; i++) {
    const rc = relationColumns[i] as RelationColumn;
    if ((shape.columns[i] as ColumnSpec).name !== rc.name) return false;
    if (typeOids && typeOids[i] !== rc.typeOid) return false;
    if (typmods && typmods[i] !== rc.typmod) return false;
  }
  return true;
}
