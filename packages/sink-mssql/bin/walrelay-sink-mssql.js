#!/usr/bin/env node
// The linked bin (node_modules/.bin/walrelay-sink-mssql): runs the built binary. Committed executable, so
// npm links it even before the first build; `npm run build` writes ../dist/walrelay-sink-mssql.js (scripts/bundle.mjs).
import { existsSync } from 'node:fs';

const main = new URL('../dist/walrelay-sink-mssql.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('walrelay-sink-mssql: not built yet (dist/walrelay-sink-mssql.js is missing): run npm run build\n');
  process.exit(1);
}
await import(main.href);
