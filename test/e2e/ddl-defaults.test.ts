import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestPipeline } from '../support/pipeline.js';
import { TwoTargets } from '../support/two-targets.js';
import { waitFor } from '../support/wait.js';

/**
 * ADD COLUMN … DEFAULT: PostgreSQL gives the table's existing rows the default without writing
 * them (a constant lives in pg_attribute.attmissingval; a volatile default rewrites the table), so
 * no WAL carries those values. The source sees the new column in the stream's Relation message,
 * finds it has a default, and reads the table again (an incremental snapshot), so the existing
 * target rows get the value PostgreSQL shows for them — in SQLite and MariaDB.
 */
describe('columns added with a default reach the existing target rows', () => {
  const p = new TestPipeline('ddldef');
  const targets = new TwoTargets(p, 'ddl');
  const sqlite = (t: string) => targets.sqlite(t);
  const mysql = (t: string) => targets.maria(t);

  before(async () => {
    await targets.create();
    await p.setup((s) => [
      `CREATE TABLE ${s}.items (id int4 PRIMARY KEY, name text)`,
      `INSERT INTO ${s}.items SELECT g, 'item ' || g FROM generate_series(1, 300) g`,
    ]);
    p.capture('items');
    p.startSource({ WALRELAY_SNAPSHOT_CHUNK_SIZE: '64' });
    p.startSink('sink-sqlite', targets.sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` });
    p.startSink('sink-mysql', targets.mysql.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` });
  });

  after(async () => {
    await p.cleanup();
    await targets.drop();
  });

  test('the snapshot arrives', async () => {
    for (const rows of [sqlite, mysql]) assert.equal((await p.waitConsistent('items', rows('items'), 120_000)).sourceRows, 300);
  });

  test('a constant default (attmissingval) and a volatile one (table rewrite) fill every existing row', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`ALTER TABLE ${s}.items ADD COLUMN status text NOT NULL DEFAULT 'new'`);
    // The next change of the table carries the new Relation message.
    await p.db.query(`INSERT INTO ${s}.items (id, name) VALUES (301, 'after the first default')`);
    for (const rows of [sqlite, mysql]) await p.waitConsistent('items', rows('items'), 180_000);
    const target = await sqlite('items')();
    assert.equal(target.filter((r) => r.status === 'new').length, 301, 'every row, old ones included, holds the default');

    await p.db.query(`ALTER TABLE ${s}.items ADD COLUMN score int4 DEFAULT (random() * 1000)::int4`);
    await p.db.query(`UPDATE ${s}.items SET name = 'touched' WHERE id = 5`);
    for (const rows of [sqlite, mysql]) await p.waitConsistent('items', rows('items'), 180_000);
    const scored = await waitFor('scores in SQLite', async () => {
      const r = await sqlite('items')();
      return r.every((x) => x.score !== null) ? r : undefined;
    });
    assert.equal(scored.length, 301);
  });

  test('a column added with a default while the source is stopped is followed after its restart', async () => {
    const s = `"${p.schema}"`;
    const source = p.processes.find((x) => x.name.endsWith('-source'));
    assert.equal(await source?.stop(), 0);
    await p.db.query(`ALTER TABLE ${s}.items ADD COLUMN region text DEFAULT 'eu'`);
    p.startSource({ WALRELAY_SNAPSHOT_CHUNK_SIZE: '64' }, 'source-restarted');
    await p.db.query(`UPDATE ${s}.items SET name = 'after the restart' WHERE id = 7`);
    for (const rows of [sqlite, mysql]) await p.waitConsistent('items', rows('items'), 180_000);
    assert.equal((await sqlite('items')()).filter((r) => r.region === 'eu').length, 301);
  });

  test('a column added without a default is not read again (its old rows are NULL in PostgreSQL too)', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`ALTER TABLE ${s}.items ADD COLUMN note text`);
    await p.db.query(`INSERT INTO ${s}.items (id, name, note) VALUES (302, 'noted', 'n')`);
    for (const rows of [sqlite, mysql]) await p.waitConsistent('items', rows('items'), 180_000);
    const restarted = p.processes.find((x) => x.name.endsWith('-source-restarted'));
    const queued = (restarted?.output() ?? '').split('\n').filter((l) => l.includes('columns added with a default'));
    assert.equal(queued.length, 1, 'one re-read for the column added while stopped, none for the plain column');
  });
});
