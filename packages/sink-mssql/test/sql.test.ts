import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { IdentifierError, MissingColumnError, ApplyError, ConfigError, ConnectionError, ValueError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';
import { needsWidening, type ApplyBatch } from '@walrelay/sink';
import {
  MSSQL_MAX_PARAMS,
  addColumnSql,
  classifyMssqlError,
  columnType,
  createStageSql,
  createTableSql,
  deleteSql,
  insertStageSql,
  keyLengths,
  mssqlParam,
  offsetsTableSql,
  paramKind,
  parseMssqlUrl,
  planApply,
  quoteIdent,
  rowsPerRequest,
  saveOffsetsSql,
  truncateSql,
  upsertSql,
  PRIMARY_KEY_SQL,
  fenceSql,
  qualified,
  mssqlTypeText,
  widenColumnsSql,
  RENAME_COLUMN_SQL,
} from '../src/index.js';

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name, kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

const B = 'COLLATE Latin1_General_100_BIN2';

describe('mssql quoting', () => {
  it('brackets identifiers and doubles ]', () => {
    assert.equal(quoteIdent('select'), '[select]');
    assert.equal(quoteIdent('a]b'), '[a]]b]');
    assert.equal(quoteIdent('[x]'), '[[x]]]');
    assert.equal(quoteIdent(`it's "q" \`b\``), `[it's "q" \`b\`]`);
  });
  it('refuses identifiers over 128 characters, naming them', () => {
    assert.throws(() => quoteIdent('y'.repeat(129)), (e: unknown) => e instanceof IdentifierError && e.message.includes('y'.repeat(129)));
    assert.doesNotThrow(() => quoteIdent('y'.repeat(128)));
  });
});

describe('mssql type mapping', () => {
  const table: Array<[SchemaColumn, string]> = [
    [col('a', 'boolean'), 'BIT'],
    [col('a', 'int16'), 'SMALLINT'],
    [col('a', 'int32'), 'INT'],
    [col('a', 'int64'), 'BIGINT'],
    [col('a', 'float32'), 'REAL'],
    [col('a', 'float64'), 'FLOAT(53)'],
    [col('a', 'decimal', { precision: 38, scale: 10 }), 'DECIMAL(38,10)'],
    [col('a', 'decimal', { precision: 39, scale: 2 }), `VARCHAR(MAX) ${B}`],
    [col('a', 'numeric'), `VARCHAR(MAX) ${B}`],
    [col('a', 'text'), `NVARCHAR(MAX) ${B}`],
    [col('a', 'text', { length: 100 }), `NVARCHAR(200) ${B}`],
    [col('a', 'text', { length: 2001 }), `NVARCHAR(MAX) ${B}`],
    [col('a', 'bytes'), 'VARBINARY(MAX)'],
    [col('a', 'uuid'), 'UNIQUEIDENTIFIER'],
    [col('a', 'json'), `NVARCHAR(MAX) ${B}`],
    [col('a', 'date'), 'DATE'],
    [col('a', 'time'), 'TIME(6)'],
    [col('a', 'timestamp', { precision: 3 }), 'DATETIME2(3)'],
    [col('a', 'timestamptz'), 'DATETIME2(6)'],
    [col('a', 'timetz'), `NVARCHAR(64) ${B}`],
    [col('a', 'interval'), `NVARCHAR(255) ${B}`],
    [col('a', 'enum'), `NVARCHAR(255) ${B}`],
    [col('a', 'array'), `NVARCHAR(MAX) ${B}`],
    [col('a', 'other'), `NVARCHAR(MAX) ${B}`],
  ];
  for (const [c, type] of table) {
    it(`${c.kind} → ${type}`, () => assert.equal(columnType(c, false), type));
  }
  it('keys fit the 900-byte clustered key', () => {
    assert.equal(columnType(col('k', 'text', { key: 1 }), true), `NVARCHAR(450) ${B}`);
    const lengths = keyLengths([col('a', 'int32', { key: 1 }), col('b', 'text', { key: 2 }), col('c', 'bytes', { key: 3 }), col('d', 'text', { key: 4, length: 10 })]);
    // 900 - 4 = 896; d wants 40 bytes (2 UTF-16 units per character), b and c share 856
    assert.equal(lengths.get('d'), 20);
    assert.equal(lengths.get('b'), 214);
    assert.equal(lengths.get('c'), 428);
  });
  it('parameter kinds', () => {
    assert.equal(paramKind(col('a', 'int64')), 'bigint');
    assert.equal(paramKind(col('a', 'timestamp')), 'varchar');
    assert.equal(paramKind(col('a', 'decimal')), 'varchar');
    assert.equal(paramKind(col('a', 'text')), 'nvarchar');
    assert.equal(paramKind(col('a', 'bytes')), 'varbinary');
    assert.equal(paramKind(col('a', 'uuid')), 'uniqueidentifier');
  });
});

describe('mssql T-SQL', () => {
  const shape: TableShape = {
    schema: 'public',
    table: 'orders',
    columns: [col('id', 'int64', { key: 1, nullable: false }), col('na]me', 'text', { key: 2 }), col('total', 'decimal', { precision: 12, scale: 2 })],
  };
  it('createTableSql', () => {
    assert.equal(
      createTableSql('dbo', 'my]orders', shape),
      "IF OBJECT_ID(@object, N'U') IS NULL\n" +
        'CREATE TABLE [dbo].[my]]orders] (\n' +
        '  [id] BIGINT NOT NULL,\n' +
        `  [na]]me] NVARCHAR(446) ${B} NOT NULL,\n` +
        '  [total] DECIMAL(12,2) NULL,\n' +
        '  PRIMARY KEY CLUSTERED ([id], [na]]me])\n' +
        ')',
    );
  });
  it('addColumnSql', () => {
    assert.equal(addColumnSql('dbo', 'orders', [col('x', 'int32', { nullable: false }), col('order', 'uuid')]), 'ALTER TABLE [dbo].[orders] ADD [x] INT NULL, [order] UNIQUEIDENTIFIER NULL');
  });
  it('staging, upsert and delete statements', () => {
    assert.equal(
      createStageSql('dbo', 'orders', shape.columns),
      "IF OBJECT_ID(N'tempdb..#walrelay_stage') IS NOT NULL DROP TABLE #walrelay_stage;\nSELECT TOP 0 [id], [na]]me], [total] INTO #walrelay_stage FROM [dbo].[orders]",
    );
    assert.equal(insertStageSql(shape.columns, 2), 'INSERT INTO #walrelay_stage ([id], [na]]me], [total]) VALUES (@p0,@p1,@p2),(@p3,@p4,@p5)');
    assert.equal(
      upsertSql('dbo', 'orders', shape.columns),
      'UPDATE t SET [total] = s.[total] FROM [dbo].[orders] AS t INNER JOIN #walrelay_stage AS s ON t.[id] = s.[id] AND t.[na]]me] = s.[na]]me];\n' +
        'INSERT INTO [dbo].[orders] ([id], [na]]me], [total]) SELECT s.[id], s.[na]]me], s.[total] FROM #walrelay_stage AS s WHERE NOT EXISTS (SELECT 1 FROM [dbo].[orders] AS t WHERE t.[id] = s.[id] AND t.[na]]me] = s.[na]]me]);\n' +
        'DROP TABLE #walrelay_stage;',
    );
    // Only key columns: no UPDATE.
    assert.ok(upsertSql('dbo', 'orders', shape.columns.slice(0, 2)).startsWith('INSERT INTO'));
    assert.equal(
      deleteSql('dbo', 'orders', shape.columns.slice(0, 2)),
      'DELETE t FROM [dbo].[orders] AS t INNER JOIN #walrelay_keys AS s ON t.[id] = s.[id] AND t.[na]]me] = s.[na]]me];\nDROP TABLE #walrelay_keys;',
    );
    assert.equal(truncateSql('dbo', 'orders'), 'TRUNCATE TABLE [dbo].[orders]');
  });
  it('offsets table and upsert', () => {
    assert.match(offsetsTableSql(), /PRIMARY KEY CLUSTERED \(\[group_id\], \[topic\], \[kafka_partition\]\)/);
    assert.equal(
      saveOffsetsSql(1),
      'UPDATE o SET [next_offset] = v.[next_offset], [source_lsn] = v.[source_lsn], [updated_at] = SYSUTCDATETIME() FROM [dbo].[walrelay_offsets] AS o INNER JOIN (VALUES (@g0,@t0,@p0,@n0,@l0)) AS v ([group_id], [topic], [kafka_partition], [next_offset], [source_lsn]) ON o.[group_id] = v.[group_id] AND o.[topic] = v.[topic] AND o.[kafka_partition] = v.[kafka_partition];\n' +
        'INSERT INTO [dbo].[walrelay_offsets] ([group_id], [topic], [kafka_partition], [next_offset], [source_lsn], [updated_at]) SELECT v.[group_id], v.[topic], v.[kafka_partition], v.[next_offset], v.[source_lsn], SYSUTCDATETIME() FROM (VALUES (@g0,@t0,@p0,@n0,@l0)) AS v ([group_id], [topic], [kafka_partition], [next_offset], [source_lsn]) WHERE NOT EXISTS (SELECT 1 FROM [dbo].[walrelay_offsets] AS o WHERE o.[group_id] = v.[group_id] AND o.[topic] = v.[topic] AND o.[kafka_partition] = v.[kafka_partition]);',
    );
  });
});

describe('mssql apply plan', () => {
  it('chunks wide and many-row batches below 2,100 parameters', () => {
    const wide: SchemaColumn[] = [col('id', 'int32', { key: 1, nullable: false }), ...Array.from({ length: 299 }, (_, i) => col(`c${i}`, 'text'))];
    assert.equal(rowsPerRequest(300), 6);
    assert.equal(rowsPerRequest(1), 1000);
    const rows = Array.from({ length: 1234 }, (_, r) => [r, ...Array.from({ length: 299 }, (_, i) => `v${r}.${i}`)]);
    const batch: ApplyBatch = {
      table: { name: 'wide', shape: { schema: 'public', table: 'wide', columns: wide } },
      steps: [
        { kind: 'upsert', columns: wide, rows },
        { kind: 'delete', columns: [wide[0]!], keys: Array.from({ length: 2500 }, (_, i) => [i]) },
        { kind: 'truncate' },
      ],
      offsets: Array.from({ length: 450 }, (_, i) => ({ groupId: 'g', topic: 't', partition: i, nextOffset: BigInt(i), sourceLsn: null })),
    };
    const plan = planApply(batch);
    for (const r of plan) assert.ok(r.params.length <= 2000 && r.params.length < MSSQL_MAX_PARAMS, `${r.params.length} params`);
    const inserts = plan.filter((r) => r.sql.startsWith('INSERT INTO #walrelay_stage'));
    assert.equal(inserts.reduce((n, r) => n + r.params.length, 0), 1234 * 300);
    assert.equal(inserts[0]?.params.length, 1800);
    // Every parameter the SQL names is bound, exactly once.
    for (const r of plan) {
      const named = new Set([...r.sql.matchAll(/@([a-z]\d+)/g)].map((m) => m[1]));
      assert.deepEqual(new Set(r.params.map((p) => p.name)), named);
    }
    const keyInserts = plan.filter((r) => r.sql.startsWith('INSERT INTO #walrelay_keys'));
    assert.deepEqual(
      keyInserts.map((r) => r.params.length),
      [1000, 1000, 256, 128, 64, 32, 16, 4],
    );
    const kinds = plan.map((r) => r.sql.split(/[ \n]/)[0]);
    assert.equal(kinds[0], 'IF'); // create stage
    assert.ok(plan.some((r) => r.sql.startsWith('UPDATE t SET')));
    assert.ok(plan.some((r) => r.sql.startsWith('DELETE t FROM')));
    assert.ok(plan.some((r) => r.sql.startsWith('TRUNCATE TABLE')));
    const offsetRequests = plan.filter((r) => r.sql.startsWith('UPDATE o'));
    assert.deepEqual(
      offsetRequests.map((r) => r.params.length),
      [2000, 250],
    );
    assert.equal(plan.at(-1)?.sql.startsWith('UPDATE o'), true); // offsets last, same transaction
  });
  it('converts values exactly and refuses what SQL Server cannot store', () => {
    assert.equal(mssqlParam(col('ts', 'timestamptz'), 1_704_067_200_123_456n, 't'), '2024-01-01T00:00:00.123456');
    assert.equal(mssqlParam(col('d', 'date'), 0, 't'), '1970-01-01');
    assert.equal(mssqlParam(col('n', 'decimal', { precision: 38, scale: 0 }), '12345678901234567890123456789012345678', 't'), '12345678901234567890123456789012345678');
    assert.throws(() => mssqlParam(col('t', 'time'), 86_400_000_000n, 'ev'), (e: unknown) => e instanceof ValueError && /ev\.t/.test(e.message));
    assert.throws(() => mssqlParam(col('d', 'date'), -2_147_483_648, 'ev'), /cannot store -infinity in ev\.d/);
    assert.throws(() => mssqlParam(col('u', 'uuid'), 'nope', 'ev'), ValueError);
    assert.throws(() => mssqlParam(col('k', 'int32', { key: 1 }), null, 'ev'), /ev\.k: key column is null/);
  });
  it('a bad value in a later step fails the plan before anything is sent', () => {
    const c = [col('id', 'int32', { key: 1, nullable: false }), col('d', 'date')];
    assert.throws(
      () =>
        planApply({
          table: { name: 'x', shape: { schema: 'public', table: 'x', columns: c } },
          steps: [{ kind: 'upsert', columns: c, rows: [[1, 0]] }, { kind: 'upsert', columns: c, rows: [[2, 9_999_999]] }],
          offsets: [],
        }),
      ValueError,
    );
  });
});

describe('mssql errors and URLs', () => {
  const err = (number: number) => Object.assign(new Error(`server error ${number}`), { number, code: 'EREQUEST' });
  it('classifies server errors', () => {
    const deadlock = classifyMssqlError(err(1205), 'x');
    assert.ok(deadlock instanceof ApplyError && deadlock.retriable);
    for (const n of [8152, 2628, 8115]) assert.ok(classifyMssqlError(err(n), 'x') instanceof ValueError, String(n));
    const other = classifyMssqlError(err(208), 'x');
    assert.ok(other instanceof ApplyError && !other.retriable && /208/.test(other.message));
    const lost = classifyMssqlError(Object.assign(new Error('socket hang up'), { code: 'ESOCKET' }), 'x');
    assert.ok(lost instanceof ConnectionError && lost.retriable);
    const login = classifyMssqlError(Object.assign(new Error("Login failed for user 'sa' pw=S3cret!"), { code: 'ELOGIN' }), 'x', 'S3cret!');
    assert.ok(login instanceof ConnectionError && !login.retriable && !login.message.includes('S3cret!'));
  });
  it('parses URLs', () => {
    const p = parseMssqlUrl('mssql://sa:p%40ss@db.local:1444/app?encrypt=false&trustServerCertificate=true&schema=cdc');
    assert.deepEqual(p, {
      server: 'db.local',
      port: 1444,
      database: 'app',
      user: 'sa',
      password: 'p@ss',
      encrypt: false,
      trustServerCertificate: true,
      instanceName: undefined,
      schema: 'cdc',
    });
    assert.equal(parseMssqlUrl('sqlserver://u:p@h/db').encrypt, true);
    assert.throws(() => parseMssqlUrl('mssql://u:secret@h:1433'), (e: unknown) => e instanceof ConfigError && !e.message.includes('secret'));
  });
});

describe('mssql connection failure', () => {
  it('an unreachable server is a retriable ConnectionError without the password', async () => {
    const { MssqlTarget } = await import('../src/index.js');
    const target = new MssqlTarget({ url: 'mssql://sa:Very-Secret-9@127.0.0.1:1/db', connectTimeoutMs: 2000 });
    await assert.rejects(target.connect(), (e: unknown) => e instanceof ConnectionError && e.retriable && /sqlserver/.test(e.message) && !e.message.includes('Very-Secret-9'));
  });
});

describe('mssql primary-key introspection', () => {
  it('reads the primary key of the object named by @object, in key order, through sys.indexes', () => {
    assert.equal(
      PRIMARY_KEY_SQL,
      'SELECT c.[name] FROM sys.indexes AS i JOIN sys.index_columns AS ic ON ic.[object_id] = i.[object_id] AND ic.[index_id] = i.[index_id] ' +
        'JOIN sys.columns AS c ON c.[object_id] = ic.[object_id] AND c.[column_id] = ic.[column_id] ' +
        "WHERE i.[object_id] = OBJECT_ID(@object, N'U') AND i.[is_primary_key] = 1 AND ic.[key_ordinal] > 0 ORDER BY ic.[key_ordinal]",
    );
    // The only parameter is the qualified name, quoted as everywhere else.
    assert.deepEqual([...PRIMARY_KEY_SQL.matchAll(/@\w+/g)].map((m) => m[0]), ['@object']);
    assert.equal(qualified('dbo', 'we]ird'), '[dbo].[we]]ird]');
  });
});

describe('mssql fence', () => {
  it('locks the partition row for the transaction and reads the offset as text', () => {
    assert.equal(
      fenceSql('dbo', 'walrelay_offsets'),
      'SELECT CAST([next_offset] AS VARCHAR(20)) AS n FROM [dbo].[walrelay_offsets] WITH (UPDLOCK, HOLDLOCK) WHERE [group_id] = @group AND [topic] = @topic AND [kafka_partition] = @partition',
    );
  });
});

describe('mssql schema evolution (RENAME COLUMN, widening)', () => {
  it('reads column types back in the spelling columnType uses, so widening compares like with like', () => {
    assert.equal(mssqlTypeText({ type: 'nvarchar', max_length: 40, precision: 0, scale: 0 }), 'NVARCHAR(20)');
    assert.equal(mssqlTypeText({ type: 'nvarchar', max_length: -1, precision: 0, scale: 0 }), 'NVARCHAR(MAX)');
    assert.equal(mssqlTypeText({ type: 'decimal', max_length: 9, precision: 14, scale: 2 }), 'DECIMAL(14,2)');
    assert.equal(mssqlTypeText({ type: 'datetime2', max_length: 8, precision: 27, scale: 6 }), 'DATETIME2(6)');
    assert.equal(mssqlTypeText({ type: 'float', max_length: 8, precision: 53, scale: 0 }), 'FLOAT(53)');
    assert.equal(mssqlTypeText({ type: 'real', max_length: 4, precision: 24, scale: 0 }), 'REAL');
    assert.equal(mssqlTypeText({ type: 'int', max_length: 4, precision: 10, scale: 0 }), 'INT');
    assert.equal(columnType(col('n', 'int64'), false), 'BIGINT');
    assert.equal(needsWidening(mssqlTypeText({ type: 'int', max_length: 4, precision: 10, scale: 0 }), columnType(col('n', 'int64'), false)), true);
    assert.equal(needsWidening(mssqlTypeText({ type: 'nvarchar', max_length: 10, precision: 0, scale: 0 }), columnType(col('s', 'text', { length: 50 }), false)), true);
    assert.equal(needsWidening(mssqlTypeText({ type: 'bigint', max_length: 8, precision: 19, scale: 0 }), columnType(col('n', 'int32'), false)), false);
  });

  it('widens key columns around a dropped and re-created primary key, in one transaction', () => {
    const sql = widenColumnsSql('dbo', 'acct', [{ name: 'id', sqlType: 'BIGINT', nullable: false }, { name: 'n]x', sqlType: 'BIGINT', nullable: true }], { name: 'PK__acct', columns: ['id'] });
    assert.equal(
      sql,
      [
        'SET XACT_ABORT ON;',
        'BEGIN TRANSACTION;',
        'ALTER TABLE [dbo].[acct] DROP CONSTRAINT [PK__acct];',
        'ALTER TABLE [dbo].[acct] ALTER COLUMN [id] BIGINT NOT NULL;',
        'ALTER TABLE [dbo].[acct] ALTER COLUMN [n]]x] BIGINT NULL;',
        'ALTER TABLE [dbo].[acct] ADD CONSTRAINT [PK__acct] PRIMARY KEY CLUSTERED ([id]);',
        'COMMIT TRANSACTION;',
      ].join('\n'),
    );
    assert.doesNotMatch(widenColumnsSql('dbo', 'acct', [{ name: 'n', sqlType: 'BIGINT', nullable: true }]), /CONSTRAINT/);
  });

  it('renames through sp_rename with the names bound as parameters', () => {
    assert.equal(RENAME_COLUMN_SQL, "EXEC sp_rename @objname = @objname, @newname = @newname, @objtype = 'COLUMN'");
  });

  it('an unknown column (207) is a MissingColumnError', () => {
    assert.ok(classifyMssqlError({ number: 207, message: "Invalid column name 'x'." }, 'apply') instanceof MissingColumnError);
  });
});
