import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32c, crc32cImplementation, crc32cJavaScript, loadNativeCrc32c } from '../src/index.js';

const X86_64 = process.arch === 'x64';

test('the native module is built and used on x86-64 (every machine walrelay is tested on)', { skip: X86_64 ? false : `not x86-64 (${process.arch})` }, () => {
  assert.deepEqual(crc32cImplementation, { native: true });
});

test('the check value of CRC32C ("123456789" → 0xe3069283) and the empty range', () => {
  const check = Buffer.from('123456789');
  assert.equal(crc32c(check), 0xe3069283);
  assert.equal(crc32cJavaScript(check), 0xe3069283);
  assert.equal(crc32c(check, 4, 4), 0);
  assert.equal(crc32cJavaScript(check, 4, 4), 0);
});

test('native and JavaScript agree on every length 0..80 and random ranges of random buffers, at every alignment', () => {
  const bytes = randomBytes(70_000);
  for (let start = 0; start < 9; start++) {
    for (let n = 0; n <= 80; n++) assert.equal(crc32c(bytes, start, start + n), crc32cJavaScript(bytes, start, start + n), `start ${start}, length ${n}`);
  }
  for (let i = 0; i < 200; i++) {
    const a = Math.floor(Math.random() * bytes.length);
    const b = a + Math.floor(Math.random() * (bytes.length - a));
    assert.equal(crc32c(bytes, a, b), crc32cJavaScript(bytes, a, b), `[${a}, ${b})`);
  }
  // A view into a larger buffer (as the produce encoder passes): offsets are the view's.
  const view = bytes.subarray(1234, 5678);
  assert.equal(crc32c(view, 10, 4000), crc32cJavaScript(bytes, 1244, 5234));
});

test('the native function refuses a range outside the bytes and a value that is not bytes, with errors that say so', { skip: X86_64 ? false : `not x86-64 (${process.arch})` }, () => {
  const native = loadNativeCrc32c();
  assert.ok('crc32c' in native);
  const b = Buffer.alloc(16);
  assert.throws(() => native.crc32c(b, 0, 17), { name: 'RangeError', message: /start <= end <= bytes\.length/ });
  assert.throws(() => native.crc32c(b, 9, 8), { name: 'RangeError' });
  assert.throws(() => native.crc32c(new Uint16Array(4) as unknown as Uint8Array, 0, 1), { name: 'TypeError', message: /Uint8Array/ });
  assert.throws(() => native.crc32c('abc' as unknown as Uint8Array, 0, 1), { name: 'TypeError' });
});

test('a module that does not load is reported with its path and the way to rebuild it, not thrown', () => {
  const m = loadNativeCrc32c('../build/Release/no-such-module.node');
  assert.ok('reason' in m);
  assert.match(m.reason, /no-such-module\.node/);
  assert.match(m.reason, /npm rebuild @walrelay\/crc32c/);
});
