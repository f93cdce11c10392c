// Graph capture and replay: every conformance case replays bit-for-bit (float64 reference), a
// captured training step (forward + gradients + SGD) replays the eager loss curve, the cache
// captures once per signature, reads during capture fail clearly, and nothing leaks.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { gradients } from '../autograd/index.js';
import { Generator } from '../random/philox.js';
import { conformanceCases } from '../testing/conformance.js';
import { type HostTensor, randomFloat } from '../testing/host.js';
import type { TypedArray } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import * as op from '../ops/index.js';
import { createReferenceBackend } from '../backend/reference/backend.js';
import { GraphCache, GraphCaptureError, captureGraph, captureGraphWithExternals, executeGraph, isSymbolic } from './index.js';

const backend = engine.reference;

function upload(h: HostTensor): Tensor {
  const dtype = h.kind === 'float' ? 'float64' : h.kind === 'int' ? 'int32' : 'bool';
  const data = dtype === 'float64' ? h.values.slice() : dtype === 'int32' ? Int32Array.from(h.values) : Uint8Array.from(h.values);
  return engine.upload(data, h.shape, dtype, backend);
}

function expectClose(got: TypedArray, want: TypedArray, label: string, atol = 1e-12, rtol = 1e-12): void {
  expect(got.length, label).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    if (g === w || (Number.isNaN(g) && Number.isNaN(w))) continue;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) expect.fail(`${label}[${i}]: replay ${g}, eager ${w}`);
  }
}

function asList(r: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(r) ? r : [r];
}

function withBackend<T>(fn: () => T): T {
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    return fn();
  } finally {
    engine.setBackend(prev);
  }
}

describe('captureGraph + executeGraph replay every conformance case on the reference backend', () => {
  conformanceCases.forEach((c, caseIndex) => {
    it(c.name, () =>
      withBackend(() => {
        const gen = new Generator(9001 + caseIndex);
        const host = c.inputs(gen);
        const xs = host.map(upload);
        const start = engine.memory().numTensors;
        const specs = xs.map((x) => ({ shape: x.shape, dtype: x.dtype }));

        // Forward.
        const eager = engine.tidy(() => c.run(...xs));
        const graph = captureGraph(c.run, specs);
        expect(graph.inputs.length).toBe(xs.length);
        expect(graph.nodes.length).toBeGreaterThan(0);
        const replay = executeGraph(graph, backend, xs) as Tensor;
        expect(replay).toBeInstanceOf(Tensor);
        expect(replay.shape).toEqual(eager.shape);
        expect(replay.dtype).toBe(eager.dtype);
        expect(replay.dtype).toBe(graph.outputs[0]!.dtype);
        expectClose(replay.dataSync(), eager.dataSync(), `${c.name} output`);
        eager.dispose();
        replay.dispose();

        // Backward, recorded into the graph: gradients of a weighted sum w.r.t. the float inputs.
        if (c.grad) {
          const floatIdx = host.map((h, i) => (h.kind === 'float' ? i : -1)).filter((i) => i >= 0);
          const outShape = graph.outputs[0]!.shape;
          const wVals = new Float64Array(outShape.reduce((a, b) => a * b, 1));
          for (let i = 0; i < wVals.length; i++) wVals[i] = Math.cos(0.7 * i + 0.1) + 0.3;
          const w = engine.upload(wVals, outShape, 'float64', backend); // closed over: an external
          const withGrads = (...ins: Tensor[]): Tensor[] => {
            const { value, grads } = gradients(() => op.sum(op.mul(c.run(...ins), w)), floatIdx.map((i) => ins[i]!));
            return [value, ...grads];
          };
          const want = engine.tidy(() => withGrads(...xs));
          const { graph: g2, externals } = captureGraphWithExternals(withGrads, specs);
          expect(g2.externals.map((e) => e.tensorId)).toEqual([w.id]);
          expect(externals.get(w.id)).toBe(w);
          const got = asList(executeGraph(g2, backend, xs, new Map([[w.id, w]])));
          expect(got.length).toBe(want.length);
          got.forEach((t, i) => {
            expect(t.shape).toEqual(want[i]!.shape);
            expectClose(t.dataSync(), want[i]!.dataSync(), `${c.name} ${i === 0 ? 'value' : `grad[${i - 1}]`}`);
          });
          for (const t of [...got, ...want, w]) t.dispose();
        }
        expect(engine.memory().numTensors).toBe(start);
        for (const x of xs) x.dispose();
      }),
    );
  });
});

