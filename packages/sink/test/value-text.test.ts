import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ValueError } from '@walrelay/core';
import {
  INFINITY_DAYS,
  INFINITY_MICROS,
  MAX_DAYS,
  MIN_DAYS,
  NEG_INFINITY_DAYS,
  NEG_INFINITY_MICROS,
  arrayJson,
  chunkSizes,
  dateText,
  decimalText,
  finiteFloat,
  int64Value,
  lsnFromSigned,
  lsnToSigned,
  timeText,
  timestampText,
} from '../src/value-text.js';

const isValueError = (pattern: RegExp) => (e: unknown) => e instanceof ValueError && pattern.test(e.message);

describe('dateText', () => {
  it('formats days since epoch', () => {
    assert.equal(dateText(0, 't.d'), '1970-01-01');
    assert.equal(dateText(-1, 't.d'), '1969-12-31');
    assert.equal(dateText(19_723, 't.d'), '2024-01-01');
    assert.equal(dateText(11_016, 't.d'), '2000-02-29');
    assert.equal(dateText(MIN_DAYS, 't.d'), '0001-01-01');
    assert.equal(dateText(MAX_DAYS, 't.d'), '9999-12-31');
    assert.equal(dateText(-25_567, 't.d'), '1900-01-01');
  });
  it('agrees with Date for every day of a few centuries', () => {
    for (let d = -150_000; d < 150_000; d += 37) {
      assert.equal(dateText(d, 'x'), new Date(d * 86_400_000).toISOString().slice(0, 10));
    }
  });
  it('refuses years outside 1..9999, naming the column', () => {
    assert.throws(() => dateText(MIN_DAYS - 1, 'orders.shipped'), isValueError(/orders\.shipped.*1\.\.9999.*1 BC/));
    assert.throws(() => dateText(MAX_DAYS + 1, 'orders.shipped'), isValueError(/orders\.shipped.*year 10000/));
  });
  it('maps infinity to an error or to text', () => {
    assert.throws(() => dateText(INFINITY_DAYS, 't.d'), isValueError(/cannot store infinity in t\.d/));
    assert.throws(() => dateText(NEG_INFINITY_DAYS, 't.d'), isValueError(/cannot store -infinity in t\.d/));
    assert.equal(dateText(INFINITY_DAYS, 't.d', { infinity: 'text' }), 'infinity');
    assert.equal(dateText(NEG_INFINITY_DAYS, 't.d', { infinity: 'text' }), '-infinity');
  });
  it('refuses non-integers', () => {
    assert.throws(() => dateText('2024-01-01', 't.d'), ValueError);
    assert.throws(() => dateText(1.5, 't.d'), ValueError);
  });
});

describe('timestampText', () => {
  it('formats microseconds exactly', () => {
    assert.equal(timestampText(0n, 't.ts'), '1970-01-01 00:00:00.000000');
    assert.equal(timestampText(1_704_067_200_123_456n, 't.ts'), '2024-01-01 00:00:00.123456');
    assert.equal(timestampText(-1n, 't.ts'), '1969-12-31 23:59:59.999999');
    assert.equal(timestampText(-62_135_596_800_000_000n, 't.ts'), '0001-01-01 00:00:00.000000');
    assert.equal(timestampText(253_402_300_799_999_999n, 't.ts'), '9999-12-31 23:59:59.999999');
    assert.equal(timestampText(1_000n, 't.ts', { separator: 'T', suffix: 'Z' }), '1970-01-01T00:00:00.001000Z');
  });
  it('agrees with Date at millisecond resolution', () => {
    for (let ms = -5e12; ms < 5e12; ms += 123_456_789_017) {
      const micros = BigInt(ms) * 1000n + 789n;
      const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
      assert.equal(timestampText(micros, 'x'), `${iso.slice(0, 10)} ${iso.slice(11, 23)}789`);
    }
  });
  it('writes the same text in number arithmetic (|micros| < 2^52) as in bigint arithmetic', () => {
    // The bigint path, written out: days and the clock by bigint division.
    const D = 86_400_000_000n;
    const reference = (micros: bigint): string => {
      let days = micros / D;
      let rest = micros % D;
      if (rest < 0n) {
        rest += D;
        days -= 1n;
      }
      const ms = Number(days) * 86_400_000; // whole days: exact
      const date = new Date(ms).toISOString().slice(0, 10);
      const p = (n: bigint, w: number) => n.toString().padStart(w, '0');
      return `${date} ${p(rest / 3_600_000_000n, 2)}:${p((rest / 60_000_000n) % 60n, 2)}:${p((rest / 1_000_000n) % 60n, 2)}.${p(rest % 1_000_000n, 6)}`;
    };
    const edge = 2n ** 52n;
    const samples: bigint[] = [0n, -1n, 1n, D - 1n, D, D + 1n, -D, -D - 1n, -D + 1n, edge - 1n, -edge + 1n, edge, -edge];
    // Around every day boundary of a few spread-out days, where the rounded quotient may be one off.
    for (let k = -52_000n; k <= 52_000n; k += 997n) for (const d of [-1n, 0n, 1n, 999_999n]) samples.push(k * D + d);
    let seed = 42;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 20_000; i++) samples.push(BigInt(Math.floor((rand() * 2 - 1) * 2 ** 52)));
    for (const micros of samples) assert.equal(timestampText(micros, 'x'), reference(micros), `${micros}`);
  });
  it('refuses out-of-range years and infinity', () => {
    assert.throws(() => timestampText(-62_135_596_800_000_001n, 'ev.at'), isValueError(/ev\.at.*1\.\.9999/));
    assert.throws(() => timestampText(253_402_300_800_000_000n, 'ev.at'), isValueError(/ev\.at/));
    assert.throws(() => timestampText(INFINITY_MICROS, 'ev.at'), isValueError(/cannot store infinity in ev\.at/));
    assert.throws(() => timestampText(NEG_INFINITY_MICROS, 'ev.at'), isValueError(/cannot store -infinity in ev\.at/));
    assert.equal(timestampText(INFINITY_MICROS, 'ev.at', { infinity: 'text' }), 'infinity');
    assert.throws(() => timestampText('2024-01-01', 'ev.at'), ValueError);
  });
});

