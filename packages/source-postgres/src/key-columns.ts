/**
 * The `keyColumns` setting (Debezium's `message.key.columns`): the columns that key a table's
 * records, for a table without a primary key or replica identity index, or to re-key one.
 *
 * walrelay keys a record so that a sink's upsert by key is exact. A configured key is therefore
 * accepted only when PostgreSQL guarantees what the sinks rely on:
 * - **unique**: a valid, non-partial unique index on columns that are all NOT NULL and all among
 *   the configured ones (so no two rows can ever share a configured key: they would mix in one
 *   target row);
 * - **carried by every update and delete**: `REPLICA IDENTITY FULL`, unless the configured key is
 *   the table's identity key already (otherwise a delete would carry no configured key, and an
 *   update that changes it would leave the old target row behind).
 * Anything else is refused with an error naming the table, the columns and the statement to run.
 */
import { ConfigError, parseTableName, tableKey, type TableName } from '@walrelay/core';
import type { Queryable, TableShapeWithOid } from './catalog.js';
import { quoteIdent } from './catalog.js';

export interface KeyColumns {
  readonly table: TableName;
  readonly columns: readonly string[];
}

/** The setting, by table (core's tableKey). */
export type KeyColumnsSetting = ReadonlyMap<string, KeyColumns>;

export function parseKeyColumns(setting: Readonly<Record<string, readonly string[]>>): KeyColumnsSetting {
  const out = new Map<string, KeyColumns>();
  for (const [spec, columns] of Object.entries(setting)) {
    let table: TableName;
    try {
      table = parseTableName(spec);
    } catch (e) {
      throw new ConfigError(`keyColumns: ${(e as Error).message}`, { details: { setting: 'keyColumns', entry: spec } });
    }
    if (columns.length === 0) throw new ConfigError(`keyColumns: ${spec} names no column`, { details: { setting: 'keyColumns', entry: spec } });
    if (new Set(columns).size !== columns.length) throw new ConfigError(`keyColumns: ${spec} names a column twice`, { details: { setting: 'keyColumns', entry: spec } });
    const k = tableKey(table);
    if (out.has(k)) throw new ConfigError(`keyColumns: ${spec} is given twice`, { details: { setting: 'keyColumns', entry: spec } });
    out.set(k, { table, columns: [...columns] });
  }
  return out;
}

export function configuredKey(setting: KeyColumnsSetting | undefined, schema: string, table: string): readonly string[] | undefined {
  return setting?.get(tableKey({ schema, table }))?.columns;
}

const UNIQUE_INDEXES_SQL = `
SELECT i.indkey::text AS indkey, c.relname AS name
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL`;

/**
 * The shape keyed by `columns` (in that order), after checking that PostgreSQL guarantees the
 * key is unique and carried by every change (see above). Throws a ConfigError otherwise.
 */
export async function rekey(client: Queryable, shape: TableShapeWithOid, columns: readonly string[]): Promise<TableShapeWithOid> {
  const table = `${shape.schema}.${shape.table}`;
  const problem = (message: string): ConfigError => new ConfigError(`keyColumns: table ${table}: ${message}`, { details: { setting: 'keyColumns', table, columns: [...columns] } });
  for (const name of columns) {
    if (!shape.columns.some((c) => c.name === name)) {
      throw problem(`has no column ${JSON.stringify(name)} (its columns: ${shape.columns.map((c) => c.name).join(', ')})`);
    }
  }
  const wanted = new Set(columns);
  const byAttnum = new Map(shape.columns.filter((c) => c.attnum !== undefined).map((c) => [c.attnum as number, c]));
  const indexes = (await client.query<{ indkey: string; name: string }>(UNIQUE_INDEXES_SQL, [shape.relationOid])).rows;
  const unique = indexes.some((ix) => {
    const cols = ix.indkey.trim().split(/\s+/).map((n) => byAttnum.get(Number(n)));
    return cols.length > 0 && cols.every((c) => c !== undefined && wanted.has(c.name) && !c.nullable);
  });
  const list = columns.map((c) => quoteIdent(c)).join(', ');
  const qualified = `${quoteIdent(shape.schema)}.${quoteIdent(shape.table)}`;
  if (!unique) {
    throw problem(
      `no unique index guarantees that (${columns.join(', ')}) identifies one row, so two rows could share a key and mix in one target row: ` +
        `make the columns NOT NULL and run CREATE UNIQUE INDEX ON ${qualified} (${list}), or configure columns that such an index covers`,
    );
  }
  const identity = shape.columns.filter((c) => c.key !== null).map((c) => c.name);
  const sameAsIdentity = identity.length === columns.length && identity.every((c) => wanted.has(c));
  if (!sameAsIdentity && shape.replicaIdentity !== 'f') {
    throw problem(
      `its replica identity (${identity.length > 0 ? identity.join(', ') : 'none'}) does not carry (${columns.join(', ')}) in updates and deletes: run ALTER TABLE ${qualified} REPLICA IDENTITY FULL`,
    );
  }
  const keyed = shape.columns.map((c) => {
    const pos = columns.indexOf(c.name);
    return { ...c, key: pos >= 0 ? pos + 1 : null };
  });
  return { ...shape, columns: keyed, hasKey: true, keySource: 'configured' };
}