describe('a captured training step', () => {
  it('replays 20 SGD steps of a tiny MLP with the eager loss curve', () =>
    withBackend(() => {
      const gen = new Generator(77);
      const f32 = (shape: number[], scale: number) => {
        const h = randomFloat(gen, shape, { low: -scale, high: scale });
        return op.tensor(Float32Array.from(h.values), shape, { dtype: 'float32' });
      };
      const init = [f32([4, 8], 0.6), f32([8], 0.1), f32([8, 1], 0.6), f32([1], 0.1)];
      const x = f32([16, 4], 1);
      const y = engine.tidy(() => op.sin(op.sum(x, 1, true)));
      const params = init.map((t, i) => op.variable(t, `p${i}`));
      const lr = 0.1;
      const step = (xb: Tensor, yb: Tensor): Tensor[] => {
        const { value, grads } = gradients(() => {
          const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
          const h = op.relu(op.add(op.matmul(xb, w1), b1));
          const pred = op.add(op.matmul(h, w2), b2);
          return op.mean(op.square(op.sub(pred, yb)));
        }, params);
        return [value, ...params.map((p, i) => op.sub(p, op.mul(grads[i]!, lr)))];
      };
      const train = (run: (a: Tensor, b: Tensor) => Tensor[]): number[] => {
        const losses: number[] = [];
        for (let s = 0; s < 20; s++) {
          const [loss, ...next] = run(x, y);
          losses.push(loss!.item());
          loss!.dispose();
          next.forEach((t, i) => params[i]!.assign(t));
        }
        return losses;
      };

      const start = engine.memory().numTensors;
      const eager = train((a, b) => engine.tidy(() => step(a, b)));
      expect(engine.memory().numTensors).toBe(start);

      params.forEach((p, i) => p.assign(engine.tidy(() => op.add(init[i]!, 0))));
      const cache = new GraphCache();
      const compiled = cache.compile(step);
      const replayed = train((a, b) => compiled(a, b) as Tensor[]);
      expect(compiled.captures).toBe(1);
      expect(engine.memory().numTensors).toBe(start);

      expect(eager[19]!).toBeLessThan(eager[0]! * 0.9);
      expectClose(Float64Array.from(replayed), Float64Array.from(eager), 'loss curve', 1e-6, 1e-5);
      for (const t of [...params, ...init, x, y]) t.dispose();
    }));
});

describe('GraphCache', () => {
  it('captures once per (shapes, dtypes) key and replays afterwards', () =>
    withBackend(() => {
      const bias = op.tensor([0.5, -1, 2], [3], { dtype: 'float64' });
      let traced = 0;
      const cache = new GraphCache();
      const fn = cache.compile((a) => {
        traced++;
        return op.add(op.mul(a, 2), bias);
      });
      const start = engine.memory().numTensors;
      const a1 = op.tensor([1, 2, 3], [3], { dtype: 'float64' });
      const a2 = op.tensor([4, 5, 6], [3], { dtype: 'float64' });
      const b1 = op.tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'float64' });
      const c1 = op.tensor([1, 2, 3], [3], { dtype: 'float32' });
      const r1 = fn(a1) as Tensor;
      const r2 = fn(a2) as Tensor;
      expect(fn.captures).toBe(1);
      expect(traced).toBe(1);
      expect(Array.from(r1.dataSync())).toEqual([2.5, 3, 8]);
      expect(Array.from(r2.dataSync())).toEqual([8.5, 9, 14]);
      const r3 = fn(b1) as Tensor;
      expect(r3.shape).toEqual([2, 3]);
      expect(Array.from(r3.dataSync())).toEqual([2.5, 3, 8, 8.5, 9, 14]);
      expect(fn.captures).toBe(2);
      const r4 = fn(c1) as Tensor;
      expect(r4.dtype).toBe('float64'); // float32 + float64 bias upcasts, as in eager
      expect(fn.captures).toBe(3);
      (fn(a1) as Tensor).dispose();
      fn(b1);
      expect(fn.captures).toBe(3);
      expect(cache.captures).toBe(3);
      expect(traced).toBe(3);
      for (const t of [r1, r2, r3, r4, a1, a2, b1, c1]) t.dispose();
      // The un-disposed fn(b1) result above lives on: 1 tensor over the start.
      expect(engine.memory().numTensors).toBe(start + 1);
      bias.dispose();
    }));
});

