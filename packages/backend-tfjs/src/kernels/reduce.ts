// Reductions and argmax.

import type { PrimitiveKernels } from '@denoise/core';
import type { KernelContext } from './context.js';

export function reduceKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'reduce' | 'argmax'> {
  const { tf } = ctx;
  return {
    reduce: (x, attrs, out) =>
      ctx.run(out, () => {
        let t = ctx.t(x);
        const axes = [...attrs.axes];
        if (t.size === 0) {
          // Reducing an empty axis gives the identity (tfjs-backend-wasm returns uninitialised memory).
          const identity = attrs.op === 'sum' ? 0 : attrs.op === 'prod' ? 1 : attrs.op === 'max' ? -Infinity : Infinity;
          return tf.fill(out.shape as number[], identity, out.dtype === 'bool' ? 'float32' : (out.dtype as 'float32' | 'int32'));
        }
        switch (attrs.op) {
          case 'sum':
            if (t.dtype === 'bool') t = tf.cast(t, 'int32');
            return tf.sum(t, axes);
          case 'prod':
            if (t.dtype === 'bool') t = tf.cast(t, 'int32');
            return tf.prod(t, axes);
          case 'max':
            return tf.max(t, axes);
          case 'min':
            return tf.min(t, axes);
        }
      }),
    argmax: (x, attrs, out) =>
      ctx.run(out, () => {
        let t = ctx.t(x);
        if (t.dtype === 'bool') t = tf.cast(t, 'int32');
        // Every tfjs backend keeps the first index among equal maxima.
        return tf.argMax(t, attrs.axis);
      }),
  };
}
