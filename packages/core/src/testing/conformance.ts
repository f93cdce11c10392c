// The backend conformance suite. Every case builds random (never all-zero) inputs from a seeded
// generator, runs one op on the backend under test in float32 and on the float64 reference
// backend, and compares within a stated tolerance; cases marked `grad` also compare the
// gradients of a weighted sum of the output. Backend packages run all of it:
//
//   for (const c of conformanceCases) it(c.name, () => expect(runConformanceCase(c, backend).ok).toBe(true));

import { gradients } from '../autograd/index.js';
import { createReferenceBackend } from '../backend/reference/backend.js';
import type { Backend } from '../backend/types.js';
import { engine } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import type { TypedArray } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import * as op from '../ops/index.js';
import { type HostTensor, distinctFloat, randomBool, randomFloat, randomInt } from './host.js';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface ConformanceCase {
  /** `<primitive or composite>/<variant>`. */
  readonly name: string;
  readonly inputs: (gen: Generator) => HostTensor[];
  readonly run: (...xs: Tensor[]) => Tensor;
  /** Tolerance for float32 results against the float64 reference. */
  readonly tol?: Tolerance;
  /** Also compare gradients w.r.t. the float inputs. */
  readonly grad?: boolean;
}

export interface ConformanceResult {
  readonly name: string;
  readonly ok: boolean;
  /** Worst error relative to the tolerance (<= 1 passes). */
  readonly worst: number;
  readonly message: string;
}

const DEFAULT_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };
const f = (gen: Generator, shape: number[], o?: Parameters<typeof randomFloat>[2]) => randomFloat(gen, shape, o);

function unaryCases(): ConformanceCase[] {
  const domains: Record<string, { low: number; high: number; avoid?: number[]; grad?: boolean }> = {
    neg: { low: -2, high: 2 }, abs: { low: -2, high: 2, avoid: [0] }, sign: { low: -2, high: 2, avoid: [0], grad: false },
    exp: { low: -3, high: 3 }, expm1: { low: -1, high: 1 }, log: { low: 0.1, high: 3 }, log1p: { low: -0.5, high: 2 },
    sqrt: { low: 0.1, high: 4 }, rsqrt: { low: 0.2, high: 4 }, square: { low: -2, high: 2 }, reciprocal: { low: 0.3, high: 3 },
    sin: { low: -4, high: 4 }, cos: { low: -4, high: 4 }, tanh: { low: -3, high: 3 }, sigmoid: { low: -6, high: 6 },
    relu: { low: -2, high: 2, avoid: [0] }, erf: { low: -2.5, high: 2.5 },
    floor: { low: -3, high: 3, avoid: [-3, -2, -1, 0, 1, 2, 3], grad: false }, ceil: { low: -3, high: 3, avoid: [-3, -2, -1, 0, 1, 2, 3], grad: false },
    round: { low: -3, high: 3, avoid: [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], grad: false },
  };
  return Object.entries(domains).map(([name, d]) => ({
    name: `unary/${name}`,
    inputs: (g) => [f(g, [3, 17], { low: d.low, high: d.high, avoid: d.avoid ?? [], margin: 0.02 })],
    run: (x) => (op as unknown as Record<string, (t: Tensor) => Tensor>)[name]!(x),
    grad: d.grad ?? true,
  }));
}

