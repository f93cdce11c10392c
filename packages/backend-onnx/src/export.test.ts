import { Generator, PRIMITIVE_NAMES, type Tensor, max, captureGraph, engine, gradients, sum, mul, matmul, add, relu, tensor, mean, square, sub } from '@denoise/core';
import { type ConformanceCase, type HostTensor, conformanceCases, createReferenceBackend, randomFloat } from '@denoise/core/testing';
import { describe, expect, it } from 'vitest';
import { OnnxExportError, graphToOnnx } from './export.js';
import { createOnnxSession, runOnnx, type OnnxTensorData } from './run.js';

const reference = createReferenceBackend();
const DEFAULT_TOL = { atol: 1e-5, rtol: 1e-4 };

/** Cases whose kernels the exporter leaves unsupported: none today (listed here, never skipped). */
const EXPECTED_UNSUPPORTED: Readonly<Record<string, RegExp>> = {};

function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return 1234 + h;
}

function hostData(h: HostTensor, float: 'float32' | 'float64') {
  const dtype = h.kind === 'float' ? float : h.kind === 'int' ? 'int32' : 'bool';
  const data = dtype === 'float64' ? Float64Array.from(h.values) : dtype === 'float32' ? Float32Array.from(h.values) : dtype === 'int32' ? Int32Array.from(h.values) : Uint8Array.from(h.values);
  return { dtype, data } as const;
}

/** The weights of the weighted sum whose gradients grad cases compare. */
function weights(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.cos(0.9 * i + 0.3) + 0.2;
  return w;
}

/** out, then (for grad cases) d sum(out * w) / d float inputs. */
function withGrads(c: ConformanceCase, host: HostTensor[], float: 'float32' | 'float64') {
  return (...xs: Tensor[]): Tensor[] => {
    const out = c.run(...xs);
    if (!c.grad) return [out];
    const floats = xs.filter((_, i) => host[i]!.kind === 'float');
    const w = tensor(float === 'float64' ? weights(out.size) : Float32Array.from(weights(out.size)), out.shape, { dtype: float });
    const { grads } = gradients(() => sum(mul(c.run(...xs), w)), floats);
    return [out, ...grads];
  };
}

async function referenceOf(c: ConformanceCase, host: HostTensor[]) {
  const prev = engine.backend;
  engine.setBackend(reference);
  try {
    const xs = host.map((h) => {
      const { dtype, data } = hostData(h, 'float64');
      return engine.upload(data, h.shape, dtype, reference);
    });
    const outs = withGrads(c, host, 'float64')(...xs);
    const res = [];
    for (const o of outs) res.push({ dtype: o.dtype, shape: [...o.shape], values: await o.data() });
    return res;
  } finally {
    engine.setBackend(prev);
  }
}

function compare(label: string, got: OnnxTensorData, want: { dtype: string; shape: number[]; values: ArrayLike<number> }, tol: { atol: number; rtol: number }) {
  expect(got.dims, `${label} shape`).toEqual(want.shape);
  const exact = want.dtype === 'int32' || want.dtype === 'bool';
  expect(got.data.length).toBe(want.values.length);
  let worst = 0;
  let msg = '';
  for (let i = 0; i < want.values.length; i++) {
    const g = Number(got.data[i]);
    const w = Number(want.values[i]);
    const err = exact ? (g === w ? 0 : Infinity) : Math.abs(g - w) / (tol.atol + tol.rtol * Math.abs(w));
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      msg = `${label}[${i}]: got ${g}, expected ${w}`;
    }
  }
  expect(worst <= 1, msg).toBe(true);
}

const kernelsSeen = new Set<string>();

describe('conformance cases exported to ONNX and run in onnxruntime-node (float32 vs float64 reference)', () => {
  for (const c of conformanceCases) {
    it(c.name, async () => {
      const host = c.inputs(new Generator(seedOf(c.name)));
      const specs = host.map((h) => ({ shape: h.shape, dtype: hostData(h, 'float32').dtype }));
      const graph = captureGraph(withGrads(c, host, 'float32'), specs);
      for (const n of graph.nodes) kernelsSeen.add(n.kernel);
      const unsupported = EXPECTED_UNSUPPORTED[c.name];
      if (unsupported) {
        expect(() => graphToOnnx(graph)).toThrow(OnnxExportError);
        expect(() => graphToOnnx(graph)).toThrow(unsupported);
        return;
      }
      const bytes = graphToOnnx(graph, { name: c.name });
      const session = await createOnnxSession(bytes, { threads: 1 });
      const feeds: Record<string, OnnxTensorData> = {};
      host.forEach((h, i) => (feeds[`input${i}`] = { data: hostData(h, 'float32').data, dims: h.shape }));
      const got = await runOnnx(session, feeds);
      await session.release();
      const want = await referenceOf(c, host);
      const tol = c.tol ?? DEFAULT_TOL;
      want.forEach((w, i) => compare(i === 0 ? 'output' : `grad[${i - 1}]`, got[`output${i}`]!, w, tol));
    });
  }
});

