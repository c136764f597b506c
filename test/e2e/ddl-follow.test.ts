import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { TestPipeline } from '../support/pipeline.js';
import { TwoTargets } from '../support/two-targets.js';
import { waitFor } from '../support/wait.js';

/**
 * DDL the targets follow (issue 9, section 5): RENAME COLUMN renames the target column and keeps
 * its data (the key column too), widening types widen the target column before the first wider
 * value (int4 -> int8 with a value above 2^31, varchar(5) -> varchar(50), numeric(6,2) ->
 * numeric(14,2)), a sink that was stopped across the DDL follows it at start, and a narrowing
 * stops the source with an error naming table, column and both types. SQLite and MariaDB.
 */
describe('DDL the targets follow: renames and widening', () => {
  const p = new TestPipeline('ddlfollow');
  const targets = new TwoTargets(p, 'ddlf');
  const mysqlTarget = targets.mysql;
  const sqlite = (t: string) => targets.sqlite(t);
  const maria = (t: string) => targets.maria(t);
  const s = () => `"${p.schema}"`;

  const sqliteColumns = (t: string): string[] => {
    const db = new Database(targets.sqliteFile, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).all(t) as { name: string }[]).map((r) => r.name);
    } finally {
      db.close();
    }
  };
  const mysqlColumns = async (t: string): Promise<{ name: string; type: string }[]> => {
    const c = await mysql.createConnection(mysqlTarget.url);
    try {
      const [rows] = await c.query<mysql.RowDataPacket[]>(
        'SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [t],
      );
      return rows.map((r) => ({ name: String(r['name']), type: String(r['type']) }));
    } finally {
      await c.end();
    }
  };
  const consistent = (t: string) => targets.consistent(t);

  before(async () => {
    await targets.create();
    await p.setup((sch) => [
      `CREATE TABLE ${sch}.acct (id int4 PRIMARY KEY, name text, amount int4, label varchar(5), price numeric(6,2))`,
      `INSERT INTO ${sch}.acct SELECT g, 'name ' || g, g * 10, 'l' || (g % 100), g + 0.25 FROM generate_series(1, 200) g`,
      `CREATE TABLE ${sch}.shrink (id int4 PRIMARY KEY, v int8)`,
      `INSERT INTO ${sch}.shrink VALUES (1, 1), (2, 2)`,
    ]);
    p.capture('acct', 'shrink');
    p.startSource();
    p.startSink('sink-sqlite', targets.sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` });
    p.startSink('sink-mysql', mysqlTarget.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` }, 'sink-mysql');
  });

  after(async () => {
    await p.cleanup();
    await targets.drop();
  });

  test('the snapshot arrives', async () => {
    await consistent('acct');
    await consistent('shrink');
  });

  test('RENAME COLUMN renames the target column; the rows keep their values and later writes use the new name', async () => {
    await p.db.query(`ALTER TABLE ${s()}.acct RENAME COLUMN name TO full_name`);
    await p.db.query(`UPDATE ${s()}.acct SET full_name = 'renamed ' || id WHERE id <= 5`);
    await p.db.query(`INSERT INTO ${s()}.acct (id, full_name, amount) VALUES (201, 'after the rename', 1)`);
    await consistent('acct');
    assert.deepEqual(sqliteColumns('acct'), ['id', 'full_name', 'amount', 'label', 'price']);
    assert.deepEqual((await mysqlColumns('acct')).map((c) => c.name), ['id', 'full_name', 'amount', 'label', 'price']);
    const rows = await sqlite('acct')();
    assert.equal(rows.find((r) => String(r.id) === '100')?.full_name, 'name 100', 'an untouched row kept its value through the rename');
  });

  test('renaming the key column keeps every row and its key', async () => {
    await p.db.query(`ALTER TABLE ${s()}.acct RENAME COLUMN id TO acct_id`);
    await p.db.query(`UPDATE ${s()}.acct SET amount = amount + 1 WHERE acct_id IN (1, 2, 3)`);
    await p.db.query(`DELETE FROM ${s()}.acct WHERE acct_id = 4`);
    await p.db.query(`INSERT INTO ${s()}.acct (acct_id, full_name) VALUES (202, 'new key name')`);
    await consistent('acct');
    assert.equal(sqliteColumns('acct')[0], 'acct_id');
    assert.equal((await sqlite('acct')()).length, 201);
  });

  test('widening: int4 -> int8 with a value above 2^31, varchar(5) -> varchar(50), numeric(6,2) -> numeric(14,2)', async () => {
    await p.db.query(`ALTER TABLE ${s()}.acct ALTER COLUMN amount TYPE int8, ALTER COLUMN label TYPE varchar(50), ALTER COLUMN price TYPE numeric(14,2)`);
    await p.db.query(`INSERT INTO ${s()}.acct (acct_id, amount, label, price) VALUES (203, 1099511627776, '${'x'.repeat(50)}', 123456789012.34)`);
    await p.db.query(`UPDATE ${s()}.acct SET amount = 3000000000 WHERE acct_id = 1`);
    await consistent('acct');
    const types = new Map((await mysqlColumns('acct')).map((c) => [c.name, c.type.replace(/\(\d+\)$/, (m) => (/^(big)?int/.test(c.type) ? '' : m))]));
    assert.equal(types.get('amount'), 'bigint');
    assert.equal(types.get('label'), 'varchar(50)');
    assert.equal(types.get('price'), 'decimal(14,2)');
  });

  test('a sink stopped across a rename and a widening follows both when it starts', async () => {
    const sink = p.processes.find((x) => x.name.endsWith('-sink-mysql'));
    assert.ok(sink);
    assert.equal(await sink.stop(), 0);
    await p.db.query(`ALTER TABLE ${s()}.acct RENAME COLUMN label TO tag`);
    await p.db.query(`ALTER TABLE ${s()}.acct ALTER COLUMN tag TYPE text`);
    await p.db.query(`INSERT INTO ${s()}.acct (acct_id, tag) VALUES (204, '${'y'.repeat(300)}')`);
    await p.db.query(`UPDATE ${s()}.acct SET tag = 'moved' WHERE acct_id = 2`);
    await p.waitConsistent('acct', sqlite('acct'), 180_000);
    p.startSink('sink-mysql', mysqlTarget.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` }, 'sink-mysql-restarted');
    await p.waitConsistent('acct', maria('acct'), 180_000);
    const cols = await mysqlColumns('acct');
    assert.deepEqual(cols.map((c) => c.name), ['acct_id', 'full_name', 'amount', 'tag', 'price']);
    assert.match(cols.find((c) => c.name === 'tag')?.type ?? '', /text/);
  });

  test('DDL while the source is stopped: the changes before each ALTER are replayed with the definitions the catalog has moved past', async () => {
    const source = p.processes.find((x) => x.name.endsWith('-source'));
    assert.ok(source);
    assert.equal(await source.stop(), 0);
    await p.db.query(`UPDATE ${s()}.acct SET price = 1.5, tag = 'before' WHERE acct_id = 5`);
    await p.db.query(`ALTER TABLE ${s()}.acct RENAME COLUMN price TO cost`);
    await p.db.query(`UPDATE ${s()}.acct SET cost = 2.5 WHERE acct_id = 6`);
    await p.db.query(`ALTER TABLE ${s()}.acct ALTER COLUMN cost TYPE numeric(20,2)`);
    await p.db.query(`INSERT INTO ${s()}.acct (acct_id, cost) VALUES (205, 123456789012345678.99)`);
    await p.db.query(`UPDATE ${s()}.shrink SET v = v + 1`);
    p.startSource({}, 'source');
    await consistent('acct');
    await consistent('shrink');
    const cols = await mysqlColumns('acct');
    assert.deepEqual(cols.map((c) => c.name), ['acct_id', 'full_name', 'amount', 'tag', 'cost']);
    assert.equal(cols.find((c) => c.name === 'cost')?.type, 'decimal(20,2)');
    const restarted = p.processes.filter((x) => x.name.endsWith('-source')).at(-1);
    assert.ok(restarted?.output().includes("the table's definition is taken from the stream"), 'the replay went through the stream definitions');
  });

  test('a narrowing (int8 -> int4) stops the source with an error naming table, column and both types', async () => {
    await p.db.query(`ALTER TABLE ${s()}.shrink ALTER COLUMN v TYPE int4`);
    await p.db.query(`INSERT INTO ${s()}.shrink VALUES (3, 3)`);
    const source = p.processes.filter((x) => x.name.endsWith('-source')).at(-1);
    assert.ok(source);
    const code = await source.exited;
    assert.notEqual(code, 0);
    const line = await waitFor('the refusal in the source log', async () => source.output().split('\n').find((l) => l.includes('changed type from int8 to int4')));
    assert.match(line, new RegExp(`table ${p.schema}\\.shrink column v`));
    // Nothing of the narrowed table was published past the refusal: row 3 is not in the targets.
    assert.deepEqual((await sqlite('shrink')()).map((r) => String(r.id)).sort(), ['1', '2']);
  });
});
