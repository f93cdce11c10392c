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
