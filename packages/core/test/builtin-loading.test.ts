import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Loading a walrelay package must not load Node's bundled undici (fetch, WebSocket): an ESM
 * `import … from 'node:http'` does (its facade reads node:http's lazy WebSocket/EventSource
 * getters), which costs every process ≈7 MB resident for a client walrelay never uses
 * (core/src/node-http.ts). Each package is loaded in a fresh process, as its binaries load it.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PACKAGES = ['@walrelay/core', '@walrelay/source-postgres', '@walrelay/sink', '@walrelay/sink-sqlite', '@walrelay/sink-mysql', '@walrelay/sink-mssql', '@walrelay/cli'];

for (const pkg of PACKAGES) {
  test(`loading ${pkg} leaves undici unloaded`, () => {
    const script = `await import(${JSON.stringify(pkg)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
    const out = execFileSync(process.execPath, ['--conditions=development', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1) as string), [], `${pkg} loaded undici`);
  });
}
