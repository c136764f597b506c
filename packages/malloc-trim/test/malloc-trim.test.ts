import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMallocTrim } from '../src/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GLIBC = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;

test('the native module is built and loads where the C library is glibc', { skip: GLIBC === undefined ? 'not glibc' : false }, () => {
  const m = loadMallocTrim();
  assert.equal(m.available, true, m.available ? '' : m.reason);
});

test('a module that does not load is reported with its path and the way to rebuild it, not thrown', () => {
  const m = loadMallocTrim('../build/Release/no-such-module.node');
  assert.equal(m.available, false);
  assert.ok(!m.available);
  assert.match(m.reason, /no-such-module\.node/);
  assert.match(m.reason, /npm rebuild @walrelay\/malloc-trim/);
});

/**
 * In a fresh process with one arena and walrelay's thresholds: 64 KB buffers (malloc'd, below the
 * mmap threshold) fill the heap, one in ten stays, the rest are collected. free() alone keeps
 * their pages (they lie below blocks in use); trim hands them back.
 */
test('trim hands back the pages of malloc memory freed below blocks still in use', { skip: GLIBC === undefined ? 'not glibc' : false }, () => {
  const script = `
    import { loadMallocTrim } from '@walrelay/malloc-trim';
    const m = loadMallocTrim();
    if (!m.available) throw new Error(m.reason);
    const kept = [];
    let all = [];
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.allocUnsafeSlow(64 * 1024).fill(i & 255);
      all.push(b);
      if (i % 10 === 9) kept.push(b);
    }
    const filled = process.memoryUsage.rss();
    all = null;
    for (let i = 0; i < 4; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
    const freed = process.memoryUsage.rss();
    const trimmed = m.trim();
    const after = process.memoryUsage.rss();
    console.log(JSON.stringify({ filled, freed, after, trimmed, kept: kept.length }));
  `;
  const out = execFileSync(process.execPath, ['--expose-gc', '--conditions=development', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=262144:glibc.malloc.trim_threshold=131072' },
  });
  const r = JSON.parse(out.trim().split('\n').at(-1) as string) as { filled: number; freed: number; after: number; trimmed: boolean; kept: number };
  const MB = 1024 * 1024;
  assert.equal(r.kept, 200);
  assert.equal(r.trimmed, true);
  // 1,800 of the 2,000 buffers (≈112 MB) were freed; free() gave back little of it, trim most.
  assert.ok(r.freed > r.filled - 20 * MB, `free() alone gave back ${Math.round((r.filled - r.freed) / MB)} MB: the test no longer leaves freed memory below blocks in use`);
  assert.ok(r.freed - r.after > 60 * MB, `trim gave back ${Math.round((r.freed - r.after) / MB)} MB (rss filled ${Math.round(r.filled / MB)}, freed ${Math.round(r.freed / MB)}, after ${Math.round(r.after / MB)} MB)`);
});
