import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MissingColumnError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';
import { StaleBatchError, type ApplyBatch, type StoredOffset, type TargetDriver, type TargetTable } from './target.js';

/**
 * The driver contract suite (see the contract in target.ts): what every TargetDriver must do,
 * checked against a real database. Each dialect's tests call `driverContract` with a factory
 * for its driver on a fresh database; `import { driverContract } from '@walrelay/sink/driver-contract'`.
 */
export interface DriverUnderTest {
  readonly driver: TargetDriver;
  /** Every row of a table as [column → value as text] (null stays null), sorted by the first column. */
  rows(table: string): Promise<Record<string, string | null>[]>;
  /** Creates a table the way an operator would, outside walrelay: text-ish columns, this primary key ([] = none). */
  createForeignTable(name: string, columns: readonly string[], key: readonly string[]): Promise<void>;
  /** Drops everything the factory created. */
  cleanup(): Promise<void>;
}

export interface DriverContractOptions {
  /** Skip the whole suite, with the reason (e.g. no server configured). */
  readonly skip?: string | false;
  /** The target cannot name characters outside the BMP (MySQL). */
  readonly bmpIdentifiersOnly?: boolean;
  /** Longest identifier the target allows (characters). */
  readonly maxIdentifier?: number;
  /** The dialect's column types differ per width (false for SQLite, whose affinities hold every width). */
  readonly widens?: boolean;
  /**
   * Every value kind round-tripped: a row of `columns` (the first is the key) written as
   * `row`, read back through `rows()` as `expected` (the dialect's text of each value;
   * bytes as `\\x<hex>`). A second row of nulls must read back as nulls.
   */
  readonly values?: { readonly columns: readonly SchemaColumn[]; readonly row: readonly unknown[]; readonly nullKey: unknown; readonly expected: Readonly<Record<string, string | null>> };
}

function col(name: string, kind: ValueKind, key: number | null = null): SchemaColumn {
  return { name, field: name.replace(/[^A-Za-z0-9_]/g, '_'), kind, pgType: kind === 'int64' ? 'int8' : kind === 'int32' ? 'int4' : 'text', typmod: -1, nullable: key === null, key };
}

