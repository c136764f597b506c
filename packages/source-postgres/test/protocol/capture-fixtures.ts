/**
 * Regenerates the pgoutput byte fixtures under ./fixtures from a real PostgreSQL server.
 *
 *   node --conditions=development --import tsx packages/source-postgres/test/protocol/capture-fixtures.ts
 *
 * Needs wal_level = logical and a superuser (replication origins, logical slots).
 * Connection: the usual libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE), by default
 * postgres@127.0.0.1:5432/walrelay. Works in its own schema (walrelay_fixtures) with its own
 * publication, slot and replication origin, and drops all of them afterwards.
 *
 * Each fixture file records the raw messages (hex) exactly as pg_logical_slot_get_binary_changes
 * returned them, plus facts taken from the catalogs and the workload itself (relation and type
 * OIDs, columns, xids, values written) that the decoder tests assert against. The facts never
 * come from the decoder under test.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const SCHEMA = 'walrelay_fixtures';
const SLOT = 'walrelay_fixtures_slot';
const PUB = 'walrelay_fixtures_pub';
const ORIGIN = 'walrelay_fixtures_origin';
const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

const BIG_TEXT = 'toast-'.repeat(1500); // 9000 chars, STORAGE EXTERNAL: always TOASTed out of line
const UNICODE_NAME = 'żółw 🐢 ü';
const ORIGIN_LSN = '0/ABCDEF12';

interface Frame {
  lsn: string;
  hex: string;
}

const client = new pg.Client({
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'walrelay',
});

async function q<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await client.query(sql, params)).rows as T[];
}

async function one<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T> {
  const rows = await q<T>(sql, params);
  if (rows.length !== 1) throw new Error(`expected one row from ${sql}, got ${rows.length}`);
  return rows[0]!;
}

/** Runs `body` in its own transaction and returns the transaction's xid. */
async function tx(body: () => Promise<void>): Promise<number> {
  await q('BEGIN');
  try {
    const { xid } = await one<{ xid: string }>('SELECT txid_current()::text AS xid');
    await body();
    await q('COMMIT');
    return Number(BigInt(xid) & 0xffffffffn);
  } catch (error) {
    await q('ROLLBACK');
    throw error;
  }
}

async function changes(options: Record<string, string>): Promise<Frame[]> {
  const args = Object.entries(options).flat();
  const placeholders = args.map((_, i) => `$${i + 1}`).join(', ');
  const rows = await q<{ lsn: string; data: Buffer }>(
    `SELECT lsn::text AS lsn, data FROM pg_logical_slot_get_binary_changes('${SLOT}', NULL, NULL, ${placeholders})`,
    args,
  );
  return rows.map((r) => ({ lsn: r.lsn, hex: r.data.toString('hex') }));
}

