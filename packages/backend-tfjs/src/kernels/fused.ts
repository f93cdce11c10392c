// Fused kernels, only where tfjs has a real speedup over core's composite of primitives:
//  - softmax: one native Softmax kernel (XNNPACK on wasm) instead of max/sub/exp/sum/div;
//  - attention: the scale folded into q, the wasm-safe batched matmuls and the native softmax,
//    with no intermediate handles.
// logSoftmax, layerNorm and groupNorm are omitted: tfjs has no fused kernel for them (its ops
// are the same composites core builds), so a fused version gains nothing.

import type { FusedKernels } from '@denoise/core';
import type { KernelContext } from './context.js';
import { matmulTensors } from './matmul.js';

export function fusedKernels(ctx: KernelContext): FusedKernels {
  const { tf } = ctx;
  return {
    softmax: (x, out) => ctx.run(out, () => tf.softmax(ctx.t(x))),
    attention: (q, k, v, mask, attrs, out) =>
      ctx.run(out, () => {
        const qs = tf.mul(ctx.t(q), tf.scalar(attrs.scale));
        let scores = matmulTensors(ctx, qs, ctx.t(k), false, true);
        if (mask !== null) scores = tf.add(scores, ctx.t(mask));
        return matmulTensors(ctx, tf.softmax(scores), ctx.t(v), false, false);
      }),
  };
}