describe('timeText', () => {
  it('formats microseconds since midnight, 24:00 included', () => {
    assert.equal(timeText(0n, 't.t'), '00:00:00.000000');
    assert.equal(timeText(45_296_789_012n, 't.t'), '12:34:56.789012');
    assert.equal(timeText(86_400_000_000n, 't.t'), '24:00:00.000000');
    assert.throws(() => timeText(86_400_000_001n, 't.t'), ValueError);
    assert.throws(() => timeText(-1n, 't.t'), ValueError);
  });
});

describe('arrayJson', () => {
  it('converts bigint, Buffer, nulls and nesting', () => {
    assert.equal(arrayJson([1n, 9_007_199_254_740_993n, null], 't.a'), '[1,"9007199254740993",null]');
    assert.equal(arrayJson([Buffer.from([0, 255])], 't.a'), '["AP8="]');
    assert.equal(arrayJson([[1, 2], [3, null]], 't.a'), '[[1,2],[3,null]]');
    assert.equal(arrayJson(['a"b', 'ü'], 't.a'), '["a\\"b","ü"]');
    assert.equal(arrayJson([true, 1.5, Number.NaN], 't.a'), '[true,1.5,"NaN"]');
  });
  it('formats temporal elements by element kind', () => {
    assert.equal(arrayJson([0, INFINITY_DAYS], 't.a', 'date'), '["1970-01-01","infinity"]');
    assert.equal(arrayJson([1n], 't.a', 'timestamptz'), '["1970-01-01T00:00:00.000001Z"]');
    assert.equal(arrayJson([1n], 't.a', 'time'), '["00:00:00.000001"]');
  });
  it('refuses a non-array', () => {
    assert.throws(() => arrayJson(5, 't.a'), isValueError(/t\.a/));
  });
});

describe('numbers', () => {
  it('decimalText accepts plain finite decimals only', () => {
    assert.equal(decimalText('-12345678901234567890.000000000001', 't.n'), '-12345678901234567890.000000000001');
    assert.throws(() => decimalText('NaN', 't.n'), isValueError(/t\.n/));
    assert.throws(() => decimalText('Infinity', 't.n'), ValueError);
    assert.throws(() => decimalText('1e5', 't.n'), ValueError);
  });
  it('finiteFloat refuses NaN and infinities', () => {
    assert.equal(finiteFloat(1.25, 't.f'), 1.25);
    assert.throws(() => finiteFloat(Number.NaN, 't.f'), ValueError);
    assert.throws(() => finiteFloat(Number.POSITIVE_INFINITY, 't.f'), ValueError);
  });
  it('int64Value keeps the full range', () => {
    assert.equal(int64Value(-9_223_372_036_854_775_808n, 't.i'), -9_223_372_036_854_775_808n);
    assert.equal(int64Value(5, 't.i'), 5n);
    assert.throws(() => int64Value(9_223_372_036_854_775_808n, 't.i'), ValueError);
  });
  it('LSNs round-trip through signed 64-bit storage', () => {
    for (const lsn of [0n, 1n, 0x16_b3_74_d8n, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n]) {
      const stored = lsnToSigned(lsn);
      assert.ok(stored !== null && stored >= -(2n ** 63n) && stored < 2n ** 63n);
      assert.equal(lsnFromSigned(stored), lsn);
    }
    assert.equal(lsnToSigned(null), null);
  });
});

describe('chunkSizes', () => {
  it('uses full chunks then powers of two', () => {
    assert.deepEqual(chunkSizes(0, 100), []);
    assert.deepEqual(chunkSizes(1, 100), [1]);
    assert.deepEqual(chunkSizes(2300, 1000), [1000, 1000, 256, 32, 8, 4]);
    assert.deepEqual(chunkSizes(7, 4), [4, 2, 1]);
    for (const [n, max] of [[12_345, 333], [1, 1], [64, 64]] as const) {
      const sizes = chunkSizes(n, max);
      assert.equal(sizes.reduce((a, b) => a + b, 0), n);
      assert.ok(sizes.every((s) => s <= max));
    }
  });
});
