// cast: float -> int32 truncates toward zero (NaN -> 0), anything -> bool is (x != 0) (NaN is
// true), int32 / bool -> float32 is exact for |x| < 2^24. float -> int32 outside the int32 range
// saturates (WGSL's conversion) where the reference wraps modulo 2^32.

import { sizeOf, type DType, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, storageType, u32 } from '../../kernel.js';
import { perElement, type Runtime, type WebGPUHandle } from '../../runtime/runtime.js';

const WG = 64;

export interface CastParams {
  readonly from: DType;
  readonly to: DType;
}

function conversion(from: DType, to: DType): string {
  if (from === to) return 'x';
  if (to === 'bool') return from === 'float32' ? 'select(0u, 1u, x != 0.0 || isNan_(x))' : 'select(0u, 1u, x != 0)';
  if (to === 'int32') return from === 'float32' ? 'select(i32(trunc(x)), 0, isNan_(x))' : 'i32(x)';
  return 'f32(x)';
}

export const castKernel: Kernel<CastParams> = {
  name: 'cast',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs'], ['ys']),
  uniforms: () => [u32('size')],
  cacheKey: (p) => `${p.from}:${p.to}`,
  source: (p) => `${declarations(castKernel, p, { xs: storageType(p.from), ys: storageType(p.to) })}
fn convert_(x: ${storageType(p.from)}) -> ${storageType(p.to)} { return ${conversion(p.from, p.to)}; }
${elementwiseMain(WG, '  ys[i] = convert_(xs[i]);')}`,
};

export function cast(rt: Runtime, x: TensorInfo, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'cast');
  rt.run([perElement(castKernel, { from: x.dtype, to: out.dtype }, [x.handle as WebGPUHandle, y], y.size)]);
  return y;
}
