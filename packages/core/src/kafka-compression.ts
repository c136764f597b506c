import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { ConfigError } from './errors.js';
import { COMPRESSIONS } from './config.js';

/**
 * Compression of the record batches walrelay produces (`kafka.compression` of the source), and
 * the codecs its consumers need to read compressed batches from any producer.
 *
 * kafkajs 2.2.4 ships gzip only and leaves zstd, lz4 and snappy to codec packages. Node has
 * zstd in `node:zlib` since 22.15 / 23.8: walrelay registers it with kafkajs, for producing and
 * for consuming. Both run on libuv's thread pool (`zstdCompress`, `gunzip`…), not on the event
 * loop that decodes the replication stream. lz4 and snappy are not offered: node has no codec for
 * them, and a JavaScript one would run on the event loop, which is what limits the source
 * (docs/decisions.md, Session 11). A consumer that meets an lz4 or snappy batch (a topic
 * written by another producer) fails its fetch with kafkajs' error naming the codec.
 *
 * The codec table is kafkajs' own compression module (what kafkajs exports as
 * `CompressionCodecs`/`CompressionTypes`), read without loading the rest of kafkajs, so this
 * module can be imported in any order with the module replacements that must come first.
 */
export type Compression = (typeof COMPRESSIONS)[number];

interface KafkaEncoder {
  buffer: Buffer;
}
interface KafkaCodec {
  compress(encoder: KafkaEncoder): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}
const { Types, Codecs } = createRequire(import.meta.url)('kafkajs/src/protocol/message/compression/index.js') as {
  Types: { None: number; GZIP: number; ZSTD: number };
  Codecs: Record<number, () => KafkaCodec>;
};

const zstdCompress = typeof zlib.zstdCompress === 'function' ? promisify(zlib.zstdCompress) : undefined;
const zstdDecompress = typeof zlib.zstdDecompress === 'function' ? promisify(zlib.zstdDecompress) : undefined;

/** zstd level 3: zstd's and Kafka's own default. */
const ZSTD_LEVEL = 3;

/**
 * kafkajs' compression type for the `kafka.compression` setting (what `producer.send` takes);
 * a ConfigError naming the setting when this node has no such codec.
 */
export function kafkaCompressionType(compression: Compression): number {
  switch (compression) {
    case 'none':
      return Types.None;
    case 'gzip':
      return Types.GZIP;
    case 'zstd':
      if (!zstdCodecRegistered) throw new ConfigError(`kafka.compression zstd: this node (${process.version}) has no zstd in node:zlib (node 22.15 and later have it); set gzip or none`);
      return Types.ZSTD;
  }
}

/**
 * Registers zstd with kafkajs (its documented `CompressionCodecs` table), so producers can send
 * zstd batches and consumers read them. Idempotent; a codec an application registered first is
 * left in place. False when this node has no zstd.
 */
function registerZstdCodec(): boolean {
  const compress = zstdCompress;
  const decompress = zstdDecompress;
  if (!compress || !decompress) return false;
  const id = Types.ZSTD;
  const existing = Codecs[id];
  if (existing && (existing as { walrelay?: boolean }).walrelay !== true && !isKafkajsPlaceholder(existing)) return true;
  const params = { [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL };
  const codec: KafkaCodec = {
    compress: (encoder) => compress(encoder.buffer, { params }),
    decompress: (buffer) => decompress(buffer),
  };
  const factory = Object.assign(() => codec, { walrelay: true });
  Codecs[id] = factory;
  return true;
}

/** kafkajs' own entry for a codec it does not implement throws when called. */
function isKafkajsPlaceholder(factory: () => KafkaCodec): boolean {
  try {
    factory();
    return false;
  } catch {
    return true;
  }
}

/** Whether kafkajs can produce and read zstd batches in this process (registered at import). */
export const zstdCodecRegistered = registerZstdCodec();
