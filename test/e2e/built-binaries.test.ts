import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestPipeline } from '../support/pipeline.js';
import { mysqlRows, sqliteRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { q } from '../support/postgres.js';
import { ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/**
 * The binaries as users run them: each package's bin runs the one-file bundle `npm run build`
 * writes (scripts/bundle.mjs), not the TypeScript sources the other suites run through tsx. What
 * bundling could break, checked here: kafkajs must load after walrelay's replacements of its
 * modules (a bundler hoists imports), no module may load Node's undici, and the pipeline must
 * carry rows exactly.
 */
const BINS = [
  { pkg: 'source-postgres', bin: 'walrelay-source' },
  { pkg: 'sink-sqlite', bin: 'walrelay-sink-sqlite' },
  { pkg: 'sink-mysql', bin: 'walrelay-sink-mysql' },
  { pkg: 'sink-mssql', bin: 'walrelay-sink-mssql' },
  { pkg: 'cli', bin: 'walrelay' },
];

/** Loaded before the binary: at exit, prints which undici modules node loaded, and whether kafkajs' request module is walrelay's. */
const PROBE = `data:text/javascript,${encodeURIComponent(`
import { createRequire } from 'node:module';
process.on('exit', () => {
  const r = createRequire(process.argv[1]);
  let framing = 'kafkajs not loaded';
  try { const m = r.cache[r.resolve('kafkajs/src/protocol/request.js')]; if (m) framing = m.exports.walrelay === true ? 'replaced' : 'kafkajs own'; } catch {}
  process.stderr.write('\\nPROBE ' + JSON.stringify({ undici: process.moduleLoadList.filter((m) => m.includes('undici')), framing }) + '\\n');
});`)}`;

for (const { pkg, bin } of BINS) {
  test(`${bin}: its bin runs the bundle, which loads no undici and keeps kafkajs replaceable`, () => {
    const bundle = path.join(ROOT, 'packages', pkg, 'dist', `${bin}.js`);
    assert.ok(existsSync(bundle), `${bundle} (npm run build writes it)`);
    assert.match(readFileSync(path.join(ROOT, 'packages', pkg, 'bin', `${bin}.js`), 'utf8'), new RegExp(`'\\.\\./dist/${bin}\\.js'`));
    // --help: every module is loaded (main imports them statically), nothing is connected.
    const run = spawnSync(process.execPath, ['--import', PROBE, path.join(ROOT, 'packages', pkg, 'bin', `${bin}.js`), '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^${bin} `), 'the help text');
    const probe = /^PROBE (.*)$/m.exec(run.stderr);
    assert.ok(probe, run.stderr);
    const { undici, framing } = JSON.parse(probe[1] as string) as { undici: string[]; framing: string };
    assert.deepEqual(undici, [], 'undici modules loaded');
    if (bin !== 'walrelay') assert.equal(framing, 'replaced', "kafkajs' request module");
    else assert.notEqual(framing, 'kafkajs own', "kafkajs' request module");
  });
}

describe('the built binaries, end to end: source → Kafka → SQLite and MariaDB sinks', () => {
  const pipe = new TestPipeline('built');
  const mysqlDb = new MysqlTestDatabase(`${pipe.id}`);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-built-')), 'target.sqlite');

  before(async () => {
    await mysqlDb.create();
    await pipe.setup((s) => [`CREATE TABLE ${s}.items (id int8 PRIMARY KEY, name text, qty int4, price numeric(12,2), at timestamptz)`]);
    pipe.capture('items');
  });
  after(async () => {
    await pipe.cleanup();
    await mysqlDb.drop();
  });

  test('rows inserted, updated and deleted arrive exactly in both targets, with kafkajs replaced', async () => {
    const items = `${q(pipe.schema)}.items`;
    await pipe.db.query(`INSERT INTO ${items} SELECT g, 'item ' || g, g % 7, g / 3.0, now() FROM generate_series(1, 500) g`);
    const built = { built: true };
    const source = pipe.startSource({}, 'source', built);
    const sqlite = pipe.startSink('sink-sqlite', `sqlite://${file}`, {}, 'sink-sqlite', built);
    const mysql = pipe.startSink('sink-mysql', mysqlDb.url, { WALRELAY_GROUP_ID: `${pipe.id}_mysql` }, 'sink-mysql', built);
    await waitFor('the source streaming', () => source.output().includes('starting replication'), { timeoutMs: 90_000, describe: () => source.output().slice(-2500) });
    await pipe.db.query(`INSERT INTO ${items} SELECT g, 'item ' || g, g % 7, g / 3.0, now() FROM generate_series(501, 1500) g`);
    await pipe.db.query(`UPDATE ${items} SET qty = qty + 100, name = name || ' (edited)' WHERE id % 4 = 0`);
    await pipe.db.query(`DELETE FROM ${items} WHERE id % 9 = 0`);
    const inSqlite = await pipe.waitConsistent('items', async () => (existsSync(file) ? sqliteRows(file, 'items')() : []));
    const inMysql = await pipe.waitConsistent('items', mysqlRows(mysqlDb.url, 'items'));
    assert.equal(inSqlite.sourceRows, 1334);
    assert.equal(inMysql.sourceRows, 1334);
    for (const p of [source, sqlite, mysql]) {
      const log = p.output();
      assert.match(log, /"msg":"walrelay-(source|sink-sqlite|sink-mysql) starting"/, `${p.name} logged its start`);
      assert.doesNotMatch(log, /kafkajs runs without walrelay's replacement/, `${p.name}: kafkajs' parts replaced`);
    }
  });
});
