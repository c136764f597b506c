import { createRequire } from 'node:module';

/**
 * CRC32C (Castagnoli), the checksum of every Kafka record batch (v2). walrelay-source computes it
 * over every batch it produces: with the CPU's crc32 instruction through a native module built
 * at install (`native/crc32c.c`, node-gyp; x86-64 with SSE4.2), else with the slicing-by-8
 * tables below. Both give the same values (tests); the native one is 7–15 times faster on
 * batches of 1 KB and more (docs/performance.md, Session 16).
 */
export type Crc32c = (bytes: Uint8Array, start?: number, end?: number) => number;

/** Which implementation this process uses, and why not the native one when it does not. */
export type Crc32cImplementation = { readonly native: true } | { readonly native: false; readonly reason: string };

/** Reflected CRC32C tables for slicing-by-8. */
const TABLES: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const t0 = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!;
    for (let k = 1; k < 8; k++) {
      c = t0[c & 0xff]! ^ (c >>> 8);
      tables[k]![n] = c;
    }
  }
  return tables;
})();

/** CRC32C of `bytes[start, end)` in JavaScript (slicing-by-8). */
export function crc32cJavaScript(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^ t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) crc = t0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Where node-gyp puts the module, relative to this file (src/ or dist/). */
export const CRC32C_MODULE = '../build/Release/crc32c.node';

type NativeCrc32c = (bytes: Uint8Array, start: number, end: number) => number;

/** Loads the native module (`path` for tests): never throws. */
export function loadNativeCrc32c(path: string = CRC32C_MODULE): { readonly crc32c: NativeCrc32c } | { readonly reason: string } {
  let addon: { crc32c?: unknown };
  try {
    addon = createRequire(import.meta.url)(path) as { crc32c?: unknown };
  } catch (e) {
    return {
      reason: `the native module ${path} did not load (${(e as Error).message.split('\n')[0]}): rebuild it with \`npm rebuild @walrelay/crc32c\` where a C compiler, make and python3 are installed`,
    };
  }
  if (typeof addon.crc32c !== 'function') return { reason: 'this CPU has no crc32 instruction the module uses (x86-64 with SSE4.2)' };
  return { crc32c: addon.crc32c as NativeCrc32c };
}

const loaded = loadNativeCrc32c();

/** This process's implementation (what the source logs at start when it is not the native one). */
export const crc32cImplementation: Crc32cImplementation = 'crc32c' in loaded ? { native: true } : { native: false, reason: loaded.reason };

/** CRC32C of `bytes[start, end)`: the native implementation when it loaded, else JavaScript's. */
export const crc32c: Crc32c =
  'crc32c' in loaded
    ? (() => {
        const native = loaded.crc32c;
        return (bytes: Uint8Array, start = 0, end = bytes.length) => native(bytes, start, end);
      })()
    : crc32cJavaScript;
