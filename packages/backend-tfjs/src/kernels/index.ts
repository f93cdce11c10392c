// All primitive kernels of the tfjs backend.

import type { PrimitiveKernels } from '@denoise/core';
import type { KernelContext } from './context.js';
import { convKernels } from './conv.js';
import { elementwiseKernels } from './elementwise.js';
import { indexingKernels } from './indexing.js';
import { layoutKernels } from './layout.js';
import { matmulKernels } from './matmul.js';
import { reduceKernels } from './reduce.js';
import { resizeKernels } from './resize.js';

export function createPrimitiveKernels(ctx: KernelContext): PrimitiveKernels {
  return {
    ...elementwiseKernels(ctx),
    ...reduceKernels(ctx),
    ...matmulKernels(ctx),
    ...convKernels(ctx),
    ...indexingKernels(ctx),
    ...layoutKernels(ctx),
    ...resizeKernels(ctx),
  };
}

export { createKernelContext } from './context.js';
export type { KernelContext } from './context.js';
export { fusedKernels } from './fused.js';
