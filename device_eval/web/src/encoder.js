// The exported student in the browser: its metadata and ONNX model from the server, run with
// onnxruntime-web's wasm backend on photos decoded from their stored pixels.
import * as ort from 'onnxruntime-web/wasm';

import { preprocessRgb, rgbaToRgb } from './preprocess.js';

/** An error whose message is meant for the page as it is. */
export class ShownError extends Error {}

/**
 * JSON from `url`; a non-2xx answer becomes a ShownError with the server's `{"error"}` message.
 * @param {string|URL} url
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
export async function fetchJson(url, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ShownError('The server is unreachable: is `distill serve` still running?');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new ShownError(body.error || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = body.code; // the server's machine-readable reason (device_eval/server.py ERROR_CODES)
    throw err;
  }
  return body;
}

/**
 * Load the served model: its metadata (`model.json`) and an onnxruntime-web session of `model.onnx`.
 * @param {URL} base the page's folder (…/demo/)
 * @returns {Promise<{meta: any, session: ort.InferenceSession}>}
 */
export async function loadModel(base) {
  const meta = await fetchJson(new URL('model.json', base));
  ort.env.wasm.numThreads = 1; // no cross-origin isolation: no wasm threads
  ort.env.wasm.wasmPaths = { wasm: new URL('ort-wasm-simd-threaded.wasm', base).href };
  const session = await ort.InferenceSession.create(new URL('model.onnx', base).href,
    { executionProviders: ['wasm'] });
  return { meta, session };
}

/**
 * The file's pixels, uncolour-managed and not premultiplied, as Python's `convert("RGB")` reads them.
 * EXIF orientation IS applied: Chromium (measured: 156) rotates by EXIF whatever `imageOrientation` or CSS
 * `image-orientation` say, so the browser's query is the upright photo (Python `upright()`); for photos
 * without an EXIF rotation, the pixels equal Python's `load_image` exactly (PNG) or up to the JPEG decoder.
 * @param {Blob} file
 * @returns {Promise<{rgb: Uint8Array, width: number, height: number}>}
 */
export async function decodePixels(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none',
    });
  } catch {
    throw new ShownError(`${file.name || 'this file'} is not an image the browser can decode`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { rgb: rgbaToRgb(ctx.getImageData(0, 0, width, height).data), width, height };
}

/**
 * The model's embedding of decoded pixels (L2-normalised inside the graph).
 * @param {{meta: any, session: ort.InferenceSession}} model
 * @param {{rgb: Uint8Array, width: number, height: number}} pixels
 * @returns {Promise<Float32Array>}
 */
export async function embed(model, pixels) {
  const [h, w] = model.meta.input_size;
  const input = preprocessRgb(pixels.rgb, pixels.width, pixels.height, model.meta);
  const feeds = { [model.session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, h, w]) };
  const out = await model.session.run(feeds);
  return /** @type {Float32Array} */ (out[model.session.outputNames[0]].data);
}
