// The model input exactly as Python's `distill.data.images.preprocess` makes it: Pillow's
// `Image.resize((W, H), BILINEAR|BICUBIC)` on 8-bit RGB (separable convolution, horizontal pass
// first, kernel widened by the downscale factor, 22-bit fixed-point weights, clipped to uint8 after
// each pass), then /255, (x - mean) / std, as an NCHW float32 tensor. No DOM here: testable in node.

/** Fixed-point fraction bits of Pillow's 8-bit resampler: 32 bits - 8 for the value - 2 headroom. */
export const PRECISION_BITS = 32 - 8 - 2;

const triangle = (x) => {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
};

const keys = (x) => { // cubic convolution with a = -0.5
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
};

/** Resampling kernels by the interpolation names the artefact metadata uses. */
export const FILTERS = {
  bilinear: { kernel: triangle, support: 1 },
  bicubic: { kernel: keys, support: 2 },
};

/**
 * Per output pixel: the first input pixel used, how many, and their fixed-point weights.
 * @param {number} inSize input length along the axis
 * @param {number} outSize output length along the axis
 * @param {{kernel: (x: number) => number, support: number}} filter
 * @returns {{start: Int32Array, count: Int32Array, weights: Int32Array, width: number}}
 */
export function axisWeights(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1); // downscaling widens the kernel: antialiasing
  const support = filter.support * stretch;
  const inv = 1 / stretch; // multiplied, not divided: the same rounding as Pillow
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * width);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - first;
    const raw = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      raw[i] = filter.kernel((first + i - center + 0.5) * inv);
      total += raw[i];
    }
    for (let i = 0; i < n; i++) {
      const w = total !== 0 ? raw[i] / total : raw[i];
      weights[o * width + i] = Math.trunc(w * (1 << PRECISION_BITS) + (w < 0 ? -0.5 : 0.5));
    }
    start[o] = first;
    count[o] = n;
  }
  return { start, count, weights, width };
}

const toByte = (acc) => Math.min(255, Math.max(0, Math.floor(acc / (1 << PRECISION_BITS))));

/**
 * One resampling pass over interleaved RGB bytes along x (horizontal) or y (vertical).
 * @param {Uint8Array} src RGB bytes, `w` × `h`
 * @param {number} w
 * @param {number} h
 * @param {number} outLen new length along the pass's axis
 * @param {boolean} horizontal
 * @param {{kernel: (x: number) => number, support: number}} filter
 * @returns {Uint8Array} RGB bytes, (outLen × h) or (w × outLen)
 */
export function resamplePass(src, w, h, outLen, horizontal, filter) {
  const ax = axisWeights(horizontal ? w : h, outLen, filter);
  const ow = horizontal ? outLen : w;
  const oh = horizontal ? h : outLen;
  const dst = new Uint8Array(ow * oh * 3);
  const step = horizontal ? 3 : w * 3; // bytes between neighbours along the axis
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const base = horizontal ? (y * w + ax.start[o]) * 3 : (ax.start[o] * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        let acc = half;
        for (let i = 0; i < ax.count[o]; i++) acc += src[base + i * step + c] * ax.weights[o * ax.width + i];
        dst[(y * ow + x) * 3 + c] = toByte(acc);
      }
    }
  }
  return dst;
}

/**
 * Pillow's `resize((outW, outH), filter)` of 8-bit RGB: horizontal pass, then vertical; an axis
 * whose size does not change is not resampled.
 * @param {Uint8Array} rgb interleaved RGB, `w` × `h`
 * @param {number} w
 * @param {number} h
 * @param {number} outW
 * @param {number} outH
 * @param {string} interpolation "bilinear" or "bicubic"
 * @returns {Uint8Array} interleaved RGB, `outW` × `outH`
 */
export function resizeRgb(rgb, w, h, outW, outH, interpolation) {
  const filter = FILTERS[interpolation];
  if (!filter) throw new Error(`interpolation ${interpolation}: expected one of ${Object.keys(FILTERS)}`);
  const across = outW !== w ? resamplePass(rgb, w, h, outW, true, filter) : rgb;
  return outH !== h ? resamplePass(across, outW, h, outH, false, filter) : across;
}

/**
 * RGBA bytes (canvas `getImageData().data`) → RGB bytes; alpha is dropped, as PIL's convert("RGB").
 * @param {Uint8ClampedArray|Uint8Array} rgba
 * @returns {Uint8Array}
 */
export function rgbaToRgb(rgba) {
  const n = rgba.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = rgba[i * 4];
    rgb[i * 3 + 1] = rgba[i * 4 + 1];
    rgb[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return rgb;
}

/**
 * RGB bytes → 1×3×H×W float32 model input, as the artefact metadata prescribes (squash resize).
 * Every step is rounded to float32 like NumPy's float32 arithmetic in Python's `preprocess`.
 * @param {Uint8Array} rgb interleaved RGB, `w` × `h`
 * @param {number} w
 * @param {number} h
 * @param {{input_size: number[], mean: number[], std: number[], interpolation: string}} meta
 * @returns {Float32Array} length 3·H·W, channel planes in R, G, B order
 */
export function preprocessRgb(rgb, w, h, meta) {
  const [outH, outW] = meta.input_size;
  const small = resizeRgb(rgb, w, h, outW, outH, meta.interpolation);
  const plane = outW * outH;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const mean = f(meta.mean[c]);
    const std = f(meta.std[c]);
    for (let p = 0; p < plane; p++) out[c * plane + p] = f(f(f(small[p * 3 + c] / 255) - mean) / std);
  }
  return out;
}
