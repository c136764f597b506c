/**
 * The V8 heap settings walrelay's binaries run with. Import it first in a binary's entry
 * module (`import '@walrelay/core/heap-settings'`): it imports nothing else, so it runs before
 * the rest of the binary is evaluated.
 *
 * Why: on a machine with plenty of memory V8 lets the young generation grow to 128 MB and the
 * old generation to about four times what survived the last full collection. The source and
 * the sinks allocate fast and keep little (30–60 MB live after a full collection in the
 * benchmark), so they peaked at 350–500 MB RSS made mostly of garbage (docs/performance.md).
 * A 16 MB semi-space and a 2× growing factor bound the heap to its live data plus a margin,
 * with no hard limit: a larger live set (big rows, a large fetch) still gets the memory it
 * needs instead of a crash.
 *
 * How: node reads heap flags only at start-up, so when none of them was given the process
 * replaces itself (`process.execve`: same PID, same environment, arguments and open
 * descriptors, so supervisors and signals are unaffected) with the same command plus the
 * flags. Flags given by the operator (on the command line or in NODE_OPTIONS) win: then
 * nothing is added. `WALRELAY_NODE_FLAGS` replaces the defaults; set it empty to run with V8's
 * own settings.
 */
export const DEFAULT_NODE_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=100'] as const;

const HEAP_FLAG = /(^|\s)--(max[-_]semi[-_]space[-_]size|min[-_]semi[-_]space[-_]size|heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|max[-_]heap[-_]size)(=|\s|$)/;

/** The flags to add to this process's command, or none (the decision, without side effects). */
export function heapFlagsToAdd(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const wanted = env.WALRELAY_NODE_FLAGS === undefined ? [...DEFAULT_NODE_FLAGS] : env.WALRELAY_NODE_FLAGS.split(/\s+/).filter(Boolean);
  if (wanted.length === 0) return [];
  if (execArgv.some((a) => HEAP_FLAG.test(a)) || HEAP_FLAG.test(env.NODE_OPTIONS ?? '')) return [];
  return wanted;
}

function apply(): void {
  const flags = heapFlagsToAdd(process.execArgv, process.env);
  // execve is missing on Windows and in worker threads: then the process runs with V8's defaults.
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (flags.length === 0 || typeof execve !== 'function') return;
  // The heap flags go in the command, so the new process sees them and adds nothing (no loop).
  execve.call(process, process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

apply();
