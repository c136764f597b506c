import { createRequire } from 'node:module';

/** The kafkajs release whose source modules walrelay replaces (kafkajs-request-framing.ts, kafkajs-produce-request.ts). */
export const KAFKAJS_VERSION = '2.2.4';

/**
 * Replaces the exports of one of kafkajs' source modules (`path`, e.g.
 * `kafkajs/src/protocol/request.js`) before kafkajs loads it, through the CommonJS module
 * cache: `replace` gets kafkajs' own exports and a `require` for its other modules, and returns
 * what kafkajs will load instead (marked, so a second install sees it). Only over kafkajs
 * 2.2.4; false when kafkajs is another version, missing, or already loaded that module.
 */
export function replaceKafkajsModule(path: string, replace: (original: unknown, require: NodeJS.Require) => object): boolean {
  const require = createRequire(import.meta.url);
  let file: string;
  try {
    file = require.resolve(path);
    if ((require('kafkajs/package.json') as { version?: string }).version !== KAFKAJS_VERSION) return false;
  } catch {
    return false;
  }
  if (require.cache[file]) return (require.cache[file]!.exports as { walrelay?: boolean }).walrelay === true;
  const replacement = replace(require(file), require) as { walrelay?: boolean };
  replacement.walrelay = true;
  require.cache[file]!.exports = replacement;
  return true;
}

/** A kafkajs `Encoder` holding `buf` (what kafkajs reads back through its `buffer` getter). */
export function encoderHolding<E extends { buf: Buffer; offset: number }>(Encoder: new (size?: number) => E, buf: Buffer): E {
  const encoder = new Encoder(1);
  encoder.buf = buf;
  encoder.offset = buf.length;
  return encoder;
}
