import { createRequire } from 'node:module';

/**
 * node:http and node:https, loaded through `require` on purpose.
 *
 * An ESM `import http from 'node:http'` builds the module's ESM facade, which reads every
 * export once, and node:http's exports include lazy getters (`WebSocket`, `EventSource`, …)
 * that load Node's bundled undici. That costs ≈7 MB of resident memory in every process
 * (measured on Node 24: a process importing node:http and node:https through ESM idles at
 * 57.9 MB, through `require` at 50.7 MB, with nothing else loaded) for a client walrelay
 * never uses. The CommonJS loader returns the module object without touching the getters.
 */
const require = createRequire(import.meta.url);

export const http: typeof import('node:http') = require('node:http');
export const https: typeof import('node:https') = require('node:https');