describe('capture guards', () => {
  it('reading values while capturing throws a clear error, and capture state is restored', () =>
    withBackend(() => {
      const prevInterceptor = engine.interceptor;
      const start = engine.memory().numTensors;
      const read = (x: Tensor) => {
        const s = op.sum(x);
        s.dataSync();
        return s;
      };
      expect(() => captureGraph(read, [{ shape: [3], dtype: 'float32' }])).toThrow(GraphCaptureError);
      expect(() => captureGraph(read, [{ shape: [3], dtype: 'float32' }])).toThrow(
        "Tensor.dataSync: cannot read a tensor's values while capturing a graph (value v1, produced by 'reduce'",
      );
      expect(() => captureGraph((x) => op.tensor([op.sum(x).item()]), [{ shape: [3], dtype: 'float32' }])).toThrow(/cannot read a tensor's values while capturing a graph/);
      expect(engine.interceptor).toBe(prevInterceptor);
      expect(engine.memory().numTensors).toBe(start);
      // The backend works normally again.
      const t = op.tensor([1, 2], [2], { dtype: 'float64' });
      expect(Array.from(t.dataSync())).toEqual([1, 2]);
      t.dispose();
    }));

  it('symbolic tensors never reach the backend, and live counts return to the start', () =>
    withBackend(() => {
      const start = engine.memory().numTensors;
      const bytes = backend.memory().bytes;
      let seen: Tensor | null = null;
      const graph = captureGraph(
        (x) =>
          engine.tidy(() => {
            seen = x;
            const k = op.tensor([1, 2, 3], [3], { dtype: 'float64' }); // a constant
            const tmp = op.exp(x);
            tmp.dispose(); // disposing a symbolic tensor must not reach backend.dispose
            return op.mul(op.add(x, k), 3);
          }),
        [{ shape: [3], dtype: 'float64' }],
      );
      expect(seen).not.toBeNull();
      expect(isSymbolic(seen!)).toBe(true);
      expect(seen!.isDisposed).toBe(true);
      expect(engine.memory().numTensors).toBe(start);
      expect(backend.memory().bytes).toBe(bytes);
      expect(graph.constants.length).toBe(1);
      expect(Array.from(graph.constants[0]!.values)).toEqual([1, 2, 3]);
      expect(graph.nodes.map((n) => n.kernel)).toEqual(['unary', 'binary', 'fill', 'binary']);
      const x = op.tensor([1, 1, 1], [3], { dtype: 'float64' });
      const y = executeGraph(graph, backend, [x]) as Tensor;
      expect(Array.from(y.dataSync())).toEqual([6, 9, 12]);
      y.dispose();
      x.dispose();
      expect(engine.memory().numTensors).toBe(start);
      expect(backend.memory().bytes).toBe(bytes);
      expect(JSON.parse(JSON.stringify({ ...graph, constants: [] })).nodes.length).toBe(4); // plain data
    }));
});

describe('replay on another backend', () => {
  it('a graph captured on one backend replays on another one', () => {
    const other = createReferenceBackend();
    const graph = withBackend(() => captureGraph((a, b) => op.softmax(op.matmul(a, b)), [{ shape: [2, 3], dtype: 'float32' }, { shape: [3, 4], dtype: 'float32' }]));
    const av = Float32Array.from([1, -2, 0.5, 0.25, 3, -1]);
    const bv = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
    const start = engine.memory().numTensors;
    const a = engine.upload(av, [2, 3], 'float32', other);
    const b = engine.upload(bv, [3, 4], 'float32', other);
    const y = executeGraph(graph, other, [a, b]) as Tensor;
    expect(y.backend).toBe(other);
    const want = withBackend(() => engine.tidy(() => op.softmax(op.matmul(op.tensor(av, [2, 3]), op.tensor(bv, [3, 4])))));
    expectClose(y.dataSync(), want.dataSync(), 'softmax(matmul)', 1e-6, 1e-6);
    for (const t of [a, b, y, want]) t.dispose();
    expect(engine.memory().numTensors).toBe(start);
    expect(other.memory().buffers).toBe(0);
  });
});
