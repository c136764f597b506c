import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A module of kafkajs as kafkajs ships it (`file`, resolved), loaded afresh beside walrelay's installed replacement. */
export function kafkajsOriginal<T>(file: string): T {
  const installed = require.cache[file];
  delete require.cache[file];
  try {
    return require(file) as T;
  } finally {
    require.cache[file] = installed;
  }
}
