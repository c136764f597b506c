import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Inbox } from '../../src/replication/inbox.js';

test('the inbox gives items back in arrival order across wrap-arounds and growth, like an array used as a queue', () => {
  const inbox = new Inbox<number>();
  const reference: number[] = [];
  let next = 0;
  let seed = 11;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let step = 0; step < 200_000; step++) {
    // Phases that fill (past several growths) and drain (to empty), so the ring wraps often.
    const filling = Math.floor(step / 5_000) % 2 === 0;
    if (random() < (filling ? 0.7 : 0.3)) {
      inbox.push(next);
      reference.push(next++);
    } else {
      assert.equal(inbox.shift(), reference.shift());
    }
    assert.equal(inbox.length, reference.length);
  }
  while (reference.length > 0) assert.equal(inbox.shift(), reference.shift());
  assert.equal(inbox.shift(), undefined);
  assert.equal(inbox.length, 0);
});
