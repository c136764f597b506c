/**
 * Mutation fuzzing of the decoders with the captured fixture frames as seeds.
 * Every mutated input must either decode or throw a DecodeError (never a RangeError,
 * TypeError, hang or huge allocation), and never through the internal-error safety net.
 *
 * Deterministic by default; set PGOUTPUT_FUZZ_SEED to explore other seeds and
 * PGOUTPUT_FUZZ_ROUNDS to change the random mutations per frame. Failures print the seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '@walrelay/core';
import { PgOutputDecoder, decodeReplicationFrame, type PgOutputMessage } from '../../src/protocol/index.js';
import { Bytes, FIXTURE_FILES, decodeFixture, loadFixture, prng } from './helpers.js';

const SEED = Number(process.env.PGOUTPUT_FUZZ_SEED ?? 0x5eed_c0de) >>> 0;
const ROUNDS = Number(process.env.PGOUTPUT_FUZZ_ROUNDS ?? 300);
const SLOW_MS = 200;

interface Seed {
  origin: string;
  version: number;
  inStream: boolean;
  bytes: Buffer;
}

/** Fixture frames, de-duplicated by message type so the thousands of similar inserts count once (up to 8 per kind). */
function seeds(): Seed[] {
  const out: Seed[] = [];
  for (const file of FIXTURE_FILES) {
    const fx = loadFixture(file);
    const perKind = new Map<string, number>();
    decodeFixture(fx).forEach((f, i) => {
      const key = `${f.message.tag}:${f.inStream}`;
      const n = perKind.get(key) ?? 0;
      if (n >= 8) return;
      perKind.set(key, n + 1);
      out.push({ origin: `${file}#${i}`, version: fx.protocolVersion, inStream: f.inStream, bytes: f.bytes });
    });
  }
  // Hand-built seeds for what the server could not produce here (two-phase, v4 stream abort).
  const hand: Array<[number, Buffer]> = [
    [3, new Bytes().tag('b').u64(1n).u64(2n).i64(3n).u32(4).cstr('gid').build()],
    [3, new Bytes().tag('P').u8(0).u64(1n).u64(2n).i64(3n).u32(4).cstr('gid').build()],
    [3, new Bytes().tag('K').u8(0).u64(1n).u64(2n).i64(3n).u32(4).cstr('gid').build()],
    [3, new Bytes().tag('r').u8(0).u64(1n).u64(2n).i64(3n).i64(4n).u32(5).cstr('gid').build()],
    [3, new Bytes().tag('p').u8(0).u64(1n).u64(2n).i64(3n).u32(4).cstr('gid').build()],
    [4, new Bytes().tag('A').u32(1).u32(2).u64(3n).i64(4n).build()],
  ];
  for (const [version, bytes] of hand) out.push({ origin: `hand-built ${String.fromCharCode(bytes[0]!)}`, version, inStream: false, bytes });
  return out;
}

function decoderFor(s: Seed): PgOutputDecoder {
  const d = new PgOutputDecoder({ protocolVersion: s.version });
  if (s.inStream) d.decode(new Bytes().tag('S').u32(1).u8(1).build());
  return d;
}

const INTERESTING_32 = [0xffffffff, 0x7fffffff, 0x80000000, 0x7ffffffe, 0x00010000, 0x00000000];

type Mutation = { what: string; bytes: Buffer };

function randomMutation(rand: () => number, input: Buffer): Mutation {
  const int = (n: number): number => Math.floor(rand() * n);
  const b = Buffer.from(input);
  const at = int(Math.max(1, b.length));
  switch (int(8)) {
    case 0: {
      const flips = 1 + int(4);
      for (let i = 0; i < flips && b.length > 0; i++) b[int(b.length)] = int(256);
      return { what: `flip ${flips} random bytes`, bytes: b };
    }
    case 1: {
      if (b.length < at + 4) return { what: 'flip bit', bytes: (b.length && (b[at % b.length]! ^= 1 << int(8)), b) };
      const v = INTERESTING_32[int(INTERESTING_32.length)]!;
      b.writeUInt32BE(v, at);
      return { what: `Int32 0x${v.toString(16)} at ${at}`, bytes: b };
    }
    case 2: {
      if (b.length < at + 2) return { what: 'noop', bytes: b };
      b.writeUInt16BE(int(2) ? 0xffff : int(0x10000), at);
      return { what: `Int16 at ${at}`, bytes: b };
    }
    case 3: {
      const extra = Buffer.alloc(1 + int(64));
      for (let i = 0; i < extra.length; i++) extra[i] = int(256);
      return { what: `append ${extra.length} garbage bytes`, bytes: Buffer.concat([b, extra]) };
    }
    case 4: {
      const len = int(b.length + 1);
      return { what: `truncate to ${len}`, bytes: b.subarray(0, len) };
    }
    case 5: {
      // delete a range (shifts every later field)
      const len = 1 + int(8);
      return { what: `delete ${len} at ${at}`, bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + len)]) };
    }
    case 6: {
      // insert bytes (often NUL or a tuple marker) in the middle
      const ins = Buffer.from([[0, 0x6e, 0x74, 0x62, 0x75, 0x4e, 0x4b, 0x4f][int(8)]!, int(256)]);
      return { what: `insert ${ins.toString('hex')} at ${at}`, bytes: Buffer.concat([b.subarray(0, at), ins.subarray(0, 1 + int(2)), b.subarray(at)]) };
    }
    default: {
      // replace the tag with another known tag: every decoder path gets foreign layouts
      b[0] = 'BCORYIUDTMSEcAbPKrpwk'.charCodeAt(int(21));
      return { what: `retag as '${String.fromCharCode(b[0]!)}'`, bytes: b };
    }
  }
}

