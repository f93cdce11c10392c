// @denoise/core — io/safetensors-format.ts
//
// Byte-level codec for the safetensors checkpoint format (huggingface/
// safetensors), the interchange format for every weight file this system
// loads or saves. It knows nothing about tensors or files: higher layers read
// bytes (io/atomic-write.ts on Node, fetch in browsers), hand them here, and
// turn the returned `RawTensor`s into backend tensors.
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
//   {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets"}}
// then the data section; data_offsets are [begin, end) relative to it and,
// per the spec, must tile the data section exactly (no overlaps, no holes).
//
// Files written by other tools are untrusted input, so every field is
// validated and every failure is a CheckpointError naming the source. Data
// offsets need not be aligned, so multi-byte values are read either through
// an aligned typed-array view (little-endian hosts) or a copy/DataView.
// Runs in browsers and Node: no Node imports here.

import { CheckpointError, InvalidArgumentError } from '../errors/index.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor as stored: `data` holds the raw little-endian bytes. */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

export interface ParsedSafetensors {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

// `rank` mirrors the order of the reference Rust `Dtype` enum; its writer
// sorts by that order descending (then by name), which also puts wider types
// first so every tensor starts aligned to its item size.
const DTYPE_INFO: Readonly<Record<SafetensorsDType, { readonly itemsize: number; readonly rank: number }>> = {
  BOOL: { itemsize: 1, rank: 0 },
  U8: { itemsize: 1, rank: 1 },
  I8: { itemsize: 1, rank: 2 },
  I16: { itemsize: 2, rank: 3 },
  F16: { itemsize: 2, rank: 4 },
  BF16: { itemsize: 2, rank: 5 },
  I32: { itemsize: 4, rank: 6 },
  F32: { itemsize: 4, rank: 7 },
  F64: { itemsize: 8, rank: 8 },
  I64: { itemsize: 8, rank: 9 },
};

/** Every dtype this codec reads and writes. */
export const SAFETENSORS_DTYPES: readonly SafetensorsDType[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

export function isSafetensorsDType(v: unknown): v is SafetensorsDType {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_INFO, v);
}

/** Bytes per element of `dtype`. */
export function dtypeItemSize(dtype: SafetensorsDType): number {
  if (!isSafetensorsDType(dtype)) {
    throw new InvalidArgumentError(`dtypeItemSize: dtype must be one of ${SAFETENSORS_DTYPES.join(', ')}, got ${describe(dtype)}`);
  }
  return DTYPE_INFO[dtype].itemsize;
}

// Typed-array views are in host byte order; only on little-endian hosts (all
// mainstream ones) may file bytes be viewed directly.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v) || (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)) {
    try {
      const s = JSON.stringify(v);
      return s.length > 80 ? `${s.slice(0, 77)}...` : s;
    } catch {
      return Array.isArray(v) ? 'array' : 'object';
    }
  }
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/** Elements in `shape`, or -1 when the byte size would not be a safe integer. */
function byteSize(shape: readonly number[], itemsize: number): number {
  let n = itemsize;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

/** Code-point (= UTF-8 byte) order, as the reference writer's Rust String sort uses. */
function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

// ---------------------------------------------------------------- parsing

/**
 * Parses a whole safetensors file held in memory. Returned tensors' `data`
 * are views into `bytes` (no copy), so keep `bytes` alive and unmodified.
 * @param source how to name the file in error messages (e.g. its path).
 * @throws CheckpointError on any malformed, inconsistent or truncated input.
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): ParsedSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidArgumentError(`parseSafetensors: bytes must be a Uint8Array, got ${describe(bytes)}`);
  }
  const fail = (detail: string): never => {
    throw new CheckpointError(`parseSafetensors: ${detail} (in ${source})`);
  };

  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length prefix`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLen64} exceeds file size ${bytes.length} (the header would end at byte ${8n + headerLen64})`);
  }
  const headerLen = Number(headerLen64);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;

  let text = '';
  try {
    // fatal: reject invalid UTF-8 rather than parse U+FFFD-mangled names;
    // ignoreBOM keeps a BOM so JSON.parse rejects it, as the reference does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    fail(`header (${headerLen} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header (${headerLen} bytes) is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) {
    fail(`header must be a JSON object, got ${Array.isArray(header) ? 'an array' : describe(header)}`);
  }

  interface Entry {
    name: string;
    dtype: SafetensorsDType;
    shape: number[];
    begin: number;
    end: number;
  }
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};

  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(info, fail);
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(info)) {
      fail(`${what}: entry must be an object with dtype, shape and data_offsets, got ${describe(info)}`);
    }
    const rec = info as Record<string, unknown>;
    const dtype = rec['dtype'];
    if (!isSafetensorsDType(dtype)) {
      fail(`${what}: unknown dtype ${describe(dtype)} (supported: ${SAFETENSORS_DTYPES.join(', ')})`);
    }
    const dt = dtype as SafetensorsDType;
    const shape = rec['shape'];
    if (!isShape(shape)) {
      fail(`${what}: shape must be an array of non-negative integers, got ${describe(shape)}`);
    }
    const shp = shape as number[];
    const offsets = rec['data_offsets'];
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      fail(`${what}: data_offsets must be [begin, end] non-negative integers with begin <= end, got ${describe(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const need = byteSize(shp, DTYPE_INFO[dt].itemsize);
    if (need < 0) fail(`${what}: shape ${describe(shp)} is too large (byte size exceeds 2^53)`);
    if (end - begin !== need) {
      fail(
        `${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but dtype ${dt} with shape ${describe(shp)} needs ${need}`,
      );
    }
    entries.push({ name, dtype: dt, shape: shp.slice(), begin, end });
  }

  // Report truncation before coverage: a cut-off download is the common case
  // and deserves a message that says so rather than "hole" or "overlap".
  let furthest: Entry | undefined;
  for (const e of entries) if (furthest === undefined || e.end > furthest.end) furthest = e;
  if (furthest !== undefined && furthest.end > dataLen) {
    fail(
      `file is truncated: tensor ${JSON.stringify(furthest.name)} needs bytes up to ${furthest.end} but the data section has only ${dataLen}`,
    );
  }

  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end || compareCodePoints(a.name, b.name));
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of byOffset) {
    if (e.begin < cursor) {
      fail(
        `tensors ${JSON.stringify(prev?.name)} and ${JSON.stringify(e.name)} overlap: ${JSON.stringify(e.name)} starts at byte ${e.begin} but ${JSON.stringify(prev?.name)} ends at byte ${cursor}`,
      );
    }
    if (e.begin > cursor) {
      fail(`data section has a hole: bytes ${cursor}..${e.begin} are not covered by any tensor (before tensor ${JSON.stringify(e.name)})`);
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) {
    fail(`data section has ${dataLen - cursor} trailing bytes not covered by any tensor (tensors cover ${cursor} of ${dataLen})`);
  }

  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: bytes.subarray(dataStart + e.begin, dataStart + e.end),
    });
  }
  return { tensors, metadata };
}

function parseMetadata(info: unknown, fail: (detail: string) => never): Record<string, string> {
  // The reference models __metadata__ as Option<HashMap<String, String>>, so
  // JSON null means "absent".
  if (info === null) return {};
  if (!isPlainObject(info)) {
    return fail(`__metadata__ must be an object of string values, got ${describe(info)}`);
  }
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string') {
      fail(`__metadata__ value for key ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
    }
    pairs.push([k, v as string]);
  }
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries(pairs);
}

// ---------------------------------------------------------------- writing

/**
 * Serialises tensors to safetensors bytes the way the reference writer does:
 * tensors ordered by dtype (widest first) then name, data contiguous, header
 * padded with spaces so the data section starts 8-byte aligned.
 * `__metadata__` is written only when `metadata` is given.
 * @throws InvalidArgumentError for bad names, dtypes, shapes or data sizes.
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const fn = 'serializeSafetensors';
  let list: [string, RawTensor][];
  if (tensors instanceof Map) list = [...tensors];
  else if (isPlainObject(tensors)) list = Object.entries(tensors);
  else throw new InvalidArgumentError(`${fn}: tensors must be a Map or a plain object, got ${describe(tensors)}`);

  for (const [name, t] of list) {
    if (typeof name !== 'string' || name.length === 0 || name === '__metadata__') {
      throw new InvalidArgumentError(`${fn}: tensor name must be a non-empty string other than "__metadata__", got ${describe(name)}`);
    }
    checkRawTensor(fn, t, `tensor ${JSON.stringify(name)}`);
  }
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) {
      throw new InvalidArgumentError(`${fn}: metadata must be an object of string values, got ${describe(metadata)}`);
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new InvalidArgumentError(`${fn}: metadata value for key ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
      }
    }
  }

  list.sort(([an, a], [bn, b]) => DTYPE_INFO[b.dtype].rank - DTYPE_INFO[a.dtype].rank || compareCodePoints(an, bn));

  // Built by hand rather than JSON.stringify(object): JS objects move
  // integer-like keys ("0", "1") to the front, which would break the order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of list) {
    const end = offset + t.data.length;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of list) {
    out.set(t.data, pos);
    pos += t.data.length;
  }
  return out;
}

function checkRawTensor(fn: string, t: unknown, what: string): asserts t is RawTensor {
  if (!isPlainObject(t)) {
    throw new InvalidArgumentError(`${fn}: ${what} must be a RawTensor { dtype, shape, data }, got ${describe(t)}`);
  }
  const r = t as Record<string, unknown>;
  if (!isSafetensorsDType(r['dtype'])) {
    throw new InvalidArgumentError(`${fn}: ${what}: dtype must be one of ${SAFETENSORS_DTYPES.join(', ')}, got ${describe(r['dtype'])}`);
  }
  if (!isShape(r['shape'])) {
    throw new InvalidArgumentError(`${fn}: ${what}: shape must be an array of non-negative integers, got ${describe(r['shape'])}`);
  }
  if (!(r['data'] instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${fn}: ${what}: data must be a Uint8Array of raw little-endian bytes, got ${describe(r['data'])}`);
  }
  const need = byteSize(r['shape'], DTYPE_INFO[r['dtype']].itemsize);
  if (need !== r['data'].length) {
    throw new InvalidArgumentError(
      `${fn}: ${what}: data has ${r['data'].length} bytes but dtype ${r['dtype']} with shape ${describe(r['shape'])} needs ${need < 0 ? 'more than 2^53' : need}`,
    );
  }
}

// ---------------------------------------------------------------- half precision

/** Float32 bit pattern of the IEEE binary16 value with bits `h` (exact). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / nan, payload kept
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half = mant * 2^-24: renormalise, every one is a normal float32.
  let e = 1;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | ((e + 112) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** binary16 bits nearest to the float32 with bits `f`, ties to even. */
function floatBitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const abs = f & 0x7fffffff;
  if (abs >= 0x7f800000) {
    // Keep the top payload bits and force the quiet bit so a NaN never
    // collapses into the infinity encoding.
    return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  }
  // 0x477ff000 is halfway between 65504 (odd mantissa) and 65520, so ties
  // round up to infinity like everything above.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    // Below 2^-14: result is subnormal (or zero) in units of 2^-24.
    if (abs <= 0x33000000) return sign; // <= 2^-25 (the tie) rounds to even = 0
    const e = abs >>> 23;
    const m = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - e; // 14..24
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q; // q may reach 0x400, the smallest normal: still correct
  }
  let h = (abs >>> 13) - (112 << 10);
  const rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // carry into exponent is correct
  return sign | h;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The exact float value of binary16 bits `bits` (0..0xffff). */
