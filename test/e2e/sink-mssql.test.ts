import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startProcess } from '../support/processes.js';

/** The binary itself (no server needed). The pipeline into SQL Server is in sink-targets.test.ts. */
describe('walrelay-sink-mssql binary', () => {
  test('starts, says where it connects (password redacted) and retries an unreachable server; SIGTERM exits 0', async () => {
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    const sink = startProcess(
      'sink-mssql',
      {
        WALRELAY_TARGET_URL: `mssql://sa:${password}@127.0.0.1:1/walrelay_test?encrypt=false`,
        WALRELAY_TOPIC_PREFIX: `mssqlbin${Date.now().toString(36)}`,
      },
      'mssql-unreachable',
    );
    try {
      const { waitFor } = await import('../support/wait.js');
      await waitFor('two connection attempts', () => (sink.output().match(/cannot connect to 127\.0\.0\.1:1\//g) ?? []).length >= 2, {
        timeoutMs: 60_000,
        describe: () => sink.output().slice(-3000),
      });
      assert.match(sink.output(), /walrelay-sink-mssql starting/);
    } finally {
      assert.equal(await sink.stop(), 0, sink.output().slice(-2000));
    }
    assert.ok(!sink.output().includes(password), 'the password appears in the output');
  });
});