function check(run: () => unknown, context: () => string): void {
  const started = performance.now();
  try {
    run();
  } catch (error) {
    if (!(error instanceof DecodeError)) {
      assert.fail(`seed ${SEED}: non-DecodeError ${String(error)}\n${context()}`);
    }
    if (error.cause !== undefined || (error.details as { internal?: boolean }).internal) {
      assert.fail(`seed ${SEED}: internal error wrapped as DecodeError: ${error.message}\n${context()}`);
    }
    if (!/ at offset \d+/.test(error.message)) assert.fail(`seed ${SEED}: message without offset: ${error.message}\n${context()}`);
  }
  const ms = performance.now() - started;
  if (ms > SLOW_MS) assert.fail(`seed ${SEED}: decode took ${ms.toFixed(1)} ms\n${context()}`);
}

test(`fuzz pgoutput decoder with mutated fixture frames (seed ${SEED}, ${ROUNDS} random mutations per frame)`, () => {
  const rand = prng(SEED);
  let runs = 0;
  let decoded = 0;
  for (const s of seeds()) {
    const ctx = (what: string, bytes: Buffer) => () => `frame ${s.origin} (v${s.version}, inStream ${s.inStream}), mutation: ${what}\ninput: ${bytes.toString('hex')}`;
    const attempt = (what: string, bytes: Buffer): void => {
      runs++;
      check(() => {
        decoderFor(s).decode(bytes);
        decoded++;
      }, ctx(what, bytes));
    };
    // Every truncation.
    for (let len = 0; len < s.bytes.length; len++) attempt(`truncate to ${len}`, s.bytes.subarray(0, len));
    // Every 32-bit window set to a hostile length (covers all length and count fields) in frames of sane size.
    if (s.bytes.length <= 512) {
      for (let at = 1; at + 4 <= s.bytes.length; at++) {
        for (const v of [0xffffffff, 0x7fffffff, 0x80000000]) {
          const b = Buffer.from(s.bytes);
          b.writeUInt32BE(v, at);
          attempt(`Int32 0x${v.toString(16)} at ${at}`, b);
        }
        const b = Buffer.from(s.bytes);
        b.writeUInt16BE(0xffff, at);
        attempt(`Int16 0xffff at ${at}`, b);
      }
    }
    // Seeded random mutations, sometimes stacked.
    for (let i = 0; i < ROUNDS; i++) {
      let m = randomMutation(rand, s.bytes);
      const what = [m.what];
      while (rand() < 0.3) {
        m = randomMutation(rand, m.bytes);
        what.push(m.what);
      }
      attempt(what.join(' + '), m.bytes);
    }
    // The frame as a whole must still decode in the same decoder state with each version it is valid for.
    for (let v = s.version; v <= 4; v++) {
      if (s.bytes[0] === 0x41 && v >= 4) continue; // the v4 Stream Abort layout differs by design
      assert.doesNotThrow(() => decoderFor({ ...s, version: v }).decode(s.bytes), `seed ${SEED}: ${s.origin} under v${v}`);
    }
  }
  assert.ok(runs > 20_000, `ran ${runs} mutations`);
  assert.ok(decoded > 0, 'some mutations still decode');
});

test(`fuzz replication frames around fixture messages (seed ${SEED})`, () => {
  const rand = prng(SEED ^ 0x9e3779b9);
  const decoder = new PgOutputDecoder({ protocolVersion: 4 });
  let runs = 0;
  const frames: Buffer[] = [new Bytes().tag('k').u64(0x2000000n).i64(848846472209932n).u8(1).build()];
  for (const s of seeds().filter((x) => !x.inStream).slice(0, 40)) {
    frames.push(new Bytes().tag('w').u64(0x1000n).u64(0x2000n).i64(5n).raw(s.bytes).build());
  }
  for (const frame of frames) {
    for (let i = 0; i < ROUNDS; i++) {
      const m = randomMutation(rand, frame);
      runs++;
      check(
        () => {
          const f = decodeReplicationFrame(m.bytes);
          if (f.kind === 'xlogdata' && f.data.length > 0) {
            let inner: PgOutputMessage | undefined;
            try {
              inner = decoder.decode(f.data);
            } finally {
              if (inner?.tag === 'stream_start') decoder.decode(Buffer.from('E'));
            }
          }
        },
        () => `mutation ${m.what}\ninput: ${m.bytes.toString('hex')}`,
      );
    }
    for (let len = 0; len < frame.length; len++) {
      runs++;
      check(() => decodeReplicationFrame(frame.subarray(0, len)), () => `truncated to ${len}: ${frame.toString('hex')}`);
    }
  }
  assert.ok(runs > 10_000, `ran ${runs} mutations`);
});
