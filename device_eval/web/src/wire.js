// The compact /search body: the embedding as little-endian IEEE-754 binary16, base64
// ({"dtype": "float16", "b64": ...}, 2 bytes per value instead of ~20 in a JSON array). The conversion
// rounds to nearest, ties to even, as NumPy's astype(float16) and the Android core's HalfFloat do.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** `value >> shift`, rounded to nearest, ties to even. */
function roundShift(value, shift) {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) !== 0) ? kept + 1 : kept;
}

/** The binary16 bits (0 … 0xffff) of `value` as a float32; overflow gives ±infinity, NaN stays NaN. */
export function toHalfBits(value) {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) return e < -10 ? sign : sign | roundShift(mant | 0x800000, 14 - e); // subnormal: m × 2^-24
  return sign | roundShift((e << 23) | mant, 13); // a mantissa carry moves up to the next exponent
}

/** The search request's `embedding` in compact form: {dtype: 'float16', b64}. */
export function float16Embedding(values) {
  const bytes = new Uint8Array(2 * values.length);
  for (let i = 0; i < values.length; i++) {
    const h = toHalfBits(values[i]);
    bytes[2 * i] = h & 0xff;
    bytes[2 * i + 1] = h >>> 8;
  }
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { dtype: 'float16', b64: btoa(text) };
}
