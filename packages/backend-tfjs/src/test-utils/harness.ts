// Runs one kernel call on a backend from host tensors and reads the result back; used to compare
// the tfjs backend with core's float64 reference backend.

import type { Backend, DType, FusedKernels, OutputInfo, PrimitiveKernels, TensorInfo, TypedArray } from '@denoise/core';
import type { HostTensor } from './lcg.js';

export type KernelName = keyof PrimitiveKernels | `fused.${keyof FusedKernels & string}`;

export interface KernelCall {
  readonly kernel: KernelName;
  readonly inputs: ReadonlyArray<HostTensor | null | HostTensor[]>;
  readonly attrs?: Record<string, unknown>;
  readonly out: OutputInfo;
}

function upload(b: Backend, h: HostTensor): TensorInfo {
  return { shape: h.shape, dtype: h.dtype, handle: b.upload(h.values, h.shape, h.dtype) };
}

/** Runs `call` on `b`; returns the output values; frees everything it created. */
export function runKernel(b: Backend, call: KernelCall): TypedArray {
  const created: TensorInfo[] = [];
  const toInfo = (x: HostTensor | null | HostTensor[]): TensorInfo | null | TensorInfo[] => {
    if (x === null) return null;
    if (Array.isArray(x)) return x.map((h) => {
      const i = upload(b, h);
      created.push(i);
      return i;
    });
    const i = upload(b, x);
    created.push(i);
    return i;
  };
  const ins = call.inputs.map(toInfo);
  const a = call.attrs ?? {};
  const out = call.out;
  const k = b.kernels as unknown as Record<string, (...args: unknown[]) => object>;
  let handle: object;
  const [x0, x1, x2, x3] = ins;
  switch (call.kernel) {
    case 'reshape': case 'broadcastTo': case 'cast':
      handle = k[call.kernel]!(x0, out); break;
    case 'fill':
      handle = k.fill!(a, out); break;
    case 'where':
      handle = k.where!(x0, x1, x2, out); break;
    case 'unary': case 'reduce': case 'argmax': case 'transpose': case 'slice': case 'concat': case 'pad': case 'resize': case 'resizeGrad':
      handle = k[call.kernel]!(x0, a, out); break;
    case 'binary': case 'compare': case 'matmul': case 'conv2d': case 'conv2dGradInput': case 'conv2dGradFilter': case 'gather': case 'scatterAdd':
      handle = k[call.kernel]!(x0, x1, a, out); break;
    case 'fused.softmax': case 'fused.logSoftmax':
      handle = (b.fused as Record<string, (...args: unknown[]) => object>)[call.kernel.slice(6)]!(x0, out); break;
    case 'fused.layerNorm': case 'fused.groupNorm':
      handle = (b.fused as Record<string, (...args: unknown[]) => object>)[call.kernel.slice(6)]!(x0, x1, x2, a, out); break;
    case 'fused.attention':
      handle = (b.fused as Record<string, (...args: unknown[]) => object>).attention!(x0, x1, x2, x3, a, out); break;
    default:
      throw new Error(`unknown kernel ${call.kernel}`);
  }
  const values = b.readSync(handle, out.dtype);
  b.dispose(handle);
  for (const c of created) b.dispose(c.handle);
  return values;
}

export interface Comparison {
  ok: boolean;
  message: string;
}

/** |got - want| <= atol + rtol * |want| everywhere (exact for int32 / bool). */
export function compareValues(got: ArrayLike<number>, want: ArrayLike<number>, dtype: DType, atol: number, rtol: number): Comparison {
  if (got.length !== want.length) return { ok: false, message: `length ${got.length} vs ${want.length}` };
  const exact = dtype === 'int32' || dtype === 'bool';
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    const err = Math.abs(g - w);
    const allowed = exact ? 0 : atol + rtol * Math.abs(w);
    const ratio = err === 0 ? 0 : allowed === 0 ? Infinity : err / allowed;
    if (!(ratio <= worst) || Number.isNaN(err)) {
      worst = Number.isNaN(err) ? Infinity : ratio;
      at = i;
    }
  }
  if (worst <= 1) return { ok: true, message: 'ok' };
  return { ok: false, message: `worst at [${at}]: got ${got[at]}, want ${want[at]} (error ${worst.toPrecision(3)} x tolerance)` };
}

export function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}
