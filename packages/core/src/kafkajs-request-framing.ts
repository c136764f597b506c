import { encoderHolding, replaceKafkajsModule } from './kafkajs-module.js';

/**
 * kafkajs 2.2.4 frames every request (`protocol/request.js`: size, api key, api version,
 * correlation id, client id, then the body) through two growing encoders: each allocates a
 * zero-filled buffer of the next power of two and copies the body into it. For the source's
 * produce requests (5,000 records per send; 11 MB with 2 KB rows) that is 2 × 16 MB zero-filled
 * and 2 × 11 MB copied per request, in the profile as `Buffer.copy` under kafkajs' encoder and
 * as garbage (docs/performance.md).
 *
 * This module replaces kafkajs' framing, before kafkajs loads, with one that writes the same
 * bytes into one buffer of the exact size (one copy of the body); a body that reserved room in
 * front of itself (the produce encoder's headroom, `walrelayFrame`) is framed in place, with
 * no copy at all. Only over the known kafkajs version; a unit test compares the bytes with
 * kafkajs' own framing.
 */

/** Bytes a body reserves in front of itself for its frame: 4 + 2 + 2 + 4 + 2 + a client id of up to 242 bytes. */
export const REQUEST_HEADROOM = 256;

/** What an encoder that reserved headroom carries besides kafkajs' `buf`/`offset` (the body alone). */
export interface FramedBody {
  readonly walrelayFrame: { readonly whole: Buffer; readonly bodyStart: number };
}

interface BodyEncoder {
  buf: Buffer;
  offset: number;
  walrelayFrame?: FramedBody['walrelayFrame'];
}

interface RequestArgs {
  correlationId: number;
  clientId: string | null | undefined;
  request: { apiKey: number; apiVersion: number; encode: () => Promise<BodyEncoder> | BodyEncoder };
}

function headerSize(clientId: string | null | undefined): number {
  return 4 + 2 + 2 + 4 + 2 + (clientId === null || clientId === undefined ? 0 : Buffer.byteLength(clientId, 'utf8'));
}

function writeHeader(buf: Buffer, at: number, size: number, apiKey: number, apiVersion: number, correlationId: number, clientId: string | null | undefined): number {
  let pos = buf.writeInt32BE(size, at);
  pos = buf.writeInt16BE(apiKey, pos);
  pos = buf.writeInt16BE(apiVersion, pos);
  pos = buf.writeInt32BE(correlationId, pos);
  if (clientId === null || clientId === undefined) return buf.writeInt16BE(-1, pos);
  const len = Buffer.byteLength(clientId, 'utf8');
  pos = buf.writeInt16BE(len, pos);
  return pos + buf.write(clientId, pos, len, 'utf8');
}

/**
 * The framed request, byte for byte as kafkajs' `protocol/request.js` writes it: in the body's
 * own buffer when it reserved enough room in front, otherwise in one new buffer of the exact size.
 */
export function frameRequest(apiKey: number, apiVersion: number, correlationId: number, clientId: string | null | undefined, body: BodyEncoder): Buffer {
  const header = headerSize(clientId);
  const bodyLength = body.offset;
  const frame = body.walrelayFrame;
  if (frame !== undefined && frame.bodyStart >= header && frame.whole.length - frame.bodyStart >= bodyLength) {
    const start = frame.bodyStart - header;
    writeHeader(frame.whole, start, header - 4 + bodyLength, apiKey, apiVersion, correlationId, clientId);
    return frame.whole.subarray(start, frame.bodyStart + bodyLength);
  }
  const out = Buffer.allocUnsafe(header + bodyLength);
  const pos = writeHeader(out, 0, header - 4 + bodyLength, apiKey, apiVersion, correlationId, clientId);
  body.buf.copy(out, pos, 0, bodyLength);
  return out;
}

function install(): boolean {
  return replaceKafkajsModule('kafkajs/src/protocol/request.js', (_original, require) => {
    const Encoder = require('kafkajs/src/protocol/encoder.js') as new (size?: number) => BodyEncoder;
    // kafkajs' connection reads `.buffer` (buf up to offset) of what this returns.
    return async ({ correlationId, clientId, request: { apiKey, apiVersion, encode } }: RequestArgs): Promise<BodyEncoder> =>
      encoderHolding(Encoder, frameRequest(apiKey, apiVersion, correlationId, clientId, await encode()));
  });
}

/** Whether kafkajs frames requests through the function above (false: kafkajs was loaded first, or another version). */
export const kafkaRequestFramingPatched = install();
