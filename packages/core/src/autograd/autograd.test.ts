// The autograd API: closed-form gradients, vector-Jacobian products, no-grad scopes, variables,
// error cases, and that a wrong gradient rule is caught by the finite-difference oracle.
import { describe, expect, it } from 'vitest';
import { GRADIENTS } from './gradients.js';
import { grad, gradients, noGrad, valueAndGrad, vjp } from './index.js';
import { engine } from '../engine/engine.js';
import { gradcheck } from '../testing/gradcheck.js';
import { tensor, variable } from '../ops/creation.js';
import * as op from '../ops/index.js';
import { DTypeError, ShapeError } from '../errors/index.js';

const f64 = (v: number[] | number[][], shape?: number[]) => tensor(v as number[], shape, { dtype: 'float64' });

describe('autograd', () => {
  it('matches a closed form: d/dx sum(x^3 + sin(x) * y) = 3x^2 + cos(x) y', () => {
    const x = f64([0.3, -1.2, 2.0]);
    const y = f64([1.5, 0.25, -2]);
    const { value, grads } = valueAndGrad((a, b) => op.sum(op.add(op.mul(op.mul(a, a), a), op.mul(op.sin(a), b))))(x, y);
    const xs = [0.3, -1.2, 2.0];
    const ys = [1.5, 0.25, -2];
    expect(value.item()).toBeCloseTo(xs.reduce((s, v, i) => s + v ** 3 + Math.sin(v) * ys[i]!, 0), 12);
    const gx = Array.from(grads[0]!.dataSync());
    const gy = Array.from(grads[1]!.dataSync());
    xs.forEach((v, i) => expect(gx[i]).toBeCloseTo(3 * v * v + Math.cos(v) * ys[i]!, 12));
    xs.forEach((v, i) => expect(gy[i]).toBeCloseTo(Math.sin(v), 12));
  });

  it('accumulates gradients of a tensor used several times', () => {
    const x = f64([2]);
    const [g] = grad((a) => op.sum(op.add(op.mul(a, a), op.mul(a, 3))))(x);
    expect(g!.item()).toBeCloseTo(2 * 2 + 3, 12);
  });

  it('gives zeros for inputs the value does not depend on', () => {
    const x = f64([1, 2]);
    const y = f64([3, 4]);
    const [, gy] = grad((a, _b) => op.sum(a))(x, y);
    expect(Array.from(gy!.dataSync())).toEqual([0, 0]);
  });

  it('computes vector-Jacobian products', () => {
    const x = f64([1, 2, 3]);
    const dy = f64([1, 0.5, -1]);
    const { grads } = vjp(() => op.mul(x, x), [x], dy);
    expect(Array.from(grads[0]!.dataSync())).toEqual([2, 2, -6]);
  });

  it('does not follow gradients through noGrad', () => {
    const x = f64([1.5]);
    const [g] = grad((a) => op.add(op.mul(a, a), noGrad(() => op.mul(a, a))))(x);
    expect(g!.item()).toBeCloseTo(3, 12);
  });

  it('differentiates w.r.t. variables through a closure (parameters)', () => {
    const w = variable(f64([0.5, -1]));
    const x = f64([2, 3]);
    const { value, grads } = gradients(() => op.sum(op.square(op.sub(op.mul(w, x), 1))), [w]);
    // d/dw (w x - 1)^2 = 2 (w x - 1) x
    expect(value.item()).toBeCloseTo((0.5 * 2 - 1) ** 2 + (-3 - 1) ** 2, 12);
    expect(Array.from(grads[0]!.dataSync())).toEqual([2 * (1 - 1) * 2, 2 * (-3 - 1) * 3]);
  });

  it('works when the model frees intermediates in its own scopes', () => {
    const x = f64([0.7, 1.1]);
    const [g] = grad((a) => {
      const h = engine.tidy(() => op.exp(op.mul(a, 2)));
      return op.sum(h);
    })(x);
    expect(Array.from(g!.dataSync()).map((v) => Math.round(v * 1e9) / 1e9)).toEqual([0.7, 1.1].map((v) => Math.round(2 * Math.exp(2 * v) * 1e9) / 1e9));
  });

  it('rejects non-scalar losses without a seed, integer inputs, and seeds of the wrong shape', () => {
    const x = f64([1, 2]);
    expect(() => gradients(() => op.mul(x, 2), [x])).toThrow(ShapeError);
    expect(() => gradients(() => op.sum(x), [tensor([1, 2], undefined, { dtype: 'int32' })])).toThrow(DTypeError);
    expect(() => vjp(() => op.mul(x, 2), [x], f64([1, 2, 3]))).toThrow(/seed must have the value's shape \[2\]/);
  });

  it('frees everything but the value and the gradients', () => {
    const x = f64([0.1, 0.2, 0.3]);
    const before = engine.memory().numTensors;
    const { value, grads } = valueAndGrad((a) => op.sum(op.softmax(op.mul(op.tanh(a), 3))))(x);
    expect(engine.memory().numTensors).toBe(before + 2);
    value.dispose();
    grads[0]!.dispose();
    expect(engine.memory().numTensors).toBe(before);
  });

  it('a wrong gradient rule is caught by gradcheck', () => {
    const original = GRADIENTS.unary;
    GRADIENTS.unary = (dy, node) => original(dy, node).map((g) => (g ? op.mul(g, 1.001) : g));
    try {
      const r = gradcheck((x) => op.tanh(x), [{ shape: [3], values: Float64Array.from([0.1, 0.5, -0.7]) }]);
      expect(r.ok).toBe(false);
    } finally {
      GRADIENTS.unary = original;
    }
    expect(gradcheck((x) => op.tanh(x), [{ shape: [3], values: Float64Array.from([0.1, 0.5, -0.7]) }]).ok).toBe(true);
  });
});

describe('backward memory', () => {
  it('frees each gradient once nothing reads it: peak live buffers stay near the saved activations', async () => {
    const { createReferenceBackend } = await import('../backend/reference/backend.js');
    const base = createReferenceBackend();
    let peak = 0;
    const backend = { ...base, name: 'peak-tracking', kernels: new Proxy(base.kernels, {
      get(target, key) {
        const k = (target as unknown as Record<string | symbol, unknown>)[key];
        if (typeof k !== 'function') return k;
        return (...args: unknown[]) => {
          const out = (k as (...a: unknown[]) => unknown).apply(target, args);
          peak = Math.max(peak, base.memory().buffers);
          return out;
        };
      },
    }) };
    const prev = engine.backend;
    engine.setBackend(backend);
    try {
      const depth = 60;
      const x = tensor(Array.from({ length: 64 }, (_, i) => Math.sin(i)), [64], { dtype: 'float64' });
      const before = base.memory().buffers;
      const { value, grads } = gradients(() => {
        let h = x;
        for (let l = 0; l < depth; l++) h = op.tanh(op.mul(h, 1.1));
        return op.sum(h);
      }, [x]);
      // The forward keeps ~2 tensors per layer (plus scalar constants) for the backward pass;
      // without freeing, every layer's two gradients would stay alive on top of that as well.
      const forwardLive = 3 * depth;
      expect(peak - before).toBeLessThan(forwardLive + 20);
      value.dispose();
      grads[0]!.dispose();
      x.dispose();
      expect(base.memory().buffers).toBe(before - 1);
    } finally {
      engine.setBackend(prev);
    }
  });
});
