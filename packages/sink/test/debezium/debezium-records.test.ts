import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { avroType, decodeAvro, DecodeError, unframe, type ChangeEnvelope } from '@walrelay/core';
import { debeziumEnvelope, debeziumTable, isDebeziumEnvelopeSchema, keyFieldsOf } from '../../src/debezium/debezium-records.js';
import { connectColumn, zonedTimestampMicros } from '../../src/debezium/connect-column.js';

/**
 * The Debezium reader against records a real Debezium 3.6.1 PostgreSQL connector wrote
 * (fixtures captured by test/debezium/capture-fixtures.ts). Expected values are computed here
 * from the SQL the capture ran (see the fixture's `statements`), not copied from the records.
 */
interface Fixture {
  readonly schemas: Record<string, string>;
  readonly records: readonly { topic: string; partition: number; offset: string; key: string | null; value: string | null }[];
}

function load(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/postgres-${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

interface Read {
  readonly topic: string;
  readonly key: Record<string, unknown> | null;
  readonly envelope: ChangeEnvelope | null;
  readonly columns: ReturnType<typeof debeziumTable>['shape']['columns'];
}

function readAll(f: Fixture): Read[] {
  return f.records.map((r) => {
    const keyBytes = r.key ? Buffer.from(r.key, 'base64') : null;
    const k = keyBytes ? unframe(keyBytes) : null;
    const keySchema = k ? (f.schemas[String(k.schemaId)] as string) : null;
    const keyFields = keySchema ? keyFieldsOf(keySchema) : [];
    const rawKey = k && keySchema ? (decodeAvro(avroType(keySchema), k.payload) as Record<string, unknown>) : null;
    if (!r.value) return { topic: r.topic, key: rawKey, envelope: null, columns: [] };
    const v = unframe(Buffer.from(r.value, 'base64'));
    const valueSchema = f.schemas[String(v.schemaId)] as string;
    assert.ok(isDebeziumEnvelopeSchema(JSON.parse(valueSchema)));
    const raw = decodeAvro(avroType(valueSchema), v.payload) as Record<string, unknown>;
    const src = raw.source as { schema: string; table: string };
    // A truncate has no key: its key fields come from the table's other records (none needed here).
    const table = debeziumTable(valueSchema, keyFields.length > 0 ? keyFields : r.topic.endsWith('composite') ? ['a', 'b'] : ['id'], src.schema, src.table);
    return { topic: r.topic, key: rawKey ? table.key(rawKey, 'key') : null, envelope: debeziumEnvelope(raw, table), columns: table.shape.columns };
  });
}

const utcMicros = (...a: [number, number, number, number?, number?, number?, number?]): bigint => BigInt(Date.UTC(...a)) * 1000n;
const INF = 9_223_372_036_854_775_807n;
const NEG_INF = -9_223_372_036_854_775_808n;

for (const name of ['defaults', 'migration'] as const) {
  describe(`Debezium PostgreSQL records (${name} connector settings)`, () => {
    const reads = readAll(load(name));
    const types = reads.filter((r) => r.topic.endsWith('.types'));
    const composite = reads.filter((r) => r.topic.endsWith('.composite'));
    const firstInsert = (id: bigint) => types.find((r) => r.envelope?.op === 'c' && r.envelope.after?.id === id)?.envelope as ChangeEnvelope;

    test('the shape: key columns from the key schema, kinds from the Connect types', () => {
      const cols = new Map(types[0]?.columns.map((c) => [c.field, c]));
      assert.equal(cols.get('id')?.key, 1);
      assert.equal(cols.get('name')?.key, null);
      const kinds = Object.fromEntries([...cols].map(([f, c]) => [f, c.kind]));
      assert.deepEqual(
        { i2: kinds.i2, i4: kinds.i4, price: kinds.price, n: kinds.n, born: kinds.born, t: kinds.t, at: kinds.at, local: kinds.local, tags: kinds.tags, doc: kinds.doc, uid: kinds.uid, mood: kinds.mood, tz: kinds.tz },
        { i2: 'int16', i4: 'int32', price: 'decimal', n: 'numeric', born: 'date', t: 'time', at: 'timestamptz', local: 'timestamp', tags: 'array', doc: 'json', uid: 'uuid', mood: 'enum', tz: 'timetz' },
      );
      assert.equal(cols.get('price')?.precision, 12);
      assert.equal(cols.get('price')?.scale, 3);
      assert.deepEqual(cols.get('mood')?.enumLabels, ['sad', 'ok', 'happy']);
      if (name === 'migration') {
        // column.propagate.source.type: lengths and source types reach the target's columns.
        assert.equal(cols.get('v')?.length, 20);
        assert.equal(cols.get('c')?.length, 3);
        assert.equal(cols.get('addr')?.pgType, 'inet');
        assert.equal(cols.get('dur')?.kind, 'interval');
      } else {
        assert.equal(cols.get('dur')?.kind, 'int64', 'MicroDuration is kept as the microseconds Debezium carries');
      }
      const comp = composite.find((r) => r.columns.length > 0)?.columns ?? [];
      assert.deepEqual(comp.filter((c) => c.key !== null).map((c) => [c.field, c.key]), [['a', 1], ['b', 2]]);
    });

    test('values become walrelay values, exactly as PostgreSQL holds them', () => {
      const a = firstInsert(1n).after as Record<string, unknown>;
      assert.equal(a.i2, -32768);
      assert.equal(a.i4, 2147483647);
      assert.equal(a.name, 'héllo ✓ 😀');
      assert.equal(a.c, 'ab ');
      assert.equal(a.price, '-123456789.123');
      // PostgreSQL shows 1234567890.12345678901234567890; Debezium's VariableScaleDecimal drops the
      // trailing zero (scale 19), its string mode keeps PostgreSQL's text. Equal numbers either way.
      assert.equal(a.n, name === 'defaults' ? '1234567890.1234567890123456789' : '1234567890.12345678901234567890');
      assert.equal(a.f8, 1.7976931348623157e308);
      assert.equal(a.born, Date.UTC(2024, 1, 29) / 86_400_000);
      // time(6) is exact; Debezium's `connect` precision mode keeps only milliseconds of it.
      assert.equal(a.t, name === 'defaults' ? 86_399_999_999n : 86_399_999_000n);
      assert.equal(a.t3, 43_200_123_000n);
      assert.equal(a.at, utcMicros(2024, 0, 2, 1, 4, 5) + 123_456n);
      assert.equal(a.local, utcMicros(1999, 11, 31, 23, 59, 59) + 500_000n);
      assert.equal(a.local3, utcMicros(2001, 1, 3, 4, 5, 6, 789));
      assert.deepEqual(a.tags, ['a b', null, 'c"d']);
      assert.deepEqual(a.ints, [1, 2, -3]);
      assert.equal(a.doc, '{"a": [true, null], "z": 1}');
      assert.equal(a.uid, '6f1c2b8e-0000-4000-8000-000000000001');
      assert.deepEqual(a.bin, Buffer.from('deadbeef00', 'hex'));
      assert.equal(a.mood, 'ok');
      assert.equal(a.tz, '08:11:12.5Z');
      assert.equal(a.b1, true);
      assert.equal(a.cash, '12.34');
      // 1 year 2 mons 3 days 04:05:06.5: Debezium's MicroDuration counts a month as 30.4375 days.
      assert.equal(a.dur, name === 'defaults' ? BigInt(Math.round(((14 * 30.4375 + 3) * 86_400 + 4 * 3600 + 5 * 60 + 6.5) * 1e6)) : 'P1Y2M3DT4H5M6.5S');
      const b = firstInsert(2n).after as Record<string, unknown>;
      assert.equal(b.at, INF, "timestamptz 'infinity' is walrelay's +infinity");
      assert.equal(b.local, NEG_INF, "timestamp '-infinity' (pgjdbc's marker) is walrelay's -infinity");
      // NaN: Debezium's precise mode writes null (it has no NaN decimal); string mode writes NAN.
      assert.equal(b.n, name === 'defaults' ? null : 'NAN');
    });

    test('keys are converted like values', () => {
      assert.deepEqual(types.find((r) => r.envelope?.op === 'c')?.key, { id: 1n });
      assert.deepEqual(composite[0]?.key, { a: 1, b: 'x' });
    });

    test("Debezium's TOAST placeholder is 'not sent', never a value", () => {
      const u = types.find((r) => r.envelope?.op === 'u' && r.envelope.after?.id === 3n)?.envelope as ChangeEnvelope;
      assert.deepEqual(u.unchanged_toast, ['big']);
      assert.equal(u.after?.big, null);
      assert.equal(u.after?.name, 'toast untouched');
      const full = firstInsert(3n);
      assert.deepEqual(full.unchanged_toast, []);
      assert.equal((full.after?.big as string).length, 3000 * 32);
    });

    test('snapshot reads, deletes with their tombstones, key changes and truncates', () => {
      const r = types[0]?.envelope as ChangeEnvelope;
      assert.equal(r.op, 'r');
      assert.equal(r.source.snapshot, 'true');
      assert.ok(typeof r.source.lsn === 'bigint' && r.source.lsn > 0n);
      const ops = types.map((x) => x.envelope?.op ?? 'tombstone');
      assert.deepEqual(ops, ['r', 'c', 'c', 'c', 'u', 'u', 'd', 'tombstone', 'c', 'd', 'tombstone']);
      const del = types[6]?.envelope as ChangeEnvelope;
      assert.deepEqual(del.before?.id, 2n);
      const t = composite.find((x) => x.envelope?.op === 't');
      // Debezium skips truncates by default (skipped.operations=t); the migration settings emit them.
      assert.equal(t !== undefined, name === 'migration');
      if (t) assert.equal(t.key, null);
    });
  });
}

describe('Connect columns', () => {
  test('ZonedTimestamp text with any offset', () => {
    assert.equal(zonedTimestampMicros('1970-01-01T00:00:00Z', 'x'), 0n);
    assert.equal(zonedTimestampMicros('1970-01-01T02:00:00.5+02:00', 'x'), 500_000n);
    assert.equal(zonedTimestampMicros('2024-02-29T23:59:59.999999Z', 'x'), utcMicros(2024, 1, 29, 23, 59, 59) + 999_999n);
    assert.throws(() => zonedTimestampMicros('yesterday', 't.c'), /t\.c: not an io\.debezium\.time\.ZonedTimestamp/);
    assert.throws(() => zonedTimestampMicros('1970-01-01T00:00:00.0000001Z', 't.c'), /sub-microsecond/);
  });

  test('a Debezium type walrelay cannot store exactly is refused, naming the field', () => {
    const geometry = { type: 'record', name: 'Geometry', fields: [{ name: 'wkb', type: 'bytes' }], 'connect.name': 'io.debezium.data.geometry.Geometry' };
    assert.throws(() => connectColumn('shape', geometry), (e: unknown) => e instanceof DecodeError && /field shape: Debezium type io\.debezium\.data\.geometry\.Geometry/.test(e.message));
    assert.throws(() => connectColumn('m', { type: 'map', values: 'string' }), /field m: Avro type/);
  });

  test('walrelay records are not taken for Debezium ones', () => {
    assert.equal(isDebeziumEnvelopeSchema({ type: 'record', name: 'Envelope', fields: [{ name: 'op', type: 'string' }, { name: 'source', type: { type: 'record', name: 'Source', fields: [] } }] }), false);
  });
});
