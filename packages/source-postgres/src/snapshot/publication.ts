import type pg from 'pg';

/** A table of the publication as a snapshot must read it. */
export interface SnapshotTable {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly estimatedRows: number;
  /** The publication's column list (PostgreSQL 15+), in table order; null: every column. */
  readonly columns: readonly string[] | null;
  /** The publication's row filter (PostgreSQL 15+) as SQL; null: every row. */
  readonly rowFilter: string | null;
}

interface Row {
  oid: number | string;
  schema: string;
  table: string;
  estimate: string;
  attnames: string[] | null;
  rowfilter: string | null;
  natts: number | string;
}

async function query(client: pg.Client, publication: string, only?: { schema: string; table: string }): Promise<SnapshotTable[]> {
  const v = Number((await client.query("SELECT current_setting('server_version_num')::int AS v")).rows[0].v);
  // PostgreSQL 15 added column lists and row filters to pg_publication_tables.
  const extra = v >= 150000 ? 'pt.attnames::text[] AS attnames, pt.rowfilter' : 'NULL::text[] AS attnames, NULL::text AS rowfilter';
  const res = await client.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table, GREATEST(c.reltuples, 0)::bigint AS estimate, ${extra},
            (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS natts
       FROM pg_publication_tables pt
       JOIN pg_namespace n ON n.nspname = pt.schemaname
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
      WHERE pt.pubname = $1 ${only ? 'AND pt.schemaname = $2 AND pt.tablename = $3' : ''}
      ORDER BY c.reltuples DESC`,
    only ? [publication, only.schema, only.table] : [publication],
  );
  return (res.rows as Row[]).map((r) => ({
    oid: Number(r.oid),
    schema: r.schema,
    table: r.table,
    estimatedRows: Number(r.estimate),
    // A list naming every column is no list (pg_publication_tables always fills attnames on 15+).
    columns: Array.isArray(r.attnames) && r.attnames.length < Number(r.natts) ? r.attnames : null,
    rowFilter: r.rowfilter ?? null,
  }));
}

/** Tables of the publication, with the planner's row estimate, largest first; column lists and row filters included. */
export function publicationTables(client: pg.Client, publication: string): Promise<SnapshotTable[]> {
  return query(client, publication);
}

/** One table of the publication, or null when the publication does not publish it. */
export async function publicationTable(client: pg.Client, publication: string, schema: string, table: string): Promise<SnapshotTable | null> {
  return (await query(client, publication, { schema, table }))[0] ?? null;
}
