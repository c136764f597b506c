#!/usr/bin/env node
// The linked bin (node_modules/.bin/walrelay-sink-mysql): runs the built binary. Committed executable, so
// npm links it even before the first build; `npm run build` writes ../dist/walrelay-sink-mysql.js (scripts/bundle.mjs).
import { existsSync } from 'node:fs';

const main = new URL('../dist/walrelay-sink-mysql.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('walrelay-sink-mysql: not built yet (dist/walrelay-sink-mysql.js is missing): run npm run build\n');
  process.exit(1);
}
await import(main.href);
