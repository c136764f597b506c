import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tableTopic } from '@walrelay/core';
import { q } from '../support/postgres.js';
import { TestPipeline } from '../support/pipeline.js';
import { TopicCollector } from '../support/kafka.js';
import type { RunningProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/**
 * The publication says what is captured. One walrelay-source created follows the `tables`
 * setting at every start (a table added gets all its rows through an incremental snapshot; a
 * table removed is no longer captured, its topic kept); an operator's publication is used as it
 * is, with a warning naming where it and `tables` disagree.
 */
function logs(ps: readonly RunningProcess[]): string {
  return ps.map((p) => `--- ${p.name} (${p.logFile})\n${p.output().slice(-3000)}`).join('\n');
}

async function collect(p: TestPipeline, table: string): Promise<TopicCollector> {
  const c = new TopicCollector([tableTopic(p.prefix, p.schema, table)]);
  await waitFor(`topic of ${table}`, async () => c.start().then(() => true, () => false), { timeoutMs: 90_000, describe: () => logs(p.processes) });
  return c;
}

const published = async (p: TestPipeline): Promise<string[]> =>
  (await p.db.query<{ t: string }>('SELECT tablename AS t FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 ORDER BY 1', [p.publication, p.schema])).rows.map((r) => r.t);

const signalEnv = (p: TestPipeline): Record<string, string> => ({ WALRELAY_SIGNAL_TABLE: `${p.schema}.walrelay_signals`, WALRELAY_SNAPSHOT_NEW_TABLES_POLL_MS: '300' });

describe('publications that say what is captured', () => {
  test('a publication walrelay created follows the tables setting: added tables get every row, removed ones leave it', async () => {
    const p = new TestPipeline('pub_managed');
    const collectors: TopicCollector[] = [];
    try {
      await p.setup((s) => [
        `CREATE TABLE ${s}.a (id int8 PRIMARY KEY, v text)`,
        `CREATE TABLE ${s}.b (id int8 PRIMARY KEY, v text)`,
        `INSERT INTO ${s}.a SELECT g, 'a' || g FROM generate_series(1, 40) g`,
        `INSERT INTO ${s}.b SELECT g, 'b' || g FROM generate_series(1, 60) g`,
      ]);
      p.capture('a');
      const first = p.startSource(signalEnv(p), 'source-a');
      const ca = await collect(p, 'a');
      collectors.push(ca);
      await ca.waitForCount(40, 90_000);
      assert.deepEqual(await published(p), ['a', 'walrelay_signals']);
      assert.equal(await first.stop(), 0);

      // tables: a, b — b joins the publication at start and gets all 60 rows.
      p.capture('a', 'b');
      const second = p.startSource(signalEnv(p), 'source-ab');
      const cb = await collect(p, 'b');
      collectors.push(cb);
      await waitFor('the 60 rows of b', () => new Set(cb.records.filter((r) => r.value?.op === 'r').map((r) => JSON.stringify(r.key, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))).size === 60, {
        timeoutMs: 120_000,
        describe: () => logs([second]),
      });
      assert.deepEqual(await published(p), ['a', 'b', 'walrelay_signals']);
      assert.ok(second.output().includes('tables setting: tables added to the publication'), 'the addition is logged');
      assert.equal(await second.stop(), 0);

      // A table added by hand to walrelay's publication is not walrelay's to remove.
      await p.db.query(`CREATE TABLE ${q(p.schema)}.byhand (id int8 PRIMARY KEY)`);
      await p.db.query(`ALTER PUBLICATION ${q(p.publication)} ADD TABLE ${q(p.schema)}.byhand`);

      // tables: b — a leaves the publication; its changes are no longer captured, its topic stays.
      p.capture('b');
      const third = p.startSource(signalEnv(p), 'source-b');
      await waitFor('a removed from the publication', async () => !(await published(p)).includes('a'), { timeoutMs: 90_000, describe: () => logs([third]) });
      const before = ca.records.length;
      await p.db.query(`INSERT INTO ${q(p.schema)}.a VALUES (1000, 'after a left')`);
      await p.db.query(`INSERT INTO ${q(p.schema)}.b VALUES (1000, 'b still captured')`);
      await waitFor('the insert into b', () => cb.records.some((r) => r.value?.op === 'c'), { timeoutMs: 60_000, describe: () => logs([third]) });
      assert.equal(ca.records.length, before, 'nothing more from a');
      assert.ok(third.output().includes('tables removed from the publication'), 'the removal is logged');
      assert.ok((await published(p)).includes('byhand'), 'the table added by hand stays in the publication');
      await waitFor('the source to forget a', () => third.output().includes('tables left the publication'), { timeoutMs: 60_000, describe: () => logs([third]) });
      // A change of b after that commits the checkpoint that no longer lists a.
      await p.db.query(`INSERT INTO ${q(p.schema)}.b VALUES (1001, 'checkpoint')`);
      await waitFor('the second insert into b', () => cb.records.filter((r) => r.value?.op === 'c').length >= 2, { timeoutMs: 60_000, describe: () => logs([third]) });
      assert.equal(await third.stop(), 0);

      // a joins again: the rows it holds now (41, one written while it was out) are read again.
      p.capture('a', 'b');
      const fourth = p.startSource(signalEnv(p), 'source-ab-again');
      await waitFor('a read again, the row written while it was out included', () => ca.records.some((r) => r.value?.op === 'r' && String((r.value.after as { id?: unknown } | null)?.id) === '1000'), {
        timeoutMs: 120_000,
        describe: () => logs([fourth]),
      });
    } finally {
      for (const c of collectors) await c.stop().catch(() => undefined);
      await p.cleanup();
    }
  });

  test("an operator's publication is used as it is, with a warning naming each disagreement with tables", async () => {
    const p = new TestPipeline('pub_user');
    const collectors: TopicCollector[] = [];
    try {
      await p.setup((s) => [
        `CREATE TABLE ${s}.c (id int8 PRIMARY KEY, v text)`,
        `CREATE TABLE ${s}.d (id int8 PRIMARY KEY, v text)`,
        `INSERT INTO ${s}.c SELECT g, 'c' || g FROM generate_series(1, 10) g`,
      ]);
      await p.db.query(`CREATE PUBLICATION ${q(p.publication)} FOR TABLE ${q(p.schema)}.c`);
      p.capture('c', 'd');
      const source = p.startSource(signalEnv(p), 'source-user');
      const cc = await collect(p, 'c');
      collectors.push(cc);
      await cc.waitForCount(10, 90_000);
      const warning = source.output().split('\n').find((l) => l.includes('the tables setting disagrees with publication'));
      assert.ok(warning, logs([source]));
      assert.match(warning, new RegExp(`"notPublished":\\["${p.schema}\\.d"\\]`));
      assert.deepEqual(await published(p), ['c'], 'the operator publication is not changed');
    } finally {
      for (const c of collectors) await c.stop().catch(() => undefined);
      await p.cleanup();
    }
  });
});