async function cleanup(): Promise<void> {
  await q(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [SLOT]);
  await q(`DROP PUBLICATION IF EXISTS ${PUB}`);
  await q(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await q(`SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1`, [ORIGIN]);
}

async function relationFacts(table: string): Promise<{ oid: number; columns: Array<{ name: string; typeOid: number; typmod: number }> }> {
  const { oid } = await one<{ oid: number }>(`SELECT '${SCHEMA}.${table}'::regclass::oid::int8 AS oid`);
  const cols = await q<{ name: string; type_oid: string; typmod: number }>(
    `SELECT attname AS name, atttypid::int8::text AS type_oid, atttypmod AS typmod
       FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [oid],
  );
  return { oid: Number(oid), columns: cols.map((c) => ({ name: c.name, typeOid: Number(c.type_oid), typmod: c.typmod })) };
}

function save(file: string, content: Record<string, unknown>): void {
  mkdirSync(OUT_DIR, { recursive: true });
  const { frames, ...rest } = content as { frames: Frame[] };
  // One frame per line keeps diffs readable.
  const head = JSON.stringify(rest, null, 2).replace(/\n}$/, '');
  const body = frames.map((f) => `    ${JSON.stringify(f)}`).join(',\n');
  writeFileSync(join(OUT_DIR, file), `${head},\n  "frames": [\n${body}\n  ]\n}\n`);
  console.log(`wrote ${file}: ${frames.length} messages`);
}

async function main(): Promise<void> {
  await client.connect();
  const walLevel = (await one<{ wal_level: string }>('SHOW wal_level')).wal_level;
  if (walLevel !== 'logical') throw new Error(`wal_level is ${walLevel}, need logical`);
  const server = (await one<{ version: string }>('SELECT version()')).version;
  const maxPrepared = Number((await one<{ max_prepared_transactions: string }>('SHOW max_prepared_transactions')).max_prepared_transactions);
  const capturedAt = new Date().toISOString();

  await cleanup();
  await q(`CREATE SCHEMA ${SCHEMA}`);
  await q(`CREATE TYPE ${SCHEMA}.mood AS ENUM ('sad', 'ok', 'happy')`);
  await q(`CREATE TABLE ${SCHEMA}.basic (id int PRIMARY KEY, name text NOT NULL, data bytea, amount numeric(12,3), note text, big text)`);
  await q(`ALTER TABLE ${SCHEMA}.basic ALTER COLUMN big SET STORAGE EXTERNAL`);
  await q(`CREATE TABLE ${SCHEMA}.full_ident (id int, label text)`);
  await q(`ALTER TABLE ${SCHEMA}.full_ident REPLICA IDENTITY FULL`);
  await q(`CREATE TABLE ${SCHEMA}.moods (id int PRIMARY KEY, mood ${SCHEMA}.mood)`);
  await q(`CREATE TABLE ${SCHEMA}.idx_ident (code text NOT NULL, v int)`);
  await q(`CREATE UNIQUE INDEX idx_ident_code ON ${SCHEMA}.idx_ident (code)`);
  await q(`ALTER TABLE ${SCHEMA}.idx_ident REPLICA IDENTITY USING INDEX idx_ident_code`);
  await q(`CREATE TABLE ${SCHEMA}.bulk (id int PRIMARY KEY, v text)`);
  await q(`CREATE PUBLICATION ${PUB} FOR TABLE ${['basic', 'full_ident', 'moods', 'idx_ident', 'bulk'].map((t) => `${SCHEMA}.${t}`).join(', ')}`);
  await q(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [SLOT]);

  const relations = {
    basic: await relationFacts('basic'),
    full_ident: await relationFacts('full_ident'),
    moods: await relationFacts('moods'),
    idx_ident: await relationFacts('idx_ident'),
    bulk: await relationFacts('bulk'),
  };
  const moodOid = Number((await one<{ oid: string }>(`SELECT '${SCHEMA}.mood'::regtype::oid::int8::text AS oid`)).oid);

  try {
    // ---------------------------------------------------------------- protocol 1, text
    const xids: Record<string, number> = {};
    xids.insertBasic = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.basic VALUES (1, $1, '\\xdeadbeef', 12345.678, NULL, $2), (2, 'bob', NULL, -0.5, 'a note', NULL)`, [
        UNICODE_NAME,
        BIG_TEXT,
      ]);
    });
    xids.updateKeepToast = await tx(async () => {
      await q(`UPDATE ${SCHEMA}.basic SET name = 'alice' WHERE id = 1`);
    });
    xids.updateKey = await tx(async () => {
      await q(`UPDATE ${SCHEMA}.basic SET id = 10 WHERE id = 2`);
    });
    xids.deleteBasic = await tx(async () => {
      await q(`DELETE FROM ${SCHEMA}.basic WHERE id = 10`);
    });
    xids.fullIdent = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.full_ident VALUES (1, 'one'), (2, 'two')`);
      await q(`UPDATE ${SCHEMA}.full_ident SET label = 'uno' WHERE id = 1`);
      await q(`DELETE FROM ${SCHEMA}.full_ident WHERE id = 2`);
    });
    xids.moods = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.moods VALUES (1, 'happy'), (2, NULL)`);
    });
    xids.idxIdent = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.idx_ident VALUES ('a', 1)`);
      await q(`UPDATE ${SCHEMA}.idx_ident SET v = 2 WHERE code = 'a'`);
      await q(`DELETE FROM ${SCHEMA}.idx_ident WHERE code = 'a'`);
    });
    xids.truncate = await tx(async () => {
      await q(`TRUNCATE ${SCHEMA}.full_ident, ${SCHEMA}.moods RESTART IDENTITY CASCADE`);
    });
    xids.transactionalMessage = await tx(async () => {
      await q(`SELECT pg_logical_emit_message(true, 'walrelay.test', 'hello, transactional')`);
      await q(`INSERT INTO ${SCHEMA}.idx_ident VALUES ('b', 3)`);
    });
    await q(`SELECT pg_logical_emit_message(false, 'walrelay.test', '\\x00ff0102'::bytea)`);
    await q(`SELECT pg_replication_origin_create($1)`, [ORIGIN]);
    await q(`SELECT pg_replication_origin_session_setup($1)`, [ORIGIN]);
    try {
      xids.origin = await tx(async () => {
        await q(`SELECT pg_replication_origin_xact_setup($1, now())`, [ORIGIN_LSN]);
        await q(`INSERT INTO ${SCHEMA}.idx_ident VALUES ('from-origin', 4)`);
      });
    } finally {
      await q(`SELECT pg_replication_origin_session_reset()`);
    }
    const v1Options = { proto_version: '1', publication_names: PUB, messages: 'true' };
    const v1Frames = await changes(v1Options);
    save('pgoutput-v1.json', {
      description: 'protocol 1, text values: inserts, updates (TOAST unchanged, key change), deletes, REPLICA IDENTITY FULL and USING INDEX, enum type, truncate, logical messages, origin',
      server,
      capturedAt,
      protocolVersion: 1,
      options: v1Options,
      facts: {
        schema: SCHEMA,
        relations,
        types: { mood: moodOid },
        xids,
        values: { unicodeName: UNICODE_NAME, bigText: BIG_TEXT, originName: ORIGIN, originLsn: ORIGIN_LSN },
      },
      frames: v1Frames,
    });

    // ---------------------------------------------------------------- protocol 1, binary
    const binaryXid = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.basic VALUES (3, 'bin', '\\x0001feff', 1.5, NULL, NULL)`);
    });
    const binOptions = { proto_version: '1', publication_names: PUB, binary: 'true' };
    const binFrames = await changes(binOptions);
    save('pgoutput-v1-binary.json', {
      description: "protocol 1 with binary = true: tuple values in the types' binary send format ('b')",
      server,
      capturedAt,
      protocolVersion: 1,
      options: binOptions,
      facts: { schema: SCHEMA, relations: { basic: relations.basic }, xids: { insert: binaryXid } },
      frames: binFrames,
    });

    // ---------------------------------------------------------------- protocol 2, streaming
    const streamXids: Record<string, number> = {};
    const committedRows = 1500;
    streamXids.committed = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.bulk SELECT g, 'row ' || g FROM generate_series(1, $1) g`, [committedRows]);
      await q(`UPDATE ${SCHEMA}.bulk SET v = 'changed' WHERE id = 1`);
      await q(`DELETE FROM ${SCHEMA}.bulk WHERE id = 2`);
      await q(`SELECT pg_logical_emit_message(true, 'walrelay.stream', 'inside a streamed transaction')`);
      await q(`INSERT INTO ${SCHEMA}.moods VALUES (3, 'ok')`);
      await q(`TRUNCATE ${SCHEMA}.full_ident`);
    });
    // A whole streamed transaction rolled back: Stream Abort with subXid == xid.
    await q('BEGIN');
    const abortedXid = Number((await one<{ xid: string }>('SELECT txid_current()::text AS xid')).xid);
    await q(`INSERT INTO ${SCHEMA}.bulk SELECT g, 'doomed ' || g FROM generate_series(100001, 100800) g`);
    await q('ROLLBACK');
    streamXids.aborted = abortedXid;
    // A streamed subtransaction rolled back, then the top-level transaction committed.
    await q('BEGIN');
    const subTopXid = Number((await one<{ xid: string }>('SELECT txid_current()::text AS xid')).xid);
    await q(`INSERT INTO ${SCHEMA}.bulk SELECT g, 'kept ' || g FROM generate_series(200001, 200500) g`);
    await q('SAVEPOINT s1');
    await q(`INSERT INTO ${SCHEMA}.bulk SELECT g, 'sub ' || g FROM generate_series(300001, 300800) g`);
    await q('ROLLBACK TO SAVEPOINT s1');
    await q(`INSERT INTO ${SCHEMA}.bulk VALUES (400001, 'after rollback to savepoint')`);
    await q('COMMIT');
    streamXids.subAbortTop = subTopXid;
    // A small transaction that stays under the limit: plain Begin/Commit, no xid on its messages.
    streamXids.small = await tx(async () => {
      await q(`INSERT INTO ${SCHEMA}.bulk VALUES (500001, 'small')`);
    });
    // The limit applies where decoding happens: in this session, inside pg_logical_slot_get_binary_changes.
    await q(`SET logical_decoding_work_mem = '64kB'`);
    const v2Options = { proto_version: '2', publication_names: PUB, messages: 'true', streaming: 'on' };
    const v2Frames = await changes(v2Options);
    await q(`RESET logical_decoding_work_mem`);
    save('pgoutput-v2-stream.json', {
      description:
        'protocol 2, streaming = on, logical_decoding_work_mem = 64kB: a streamed committed transaction (with update, delete, message, enum type, truncate), ' +
        'a streamed aborted transaction, a streamed subtransaction rolled back to a savepoint, a small unstreamed transaction',
      server,
      capturedAt,
      protocolVersion: 2,
      options: v2Options,
      facts: { schema: SCHEMA, relations, types: { mood: moodOid }, xids: streamXids, committedRows },
      frames: v2Frames,
    });

    // ---------------------------------------------------------------- protocol 3, two-phase
    if (maxPrepared === 0) {
      console.log('max_prepared_transactions = 0: no two-phase fixtures (hand-built in the tests instead)');
    } else {
      console.log(`max_prepared_transactions = ${maxPrepared}: this script does not capture two-phase messages; the tests hand-build them`);
    }
  } finally {
    await cleanup();
    await client.end();
  }
}

main().catch(async (error: unknown) => {
  console.error(error);
  process.exitCode = 1;
  try {
    await client.end();
  } catch {
    // already closed
  }
});