describe('coverage', () => {
  it('the exported conformance graphs (forward and backward) use every primitive kernel', () => {
    expect([...PRIMITIVE_NAMES].filter((k) => !kernelsSeen.has(k))).toEqual([]);
  });
});

describe('a tiny MLP forward + backward', () => {
  it('exports a captured training step (loss and parameter gradients) that matches eager', async () => {
    const g = new Generator(7);
    const w1 = tensor(Float32Array.from(randomFloat(g, [4, 8]).values), [4, 8]);
    const b1 = tensor(Float32Array.from(randomFloat(g, [8]).values), [8]);
    const w2 = tensor(Float32Array.from(randomFloat(g, [8, 2]).values), [8, 2]);
    w1.name = 'w1';
    const params = [w1, b1, w2];
    const x = Float32Array.from(randomFloat(g, [5, 4]).values);
    const y = Float32Array.from(randomFloat(g, [5, 2]).values);
    const step = (xt: Tensor, yt: Tensor): Tensor[] => {
      const { value, grads } = gradients(() => mean(square(sub(matmul(relu(add(matmul(xt, w1), b1)), w2), yt))), params);
      return [value, ...grads];
    };
    const graph = captureGraph(step, [{ shape: [5, 4], dtype: 'float32' }, { shape: [5, 2], dtype: 'float32' }]);
    expect(graph.externals.length).toBe(3);
    const bytes = graphToOnnx(graph);
    const session = await createOnnxSession(bytes);
    expect(session.inputNames).toContain('ext.w1');
    const feeds: Record<string, OnnxTensorData> = { input0: { data: x, dims: [5, 4] }, input1: { data: y, dims: [5, 2] } };
    for (const e of graph.externals) {
      const p = params.find((t) => t.id === e.tensorId)!;
      feeds[`ext.${e.name ?? e.tensorId}`] = { data: (await p.data()) as Float32Array, dims: e.shape };
    }
    const got = await runOnnx(session, feeds);
    await session.release();
    const eager = step(tensor(x, [5, 4]), tensor(y, [5, 2]));
    for (let i = 0; i < eager.length; i++) {
      const want = await eager[i]!.data();
      const have = got[`output${i}`]!;
      expect(have.dims).toEqual([...eager[i]!.shape]);
      for (let j = 0; j < want.length; j++) expect(Math.abs(Number(have.data[j]) - Number(want[j]))).toBeLessThan(1e-5 + 1e-4 * Math.abs(Number(want[j])));
    }
  });
});

describe('graphToOnnx options', () => {
  it('rejects opsets below 17', () => {
    const graph = captureGraph((a: Tensor) => add(a, a), [{ shape: [2], dtype: 'float32' }]);
    expect(() => graphToOnnx(graph, { opset: 16 })).toThrow(OnnxExportError);
  });
  it('exports with opset 18 (reduce axes as inputs)', async () => {
    const graph = captureGraph((a: Tensor) => [sum(a, 1), max(a, 0)], [{ shape: [2, 3], dtype: 'float32' }]);
    const session = await createOnnxSession(graphToOnnx(graph, { opset: 18 }));
    const out = await runOnnx(session, { input0: { data: Float32Array.from([1, 2, 3, -4, 5, 6]), dims: [2, 3] } });
    expect([...out.output0!.data]).toEqual([6, 7]);
    expect([...out.output1!.data]).toEqual([1, 5, 6]);
  });
  it('exports float64 graphs as DOUBLE', async () => {
    const graph = captureGraph((a: Tensor, b: Tensor) => matmul(add(a, b), b), [{ shape: [2, 2], dtype: 'float64' }, { shape: [2, 2], dtype: 'float64' }]);
    const session = await createOnnxSession(graphToOnnx(graph));
    const out = await runOnnx(session, { input0: { data: Float64Array.from([1, 2, 3, 4]), dims: [2, 2] }, input1: { data: Float64Array.from([1, 0, 0, 1]), dims: [2, 2] } });
    expect(out.output0!.data).toBeInstanceOf(Float64Array);
    expect([...out.output0!.data]).toEqual([2, 2, 3, 5]);
  });
});