function binaryCases(): ConformanceCase[] {
  const names = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
  const cases: ConformanceCase[] = names.map((name) => ({
    name: `binary/${name}-broadcast`,
    inputs: (g) => [f(g, [4, 1, 5], { low: 0.2, high: 2 }), f(g, [3, 1], { low: 0.25, high: 2.1 })],
    run: (a, b) => (op as unknown as Record<string, (x: Tensor, y: Tensor) => Tensor>)[name]!(a, b),
    grad: true,
  }));
  cases.push(
    { name: 'binary/pow', inputs: (g) => [f(g, [2, 6], { low: 0.3, high: 2 }), f(g, [2, 6], { low: -1.5, high: 2 })], run: (a, b) => op.pow(a, b), grad: true },
    { name: 'binary/mod-float', inputs: (g) => [f(g, [2, 9], { low: -5, high: 5 }), f(g, [1, 9], { low: 0.7, high: 2 })], run: (a, b) => op.mod(a, b), tol: { atol: 1e-4, rtol: 1e-4 } },
    { name: 'binary/scalar-operand', inputs: (g) => [f(g, [5, 3])], run: (a) => op.sub(op.mul(a, 2.5), 0.75), grad: true },
    { name: 'binary/int-floordiv-mod', inputs: (g) => [randomInt(g, [4, 6], -20, 20), randomInt(g, [6], 1, 7)], run: (a, b) => op.concat([op.div(a, b), op.mod(a, b), op.mod(a, op.neg(b))], 0) },
    { name: 'binary/logical', inputs: (g) => [randomBool(g, [3, 4]), randomBool(g, [4])], run: (a, b) => op.concat([op.logicalAnd(a, b), op.logicalOr(a, b), op.logicalNot(op.broadcastTo(b, [3, 4]))], 0) },
  );
  return cases;
}

function compareCases(): ConformanceCase[] {
  return (['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual'] as const).map((name) => ({
    name: `compare/${name}`,
    inputs: (g) => [randomInt(g, [4, 5], -3, 3), randomInt(g, [5], -3, 3)],
    run: (a, b) => (op as unknown as Record<string, (x: Tensor, y: Tensor) => Tensor>)[name]!(op.cast(a, 'float32'), op.cast(b, 'float32')),
  }));
}

function layoutCases(): ConformanceCase[] {
  return [
    { name: 'where/broadcast', inputs: (g) => [randomBool(g, [3, 1, 4]), f(g, [2, 4]), f(g, [3, 2, 1])], run: (c, a, b) => op.where(c, a, b), grad: true },
    { name: 'reshape/merge', inputs: (g) => [f(g, [2, 3, 4])], run: (x) => op.mul(op.reshape(x, [6, -1]), 1.5), grad: true },
    { name: 'transpose/perm', inputs: (g) => [f(g, [2, 3, 4, 5])], run: (x) => op.transpose(x, [2, 0, 3, 1]), grad: true },
    { name: 'slice/inner', inputs: (g) => [f(g, [4, 6, 5])], run: (x) => op.slice(x, [1, 2, 0], [2, 3, 4]), grad: true },
    { name: 'concat/axis1', inputs: (g) => [f(g, [2, 3, 4]), f(g, [2, 1, 4]), f(g, [2, 2, 4])], run: (a, b, c) => op.concat([a, b, c], 1), grad: true },
    { name: 'pad/constant', inputs: (g) => [f(g, [2, 3, 4])], run: (x) => op.pad(x, [[0, 1], [2, 0], [1, 3]], 0.5), grad: true },
    { name: 'broadcastTo/expand', inputs: (g) => [f(g, [3, 1, 2])], run: (x) => op.broadcastTo(x, [4, 3, 5, 2]), grad: true },
    { name: 'gather/axis0', inputs: (g) => [f(g, [7, 5]), randomInt(g, [2, 4], 0, 7)], run: (x, i) => op.gather(x, i, 0), grad: true },
    { name: 'gather/axis1', inputs: (g) => [f(g, [3, 6, 4]), randomInt(g, [5], 0, 6)], run: (x, i) => op.gather(x, i, 1), grad: true },
    { name: 'scatterAdd/repeated', inputs: (g) => [randomInt(g, [9], 0, 4), f(g, [3, 9])], run: (i, u) => op.scatterAdd([3, 4], i, u, 1), grad: true },
    { name: 'cast/float-int-bool', inputs: (g) => [f(g, [4, 5], { low: -4, high: 4, avoid: [0], margin: 0.01 })], run: (x) => op.concat([op.cast(op.cast(x, 'int32'), 'float32'), op.cast(op.cast(x, 'bool'), 'float32')], 0) },
    { name: 'fill/full', inputs: (g) => [f(g, [2, 3])], run: (x) => op.add(x, op.full([2, 3], 0.375)), grad: true },
  ];
}

