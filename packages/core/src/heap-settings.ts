/**
 * The V8 heap settings walrelay's binaries run with. A binary's first import applies them:
 * `@walrelay/core/default-heap-settings` (DEFAULT_NODE_FLAGS), or a module of its own that calls
 * `applyHeapSettings` with its flags (walrelay-sink-sqlite's `process-settings.ts`). This module
 * imports nothing else, so that runs before the rest of the binary is evaluated.
 *
 * Why: on a machine with plenty of memory V8 lets the young generation grow to 128 MB and the
 * old generation to about four times what survived the last full collection. The source and
 * the sinks allocate fast and keep little (30–60 MB live after a full collection in the
 * benchmark), so they peaked at 350–500 MB RSS made mostly of garbage (docs/performance.md).
 * An 8 MB semi-space and a 2× growing factor bound the heap to its live data plus a margin,
 * with no hard limit: a larger live set (big rows, a large fetch) still gets the memory it
 * needs instead of a crash. (16 MB until session 11: three alternated pairs measured 8 MB at
 * ≈20 MB lower peaks in each binary and the same CPU per change for the source and the MariaDB
 * sink, ≈7% more for the SQLite sink; docs/performance.md.) The SQLite sink runs with a 4 MB
 * semi-space (SQLITE_SINK_NODE_FLAGS; session 12: five alternated pairs, peak 207 against
 * 229 MB at +2.5% CPU per row; the MariaDB sink and the source gained nothing from it).
 *
 * How: node reads heap flags only at start-up, so when none of them was given the process
 * replaces itself (`process.execve`: same PID, same environment, arguments and open
 * descriptors, so supervisors and signals are unaffected) with the same command plus the
 * flags. Flags given by the operator (on the command line or in NODE_OPTIONS) win: then
 * nothing is added. `WALRELAY_NODE_FLAGS` replaces the defaults; set it empty to run with V8's
 * own settings.
 *
 * The same restart sets glibc's malloc tunables (`GLIBC_TUNABLES`), which glibc reads only at
 * start-up too: two arenas instead of up to 8 per core (threads — libuv's pool, V8's GC helpers —
 * each kept freed memory in an arena of its own), a fixed mmap threshold of 256 KB (buffers
 * above it — a fetch response, a statement's text; a produce request's body is used again
 * (produce-request-buffers.ts) — are mapped and
 * unmapped whole, so freeing one gives its pages back at once instead of leaving a hole in the
 * heap that buffers of other sizes fragment), and a trim threshold of 128 KB instead of the
 * dynamic one (twice the mmap threshold: up to 64 MB freed at the top of the heap was never given
 * back). Measured: two arenas and the trim threshold, peaks ≈10 MB and idle RSS after a burst
 * ≈10 MB lower at the same CPU per change (docs/performance.md, Session 10); the threshold at
 * 256 KB instead of 32 MB, peaks 13 MB (source), 12 MB (SQLite sink) and 4 MB (MariaDB sink)
 * lower over six alternated pairs, CPU per change within the machine's noise (Session 14; a
 * 128 KB threshold cost the source 15% in session 8, when kafkajs still grew 16 MB buffers per
 * request).
 * Any malloc tuning of the operator's (`GLIBC_TUNABLES` naming glibc.malloc, or a `MALLOC_*`
 * variable) wins; `WALRELAY_MALLOC_TUNABLES` replaces the defaults (empty: glibc's own).
 * Other C libraries (musl) ignore the variable.
 */
export const DEFAULT_NODE_FLAGS = ['--max-semi-space-size=8', '--heap-growing-percent=100'] as const;
/** walrelay-sink-sqlite's defaults: a smaller young generation (see above). */
export const SQLITE_SINK_NODE_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=100'] as const;

const HEAP_FLAG = /(^|\s)--(max[-_]semi[-_]space[-_]size|min[-_]semi[-_]space[-_]size|heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|max[-_]heap[-_]size)(=|\s|$)/;

/** The flags to add to this process's command, or none (the decision, without side effects). */
export function heapFlagsToAdd(execArgv: readonly string[], env: NodeJS.ProcessEnv, defaults: readonly string[] = DEFAULT_NODE_FLAGS): string[] {
  const wanted = env.WALRELAY_NODE_FLAGS === undefined ? [...defaults] : env.WALRELAY_NODE_FLAGS.split(/\s+/).filter(Boolean);
  if (wanted.length === 0) return [];
  if (execArgv.some((a) => HEAP_FLAG.test(a)) || HEAP_FLAG.test(env.NODE_OPTIONS ?? '')) return [];
  return wanted;
}

export const DEFAULT_MALLOC_TUNABLES = 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=262144:glibc.malloc.trim_threshold=131072';

/** The `GLIBC_TUNABLES` value to start with, or undefined to leave the environment as it is. */
export function mallocTunablesToAdd(env: NodeJS.ProcessEnv): string | undefined {
  const wanted = env.WALRELAY_MALLOC_TUNABLES ?? DEFAULT_MALLOC_TUNABLES;
  if (wanted.trim() === '') return undefined;
  const current = env.GLIBC_TUNABLES ?? '';
  const have = new Set(current.split(':'));
  if (wanted.split(':').every((t) => have.has(t))) return undefined; // set already (the restarted process)
  if (current.includes('glibc.malloc.') || Object.entries(env).some(([k, v]) => k.startsWith('MALLOC_') && v !== '')) return undefined;
  return current === '' ? wanted : `${current}:${wanted}`;
}

/**
 * Restarts this process in place with the heap flags (`defaults` unless the operator set
 * WALRELAY_NODE_FLAGS or heap flags of their own) and the malloc tunables, when any is missing;
 * returns when there is nothing to add (or no execve: Windows, worker threads).
 */
export function applyHeapSettings(defaults: readonly string[] = DEFAULT_NODE_FLAGS): void {
  const flags = heapFlagsToAdd(process.execArgv, process.env, defaults);
  const tunables = mallocTunablesToAdd(process.env);
  // execve is missing on Windows and in worker threads: then the process runs with V8's defaults.
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if ((flags.length === 0 && tunables === undefined) || typeof execve !== 'function') return;
  // The heap flags go in the command and the tunables in the environment, so the new process
  // sees them and adds nothing (no loop).
  const env = tunables === undefined ? process.env : { ...process.env, GLIBC_TUNABLES: tunables };
  execve.call(process, process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], env);
}
