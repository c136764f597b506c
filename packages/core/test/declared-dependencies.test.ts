import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every package declares every package its product code imports (dependencies or
 * peerDependencies, not devDependencies: src ships). Scans packages/<name>/src for static
 * imports, re-exports and dynamic import() of bare specifiers.
 */
const PACKAGES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILTINS = new Set(builtinModules);
const SPECIFIER = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[^\w.])import\s+['"]([^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
  return BUILTINS.has(name) ? null : name;
}

/** Bare package names imported by the files under `dir`, with one file each for the message. */
function importedPackages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(dir)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SPECIFIER)) {
      const name = packageOf((m[1] ?? m[2] ?? m[3]) as string);
      if (name && !found.has(name)) found.set(name, path.relative(PACKAGES, file));
    }
  }
  return found;
}

test('every package declares what its src imports', () => {
  const missing: string[] = [];
  let checked = 0;
  for (const pkg of readdirSync(PACKAGES)) {
    const manifestPath = path.join(PACKAGES, pkg, 'package.json');
    const src = path.join(PACKAGES, pkg, 'src');
    let manifest: { name: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      statSync(src);
    } catch {
      continue;
    }
    checked++;
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}), manifest.name]);
    for (const [name, file] of importedPackages(src)) {
      if (!declared.has(name)) missing.push(`${manifest.name} imports ${name} (${file}) without declaring it in packages/${pkg}/package.json`);
    }
  }
  assert.ok(checked >= 6, `found the packages (${checked})`);
  assert.deepEqual(missing, []);
});

test('the import scanner sees static, type-only, re-export and dynamic imports', () => {
  const text = [
    "import { a } from 'kafkajs';",
    "import type avro from 'avsc';",
    "export { z } from 'zod';",
    "const m = await import('@scope/pkg/sub');",
    "import 'side-effect';",
    "import fs from 'node:fs';",
    "import { x } from './local.js';",
    "import path from 'path';",
  ].join('\n');
  const names = [...text.matchAll(SPECIFIER)].map((m) => packageOf((m[1] ?? m[2] ?? m[3]) as string)).filter(Boolean);
  assert.deepEqual(names, ['kafkajs', 'avsc', 'zod', '@scope/pkg', 'side-effect']);
});
