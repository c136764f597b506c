import { DecodeError } from '@walrelay/core';

const EMPTY = Buffer.alloc(0);

/** Printable form of a message tag byte for error messages: 'U' or 0x00. */
export function tagName(tag: number): string {
  return tag >= 0x21 && tag <= 0x7e ? `'${String.fromCharCode(tag)}'` : `0x${tag.toString(16).padStart(2, '0')}`;
}

/**
 * A bounds-checked big-endian cursor over one message. Internal to the protocol module.
 * Every read checks the remaining length first, so Buffer.readX never sees an index out
 * of range; every failure is a DecodeError naming the message (label) and the byte offset.
 * One instance is reused per decoder: no allocation per message.
 */
export class ByteReader {
  buf: Buffer = EMPTY;
  pos = 0;
  label = '';

  reset(buf: Buffer, label: string, pos: number): void {
    this.buf = buf;
    this.label = label;
    this.pos = pos;
  }

  /** Drop the reference to the caller's buffer (it may be large and reused). */
  release(): void {
    this.buf = EMPTY;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(what: string, offset: number = this.pos, cause?: unknown): never {
    throw new DecodeError(`${this.label}: ${what} at offset ${offset}`, {
      cause,
      details: { message: this.label, offset, length: this.buf.length },
    });
  }

  /** Wrap an unexpected non-DecodeError (a bug, never expected) so that the rule "only DecodeError" holds. */
  wrap(error: unknown): DecodeError {
    if (error instanceof DecodeError) return error;
    const text = error instanceof Error ? error.message : String(error);
    return new DecodeError(`${this.label}: internal decoder error (${text}) at offset ${this.pos}`, {
      cause: error,
      details: { message: this.label, offset: this.pos, length: this.buf.length, internal: true },
    });
  }

  need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) {
      this.fail(`${what} (${n} bytes) runs past the end of the ${this.buf.length}-byte message`);
    }
  }

  u8(what: string): number {
    if (this.pos >= this.buf.length) this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(what: string): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Unsigned 64-bit (LSNs). */
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Signed 64-bit (TimestampTz). */
  i64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(what: string): string {
    const start = this.pos;
    const nul = start < this.buf.length ? this.buf.indexOf(0, start) : -1;
    if (nul < 0) this.fail(`${what}: string has no NUL terminator before the end of the ${this.buf.length}-byte message`);
    this.pos = nul + 1;
    return this.buf.toString('utf8', start, nul);
  }

  /** A length (Int32) that must be >= 0 and fit in the rest of the message. Returns the length; pos is after the length field. */
  length(what: string): number {
    const at = this.pos;
    const n = this.i32(what);
    if (n < 0) this.fail(`${what} ${n} is negative`, at);
    if (n > this.buf.length - this.pos) this.fail(`${what} ${n} runs past the end of the ${this.buf.length}-byte message`, at);
    return n;
  }

  /** The message must be fully consumed: trailing bytes mean a layout mismatch. */
  finish(): void {
    if (this.pos !== this.buf.length) {
      this.fail(`${this.buf.length - this.pos} unexpected trailing byte(s) after the end of the message`);
    }
  }
}

/** Accept a Buffer (or any Uint8Array, viewed without copying); anything else is a DecodeError. */
export function asBuffer(buf: unknown, what: string): Buffer {
  if (Buffer.isBuffer(buf)) return buf;
  if (buf instanceof Uint8Array) return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  throw new DecodeError(`${what}: expected a Buffer, got ${buf === null ? 'null' : typeof buf} at offset 0`, {
    details: { message: what, offset: 0 },
  });
}
