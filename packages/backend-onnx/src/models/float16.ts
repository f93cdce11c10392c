// IEEE 754 binary16 <-> JS numbers, for fp16 ONNX exports: ONNX Runtime's JS API holds float16
// tensors as the raw bits in a Uint16Array (Node 20 has no Float16Array).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bits nearest to `v` (first rounded to float32), ties to even; overflow gives infinity. */
export function toFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // inf, NaN (quiet)
  const e = exp - 127 + 15; // the float16 exponent field
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A float16 subnormal m * 2^-24: m = significand * 2^(e - 14), rounded.
    if (e < -10) return sign; // below half the smallest subnormal
    const sig = mant | 0x800000;
    const shift = 14 - e;
    const m = sig >>> shift;
    const rem = sig & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rem > half || (rem === half && (m & 1) === 1) ? m + 1 : m);
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the correctly rounded result
  // (up to infinity at the top).
  return sign | (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1) ? h + 1 : h);
}

/** The number a float16 bit pattern encodes. */
export function fromFloat16Bits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m !== 0 ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

export function toFloat16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]!);
  return out;
}

export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromFloat16Bits(bits[i]!);
  return out;
}