export function float16BitsToNumber(bits: number): number {
  scratchU32[0] = halfToFloatBits(bits & 0xffff);
  return scratchF32[0]!;
}

/** binary16 bits of `x` rounded to float32 and then to nearest-even half. For exact results pass float32 values. */
export function numberToFloat16Bits(x: number): number {
  scratchF32[0] = x;
  return floatBitsToHalf(scratchU32[0]!);
}

/** The exact float value of bfloat16 bits `bits`. */
export function bfloat16BitsToNumber(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/** bfloat16 bits of `x` (rounded to float32 first), round to nearest even, NaN stays NaN. */
export function numberToBfloat16Bits(x: number): number {
  scratchF32[0] = x;
  return floatBitsToBf16(scratchU32[0]!);
}

function floatBitsToBf16(f: number): number {
  if ((f & 0x7fffffff) > 0x7f800000) return ((f >>> 16) | 0x0040) & 0xffff; // quiet NaN
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------- decoding

type NativeElements = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/**
 * The tensor's elements as a host-order typed array: a view of `data` when
 * the host is little-endian and the offset is aligned, otherwise a copy.
 * F16/BF16 come back as their raw Uint16 bit patterns.
 */
function nativeElements(t: RawTensor): NativeElements {
  const { data } = t;
  const size = DTYPE_INFO[t.dtype].itemsize;
  const n = data.length / size;
  if (size === 1) {
    return t.dtype === 'I8' ? new Int8Array(data.buffer, data.byteOffset, n) : data;
  }
  if (HOST_LITTLE_ENDIAN) {
    let buf: ArrayBufferLike = data.buffer;
    let off = data.byteOffset;
    if (off % size !== 0) {
      buf = data.slice().buffer;
      off = 0;
    }
    switch (t.dtype) {
      case 'F64':
        return new Float64Array(buf, off, n);
      case 'F32':
        return new Float32Array(buf, off, n);
      case 'F16':
      case 'BF16':
        return new Uint16Array(buf, off, n);
      case 'I64':
        return new BigInt64Array(buf, off, n);
      case 'I32':
        return new Int32Array(buf, off, n);
      default:
        return new Int16Array(buf, off, n);
    }
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (t.dtype) {
    case 'F64': {
      const o = new Float64Array(n);
      for (let i = 0; i < n; i++) o[i] = dv.getFloat64(i * 8, true);
      return o;
    }
    case 'F32': {
      const o = new Float32Array(n);
      for (let i = 0; i < n; i++) o[i] = dv.getFloat32(i * 4, true);
      return o;
    }
    case 'F16':
    case 'BF16': {
      const o = new Uint16Array(n);
      for (let i = 0; i < n; i++) o[i] = dv.getUint16(i * 2, true);
      return o;
    }
    case 'I64': {
      const o = new BigInt64Array(n);
      for (let i = 0; i < n; i++) o[i] = dv.getBigInt64(i * 8, true);
      return o;
    }
    case 'I32': {
      const o = new Int32Array(n);
      for (let i = 0; i < n; i++) o[i] = dv.getInt32(i * 4, true);
      return o;
    }
    default: {
      const o = new Int16Array(n);
      for (let i = 0; i < n; i++) o[i] = dv.getInt16(i * 2, true);
      return o;
    }
  }
}

/** Nearest float32 to a 64-bit integer, rounded once (Number() then fround would round twice above 2^53). */
function bigintToFloat32(b: bigint): number {
  const neg = b < 0n;
  const m = neg ? -b : b;
  if (m <= 1n << 53n) return Math.fround(Number(b));
  const shift = BigInt(m.toString(2).length - 24);
  let q = m >> shift;
  const rem = m - (q << shift);
  const half = 1n << (shift - 1n);
  if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  const v = Number(q) * 2 ** Number(shift);
  return neg ? -v : v;
}

function label(name: string | undefined): string {
  return name === undefined ? 'tensor' : `tensor ${JSON.stringify(name)}`;
}

/**
 * Decodes to float32. F32 data is returned as a view aliasing the file
 * buffer when aligned (copy otherwise); F16/BF16 are exact; F64 and wide
 * integers round to nearest even; BOOL gives 0/1.
 * @param name optional tensor name for error messages.
 */
export function decodeToFloat32(t: RawTensor, name?: string): Float32Array {
  checkRawTensor('decodeToFloat32', t, label(name));
  const src = nativeElements(t);
  switch (t.dtype) {
    case 'F32':
      return src as Float32Array;
    case 'F16':
    case 'BF16': {
      const bits = src as Uint16Array;
      const out = new Float32Array(bits.length);
      const out32 = new Uint32Array(out.buffer);
      if (t.dtype === 'F16') for (let i = 0; i < bits.length; i++) out32[i] = halfToFloatBits(bits[i]!);
      else for (let i = 0; i < bits.length; i++) out32[i] = bits[i]! << 16;
      return out;
    }
    case 'I64': {
      const v = src as BigInt64Array;
      const out = new Float32Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = bigintToFloat32(v[i]!);
      return out;
    }
    case 'BOOL':
      return Float32Array.from(src as Uint8Array, (b) => (b !== 0 ? 1 : 0));
    default:
      // The typed-array constructor converts element-wise with one rounding.
      return new Float32Array(src as Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array);
  }
}

/**
 * Decodes to float64. F64 is a view when aligned; every other dtype converts
 * exactly except I64 beyond 2^53, which rounds to nearest even.
 */
export function decodeToFloat64(t: RawTensor, name?: string): Float64Array {
  checkRawTensor('decodeToFloat64', t, label(name));
  const src = nativeElements(t);
  switch (t.dtype) {
    case 'F64':
      return src as Float64Array;
    case 'F16':
    case 'BF16':
      return new Float64Array(decodeToFloat32(t, name));
    case 'I64': {
      const v = src as BigInt64Array;
      const out = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = Number(v[i]!);
      return out;
    }
    case 'BOOL':
      return Float64Array.from(src as Uint8Array, (b) => (b !== 0 ? 1 : 0));
    default:
      return new Float64Array(src as Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array);
  }
}

/**
 * Decodes an integer or BOOL tensor to int32 (I32 is a view when aligned).
 * @throws CheckpointError for float dtypes, or an I64 value outside int32.
 */
export function decodeToInt32(t: RawTensor, name?: string): Int32Array {
  checkRawTensor('decodeToInt32', t, label(name));
  switch (t.dtype) {
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16':
      throw new CheckpointError(
        `decodeToInt32: ${label(name)} has dtype ${t.dtype}, expected an integer dtype (I64, I32, I16, I8, U8 or BOOL)`,
      );
    default:
      break;
  }
  const src = nativeElements(t);
  switch (t.dtype) {
    case 'I32':
      return src as Int32Array;
    case 'I64': {
      const v = src as BigInt64Array;
      const out = new Int32Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const x = v[i]!;
        if (x < -2147483648n || x > 2147483647n) {
          throw new CheckpointError(
            `decodeToInt32: ${label(name)} element ${i} is ${x}, which does not fit in int32 (expected -2147483648..2147483647)`,
          );
        }
        out[i] = Number(x);
      }
      return out;
    }
    case 'BOOL':
      return Int32Array.from(src as Uint8Array, (b) => (b !== 0 ? 1 : 0));
    default:
      return new Int32Array(src as Int16Array | Int8Array | Uint8Array);
  }
}

// ---------------------------------------------------------------- encoding

type EncodeSource = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

const ACCEPTED: Readonly<Record<SafetensorsDType, readonly string[]>> = {
  F64: ['Float64Array', 'Float32Array'],
  F32: ['Float32Array', 'Float64Array'],
  F16: ['Float32Array'],
  BF16: ['Float32Array'],
  I64: ['Int32Array', 'BigInt64Array'],
  I32: ['Int32Array'],
  I16: ['Int16Array', 'Int32Array'],
  I8: ['Int8Array', 'Int32Array'],
  U8: ['Uint8Array', 'Int32Array'],
  BOOL: ['Uint8Array'],
};

function typedArrayKind(a: unknown): string | undefined {
  // instanceof rather than constructor.name: Node's Buffer is a Uint8Array.
  if (a instanceof Float64Array) return 'Float64Array';
  if (a instanceof Float32Array) return 'Float32Array';
  if (a instanceof Int32Array) return 'Int32Array';
  if (a instanceof Int16Array) return 'Int16Array';
  if (a instanceof Int8Array) return 'Int8Array';
  if (a instanceof Uint8Array) return 'Uint8Array';
  if (a instanceof BigInt64Array) return 'BigInt64Array';
  return undefined;
}

/**
 * Encodes a typed array as little-endian safetensors bytes of `dtype`.
 * Accepted sources: F64 ← Float64Array|Float32Array; F32 ← Float32Array
 * (or Float64Array, rounded); F16/BF16 ← Float32Array, round to nearest even
 * (subnormals, ±inf, NaN preserved); I64 ← Int32Array (sign-extended) or
 * BigInt64Array; I32 ← Int32Array; I16/I8/U8 ← their own array or an
 * Int32Array (range-checked); BOOL ← Uint8Array (non-zero becomes 1).
 * @throws InvalidArgumentError for another array type or an out-of-range value.
 */
export function encodeFromTypedArray(dtype: SafetensorsDType, array: EncodeSource): Uint8Array {
  const fn = 'encodeFromTypedArray';
  if (!isSafetensorsDType(dtype)) {
    throw new InvalidArgumentError(`${fn}: dtype must be one of ${SAFETENSORS_DTYPES.join(', ')}, got ${describe(dtype)}`);
  }
  const kind = typedArrayKind(array);
  const accepted = ACCEPTED[dtype];
  if (kind === undefined || !accepted.includes(kind)) {
    throw new InvalidArgumentError(`${fn}: dtype ${dtype} expects ${accepted.join(' or ')}, got ${kind ?? describe(array)}`);
  }
  const n = array.length;
  const size = DTYPE_INFO[dtype].itemsize;
  const out = new Uint8Array(n * size);
  const dv = new DataView(out.buffer);

  // Same element type and little-endian host: the bytes are already right.
  const sameLayout =
    (dtype === 'F64' && kind === 'Float64Array') ||
    (dtype === 'F32' && kind === 'Float32Array') ||
    (dtype === 'I32' && kind === 'Int32Array') ||
    (dtype === 'I64' && kind === 'BigInt64Array') ||
    (dtype === 'I16' && kind === 'Int16Array') ||
    (dtype === 'I8' && kind === 'Int8Array') ||
    (dtype === 'U8' && kind === 'Uint8Array');
  if (sameLayout && (HOST_LITTLE_ENDIAN || size === 1)) {
    out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return out;
  }

  const checkRange = (lo: number, hi: number): void => {
    const a = array as Int32Array;
    for (let i = 0; i < n; i++) {
      const v = a[i]!;
      if (v < lo || v > hi) {
        throw new InvalidArgumentError(`${fn}: value ${v} at index ${i} does not fit in ${dtype} (expected ${lo}..${hi})`);
      }
    }
  };

  switch (dtype) {
    case 'F64': {
      const a = array as Float64Array | Float32Array;
      for (let i = 0; i < n; i++) dv.setFloat64(i * 8, a[i]!, true);
      break;
    }
    case 'F32': {
      const a = array as Float64Array | Float32Array;
      for (let i = 0; i < n; i++) dv.setFloat32(i * 4, a[i]!, true); // rounds once, to nearest even
      break;
    }
    case 'F16':
    case 'BF16': {
      const a = array as Float32Array;
      const bits = new Uint32Array(a.buffer, a.byteOffset, n);
      const conv = dtype === 'F16' ? floatBitsToHalf : floatBitsToBf16;
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, conv(bits[i]!), true);
      break;
    }
    case 'I64': {
      if (kind === 'BigInt64Array') {
        const a = array as BigInt64Array;
        for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, a[i]!, true);
      } else {
        const a = array as Int32Array;
        for (let i = 0; i < n; i++) {
          const v = a[i]!;
          dv.setInt32(i * 8, v, true);
          dv.setInt32(i * 8 + 4, v < 0 ? -1 : 0, true); // sign extension
        }
      }
      break;
    }
    case 'I32': {
      const a = array as Int32Array;
      for (let i = 0; i < n; i++) dv.setInt32(i * 4, a[i]!, true);
      break;
    }
    case 'I16': {
      if (kind === 'Int32Array') checkRange(-32768, 32767);
      const a = array as Int16Array | Int32Array;
      for (let i = 0; i < n; i++) dv.setInt16(i * 2, a[i]!, true);
      break;
    }
    case 'I8':
      checkRange(-128, 127);
      out.set(array as Int32Array);
      // Int8 values stored through a Uint8Array wrap mod 256: two's complement.
      break;
    case 'U8':
      checkRange(0, 255);
      out.set(array as Int32Array);
      break;
    case 'BOOL': {
      const a = array as Uint8Array;
      for (let i = 0; i < n; i++) out[i] = a[i] !== 0 ? 1 : 0;
      break;
    }
  }
  return out;
}
