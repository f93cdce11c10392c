// The op layer: argument checks with exact messages, broadcasting, scopes, variables, and the
// fused-kernel dispatch rule (fused only when no gradient is needed).
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { createReferenceBackend } from '../backend/reference/backend.js';
import { DisposedTensorError, DTypeError, InvalidArgumentError, ShapeError } from '../errors/index.js';
import { gradients } from '../autograd/index.js';
import * as op from './index.js';
import type { Tensor } from '../tensor/tensor.js';

describe('op argument checks', () => {
  it('name the op, the argument, the expected and the actual value', () => {
    const x = op.zeros([1, 3, 8, 8]);
    const w = op.zeros([4, 2, 3, 3]);
    expect(() => op.conv2d(x, w)).toThrow(ShapeError);
    expect(() => op.conv2d(x, w)).toThrow('conv2d: w must be [4, 3, kH, kW] for x [1, 3, 8, 8] with groups 1, got [4, 2, 3, 3]');
    expect(() => op.matmul(op.zeros([2, 3]), op.zeros([4, 5]))).toThrow('matmul: inner dimensions differ: a [2, 3] has 3, b [4, 5] has 4');
    expect(() => op.add(op.zeros([2, 3]), op.zeros([4]))).toThrow('add: shapes [2, 3] and [4] do not broadcast (axis 1: 3 vs 4)');
    expect(() => op.reshape(op.zeros([2, 3]), [4, -1])).toThrow('reshape: cannot reshape [2, 3] (6 elements) into [4, -1]');
    expect(() => op.exp(op.zeros([2], 'int32'))).toThrow(DTypeError);
    expect(() => op.exp(op.zeros([2], 'int32'))).toThrow('exp: x must have dtype float32 or float64, got int32');
    expect(() => op.sum(op.zeros([2, 3]), 2)).toThrow('sum: axes must be an integer in [-2, 1], got 2');
    expect(() => op.gather(op.zeros([4, 2]), op.tensor([0, 4], [2], { dtype: 'int32' }))).toThrow('gather: indices must be in [0, 4), got 4 at flat position 1');
    expect(() => op.conv2d(x, op.zeros([4, 3, 3, 3]), { stride: 0 })).toThrow(InvalidArgumentError);
    expect(() => op.resize(x, { size: [0, 4] })).toThrow('resize: output size must be positive integers, got [0, 4]');
    expect(() => op.tensor([[1, 2], [3]])).toThrow(ShapeError);
  });

  it('refuse disposed tensors', () => {
    const x = op.ones([2]);
    x.dispose();
    expect(() => op.add(x, 1)).toThrow(DisposedTensorError);
  });
});

describe('broadcasting and dtypes', () => {
  it('broadcasts like NumPy and keeps int arithmetic integral', () => {
    const a = op.tensor([[1], [2], [3]]);
    const b = op.tensor([10, 20]);
    expect(op.add(a, b).arraySync()).toEqual([[11, 21], [12, 22], [13, 23]]);
    const i = op.tensor([-7, 7], [2], { dtype: 'int32' });
    expect(Array.from(op.div(i, 2).dataSync())).toEqual([-4, 3]);
    expect(op.div(i, 2).dtype).toBe('int32');
    expect(op.mul(i, 0.5).dtype).toBe('float32');
    expect(op.equal(a, 2).dtype).toBe('bool');
  });
  it('matmul treats rank-1 operands as vectors', () => {
    const m = op.tensor([[1, 2], [3, 4]]);
    const v = op.tensor([1, -1]);
    expect(op.matmul(m, v).arraySync()).toEqual([-1, -1]);
    expect(op.matmul(v, m).arraySync()).toEqual([-2, -2]);
    expect(op.matmul(v, v).arraySync()).toEqual(2);
  });
});

