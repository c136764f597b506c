import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSourceConfig } from '../src/config.js';

test('heartbeat is off by default and read from WALRELAY_HEARTBEAT_*', () => {
  assert.deepEqual(loadSourceConfig([], {}).heartbeat, { intervalMs: 0 });
  const c = loadSourceConfig([], { WALRELAY_HEARTBEAT_INTERVAL_MS: '5000', WALRELAY_HEARTBEAT_ACTION_QUERY: 'UPDATE hb SET ts = now()' });
  assert.deepEqual(c.heartbeat, { intervalMs: 5000, actionQuery: 'UPDATE hb SET ts = now()' });
  assert.throws(() => loadSourceConfig([], { WALRELAY_HEARTBEAT_INTERVAL_MS: '-1' }), /heartbeat\.intervalMs \(WALRELAY_HEARTBEAT_INTERVAL_MS\)/);
});
