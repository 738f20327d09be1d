// `npm run build`: bundle src/app.js (with onnxruntime-web) into dist/ with esbuild, and copy the page
// and the onnxruntime wasm binary beside it. dist/ is what `distill serve` publishes under /demo/.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const ortDist = join(here, 'node_modules', 'onnxruntime-web', 'dist');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'app.js')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: join(dist, 'app.js'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(dist, 'index.html'));
copyFileSync(join(ortDist, 'ort-wasm-simd-threaded.wasm'), join(dist, 'ort-wasm-simd-threaded.wasm'));
console.log(`built ${dist}`);