function reduceCases(): ConformanceCase[] {
  return [
    { name: 'reduce/sum-axes', inputs: (g) => [f(g, [3, 4, 5])], run: (x) => op.sum(x, [0, 2]), grad: true },
    { name: 'reduce/sum-keepdims', inputs: (g) => [f(g, [3, 4, 5])], run: (x) => op.sum(x, 1, true), grad: true },
    { name: 'reduce/sum-all', inputs: (g) => [f(g, [6, 7])], run: (x) => op.sum(x), grad: true },
    { name: 'reduce/mean', inputs: (g) => [f(g, [3, 4, 5])], run: (x) => op.mean(x, [1, 2], true), grad: true },
    { name: 'reduce/max', inputs: (g) => [distinctFloat(g, [4, 6, 3])], run: (x) => op.max(x, 1), grad: true },
    { name: 'reduce/min', inputs: (g) => [distinctFloat(g, [4, 6, 3])], run: (x) => op.min(x, [0, 2]), grad: true },
    { name: 'reduce/prod', inputs: (g) => [f(g, [3, 4], { low: 0.5, high: 1.5 })], run: (x) => op.prod(x, 1), grad: true },
    { name: 'reduce/sum-int', inputs: (g) => [randomInt(g, [3, 5], -9, 9)], run: (x) => op.sum(x, 1) },
    { name: 'argmax/axis', inputs: (g) => [distinctFloat(g, [4, 7, 3])], run: (x) => op.argmax(x, 1) },
  ];
}

function linalgCases(): ConformanceCase[] {
  const mm = (ta: boolean, tb: boolean, sa: number[], sb: number[]): ConformanceCase => ({
    name: `matmul/${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}-${sa.join('x')}-${sb.join('x')}`,
    inputs: (g) => [f(g, sa), f(g, sb)],
    run: (a, b) => op.matmul(a, b, { transposeA: ta, transposeB: tb }),
    grad: true,
  });
  const conv = (name: string, xs: number[], ws: number[], o: op.Conv2dOptions): ConformanceCase => ({
    name: `conv2d/${name}`,
    inputs: (g) => [f(g, xs), f(g, ws)],
    run: (x, w) => op.conv2d(x, w, o),
    grad: true,
  });
  return [
    mm(false, false, [5, 7], [7, 3]),
    mm(true, false, [7, 5], [7, 3]),
    mm(false, true, [5, 7], [3, 7]),
    mm(true, true, [2, 7, 5], [2, 3, 7]),
    mm(false, false, [2, 1, 4, 6], [3, 6, 5]),
    mm(false, false, [33, 70], [70, 65]),
    conv('3x3-pad1', [2, 3, 7, 6], [4, 3, 3, 3], { padding: 1 }),
    conv('stride2-asym-pad', [1, 4, 9, 8], [5, 4, 3, 2], { stride: 2, padding: [1, 0, 2, 1] }),
    conv('dilation2', [1, 2, 9, 9], [3, 2, 3, 3], { dilation: 2, padding: 2 }),
    conv('groups2', [2, 4, 6, 5], [6, 2, 3, 3], { groups: 2, padding: 1 }),
    conv('depthwise-stride2', [1, 3, 8, 8], [3, 1, 3, 3], { groups: 3, stride: 2, padding: 1 }),
    conv('1x1', [2, 5, 4, 4], [3, 5, 1, 1], {}),
    { name: 'resize/nearest-2x', inputs: (g) => [f(g, [1, 2, 3, 4])], run: (x) => op.resize(x, { scaleFactor: 2, mode: 'nearest' }), grad: true },
    { name: 'resize/nearest-down', inputs: (g) => [f(g, [1, 2, 7, 5])], run: (x) => op.resize(x, { size: [3, 4], mode: 'nearest' }), grad: true },
    { name: 'resize/bilinear', inputs: (g) => [f(g, [2, 2, 3, 5])], run: (x) => op.resize(x, { size: [7, 4], mode: 'bilinear' }), grad: true },
    { name: 'resize/bilinear-align', inputs: (g) => [f(g, [1, 2, 4, 3])], run: (x) => op.resize(x, { size: [6, 7], mode: 'bilinear', alignCorners: true }), grad: true },
  ];
}

