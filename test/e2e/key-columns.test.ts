import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { TestPipeline } from '../support/pipeline.js';
import { TwoTargets } from '../support/two-targets.js';
import { waitFor } from '../support/wait.js';

/**
 * Keyless tables and re-keyed tables (issue 9, section 6): `keyColumns` keys a table without a
 * primary key (REPLICA IDENTITY FULL, a unique index on NOT NULL columns among the configured
 * ones), or re-keys one; the targets get the configured key as primary key and follow inserts,
 * updates (a key change too) and deletes exactly. A keyless table without configuration stays
 * out with a warning, and a configured key PostgreSQL does not guarantee stops the source at
 * start with an error naming the table and the statement to run. Also: under REPLICA IDENTITY
 * FULL an update that changes the primary key removes the old row from the targets.
 */
describe('keyColumns: keyless and re-keyed tables', () => {
  const p = new TestPipeline('keycols');
  const targets = new TwoTargets(p, 'keycols');
  const sqliteFile = targets.sqliteFile;
  const sqlite = (t: string) => targets.sqlite(t);
  const s = () => `"${p.schema}"`;
  const consistent = (t: string, key?: string[]) => targets.consistent(t, key);
  const sqlitePrimaryKey = (t: string): string[] => {
    const db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk').all(t) as { name: string }[]).map((r) => r.name);
    } finally {
      db.close();
    }
  };
  const keyColumns = () =>
    JSON.stringify({ [`${p.schema}.events`]: ['a', 'b'], [`${p.schema}.rekeyed`]: ['code'] });

  before(async () => {
    await targets.create();
    await p.setup((sch) => [
      `CREATE TABLE ${sch}.events (a int4 NOT NULL, b text NOT NULL, v text)`,
      `CREATE UNIQUE INDEX ON ${sch}.events (a, b)`,
      `ALTER TABLE ${sch}.events REPLICA IDENTITY FULL`,
      `INSERT INTO ${sch}.events SELECT g % 10, 'b' || g, 'v' || g FROM generate_series(1, 100) g`,
      `CREATE TABLE ${sch}.rekeyed (id int4 PRIMARY KEY, code text NOT NULL UNIQUE, v text)`,
      `ALTER TABLE ${sch}.rekeyed REPLICA IDENTITY FULL`,
      `INSERT INTO ${sch}.rekeyed SELECT g, 'code-' || g, 'v' || g FROM generate_series(1, 50) g`,
      `CREATE TABLE ${sch}.fullpk (id int4 PRIMARY KEY, v text)`,
      `ALTER TABLE ${sch}.fullpk REPLICA IDENTITY FULL`,
      `INSERT INTO ${sch}.fullpk SELECT g, 'v' || g FROM generate_series(1, 20) g`,
      `CREATE TABLE ${sch}.nokey (x int4, y text)`,
      `INSERT INTO ${sch}.nokey VALUES (1, 'one')`,
      `CREATE TABLE ${sch}.nounique (x int4 NOT NULL, y text)`,
      `ALTER TABLE ${sch}.nounique REPLICA IDENTITY FULL`,
    ]);
    p.capture('events', 'rekeyed', 'fullpk', 'nokey');
    p.startSource({ WALRELAY_KEY_COLUMNS: keyColumns() });
    p.startSink('sink-sqlite', sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` });
    p.startSink('sink-mysql', targets.mysql.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` });
  });

  after(async () => {
    await p.cleanup();
    await targets.drop();
  });

  test('the snapshot of a keyless table arrives keyed by the configured columns', async () => {
    assert.equal((await p.waitConsistent('events', sqlite('events'), 180_000, ['a', 'b'])).sourceRows, 100);
    await consistent('events', ['a', 'b']);
    assert.deepEqual(sqlitePrimaryKey('events'), ['a', 'b']);
  });

  test('inserts, updates (one changing the key) and deletes of the keyless table', async () => {
    await p.db.query(`INSERT INTO ${s()}.events VALUES (42, 'new', 'inserted')`);
    await p.db.query(`UPDATE ${s()}.events SET v = 'updated' WHERE a = 1`);
    await p.db.query(`UPDATE ${s()}.events SET b = 'moved' WHERE a = 2 AND b = 'b2'`);
    await p.db.query(`DELETE FROM ${s()}.events WHERE a = 3`);
    await consistent('events', ['a', 'b']);
    const rows = await sqlite('events')();
    assert.equal(rows.filter((r) => String(r.a) === '3').length, 0, 'deleted by the configured key');
    assert.equal(rows.filter((r) => String(r.a) === '2' && r.b === 'b2').length, 0, 'the row under its old key is gone');
  });

  test('a re-keyed table: the target is keyed by the configured column, a change of it moves the row', async () => {
    await consistent('rekeyed', ['code']);
    assert.deepEqual(sqlitePrimaryKey('rekeyed'), ['code']);
    await p.db.query(`UPDATE ${s()}.rekeyed SET code = 'recoded-' || id WHERE id <= 10`);
    await p.db.query(`UPDATE ${s()}.rekeyed SET v = 'same key' WHERE id = 11`);
    await p.db.query(`DELETE FROM ${s()}.rekeyed WHERE id = 12`);
    await consistent('rekeyed', ['code']);
    assert.equal((await sqlite('rekeyed')()).length, 49);
  });

  test('under REPLICA IDENTITY FULL an update of the primary key removes the old row from the targets', async () => {
    await consistent('fullpk');
    await p.db.query(`UPDATE ${s()}.fullpk SET id = id + 100 WHERE id <= 3`);
    await consistent('fullpk');
    assert.deepEqual((await sqlite('fullpk')()).map((r) => Number(r.id)).filter((n) => n <= 3), []);
  });

  test('a keyless table without keyColumns stays out, with a warning naming the setting', async () => {
    const source = p.processes.find((x) => x.name.endsWith('-source'));
    assert.ok(source);
    await waitFor('the keyless warning', async () => source.output().split('\n').find((l) => l.includes('nokey') && l.includes('keyColumns')));
    const db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
    try {
      assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'nokey'").get() as { n: number }).n, 0);
    } finally {
      db.close();
    }
  });

  test('a configured key PostgreSQL does not guarantee stops the source at start (exit 2), naming the table and the remedy', async () => {
    const env = { WALRELAY_SLOT: `${p.slot}_bad`, WALRELAY_TABLES: `${p.schema}.nounique` };
    const noIndex = p.startSource({ ...env, WALRELAY_KEY_COLUMNS: JSON.stringify({ [`${p.schema}.nounique`]: ['x'] }) }, 'source-no-index');
    assert.equal(await noIndex.exited, 2);
    // The message sits in a JSON log line: its double quotes are escaped there.
    const unquoted = noIndex.output().replace(/\\"/g, '"');
    assert.match(unquoted, new RegExp(`keyColumns: table ${p.schema}\\.nounique: no unique index .*CREATE UNIQUE INDEX ON "${p.schema}"\\."nounique" \\("x"\\)`));
    await p.db.query(`CREATE UNIQUE INDEX ON ${s()}.nounique (x)`);
    await p.db.query(`ALTER TABLE ${s()}.nounique REPLICA IDENTITY DEFAULT`);
    const noIdentity = p.startSource({ ...env, WALRELAY_KEY_COLUMNS: JSON.stringify({ [`${p.schema}.nounique`]: ['x', 'y'] }) }, 'source-no-identity');
    assert.equal(await noIdentity.exited, 2);
    assert.match(noIdentity.output(), /does not carry \(x, y\) in updates and deletes: run ALTER TABLE .*REPLICA IDENTITY FULL/);
    const missing = p.startSource({ ...env, WALRELAY_KEY_COLUMNS: JSON.stringify({ [`${p.schema}.nounique`]: ['nope'] }) }, 'source-no-column');
    assert.equal(await missing.exited, 2);
    assert.match(missing.output().replace(/\\"/g, '"'), /has no column "nope" \(its columns: x, y\)/);
  });
});
