import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_NODE_MAJOR, unsupportedNode } from '../src/supported-node.js';

test('a node older than walrelay supports is refused by name, with what to run instead; a supported one passes', () => {
  assert.equal(MIN_NODE_MAJOR, 22);
  const why = unsupportedNode('20.20.2');
  assert.match(why ?? '', /node 20\.20\.2 is older than 22/);
  assert.match(why ?? '', /Node\.js 22 or later/);
  assert.notEqual(unsupportedNode('21.7.3'), undefined);
  assert.notEqual(unsupportedNode('garbage'), undefined);
  assert.equal(unsupportedNode('22.0.0'), undefined);
  assert.equal(unsupportedNode('24.11.1'), undefined);
  assert.equal(unsupportedNode(process.versions.node), undefined, 'the node running the tests is supported');
});
