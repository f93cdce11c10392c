// gather and its adjoint scatterAdd.

import type { PrimitiveKernels } from '@denoise/core';
import type { TfTensor } from '../types.js';
import type { KernelContext } from './context.js';
import { toBool } from './elementwise.js';

const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

/**
 * A zero tensor of `shape` into which the rows of `updates` ([...shape[:axis], I, ...shape[axis+1:]])
 * are added at positions `indices` (I int32 values) along `axis`; repeated indices accumulate.
 * One tf.scatterND (which sums duplicates in every tfjs backend) on the axis moved to the front.
 */
export function scatterAddAlong(ctx: KernelContext, indices: TfTensor, updates: TfTensor, axis: number, shape: readonly number[]): TfTensor {
  const { tf } = ctx;
  const D = shape[axis]!;
  const A = prod(shape.slice(0, axis));
  const B = prod(shape.slice(axis + 1));
  const I = indices.size;
  if (I === 0 || A * B === 0) return tf.zeros(shape as number[], updates.dtype);
  let u = tf.reshape(updates, [A, I, B]);
  if (A > 1) u = tf.transpose(u, [1, 0, 2]);
  u = tf.reshape(u, [I, A * B]);
  let r = tf.scatterND(tf.reshape(indices, [I, 1]), u, [D, A * B]);
  if (A > 1) r = tf.transpose(tf.reshape(r, [D, A, B]), [1, 0, 2]);
  return tf.reshape(r, shape as number[]);
}

export function indexingKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'gather' | 'scatterAdd'> {
  const { tf } = ctx;
  return {
    gather: (x, indices, attrs, out) =>
      ctx.run(out, () => {
        const idx = ctx.t(indices);
        return tf.gather(ctx.t(x), idx.dtype === 'int32' ? idx : tf.cast(idx, 'int32'), attrs.axis);
      }),
    scatterAdd: (indices, updates, attrs, out) =>
      ctx.run(out, () => {
        let idx = ctx.t(indices);
        if (idx.dtype !== 'int32') idx = tf.cast(idx, 'int32');
        const u = ctx.t(updates);
        if (u.dtype === 'bool') return toBool(ctx, scatterAddAlong(ctx, idx, tf.cast(u, 'int32'), attrs.axis, out.shape));
        return scatterAddAlong(ctx, idx, u, attrs.axis, out.shape);
      }),
  };
}
