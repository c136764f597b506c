import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const ENTRY: Record<string, string> = {
  source: 'packages/source-postgres/src/main.ts',
  'sink-sqlite': 'packages/sink-sqlite/src/main.ts',
  'sink-mysql': 'packages/sink-mysql/src/main.ts',
  'sink-mssql': 'packages/sink-mssql/src/main.ts',
};

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
 * Starts a walrelay binary from its TypeScript source as a real OS process, so
 * tests can SIGKILL it. Logs go to .test-logs/<name>-<pid>.log as well. `args` go to
 * the binary (e.g. `--config file`).
 */
export function startProcess(kind: keyof typeof ENTRY | string, env: Record<string, string>, name = kind, args: readonly string[] = []): RunningProcess {
  const entry = ENTRY[kind];
  if (!entry) throw new Error(`unknown binary ${kind}`);
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', path.join(ROOT, entry), ...args], {
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