export function driverContract(name: string, factory: () => Promise<DriverUnderTest>, options: DriverContractOptions = {}): void {
  describe(`TargetDriver contract: ${name}`, { ...(options.skip ? { skip: options.skip } : {}), timeout: 120_000 }, () => {
    let t: DriverUnderTest;
    const group = 'contract "g"';
    const topic = 'walrelay.public.contract';
    const id = col('id', 'int64', 1);
    const v = col('v', 'text');
    const w = col('w', 'int32');
    const table: TargetTable = { name: 'contract_items', shape: { schema: 'public', table: 'contract_items', columns: [id, v, w] } };
    const off = (partition: number, nextOffset: bigint, expectedFrom?: bigint, sourceLsn: bigint | null = null): StoredOffset => ({
      groupId: group,
      topic,
      partition,
      nextOffset,
      sourceLsn,
      ...(expectedFrom !== undefined ? { expectedFrom } : {}),
    });
    const apply = (steps: ApplyBatch['steps'], offsets: StoredOffset[] = [], on: TargetTable = table) => t.driver.apply({ table: on, steps, offsets });
    const stored = async (partition: number) => (await t.driver.loadOffsets(group)).find((o) => o.topic === topic && o.partition === partition);

    before(async () => {
      t = await factory();
      await t.driver.connect();
      await t.driver.ensureOffsetsTable();
      await t.driver.ensureOffsetsTable();
    });
    after(async () => {
      await t?.driver.close();
      await t?.cleanup();
    });

    it('creates a table idempotently, with the source key as primary key in key order', async () => {
      assert.equal(await t.driver.existingColumns(table.name), null);
      await t.driver.createTable(table);
      await t.driver.createTable(table);
      assert.deepEqual(await t.driver.existingColumns(table.name), ['id', 'v', 'w']);
      assert.deepEqual(await t.driver.primaryKey(table.name), ['id']);
      const composite: TargetTable = { name: 'contract_composite', shape: { schema: 'public', table: 'contract_composite', columns: [col('a', 'int32', 2), col('b', 'text', 1), col('c', 'text')] } };
      await t.driver.createTable(composite);
      assert.deepEqual(await t.driver.primaryKey(composite.name), ['b', 'a']);
      assert.deepEqual(await t.driver.primaryKey('contract_missing'), []);
    });

    it('reports the primary key of a table created outside walrelay: none, or another one', async () => {
      await t.createForeignTable('contract_nokey', ['id', 'v'], []);
      await t.createForeignTable('contract_otherkey', ['id', 'v'], ['v']);
      assert.deepEqual(await t.driver.existingColumns('contract_nokey'), ['id', 'v']);
      assert.deepEqual(await t.driver.primaryKey('contract_nokey'), []);
      assert.deepEqual(await t.driver.primaryKey('contract_otherkey'), ['v']);
    });

    it('adds nullable columns, idempotently', async () => {
      const x = col('added later', 'text');
      const evolved: TargetTable = { name: table.name, shape: { ...table.shape, columns: [id, v, w, x] } };
      await t.driver.addColumns(evolved, [x]);
      await t.driver.addColumns(evolved, [x]);
      assert.deepEqual(await t.driver.existingColumns(table.name), ['id', 'v', 'w', 'added later']);
    });

    it('claims a target table name once: the first topic keeps it, against concurrent claimants too', async () => {
      assert.equal(await t.driver.tableOwner('contract_claimed'), null);
      const first = { table: 'contract_claimed', topic: 'p.s1.claimed', source: 's1.claimed' };
      assert.deepEqual(await t.driver.claimTable(first), first);
      assert.deepEqual(await t.driver.claimTable(first), first, 'the holder claiming again keeps it');
      assert.deepEqual(await t.driver.claimTable({ table: 'contract_claimed', topic: 'p.s2.claimed', source: 's2.claimed' }), first, 'another topic gets the holder back');
      assert.deepEqual(await t.driver.tableOwner('contract_claimed'), first);
      const racers = Array.from({ length: 6 }, (_, i) => ({ table: 'contract "raced" é', topic: `p.s${i}.raced`, source: `s${i}.raced "x"` }));
      const holders = await Promise.all(racers.map((r) => t.driver.claimTable(r)));
      assert.equal(new Set(holders.map((h) => h.topic)).size, 1, `one holder for all: ${JSON.stringify(holders)}`);
      assert.ok(racers.some((r) => r.topic === holders[0]!.topic && r.source === holders[0]!.source));
      assert.equal(holders[0]!.table, 'contract "raced" é');
    });

    it('stores offsets with the rows, exactly (int64 offsets, unsigned 64-bit LSNs)', async () => {
      await apply([{ kind: 'upsert', columns: [id, v, w], rows: [[1n, 'one', 1], [2n, 'two', 2]] }], [off(0, 2n, 0n, 0xffff_ffff_ffff_fff0n), off(1, 9_223_372_036_854_775_807n, undefined, null)]);
      assert.deepEqual(await stored(0), off(0, 2n, undefined, 0xffff_ffff_ffff_fff0n));
      assert.deepEqual(await stored(1), off(1, 9_223_372_036_854_775_807n));
      assert.deepEqual(await t.rows(table.name), [
        { id: '1', v: 'one', w: '1', 'added later': null },
        { id: '2', v: 'two', w: '2', 'added later': null },
      ]);
    });

    it('fences: a batch starting before the stored offset is refused and changes nothing; one starting at it applies', async () => {
      const before = await t.rows(table.name);
      await assert.rejects(apply([{ kind: 'truncate' }, { kind: 'upsert', columns: [id, v], rows: [[9n, 'stale']] }], [off(0, 5n, 1n)]), StaleBatchError);
      assert.deepEqual(await t.rows(table.name), before);
      assert.equal((await stored(0))?.nextOffset, 2n);
      await apply([{ kind: 'upsert', columns: [id, v], rows: [[3n, 'three']] }], [off(0, 3n, 2n)]);
      assert.equal((await stored(0))?.nextOffset, 3n);
      // A first batch of a partition has nothing stored: it applies.
      await apply([], [off(7, 1n, 0n)]);
      assert.equal((await stored(7))?.nextOffset, 1n);
    });

    it('upserts write only the given columns; deletes by key; a truncate empties the table inside the transaction', async () => {
      await apply([{ kind: 'upsert', columns: [id, w], rows: [[1n, 10]] }]);
      assert.deepEqual((await t.rows(table.name))[0], { id: '1', v: 'one', w: '10', 'added later': null }, 'v kept its value');
      await apply([{ kind: 'delete', columns: [id], keys: [[2n], [404n]] }]);
      assert.deepEqual((await t.rows(table.name)).map((r) => r['id']), ['1', '3']);
      await apply([{ kind: 'truncate' }, { kind: 'upsert', columns: [id, v], rows: [[5n, 'after']] }], [off(0, 4n, 3n)]);
      assert.deepEqual(await t.rows(table.name), [{ id: '5', v: 'after', w: null, 'added later': null }]);
    });

    it('a failing batch leaves rows and offsets as they were', async () => {
      const before = await t.rows(table.name);
      await assert.rejects(apply([{ kind: 'truncate' }, { kind: 'upsert', columns: [id, v], rows: [[null, 'no key']] }], [off(0, 50n, 4n)]));
      assert.deepEqual(await t.rows(table.name), before);
      assert.equal((await stored(0))?.nextOffset, 4n);
    });

    it('round-trips every value kind exactly, and nulls as nulls', { ...(options.values ? {} : { skip: 'no value cases given' }) }, async () => {
      const v = options.values!;
      const kinds: TargetTable = { name: 'contract_kinds', shape: { schema: 'public', table: 'contract_kinds', columns: [...v.columns] } };
      await t.driver.createTable(kinds);
      await apply([{ kind: 'upsert', columns: v.columns, rows: [v.row, [v.nullKey, ...v.columns.slice(1).map(() => null)]] }], [], kinds);
      const got = await t.rows(kinds.name);
      assert.equal(got.length, 2);
      const full = got.find((r) => r[v.columns[0]!.name] === v.expected[v.columns[0]!.name])!;
      const nulls = got.find((r) => r !== full)!;
      for (const c of v.columns) assert.deepEqual(full?.[c.name], v.expected[c.name], `column ${c.name} (${c.kind})`);
      for (const c of v.columns.slice(1)) assert.equal(nulls[c.name], null, `null ${c.name}`);
    });

    it('renames a column, key column included: the data stays, the key follows; a missing column is a MissingColumnError', async () => {
      const k = col('k', 'int32', 1);
      const a = col('a', 'text');
      const shape: TableShape = { schema: 'public', table: 'contract_rename', columns: [k, a] };
      const renamed: TargetTable = { name: 'contract_rename', shape };
      await t.driver.createTable(renamed);
      await apply([{ kind: 'upsert', columns: [k, a], rows: [[1, 'one'], [2, 'two']] }], [], renamed);
      await t.driver.renameColumn(renamed.name, 'a', 'a "renamed"');
      await t.driver.renameColumn(renamed.name, 'k', 'key2');
      assert.deepEqual(await t.driver.existingColumns(renamed.name), ['key2', 'a "renamed"']);
      assert.deepEqual(await t.driver.primaryKey(renamed.name), ['key2']);
      const k2 = { ...k, name: 'key2', field: 'key2' };
      const a2 = { ...a, name: 'a "renamed"', field: 'a_renamed_' };
      const after: TargetTable = { name: renamed.name, shape: { ...shape, columns: [k2, a2] } };
      await apply([{ kind: 'upsert', columns: [k2, a2], rows: [[2, 'TWO']] }], [], after);
      assert.deepEqual(await t.rows(renamed.name), [{ key2: '1', 'a "renamed"': 'one' }, { key2: '2', 'a "renamed"': 'TWO' }]);
      await assert.rejects(apply([{ kind: 'upsert', columns: [k2, a], rows: [[3, 'old name']] }], [], after), (e: Error) => e instanceof MissingColumnError);
      await assert.rejects(t.driver.renameColumn(renamed.name, 'a', 'b'));
    });

    it('widens columns before wider values arrive (int4 -> int8 in the key too, varchar(5) -> varchar(50)), never narrows, idempotently', async () => {
      const k: SchemaColumn = { ...col('k', 'int32', 1), pgType: 'int4' };
      const n: SchemaColumn = { ...col('n', 'int32'), pgType: 'int4' };
      const s5: SchemaColumn = { ...col('s', 'text'), pgType: 'varchar', length: 5 };
      const d: SchemaColumn = { ...col('d', 'decimal'), pgType: 'numeric', precision: 5, scale: 2 };
      const shape: TableShape = { schema: 'public', table: 'contract_widen', columns: [k, n, s5, d] };
      const narrow: TargetTable = { name: 'contract_widen', shape };
      await t.driver.createTable(narrow);
      await apply([{ kind: 'upsert', columns: [k, n, s5, d], rows: [[1, 7, 'abc', '123.45']] }], [], narrow);
      assert.deepEqual(await t.driver.widenColumns(narrow, shape.columns), [], 'nothing to widen');
      const k8: SchemaColumn = { ...k, kind: 'int64', pgType: 'int8' };
      const n8: SchemaColumn = { ...n, kind: 'int64', pgType: 'int8' };
      const s50: SchemaColumn = { ...s5, length: 50 };
      const d9: SchemaColumn = { ...d, precision: 9 };
      const wide: TargetTable = { name: narrow.name, shape: { ...shape, columns: [k8, n8, s50, d9] } };
      const widened = await t.driver.widenColumns(wide, wide.shape.columns);
      const widens = options.widens ?? true;
      if (widens) assert.deepEqual([...widened].sort(), ['d', 'k', 'n', 's']);
      else assert.deepEqual(widened, []);
      assert.deepEqual(await t.driver.widenColumns(wide, wide.shape.columns), [], 'idempotent');
      assert.deepEqual(await t.driver.widenColumns(narrow, shape.columns), [], 'never narrows');
      assert.deepEqual(await t.driver.primaryKey(narrow.name), ['k']);
      const big = 2n ** 40n;
      await apply([{ kind: 'upsert', columns: [k8, n8, s50, d9], rows: [[big, big + 1n, 'x'.repeat(50), '1234567.89']] }], [], wide);
      const rows = await t.rows(narrow.name);
      assert.deepEqual(rows.map((r) => [r['k'], r['n'], r['s'], r['d']]), [
        ['1', '7', 'abc', '123.45'],
        [String(big), String(big + 1n), 'x'.repeat(50), '1234567.89'],
      ]);
    });

    it('hostile identifiers: quotes, backticks, brackets, spaces, unicode, long names', async () => {
      const max = options.maxIdentifier ?? 64;
      const names = [
        'we"ird \'t\'',
        'back`tick`',
        '[br]acket]',
        'sp ace select',
        options.bmpIdentifiersOnly ? 'ünïcödé ✓' : 'ünïcödé 🦭',
        `long_${'x'.repeat(Math.min(max, 63) - 5)}`,
      ];
      for (const n of names) {
        const k = col(`k ${n}`.slice(0, max), 'text', 1);
        const c = col([...n].reverse().join('').slice(0, max), 'text');
        const shape: TableShape = { schema: 'public', table: n, columns: [k, c] };
        const hostile: TargetTable = { name: n, shape };
        await t.driver.createTable(hostile);
        assert.deepEqual(await t.driver.existingColumns(n), [k.name, c.name], n);
        assert.deepEqual(await t.driver.primaryKey(n), [k.name], n);
        await apply([{ kind: 'upsert', columns: [k, c], rows: [["'); DROP TABLE x; --", '"'], ['b', 'keep']] }], [], hostile);
        await apply([{ kind: 'delete', columns: [k], keys: [["'); DROP TABLE x; --"]] }, { kind: 'upsert', columns: [k, c], rows: [['b', 'changed']] }], [], hostile);
        assert.deepEqual(await t.rows(n), [{ [k.name]: 'b', [c.name]: 'changed' }], n);
      }
    });
  });
}
