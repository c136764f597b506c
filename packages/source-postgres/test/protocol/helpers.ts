/** Shared helpers for the protocol tests: fixture loading, a byte builder, a seeded PRNG. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgOutputDecoder, type PgOutputMessage } from '../../src/protocol/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export interface RelationFacts {
  oid: number;
  columns: Array<{ name: string; typeOid: number; typmod: number }>;
}

export interface Fixture {
  description: string;
  server: string;
  protocolVersion: number;
  options: Record<string, string>;
  facts: {
    schema: string;
    relations: Record<string, RelationFacts>;
    types?: Record<string, number>;
    xids: Record<string, number>;
    values?: Record<string, string>;
    committedRows?: number;
  };
  frames: Array<{ lsn: string; hex: string }>;
}

export interface DecodedFrame {
  lsn: string;
  bytes: Buffer;
  /** decoder.inStream before this frame was decoded */
  inStream: boolean;
  message: PgOutputMessage;
}

export const FIXTURE_FILES = ['pgoutput-v1.json', 'pgoutput-v1-binary.json', 'pgoutput-v2-stream.json'] as const;

export function loadFixture(file: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Fixture;
}

/** Decodes every frame of a fixture in order with one decoder, as a consumer would. */
export function decodeFixture(fixture: Fixture): DecodedFrame[] {
  const decoder = new PgOutputDecoder({ protocolVersion: fixture.protocolVersion });
  return fixture.frames.map((f) => {
    const bytes = Buffer.from(f.hex, 'hex');
    const inStream = decoder.inStream;
    return { lsn: f.lsn, bytes, inStream, message: decoder.decode(bytes) };
  });
}

/** Big-endian byte builder for hand-made messages. */
export class Bytes {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }
  tag(c: string): this {
    return this.u8(c.charCodeAt(0));
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  cstr(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }
  raw(b: Buffer | string): this {
    this.parts.push(typeof b === 'string' ? Buffer.from(b, 'utf8') : b);
    return this;
  }
  /** TupleData from a compact description: null, 'u' marker object, string (text) or Buffer (binary). */
  tuple(values: Array<string | Buffer | null | { unchanged: true }>): this {
    this.u16(values.length);
    for (const v of values) {
      if (v === null) this.tag('n');
      else if (typeof v === 'string') {
        const b = Buffer.from(v, 'utf8');
        this.tag('t').i32(b.length).raw(b);
      } else if (Buffer.isBuffer(v)) this.tag('b').i32(v.length).raw(v);
      else this.tag('u');
    }
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** mulberry32: small, fast, seeded; failures reproduce from the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
