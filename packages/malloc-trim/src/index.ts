import { createRequire } from 'node:module';

/**
 * glibc's `malloc_trim(0)`, through a native module built at install (`native/malloc_trim.c`,
 * node-gyp). Why: free() gives pages back to the operating system only from the top of the heap;
 * a process that ran a burst (a catch-up, a replay) keeps every page of malloc memory freed below
 * a block still in use — ≈10 MB per binary after the benchmark (docs/performance.md, Session 15).
 * Node has no call for it. walrelay's idle memory release calls it after its memory-reducing
 * collection (packages/core/src/idle-memory.ts), never under load: it walks every arena while
 * holding its lock.
 *
 * When the module could not be built (no C compiler, make or python3 at install) or the C library
 * is not glibc, `available` is false with the reason, which the idle release logs once.
 */
export type MallocTrim =
  | { readonly available: true; readonly trim: () => boolean }
  | { readonly available: false; readonly reason: string };

/** Where node-gyp puts the module, relative to this file (src/ or dist/). */
export const MALLOC_TRIM_MODULE = '../build/Release/malloc_trim.node';

/** Loads the native module (`path` for tests): never throws. */
export function loadMallocTrim(path: string = MALLOC_TRIM_MODULE): MallocTrim {
  let addon: { trim?: unknown };
  try {
    addon = createRequire(import.meta.url)(path) as { trim?: unknown };
  } catch (e) {
    return {
      available: false,
      reason: `the native module ${path} did not load (${(e as Error).message.split('\n')[0]}): rebuild it with \`npm rebuild @walrelay/malloc-trim\` where a C compiler, make and python3 are installed`,
    };
  }
  if (typeof addon.trim !== 'function') return { available: false, reason: 'the C library is not glibc, which is the one with malloc_trim' };
  return { available: true, trim: addon.trim as () => boolean };
}
