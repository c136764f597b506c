import type pg from 'pg';
import { ConfigError, parseTablesSetting, type Logger } from '@walrelay/core';
import { listCapturableTables } from './catalog.js';
import { configuredKey, type KeyColumnsSetting } from './key-columns.js';
import { quotePgIdent, wrapPgError } from './replication/connection.js';
import { publicationTable, publicationTables } from './snapshot/publication.js';
import { ensureSignalTable } from './snapshot/signals.js';
import type { KnownTable } from './publish/checkpoint.js';

/**
 * The publication says what is captured. One walrelay created carries a comment that marks it
 * as walrelay's and lists the tables it holds because of the `tables` setting; at every start
 * its tables follow the setting: tables added to it are added to the publication (their
 * existing rows then arrive through an incremental snapshot, see snapshot/incremental.ts),
 * tables removed from it leave the publication (no longer captured; their topics are kept).
 * Tables an operator added by hand (`ALTER PUBLICATION … ADD TABLE`) are not in that list and
 * are left alone. A publication walrelay did not create is the operator's: used as it is, with
 * a warning that names every table where it and `tables` disagree.
 */
export const MANAGED_COMMENT = 'managed by walrelay-source: its tables follow the tables setting';
const FROM_SETTING = '; from the setting: ';

function managedComment(tables: readonly KnownTable[]): string {
  return `${MANAGED_COMMENT}${FROM_SETTING}${JSON.stringify(tables.map((t) => [t.schema, t.table]))}`;
}

/** The tables a managed publication holds because of the setting, or null when it is not walrelay's. */
function fromSetting(comment: string | null | undefined): KnownTable[] | null {
  if (!comment?.startsWith(MANAGED_COMMENT)) return null;
  const at = comment.indexOf(FROM_SETTING);
  if (at < 0) return [];
  try {
    const list = JSON.parse(comment.slice(at + FROM_SETTING.length)) as unknown;
    return Array.isArray(list) ? list.filter((x): x is [string, string] => Array.isArray(x) && x.length === 2).map(([schema, table]) => ({ schema, table })) : [];
  } catch {
    return [];
  }
}

const name = (t: KnownTable): string => `${quotePgIdent(t.schema)}.${quotePgIdent(t.table)}`;
const label = (t: KnownTable): string => `${t.schema}.${t.table}`;
const same = (a: KnownTable, b: KnownTable): boolean => a.schema === b.schema && a.table === b.table;

async function managedTables(client: pg.Client, publication: string): Promise<KnownTable[] | null> {
  const r = await client.query<{ c: string | null }>("SELECT obj_description(oid, 'pg_publication') AS c FROM pg_publication WHERE pubname = $1", [publication]);
  return fromSetting(r.rows[0]?.c);
}

async function setComment(client: pg.Client, publication: string, tables: readonly KnownTable[]): Promise<void> {
  // COMMENT takes no parameters: the text is a literal, quotes doubled.
  await client.query(`COMMENT ON PUBLICATION ${quotePgIdent(publication)} IS '${managedComment(tables).replace(/'/g, "''")}'`);
}

/** The tables `tables` asks for (every keyed table when empty), the keyless ones warned about and left out. */
async function wantedTables(client: pg.Client, wanted: readonly string[], log: Logger, keyColumns?: KeyColumnsSetting): Promise<KnownTable[]> {
  const filter = wanted.length > 0 ? parseTablesSetting(wanted) : undefined;
  const { capturable, keyless, missing } = await listCapturableTables(client, filter, (schema, table) => configuredKey(keyColumns, schema, table) !== undefined);
  for (const k of keyless) {
    log.warn({ schema: k.schema, table: k.table }, 'table has no primary key or replica identity index: not added to the publication, its changes are not captured (name its key columns in keyColumns to capture it)');
  }
  if (missing.length > 0) throw new ConfigError(`tables: not found in PostgreSQL: ${missing.join(', ')}`, { details: { setting: 'tables' } });
  return capturable.map((t) => ({ schema: t.schema, table: t.table }));
}

async function signalTableExists(client: pg.Client, t: KnownTable): Promise<boolean> {
  const r = await client.query("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'", [t.schema, t.table]);
  return r.rows.length > 0;
}

