import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@walrelay/core';
import { configuredKey, parseKeyColumns } from '../src/key-columns.js';

test('keyColumns: entries in the tables syntax, by table', () => {
  const s = parseKeyColumns({ 'public.events': ['a', 'b'], '"My Schema"."t.1"': ['x'], plain: ['id'] });
  assert.deepEqual(configuredKey(s, 'public', 'events'), ['a', 'b']);
  assert.deepEqual(configuredKey(s, 'My Schema', 't.1'), ['x']);
  assert.deepEqual(configuredKey(s, 'public', 'plain'), ['id']);
  assert.equal(configuredKey(s, 'public', 'other'), undefined);
  assert.equal(configuredKey(undefined, 'public', 'events'), undefined);
});

test('keyColumns: a bad entry is a ConfigError naming it', () => {
  const bad: Record<string, string[]>[] = [{ 'public.t': [] }, { 'public.t': ['a', 'a'] }, { 'public.t': ['a'], 't': ['b'] }, { 'a.b.c': ['x'] }];
  for (const setting of bad) {
    assert.throws(() => parseKeyColumns(setting), (e: unknown) => e instanceof ConfigError && /^keyColumns: /.test(e.message), JSON.stringify(setting));
  }
});
