// `node --test`: binary16 bits worked out by hand (1 sign, 5 exponent bits biased by 15, 10 mantissa bits),
// the same cases as the Android core's HalfFloatTest, and the base64 layout.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { float16Embedding, toHalfBits } from '../src/wire.js';

test('normals, subnormals, limits and ties to even', () => {
  const cases = [[1, 0x3c00], [-2, 0xc000], [1 / 3, 0x3555], [0.1, 0x2e66], [65504, 0x7bff], [65520, 0x7c00],
    [65519, 0x7bff], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.0625 * 2 ** -25, 0x0001], [2 ** -14, 0x0400],
    [(1 - 2 ** -10) * 2 ** -14, 0x03ff], [-0, 0x8000], [Infinity, 0x7c00], [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02]];
  for (const [value, bits] of cases) assert.equal(toHalfBits(value), bits, `${value}`);
  const nan = toHalfBits(NaN);
  assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0);
});

test('every half survives float → half', () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    const value = exp === 0 ? sign * mant * 2 ** -24
      : exp === 0x1f ? sign * Infinity : sign * (1 + mant / 1024) * 2 ** (exp - 15);
    assert.equal(toHalfBits(value), h, `0x${h.toString(16)}`);
  }
});

test('little-endian bytes, base64', () => {
  const e = float16Embedding([1, -2]);
  assert.equal(e.dtype, 'float16');
  assert.deepEqual([...Buffer.from(e.b64, 'base64')], [0x00, 0x3c, 0x00, 0xc0]);
});
