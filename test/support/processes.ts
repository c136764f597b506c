import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const ENTRY: Record<string, string> = {
  source: 'packages/source-postgres/src/main.ts',
  'sink-sqlite': 'packages/sink-sqlite/src/main.ts',
  'sink-mysql': 'packages/sink-mysql/src/main.ts',
  'sink-mssql': 'packages/sink-mssql/src/main.ts',
};

/** The built binaries, as users run them (npm run build first). */
const BUILT: Record<string, string> = {
  source: 'packages/source-postgres/bin/walrelay-source.js',
  'sink-sqlite': 'packages/sink-sqlite/bin/walrelay-sink-sqlite.js',
  'sink-mysql': 'packages/sink-mysql/bin/walrelay-sink-mysql.js',
  'sink-mssql': 'packages/sink-mssql/bin/walrelay-sink-mssql.js',
};

/** WALRELAY_RUN_BUILT=1 (the benchmark): run the built dist/ binaries instead of the TypeScript sources through tsx. */
const RUN_BUILT = process.env.WALRELAY_RUN_BUILT === '1';
/**
 * WALRELAY_PROFILE_DIR (npm run bench -- --profile): each process writes a CPU profile and a
 * sampling heap profile (what is alive at exit) there when it exits. With
 * WALRELAY_PROFILE_ALLOCATIONS=1 (`--alloc-profile`) the heap profile is an allocation profile
 * instead: everything allocated over the process's life, collected objects included
 * (test/bench/allocation-profile.mjs; V8 has one sampling heap profiler, so it is one or the other).
 */
function profileArgs(): string[] {
  const dir = process.env.WALRELAY_PROFILE_DIR;
  // WALRELAY_NODE_ARGS: extra node flags for every binary started (experiments: --trace-gc, heap limits).
  const extra = (process.env.WALRELAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  if (!dir) return extra;
  const heap =
    process.env.WALRELAY_PROFILE_ALLOCATIONS === '1'
      ? ['--import', pathToFileURL(path.join(ROOT, 'test/bench/allocation-profile.mjs')).href]
      : ['--heap-prof', `--heap-prof-dir=${dir}`];
  return [...extra, '--cpu-prof', `--cpu-prof-dir=${dir}`, ...heap];
}

export interface StartOptions {
  /** Run the built binary (its bin, which runs the bundle `npm run build` wrote), whatever WALRELAY_RUN_BUILT says. */
  readonly built?: boolean;
}

export interface RunningProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  /** Everything it wrote to stderr (JSON logs) so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM and wait for the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Starts a walrelay binary from its TypeScript source (the built bundle with `options.built` or
 * WALRELAY_RUN_BUILT=1) as a real OS process, so tests can SIGKILL it. Logs go to
 * .test-logs/<name>-<pid>.log as well. `args` go to the binary (e.g. `--config file`).
 */
export function startProcess(kind: keyof typeof ENTRY | string, env: Record<string, string>, name = kind, args: readonly string[] = [], options: StartOptions = {}): RunningProcess {
  const entry = ENTRY[kind];
  if (!entry) throw new Error(`unknown binary ${kind}`);
  const argv = [...profileArgs(), ...((options.built ?? RUN_BUILT) ? [path.join(ROOT, BUILT[kind] as string), ...args] : ['--conditions=development', '--import', 'tsx', path.join(ROOT, entry), ...args])];
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, WALRELAY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logDir = path.join(ROOT, '.test-logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}-${child.pid}.log`);
  const file = createWriteStream(logFile);
  let buffer = '';
  const onData = (chunk: Buffer): void => {
    file.write(chunk);
    buffer += chunk.toString('utf8');
    if (buffer.length > 2_000_000) buffer = buffer.slice(-1_000_000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => {
    file.end();
    resolve(code ?? (signal ? -1 : null));
  }));
  return {
    name,
    child,
    logFile,
    exited,
    output: () => buffer,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop: async (timeoutMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
