// Layout kernels: reshape, transpose, slice, concat, pad, broadcastTo.

import type { PrimitiveKernels } from '@denoise/core';
import type { KernelContext } from './context.js';
import { toBool } from './elementwise.js';

export function layoutKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'reshape' | 'transpose' | 'slice' | 'concat' | 'pad' | 'broadcastTo'> {
  const { tf } = ctx;
  return {
    reshape: (x, out) => ctx.run(out, () => tf.reshape(ctx.t(x), out.shape as number[])),
    transpose: (x, attrs, out) => ctx.run(out, () => tf.transpose(ctx.t(x), [...attrs.perm])),
    slice: (x, attrs, out) => ctx.run(out, () => ctx.slice(ctx.t(x), attrs.begin, out.shape)),
    concat: (xs, attrs, out) =>
      ctx.run(out, () => {
        const ts = xs.map((x) => ctx.t(x)).filter((t) => t.shape[attrs.axis] !== 0);
        if (ts.length === 0) return tf.zeros(out.shape as number[], out.dtype as 'float32');
        return ts.length === 1 ? tf.clone(ts[0]!) : tf.concat(ts, attrs.axis);
      }),
    pad: (x, attrs, out) =>
      ctx.run(out, () => {
        const t = ctx.t(x);
        const pads = attrs.pads.map(([a, b]) => [a, b] as [number, number]);
        if (t.dtype === 'bool') return toBool(ctx, tf.pad(tf.cast(t, 'int32'), pads, attrs.value !== 0 ? 1 : 0));
        return tf.pad(t, pads, attrs.value);
      }),
    broadcastTo: (x, out) => ctx.run(out, () => tf.broadcastTo(ctx.t(x), out.shape as number[])),
  };
}