describe('scopes and variables', () => {
  it('tidy frees intermediates and keeps what is returned', () => {
    const before = engine.memory().numTensors;
    const out = engine.tidy(() => {
      const a = op.ones([3]);
      const b = op.add(a, 1);
      return { b, list: [op.mul(b, 2)] };
    });
    expect(engine.memory().numTensors).toBe(before + 2);
    expect(Array.from(out.list[0]!.dataSync())).toEqual([4, 4, 4]);
    out.b.dispose();
    out.list[0]!.dispose();
    expect(engine.memory().numTensors).toBe(before);
  });
  it('tidy never frees a tensor it did not make, even when fn returns it (passed through an op)', () => {
    const x = op.tensor(3);
    const y = op.ones([2]);
    engine.tidy(() => {
      const same = engine.tidy(() => op.tile(x, []));
      expect(same).toBe(x);
      engine.tidy(() => y);
      return op.add(x, 1);
    });
    expect(x.isDisposed).toBe(false);
    expect(y.isDisposed).toBe(false);
    // What an inner scope made and returned still moves up and is freed by the outer scope.
    let inner: Tensor | null = null;
    engine.tidy(() => {
      inner = engine.tidy(() => op.mul(y, 2));
      expect(inner.isDisposed).toBe(false);
    });
    expect(inner!.isDisposed).toBe(true);
    x.dispose();
    y.dispose();
  });
  it('ops outside any scope leave only their result alive (number operands and casts are freed)', () => {
    const x = op.tensor([1, 2, 3]);
    const i = op.tensor([1, 2, 3], [3], { dtype: 'int32' });
    const cond = op.tensor([1, 0, 1], [3], { dtype: 'bool' });
    const before = engine.memory();
    const outs = [op.mul(x, 2), op.add(1, x), op.add(i, 0.5), op.add(i, x), op.where(cond, 1, x), op.where(cond, i, 2.5), op.clip(x, 1.5, 2.5)];
    const after = engine.memory();
    expect(after.numTensors).toBe(before.numTensors + outs.length);
    expect(after.backend.buffers).toBe(before.backend.buffers + outs.length);
    expect(outs.map((t) => Array.from(t.dataSync()))).toEqual([[2, 4, 6], [2, 3, 4], [1.5, 2.5, 3.5], [2, 4, 6], [1, 2, 1], [1, 2.5, 3], [1.5, 2, 2.5]]);
    // A tape that saved a freed number operand keeps it until the backward pass.
    const w = op.tensor([1, -2]);
    const { value, grads } = gradients(() => op.sum(op.mul(op.mul(w, 3), w)), [w]);
    expect(value.item()).toBe(15);
    expect(Array.from(grads[0]!.dataSync())).toEqual([6, -12]);
    for (const t of [...outs, x, i, cond, w, value, ...grads]) t.dispose();
    expect(engine.memory().numTensors).toBe(before.numTensors - 3);
  });
  it('variables survive scopes and assign in place', () => {
    const v = engine.tidy(() => op.variable(op.ones([2])));
    const id = v.id;
    engine.tidy(() => v.assign(op.mul(v, 3)));
    expect(v.id).toBe(id);
    expect(Array.from(v.dataSync())).toEqual([3, 3]);
    expect(() => v.assign(op.ones([3]))).toThrow('Tensor.assign: value must have shape [2], got [3]');
    expect(() => op.ones([2]).assign(op.ones([2]))).toThrow(DTypeError);
    v.dispose();
  });
});

describe('fused composites', () => {
  it('use the backend kernel only when no gradient is needed', () => {
    const base = createReferenceBackend();
    let fusedCalls = 0;
    const backend = {
      ...base,
      name: 'counting',
      fused: {
        softmax: (...args: Parameters<NonNullable<typeof base.fused>['softmax'] & object>) => {
          fusedCalls++;
          return base.fused!.softmax!(...args);
        },
      },
    };
    const prev = engine.backend;
    engine.setBackend(backend);
    try {
      const x = op.tensor([[1, 2, 3]]);
      const y = op.softmax(x);
      expect(fusedCalls).toBe(1);
      const { grads } = gradients(() => op.sum(op.mul(op.softmax(x), op.tensor([[1, 0, 0]]))), [x]);
      expect(fusedCalls).toBe(1);
      const s = Array.from(y.dataSync());
      // d s0 / d x = s0 (e0 - s)
      expect(Array.from(grads[0]!.dataSync()).map((g) => +g.toFixed(6))).toEqual([s[0]! * (1 - s[0]!), -s[0]! * s[1]!, -s[0]! * s[2]!].map((g) => +g.toFixed(6)));
    } finally {
      engine.setBackend(prev);
    }
  });
});
