import { test } from 'node:test';
import assert from 'node:assert/strict';
// Nothing but the package: as the binaries load it (a test file that imports kafkajs first keeps
// kafkajs' own modules, which is what the function below reports).
import { kafkajsReplacementsNotInForce } from '../src/index.js';

test("loading @walrelay/core puts every one of its replacements of kafkajs' parts in force (what a service warns about at start otherwise)", () => {
  assert.deepEqual(kafkajsReplacementsNotInForce(), []);
});
