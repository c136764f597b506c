import { DecodeError } from '../errors.js';

/** Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary. */
export const MAGIC_BYTE = 0;

export function frame(schemaId: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = MAGIC_BYTE;
  out.writeUInt32BE(schemaId, 1);
  payload.copy(out, 5);
  return out;
}

export interface Framed {
  readonly schemaId: number;
  readonly payload: Buffer;
}

export function unframe(bytes: Buffer): Framed {
  return { schemaId: schemaIdOf(bytes), payload: bytes.subarray(5) };
}

/** Where the Avro payload of a framed record starts. */
export const PAYLOAD_START = 5;

/** The schema id of a framed record (the same checks as `unframe`, without its view of the payload). */
export function schemaIdOf(bytes: Buffer): number {
  if (bytes.length < 5) throw new DecodeError(`record of ${bytes.length} bytes is too short for the Confluent wire format`);
  if (bytes[0] !== MAGIC_BYTE) throw new DecodeError(`record starts with byte ${bytes[0]}, not the Confluent magic byte 0`);
  return bytes.readUInt32BE(1);
}