function compositeCases(): ConformanceCase[] {
  return [
    { name: 'linear/bias', inputs: (g) => [f(g, [2, 3, 6]), f(g, [4, 6]), f(g, [4])], run: (x, w, b) => op.linear(x, w, b), grad: true },
    { name: 'softmax/last', inputs: (g) => [f(g, [3, 4, 9], { low: -4, high: 4 })], run: (x) => op.softmax(x), grad: true },
    { name: 'logSoftmax/last', inputs: (g) => [f(g, [3, 9], { low: -4, high: 4 })], run: (x) => op.logSoftmax(x), grad: true },
    { name: 'layerNorm/affine', inputs: (g) => [f(g, [2, 3, 8]), f(g, [8]), f(g, [8])], run: (x, a, b) => op.layerNorm(x, a, b), grad: true, tol: { atol: 1e-4, rtol: 1e-4 } },
    { name: 'groupNorm/affine', inputs: (g) => [f(g, [2, 6, 3, 4]), f(g, [6]), f(g, [6])], run: (x, a, b) => op.groupNorm(x, 3, a, b), grad: true, tol: { atol: 1e-4, rtol: 1e-4 } },
    { name: 'attention/plain', inputs: (g) => [f(g, [2, 2, 5, 4]), f(g, [2, 2, 6, 4]), f(g, [2, 2, 6, 3])], run: (q, k, v) => op.attention(q, k, v), grad: true },
    { name: 'attention/mask', inputs: (g) => [f(g, [1, 2, 4, 4]), f(g, [1, 2, 4, 4]), f(g, [1, 2, 4, 4]), f(g, [1, 1, 4, 4], { low: -3, high: 0 })], run: (q, k, v, m) => op.attention(q, k, v, { mask: m }), grad: true },
    { name: 'attention/causal', inputs: (g) => [f(g, [1, 2, 5, 4]), f(g, [1, 2, 5, 4]), f(g, [1, 2, 5, 4])], run: (q, k, v) => op.attention(q, k, v, { causal: true }), grad: true },
    { name: 'gelu/exact', inputs: (g) => [f(g, [4, 9], { low: -3, high: 3 })], run: (x) => op.gelu(x), grad: true },
    { name: 'silu', inputs: (g) => [f(g, [4, 9], { low: -4, high: 4 })], run: (x) => op.silu(x), grad: true },
    { name: 'geglu', inputs: (g) => [f(g, [3, 10], { low: -3, high: 3 })], run: (x) => op.geglu(x), grad: true },
    { name: 'crossEntropy/mean', inputs: (g) => [f(g, [6, 5], { low: -3, high: 3 }), randomInt(g, [6], 0, 5)], run: (x, t) => op.crossEntropy(x, t), grad: true },
    { name: 'crossEntropy/ignore', inputs: (g) => [f(g, [2, 4, 5], { low: -3, high: 3 }), randomInt(g, [2, 4], 0, 5)], run: (x, t) => op.crossEntropy(x, t, { ignoreIndex: 2 }), grad: true },
    { name: 'mse/mean', inputs: (g) => [f(g, [3, 7]), f(g, [3, 7])], run: (a, b) => op.mse(a, b), grad: true },
  ];
}

/** Every conformance case. */
export const conformanceCases: readonly ConformanceCase[] = [
  ...unaryCases(), ...binaryCases(), ...compareCases(), ...layoutCases(), ...reduceCases(), ...linalgCases(), ...compositeCases(),
];

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

interface Outcome {
  out: { dtype: string; shape: readonly number[]; values: TypedArray };
  grads: TypedArray[];
}

