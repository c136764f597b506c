import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, formatTableName, parseTableName, parseTablesSetting, tablesSetting } from '@walrelay/core';

test('the tables syntax: schema.table, table (= public), quoted parts with dots, spaces and quotes', () => {
  assert.deepEqual(parseTableName('public.orders'), { schema: 'public', table: 'orders' });
  assert.deepEqual(parseTableName('orders'), { schema: 'public', table: 'orders' });
  assert.deepEqual(parseTableName('"My Schema"."a.b"'), { schema: 'My Schema', table: 'a.b' });
  assert.deepEqual(parseTableName('s."a.b"'), { schema: 's', table: 'a.b' });
  assert.deepEqual(parseTableName('"s.x".t'), { schema: 's.x', table: 't' });
  assert.deepEqual(parseTableName('"we""ird"'), { schema: 'public', table: 'we"ird' });
  assert.deepEqual(parseTableName('Mixed.Case'), { schema: 'Mixed', table: 'Case' }, 'unquoted names are exact, not folded');
  assert.deepEqual(parseTableName(' dlq.t '), { schema: 'dlq', table: 't' }, 'surrounding blanks (from a comma list) are ignored');
  assert.deepEqual(parseTableName('"表"."ü x"'), { schema: '表', table: 'ü x' });
});

test('bad entries are ConfigErrors naming the entry', () => {
  for (const bad of ['a.b.c', '"unterminated', 'a.', '.b', '"a"x.b', 'a"b.c', '""', '']) {
    assert.throws(() => parseTableName(bad), (e: unknown) => e instanceof ConfigError && e.message.includes(JSON.stringify(bad)), bad);
  }
  assert.throws(() => parseTablesSetting(['orders', 'public.orders']), (e: unknown) => e instanceof ConfigError && /name the same table/.test(e.message));
  assert.equal(tablesSetting.safeParse(['a.b.c']).success, false);
  assert.deepEqual(tablesSetting.parse(undefined), []);
});

test('formatTableName quotes only where needed and parses back (round trip)', () => {
  const names = [
    { schema: 'public', table: 'orders' },
    { schema: 'My Schema', table: 'a.b' },
    { schema: 'dlq', table: 'we"ird' },
    { schema: '表', table: ' leading' },
  ];
  assert.equal(formatTableName(names[0]!), 'public.orders');
  assert.equal(formatTableName(names[1]!), '"My Schema"."a.b"');
  for (const n of names) assert.deepEqual(parseTableName(formatTableName(n)), n);
});
