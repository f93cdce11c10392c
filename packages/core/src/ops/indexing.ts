// Gather and its adjoint scatter-add: embeddings, token lookups, one-hot free cross-entropy.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine, expectDType } from '../engine/engine.js';
import { normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

function checkIndices(op: string, indices: Tensor, dim: number): void {
  indices._check(op);
  expectDType(op, 'indices', indices, ['int32']);
  // Indices are checked when they can be read cheaply (synchronous backends, small tensors) and
  // no graph is being recorded; kernels trust them.
  if (!engine.interceptor && indices._backend.capabilities.syncRead && indices.size <= 1 << 20) {
    const v = indices.dataSync();
    for (let i = 0; i < v.length; i++) {
      const ix = v[i] as number;
      if (ix < 0 || ix >= dim) throw new InvalidArgumentError(`${op}: indices must be in [0, ${dim}), got ${ix} at flat position ${i}`);
    }
  }
}

/** x.shape[:axis] ++ indices.shape ++ x.shape[axis+1:], picking x's entries along `axis`. */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  x._check('gather');
  const a = normalizeAxis('gather', axis, x.rank);
  checkIndices('gather', indices, x.shape[a] as number);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return engine.runKernel('gather', [x, indices], { axis: a }, { shape, dtype: x.dtype }, 'gather');
}

/**
 * The adjoint of gather: zeros of `shape`, with `updates` (shaped like gather's output) added
 * at `indices` along `axis`; repeated indices accumulate.
 */
export function scatterAdd(shape: readonly number[], indices: Tensor, updates: Tensor, axis = 0): Tensor {
  updates._check('scatterAdd');
  const a = normalizeAxis('scatterAdd', axis, shape.length);
  checkIndices('scatterAdd', indices, shape[a] as number);
  const expected = [...shape.slice(0, a), ...indices.shape, ...shape.slice(a + 1)];
  if (expected.length !== updates.rank || expected.some((d, i) => d !== updates.shape[i])) {
    throw new ShapeError(`scatterAdd: updates must have shape ${describe(expected)} for shape ${describe(shape)}, indices ${describe(indices.shape)}, axis ${a}; got ${describe(updates.shape)}`);
  }
  if (updates.dtype === 'bool') throw new InvalidArgumentError(`scatterAdd: updates must be numeric, got bool`);
  return engine.runKernel('scatterAdd', [indices, updates], { axis: a }, { shape, dtype: updates.dtype }, 'scatterAdd');
}

/** Rows of `table` [V, D] for integer ids of any shape: [...ids.shape, D]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  if (table.rank !== 2) throw new ShapeError(`embedding: table must be [vocab, dim], got ${describe(table.shape)}`);
  return gather(table, ids, 0);
}
