// Every kernel of the WebGPU backend: the primitive and fused kernel tables bound to a runtime,
// and the kernel registry (each WGSL kernel as data) that `listKernels()` exposes.

import type { FusedKernels, PrimitiveKernels, TensorInfo } from '@denoise/core';
import type { Kernel, KernelInfo } from '../kernel.js';
import type { Runtime } from '../runtime/runtime.js';
import { binary, binaryKernel, compare, compareKernel, where, whereKernel } from './elementwise/binary.js';
import { cast, castKernel } from './elementwise/cast.js';
import { unary, unaryKernel } from './elementwise/unary.js';
import { conv2d, conv2dGradFilter, conv2dGradFilterKernel, conv2dGradInput, conv2dGradInputKernel, conv2dKernel } from './gemm/conv2d.js';
import { matmul, matmulKernel } from './gemm/matmul.js';
import { gather, gatherKernel } from './indexing/gather.js';
import {
  scatterAdd, scatterCountKernel, scatterFillKernel, scatterScanKernel, scatterSortKernel, scatterSumKernel,
} from './indexing/scatter-add.js';
import { broadcastTo, concat, copyKernel, fill, fillKernel, pad, reshape, slice, transpose } from './layout/copy.js';
import { reduce, argmax, reduceKernel } from './reduce/reduce.js';
import { resize, resizeGrad, resizeGradKernel, resizeKernel } from './resize/resize.js';
import { ATTENTION_KERNELS, attention } from './fused/attention.js';
import { layerNorm, groupNorm, logSoftmax, normKernel, softmax, softmaxKernel } from './fused/rows.js';

/** Every WGSL kernel, as data. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const KERNELS: readonly Kernel<any>[] = [
  unaryKernel, binaryKernel, compareKernel, whereKernel, castKernel, fillKernel, copyKernel,
  reduceKernel, matmulKernel, conv2dKernel, conv2dGradInputKernel, conv2dGradFilterKernel,
  gatherKernel, scatterCountKernel, scatterScanKernel, scatterFillKernel, scatterSortKernel, scatterSumKernel,
  resizeKernel, resizeGradKernel, softmaxKernel, normKernel, ...ATTENTION_KERNELS,
];

/** Name, workgroup size and bindings of every WGSL kernel of the backend. */
export function listKernels(): KernelInfo[] {
  return KERNELS.map((k) => ({ name: k.name, workgroupSize: k.workgroupSize, bindings: k.bindings }));
}

export function createPrimitiveKernels(rt: Runtime): PrimitiveKernels {
  return {
    unary: (x, attrs, out) => unary(rt, x, attrs, out),
    binary: (a, b, attrs, out) => binary(rt, a, b, attrs, out),
    compare: (a, b, attrs, out) => compare(rt, a, b, attrs, out),
    where: (c, a, b, out) => where(rt, c, a, b, out),
    reduce: (x, attrs, out) => reduce(rt, x, attrs, out),
    argmax: (x, attrs, out) => argmax(rt, x, attrs, out),
    matmul: (a, b, attrs, out) => matmul(rt, a, b, attrs, out),
    conv2d: (x, w, attrs, out) => conv2d(rt, x, w, attrs, out),
    conv2dGradInput: (dy, w, attrs, out) => conv2dGradInput(rt, dy, w, attrs, out),
    conv2dGradFilter: (x, dy, attrs, out) => conv2dGradFilter(rt, x, dy, attrs, out),
    gather: (x, indices, attrs, out) => gather(rt, x, indices, attrs, out),
    scatterAdd: (indices, updates, attrs, out) => scatterAdd(rt, indices, updates, attrs, out),
    reshape: (x, out) => reshape(rt, x, out),
    transpose: (x, attrs, out) => transpose(rt, x, attrs, out),
    slice: (x, attrs, out) => slice(rt, x, attrs, out),
    concat: (xs, attrs, out) => concat(rt, xs, attrs, out),
    pad: (x, attrs, out) => pad(rt, x, attrs, out),
    broadcastTo: (x, out) => broadcastTo(rt, x, out),
    resize: (x, attrs, out) => resize(rt, x, attrs, out),
    resizeGrad: (dy, attrs, out) => resizeGrad(rt, dy, attrs, out),
    cast: (x, out) => cast(rt, x, out),
    fill: (attrs, out) => fill(rt, attrs, out),
  };
}

export function createFusedKernels(rt: Runtime): Required<FusedKernels> {
  return {
    softmax: (x, out) => softmax(rt, x, out),
    logSoftmax: (x, out) => logSoftmax(rt, x, out),
    layerNorm: (x, gamma, beta, attrs, out) => layerNorm(rt, x, gamma, beta, attrs, out),
    groupNorm: (x, gamma, beta, attrs, out) => groupNorm(rt, x, gamma, beta, attrs, out),
    attention: (q, k, v, mask: TensorInfo | null, attrs, out) => attention(rt, q, k, v, mask, attrs, out),
  };
}