async function evaluate(c: ConformanceCase, backend: Backend, host: HostTensor[], floatDType: 'float32' | 'float64'): Promise<Outcome> {
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    const xs = host.map((h) => {
      const dtype = h.kind === 'float' ? floatDType : h.kind === 'int' ? 'int32' : 'bool';
      const data = dtype === 'float64' ? h.values.slice() : dtype === 'float32' ? Float32Array.from(h.values) : dtype === 'int32' ? Int32Array.from(h.values) : Uint8Array.from(h.values);
      return engine.upload(data, h.shape, dtype, backend);
    });
    try {
      const out = engine.tidy(() => c.run(...xs));
      const values = await out.data();
      const result: Outcome = { out: { dtype: out.dtype, shape: out.shape, values }, grads: [] };
      if (c.grad) {
        const floats = xs.filter((_, i) => host[i]!.kind === 'float');
        const wVals = new Float64Array(out.size);
        for (let i = 0; i < wVals.length; i++) wVals[i] = Math.cos(0.9 * i + 0.3) + 0.2;
        const w = engine.upload(floatDType === 'float64' ? wVals : Float32Array.from(wVals), out.shape, floatDType, backend);
        const { value, grads } = gradients(() => op.sum(op.mul(c.run(...xs), w)), floats);
        for (const g of grads) result.grads.push(await g.data());
        value.dispose();
        for (const g of grads) g.dispose();
        w.dispose();
      }
      out.dispose();
      return result;
    } finally {
      for (const x of xs) x.dispose();
    }
  } finally {
    engine.setBackend(prev);
  }
}

function compare(label: string, got: TypedArray, want: TypedArray, tol: Tolerance, exact: boolean): { worst: number; message: string } {
  if (got.length !== want.length) return { worst: Infinity, message: `${label}: ${got.length} values, expected ${want.length}` };
  let worst = 0;
  let message = '';
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    const err = exact ? (g === w ? 0 : Infinity) : Math.abs(g - w) / (tol.atol + tol.rtol * Math.abs(w));
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      message = `${label}[${i}]: got ${g}, expected ${w}`;
    }
  }
  return { worst, message };
}

let reference: Backend | null = null;

/** Runs one case on `backend` against the float64 reference backend. */
export async function runConformanceCase(c: ConformanceCase, backend: Backend, options: { seed?: number; floatDType?: 'float32' | 'float64' } = {}): Promise<ConformanceResult> {
  const gen = new Generator((options.seed ?? 1234) + hashName(c.name));
  const host = c.inputs(gen);
  const tol = c.tol ?? DEFAULT_TOL;
  try {
    const want = await evaluate(c, (reference ??= createReferenceBackend()), host, 'float64');
    const got = await evaluate(c, backend, host, options.floatDType ?? 'float32');
    if (got.out.shape.join() !== want.out.shape.join()) {
      return { name: c.name, ok: false, worst: Infinity, message: `shape ${got.out.shape.join('x')} vs reference ${want.out.shape.join('x')}` };
    }
    const exact = want.out.dtype === 'int32' || want.out.dtype === 'bool';
    const results = [compare('output', got.out.values, want.out.values, tol, exact)];
    want.grads.forEach((g, i) => results.push(compare(`grad[${i}]`, got.grads[i] ?? new Float64Array(0), g, tol, false)));
    const bad = results.reduce((a, b) => (b.worst > a.worst ? b : a));
    return { name: c.name, ok: bad.worst <= 1, worst: bad.worst, message: bad.worst <= 1 ? 'ok' : bad.message };
  } catch (e) {
    return { name: c.name, ok: false, worst: Infinity, message: `threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}` };
  }
}

/** Runs every case; resolves to the results (the caller decides how to report). */
export async function runConformanceSuite(backend: Backend, options: { seed?: number; filter?: (name: string) => boolean } = {}): Promise<ConformanceResult[]> {
  const out: ConformanceResult[] = [];
  for (const c of conformanceCases) if (!options.filter || options.filter(c.name)) out.push(await runConformanceCase(c, backend, options));
  return out;
}
