// `node --test`: the JS preprocessing against cases written by Python (tests/test_web_client.py
// sets PREPROCESS_CASES to a folder of <name>.json + <name>.rgb + <name>.f32), plus small self-checks.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { axisWeights, FILTERS, preprocessRgb, resizeRgb, rgbaToRgb } from '../src/preprocess.js';

const casesDir = process.env.PREPROCESS_CASES;

test('weights of every output pixel sum to one in fixed point', () => {
  for (const [name, filter] of Object.entries(FILTERS)) {
    for (const [n, m] of [[512, 224], [100, 224], [7, 3]]) {
      const ax = axisWeights(n, m, filter);
      for (let o = 0; o < m; o++) {
        let sum = 0;
        for (let i = 0; i < ax.count[o]; i++) sum += ax.weights[o * ax.width + i];
        assert.ok(Math.abs(sum - (1 << 22)) <= ax.count[o], `${name} ${n}→${m} pixel ${o}: ${sum}`);
      }
    }
  }
});

test('a flat image stays flat and an unchanged size is a copy', () => {
  const flat = new Uint8Array(30 * 20 * 3).fill(77);
  assert.ok(resizeRgb(flat, 30, 20, 11, 9, 'bicubic').every((v) => v === 77));
  const rgb = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 37) % 256);
  assert.deepEqual(resizeRgb(rgb, 4, 3, 4, 3, 'bilinear'), rgb);
  assert.deepEqual(rgbaToRgb(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), Uint8Array.of(1, 2, 3, 5, 6, 7));
  assert.throws(() => resizeRgb(rgb, 4, 3, 2, 2, 'lanczos'), /interpolation lanczos/);
});

const cases = casesDir ? readdirSync(casesDir).filter((f) => f.endsWith('.json')) : [];
for (const file of cases) {
  test(`matches Python's preprocess: ${file}`, () => {
    const c = JSON.parse(readFileSync(join(casesDir, file), 'utf8'));
    const rgb = new Uint8Array(readFileSync(join(casesDir, c.rgb)));
    const want = new Float32Array(new Uint8Array(readFileSync(join(casesDir, c.expected))).buffer);
    const got = preprocessRgb(rgb, c.width, c.height, c.meta);
    assert.equal(got.length, want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst <= 1e-5, `${file}: max |JS - Python| = ${worst}`);
  });
}
