import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { IdentifierError, SchemaError, ConfigError, ValueError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';
import {
  addColumnSql,
  columnType,
  createTableSql,
  deleteSql,
  keyLengths,
  offsetsTableSql,
  quoteIdent,
  saveOffsetsSql,
  tableColumnDefs,
  truncateSql,
  upsertSql,
} from '../src/sql.js';
import { classifyMysqlError } from '../src/errors.js';
import { mysqlParam } from '../src/values.js';
import { parseMysqlUrl } from '../src/index.js';

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name, kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

describe('mysql quoteIdent', () => {
  it('quotes with backticks, doubling backticks', () => {
    assert.equal(quoteIdent('select'), '`select`');
    assert.equal(quoteIdent('a`b'), '`a``b`');
    assert.equal(quoteIdent(`it's "x" [y]`), '`it\'s "x" [y]`');
    assert.equal(quoteIdent('ünïcødé'), '`ünïcødé`');
  });
  it('refuses names MySQL cannot hold, naming them', () => {
    assert.throws(() => quoteIdent('x'.repeat(65)), (e: unknown) => e instanceof IdentifierError && e.message.includes('x'.repeat(65)) && /64/.test(e.message));
    assert.doesNotThrow(() => quoteIdent('é'.repeat(64)));
    assert.throws(() => quoteIdent('trailing '), IdentifierError);
    assert.throws(() => quoteIdent('seal🦭'), IdentifierError);
    assert.throws(() => quoteIdent(''), IdentifierError);
  });
});

describe('mysql column types', () => {
  const cases: Array<[SchemaColumn, string]> = [
    [col('a', 'boolean'), 'BOOLEAN'],
    [col('a', 'int16'), 'SMALLINT'],
    [col('a', 'int32'), 'INT'],
    [col('a', 'int64'), 'BIGINT'],
    [col('a', 'float32'), 'FLOAT'],
    [col('a', 'float64'), 'DOUBLE'],
    [col('a', 'decimal', { precision: 10, scale: 2 }), 'DECIMAL(10,2)'],
    [col('a', 'decimal', { precision: 65, scale: 30 }), 'DECIMAL(65,30)'],
    [col('a', 'decimal', { precision: 66, scale: 2 }), 'LONGTEXT'],
    [col('a', 'decimal', { precision: 40, scale: 31 }), 'LONGTEXT'],
    [col('a', 'numeric'), 'LONGTEXT'],
    [col('a', 'text'), 'LONGTEXT'],
    [col('a', 'text', { length: 20 }), 'VARCHAR(20)'],
    [col('a', 'text', { length: 20_000 }), 'MEDIUMTEXT'],
    [col('a', 'bytes'), 'LONGBLOB'],
    [col('a', 'uuid'), 'CHAR(36) CHARACTER SET ascii COLLATE ascii_bin'],
    [col('a', 'json'), 'JSON'],
    [col('a', 'date'), 'DATE'],
    [col('a', 'time'), 'TIME(6)'],
    [col('a', 'time', { precision: 3 }), 'TIME(3)'],
    [col('a', 'timestamp'), 'DATETIME(6)'],
    [col('a', 'timestamptz', { precision: 0 }), 'DATETIME(0)'],
    [col('a', 'timetz'), 'VARCHAR(64)'],
    [col('a', 'interval'), 'VARCHAR(255)'],
    [col('a', 'enum'), 'VARCHAR(255)'],
    [col('a', 'array', { element: 'int4' as ValueKind }), 'LONGTEXT'],
    [col('a', 'other'), 'LONGTEXT'],
  ];
  for (const [c, type] of cases) {
    it(`${c.kind}${c.length ? `(${c.length})` : ''}${c.precision !== undefined ? `(${c.precision},${c.scale ?? ''})` : ''} → ${type}`, () => {
      assert.equal(columnType(c, false), type);
    });
  }
  it('key columns fit InnoDB 3072-byte keys', () => {
    assert.equal(columnType(col('k', 'text', { key: 1 }), true), 'VARCHAR(768)');
    assert.equal(columnType(col('k', 'bytes', { key: 1 }), true, 3072), 'VARBINARY(3072)');
    assert.equal(columnType(col('k', 'json', { key: 1 }), true, 100), 'VARCHAR(100)');
    const lengths = keyLengths([col('a', 'int64', { key: 1 }), col('b', 'text', { key: 2 }), col('c', 'text', { key: 3, length: 10 }), col('d', 'bytes', { key: 4 })]);
    assert.equal(lengths.get('c'), 10); // declared and small: kept
    // 3072 - 8 (bigint) - 40 (c) = 3024 shared by b (4 bytes/char) and d
    assert.equal(lengths.get('b'), 378);
    assert.equal(lengths.get('d'), 1512);
    assert.equal(lengths.has('a'), false);
  });
  it('demotes VARCHARs to TEXT when the row would exceed 65,535 bytes', () => {
    const shape: TableShape = {
      schema: 'public',
      table: 'wide',
      columns: [col('id', 'int32', { key: 1, nullable: false }), ...Array.from({ length: 20 }, (_, i) => col(`c${i}`, 'text', { length: 1000 }))],
    };
    const defs = tableColumnDefs(shape);
    const varchars = defs.filter((d) => d.sqlType.startsWith('VARCHAR')).length;
    const texts = defs.filter((d) => d.sqlType === 'TEXT').length;
    assert.equal(varchars + texts, 20);
    assert.ok(varchars >= 15 && texts >= 1, `${varchars} varchars, ${texts} texts`);
  });
});

describe('mysql statements', () => {
  const shape: TableShape = {
    schema: 'public',
    table: 'orders',
    columns: [
      col('id', 'int64', { key: 1, nullable: false }),
      col('re`gion', 'text', { key: 2, nullable: false }),
      col('total', 'decimal', { precision: 12, scale: 2 }),
      col('note', 'text', { nullable: false }),
    ],
  };
  it('createTableSql', () => {
    assert.equal(
      createTableSql('my`orders', shape),
      'CREATE TABLE IF NOT EXISTS `my``orders` (\n' +
        '  `id` BIGINT NOT NULL,\n' +
        '  `re``gion` VARCHAR(766) NOT NULL,\n' +
        '  `total` DECIMAL(12,2) NULL,\n' +
        '  `note` LONGTEXT NOT NULL,\n' +
        '  PRIMARY KEY (`id`, `re``gion`)\n' +
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    );
  });
  it('createTableSql refuses a table without key', () => {
    assert.throws(() => createTableSql('t', { ...shape, columns: [col('a', 'text')] }), SchemaError);
  });
  it('addColumnSql adds nullable columns', () => {
    assert.equal(
      addColumnSql('orders', [col('a', 'text', { nullable: false, length: 9 }), col('order', 'int32')]),
      'ALTER TABLE `orders` ADD COLUMN `a` VARCHAR(9) NULL, ADD COLUMN `order` INT NULL',
    );
    assert.equal(addColumnSql('orders', [col('a', 'text', { length: 9 })], true), 'ALTER TABLE `orders` ADD COLUMN `a` TEXT NULL');
  });
  it('upsertSql writes only the given columns', () => {
    const cols = shape.columns.slice(0, 3);
    assert.equal(
      upsertSql('orders', cols, 2),
      'INSERT INTO `orders` (`id`,`re``gion`,`total`) VALUES (?,?,?),(?,?,?) ON DUPLICATE KEY UPDATE `total`=VALUES(`total`)',
    );
    assert.equal(upsertSql('orders', cols.slice(0, 2), 1), 'INSERT INTO `orders` (`id`,`re``gion`) VALUES (?,?) ON DUPLICATE KEY UPDATE `id`=`id`');
  });
  it('deleteSql uses IN lists and row values', () => {
    assert.equal(deleteSql('orders', shape.columns.slice(0, 1), 3), 'DELETE FROM `orders` WHERE `id` IN (?,?,?)');
    assert.equal(deleteSql('orders', shape.columns.slice(0, 2), 2), 'DELETE FROM `orders` WHERE (`id`,`re``gion`) IN ((?,?),(?,?))');
  });
  it('truncate stays inside the transaction', () => {
    assert.equal(truncateSql('orders'), 'DELETE FROM `orders`');
  });
  it('offsets table and upsert', () => {
    assert.match(offsetsTableSql(), /PRIMARY KEY \(`group_id`, `topic`, `kafka_partition`\)/);
    assert.equal(
      saveOffsetsSql(2),
      'INSERT INTO `walrelay_offsets` (`group_id`,`topic`,`kafka_partition`,`next_offset`,`source_lsn`,`updated_at`) VALUES (?,?,?,?,?,UTC_TIMESTAMP(6)),(?,?,?,?,?,UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE `next_offset`=VALUES(`next_offset`),`source_lsn`=VALUES(`source_lsn`),`updated_at`=VALUES(`updated_at`)',
    );
  });
});

describe('mysql values and errors', () => {
  it('converts decoded values to parameters', () => {
    assert.equal(mysqlParam(col('d', 'date'), 0, 't'), '1970-01-01');
    assert.equal(mysqlParam(col('ts', 'timestamptz'), 1n, 't'), '1970-01-01 00:00:00.000001');
    assert.equal(mysqlParam(col('a', 'array', { element: 'int64' }), [1n, null], 't'), '[1,null]');
    assert.equal(mysqlParam(col('n', 'numeric'), 'NaN', 't'), 'NaN');
    assert.throws(() => mysqlParam(col('n', 'decimal', { precision: 5, scale: 2 }), 'NaN', 'orders'), (e: unknown) => e instanceof ValueError && e.message.includes('orders.n'));
    assert.throws(() => mysqlParam(col('ts', 'timestamp'), 9_223_372_036_854_775_807n, 'ev'), /cannot store infinity in ev\.ts/);
    assert.throws(() => mysqlParam(col('f', 'float64'), Number.NaN, 't'), ValueError);
    assert.equal(mysqlParam(col('x', 'text'), null, 't'), null);
  });
  it('classifies driver errors', () => {
    const err = (errno: number, code: string) => Object.assign(new Error(code), { errno, code, sqlMessage: `msg ${code}` });
    assert.ok(classifyMysqlError(err(1406, 'ER_DATA_TOO_LONG'), 'x') instanceof ValueError);
    assert.ok(classifyMysqlError(err(1264, 'ER_WARN_DATA_OUT_OF_RANGE'), 'x') instanceof ValueError);
    const deadlock = classifyMysqlError(err(1213, 'ER_LOCK_DEADLOCK'), 'x');
    assert.equal(deadlock.code, 'APPLY');
    assert.equal(deadlock.retriable, true);
    assert.equal(classifyMysqlError(err(1205, 'ER_LOCK_WAIT_TIMEOUT'), 'x').retriable, true);
    const lost = classifyMysqlError(Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), 'x');
    assert.equal(lost.code, 'CONNECTION');
    assert.equal(lost.retriable, true);
    const other = classifyMysqlError(err(1146, 'ER_NO_SUCH_TABLE'), 'x');
    assert.equal(other.code, 'APPLY');
    assert.equal(other.retriable, false);
    assert.match(other.message, /ER_NO_SUCH_TABLE/);
  });
  it('parses URLs without echoing passwords', () => {
    const p = parseMysqlUrl('mysql://u%40x:p%3Ass@db.example:3307/app?ssl=required');
    assert.equal(p.user, 'u@x');
    assert.equal(p.password, 'p:ss');
    assert.equal(p.port, 3307);
    assert.equal(p.database, 'app');
    assert.deepEqual(p.ssl, { rejectUnauthorized: false });
    assert.equal(parseMysqlUrl('mysql://u:p@h/app?ssl=true').ssl?.rejectUnauthorized, true);
    assert.equal(parseMysqlUrl('mysql://u:p@h/app').ssl, undefined);
    assert.throws(() => parseMysqlUrl('mysql://u:secret@h'), (e: unknown) => e instanceof ConfigError && !e.message.includes('secret'));
    assert.throws(() => parseMysqlUrl('postgres://u:secret@h/db'), (e: unknown) => e instanceof ConfigError && !e.message.includes('secret'));
  });
});