/** Creates the publication, or brings a walrelay-managed one in line with `tables`, or checks an operator's. */
export async function ensurePublication(client: pg.Client, publication: string, wanted: readonly string[], log: Logger, signal?: KnownTable, keyColumns?: KeyColumnsSetting): Promise<void> {
  const exists = (await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication])).rows.length > 0;
  if (!exists) {
    if (signal) await ensureSignalTable(client, signal, log);
    const list = await wantedTables(client, wanted, log, keyColumns);
    if (signal && (await signalTableExists(client, signal)) && !list.some((t) => same(t, signal))) list.push(signal);
    try {
      await client.query(list.length === 0 ? `CREATE PUBLICATION ${quotePgIdent(publication)}` : `CREATE PUBLICATION ${quotePgIdent(publication)} FOR TABLE ${list.map(name).join(', ')}`);
      await setComment(client, publication, list.filter((t) => !(signal && same(t, signal))));
    } catch (e) {
      throw wrapPgError(`CREATE PUBLICATION ${publication}`, e);
    }
    if (list.length === 0) log.warn({ publication }, 'created an empty publication: no table with a key to capture');
    else log.info({ publication, tables: list.length }, 'created publication');
    return;
  }
  const published = (await publicationTables(client, publication)).map((t) => ({ schema: t.schema, table: t.table }));
  const previous = await managedTables(client, publication);
  if (previous !== null) {
    const list = await wantedTables(client, wanted, log, keyColumns);
    const add = list.filter((t) => !published.some((p) => same(p, t)));
    // Only what walrelay put in because of the setting leaves: tables added by hand stay.
    const drop = published.filter((p) => previous.some((t) => same(p, t)) && !list.some((t) => same(p, t)) && !(signal && same(p, signal)));
    try {
      if (add.length > 0) await client.query(`ALTER PUBLICATION ${quotePgIdent(publication)} ADD TABLE ${add.map(name).join(', ')}`);
      if (drop.length > 0) await client.query(`ALTER PUBLICATION ${quotePgIdent(publication)} DROP TABLE ${drop.map(name).join(', ')}`);
      await setComment(client, publication, list);
    } catch (e) {
      throw wrapPgError(`ALTER PUBLICATION ${publication} (following the tables setting)`, e);
    }
    if (add.length > 0) log.info({ publication, tables: add.map(label) }, 'tables setting: tables added to the publication; their existing rows arrive through an incremental snapshot');
    if (drop.length > 0) log.info({ publication, tables: drop.map(label) }, 'tables setting: tables removed from the publication; no longer captured (their topics are kept)');
    const byHand = published.filter((p) => !list.some((t) => same(p, t)) && !drop.some((t) => same(p, t)) && !(signal && same(p, signal)));
    if (byHand.length > 0) log.info({ publication, tables: byHand.map(label) }, 'publication also holds tables added by hand (not in the tables setting): captured, left alone');
    if (add.length === 0 && drop.length === 0) log.info({ publication }, 'using the publication walrelay created; it holds every table of the tables setting');
    return;
  }
  log.info({ publication }, 'using the existing publication (not created by walrelay: used as it is)');
  if (wanted.length > 0) {
    const list = parseTablesSetting(wanted);
    const notPublished = list.filter((t) => !published.some((p) => same(p, t))).map(label);
    const notWanted = published.filter((p) => !(signal && same(p, signal)) && !list.some((t) => same(p, t))).map(label);
    if (notPublished.length > 0 || notWanted.length > 0) {
      log.warn(
        { publication, notPublished, publishedButNotInTables: notWanted },
        `the tables setting disagrees with publication ${publication}, which walrelay did not create and uses as it is: what it publishes is captured (ALTER PUBLICATION to change it, or let walrelay manage one by naming a publication that does not exist)`,
      );
    }
  }
  if (signal && !(await publicationTable(client, publication, signal.schema, signal.table))) {
    log.warn(
      { publication, signalTable: label(signal) },
      `the publication does not publish the signal table: SQL signals (incremental snapshots on request) need ALTER PUBLICATION ${quotePgIdent(publication)} ADD TABLE ${name(signal)}`,
    );
  }
}
