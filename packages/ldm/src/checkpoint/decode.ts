// Stored tensors (core's RawTensor: a dtype name, a shape and little-endian bytes, the common
// form of safetensors entries and PyTorch storages) to typed arrays and to core Tensors.
// Floats widen to float32 (float64 kept on request), integers become int32 with a range check,
// int64 can also be read exactly as BigInt64Array.

import { CheckpointError, engine, float16BitsToNumber, sizeOf, type Backend, type RawTensor, type Tensor } from '@denoise/core';

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const ITEM_SIZE: Readonly<Record<RawTensor['dtype'], number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function rawItemSize(dtype: RawTensor['dtype']): number {
  return ITEM_SIZE[dtype];
}

let halfTable: Float32Array | undefined;

/** float32 value of every binary16 bit pattern (65,536 entries, built once). */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) halfTable[h] = float16BitsToNumber(h);
  return halfTable;
}

function view(raw: RawTensor): DataView {
  return new DataView(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
}

function checkSize(raw: RawTensor, name: string): number {
  const n = sizeOf(raw.shape);
  if (raw.data.byteLength !== n * ITEM_SIZE[raw.dtype]) {
    throw new CheckpointError(`${name}: ${raw.dtype} tensor of shape [${raw.shape.join(', ')}] needs ${n * ITEM_SIZE[raw.dtype]} bytes, has ${raw.data.byteLength}`);
  }
  return n;
}

/** The values of a floating or integer tensor as float32. */
export function rawToFloat32(raw: RawTensor, name = 'tensor'): Float32Array {
  const n = checkSize(raw, name);
  const dv = view(raw);
  const out = new Float32Array(n);
  switch (raw.dtype) {
    case 'F32':
      if (HOST_LITTLE_ENDIAN && raw.data.byteOffset % 4 === 0) out.set(new Float32Array(raw.data.buffer, raw.data.byteOffset, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F16': {
      const table = halfToFloat();
      for (let i = 0; i < n; i++) out[i] = table[dv.getUint16(2 * i, true)]!;
      break;
    }
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      break;
    }
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    default: {
      const ints = rawToFloat64(raw, name);
      out.set(ints);
    }
  }
  return out;
}

/** The values as float64 (exact for every dtype but int64 beyond 2^53). */
export function rawToFloat64(raw: RawTensor, name = 'tensor'): Float64Array {
  const n = checkSize(raw, name);
  const dv = view(raw);
  const out = new Float64Array(n);
  switch (raw.dtype) {
    case 'F64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'I64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); break;
    case 'I32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); break;
    case 'I16': for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true); break;
    case 'I8': for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
    case 'U8': case 'BOOL': for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); break;
    default: out.set(rawToFloat32(raw, name));
  }
  return out;
}

/** Integer values as int32; a value outside the int32 range is a CheckpointError. */
export function rawToInt32(raw: RawTensor, name = 'tensor'): Int32Array {
  if (raw.dtype === 'F32' || raw.dtype === 'F16' || raw.dtype === 'BF16' || raw.dtype === 'F64') {
    throw new CheckpointError(`${name}: ${raw.dtype} tensor cannot be read as int32`);
  }
  const values = rawToFloat64(raw, name);
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < -2147483648 || v > 2147483647) throw new CheckpointError(`${name}: value ${raw.dtype === 'I64' ? view(raw).getBigInt64(8 * i, true) : v} at index ${i} is outside the int32 range`);
    out[i] = v;
  }
  return out;
}

/** int64 values exactly. */
export function rawToBigInt64(raw: RawTensor, name = 'tensor'): BigInt64Array {
  const n = checkSize(raw, name);
  if (raw.dtype !== 'I64') return BigInt64Array.from(rawToInt32(raw, name), (v) => BigInt(v));
  const dv = view(raw);
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getBigInt64(8 * i, true);
  return out;
}

export interface RawToTensorOptions {
  /** Backend to create the tensor on; default the current backend. */
  backend?: Backend;
  /** Keep F64 as float64 where the backend has it (default: float32). */
  keepFloat64?: boolean;
}

/** A core Tensor from a stored tensor: floats as float32, integers as int32, bool as bool. */
export function rawToTensor(raw: RawTensor, options: RawToTensorOptions = {}, name = 'tensor'): Tensor {
  const backend = options.backend ?? engine.backend;
  const shape = [...raw.shape];
  switch (raw.dtype) {
    case 'F64':
      if (options.keepFloat64 && backend.capabilities.dtypes.includes('float64')) return engine.upload(rawToFloat64(raw, name), shape, 'float64', backend);
      return engine.upload(rawToFloat32(raw, name), shape, 'float32', backend);
    case 'F32':
    case 'F16':
    case 'BF16':
      return engine.upload(rawToFloat32(raw, name), shape, 'float32', backend);
    case 'BOOL':
      return engine.upload(Uint8Array.from(raw.data.subarray(0, checkSize(raw, name)), (v) => (v ? 1 : 0)), shape, 'bool', backend);
    default:
      return engine.upload(rawToInt32(raw, name), shape, 'int32', backend);
  }
}
