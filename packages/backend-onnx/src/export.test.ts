import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Generator, PRIMITIVE_NAMES, type Tensor, max, captureGraph, captureGraphWithExternals, embedding, engine, gradients, sum, mul, matmul, add, relu, tensor, mean, square, sub } from '@denoise/core';
import { type ConformanceCase, type HostTensor, conformanceCases, createReferenceBackend, randomFloat } from '@denoise/core/testing';
import { describe, expect, it } from 'vitest';
import { OnnxExportError, type OnnxExportOptions, exportOnnxModel, graphToOnnx, graphToOnnxFiles, onnx, saveOnnxModel } from './export.js';
import { fromFloat16Bits } from './models/float16.js';
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

describe('models for other tools: names, symbolic dims, boundary types, initializers, external data', () => {
  const P = onnx.TensorProto;
  const g = new Generator(21);
  const w = tensor(Float32Array.from(randomFloat(g, [3, 64]).values), [3, 64]);
  w.name = 'proj.weight';
  const bias = tensor(Float32Array.from(randomFloat(g, [64]).values), [64]);
  bias.name = 'proj.bias';
  const emb = tensor(Float32Array.from(randomFloat(g, [5, 3]).values), [5, 3]);
  const fn = (x: Tensor, ids: Tensor) => add(matmul(add(x, sum(embedding(emb, ids), 0)), w), bias); // [B, 64]
  const specs = [{ shape: [2, 3], dtype: 'float32' as const }, { shape: [4], dtype: 'int32' as const }];
  const x = Float32Array.from(randomFloat(g, [2, 3]).values);
  const ids = Int32Array.from([4, 0, 2, 2]);
  const eager = async () => (await fn(tensor(x, [2, 3]), tensor(ids, [4], { dtype: 'int32' })).data()) as Float32Array;
  const named = { inputNames: ['sample', 'input_ids'], outputNames: ['out_sample'] };

  function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5) {
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(tol + tol * Math.abs(want[i]!));
  }

  it('declares the chosen names, symbolic dims and float16 / int64 boundary types, and runs with them', async () => {
    const { graph } = captureGraphWithExternals(fn, specs);
    const bytes = graphToOnnx(graph, { ...named, dynamicAxes: { sample: { 0: 'batch' }, out_sample: { 0: 'batch' } }, ioTypes: { input_ids: 'int64', out_sample: 'float16' } });
    const model = onnx.ModelProto.decode(bytes);
    const info = (v: P_IValueInfo) => ({ name: v.name, type: v.type!.tensorType!.elemType, dims: v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)) });
    expect(model.graph!.input!.map(info).slice(0, 2)).toEqual([
      { name: 'sample', type: P.DataType.FLOAT, dims: ['batch', 3] },
      { name: 'input_ids', type: P.DataType.INT64, dims: [4] },
    ]);
    expect(model.graph!.output!.map(info)).toEqual([{ name: 'out_sample', type: P.DataType.FLOAT16, dims: ['batch', 64] }]);
    const session = await createOnnxSession(bytes, { threads: 1 });
    const feeds: Record<string, OnnxTensorData> = { sample: { data: x, dims: [2, 3] }, input_ids: { data: BigInt64Array.from(ids, (v) => BigInt(v)), dims: [4] } };
    feeds['ext.proj.weight'] = { data: (await w.data()) as Float32Array, dims: [3, 64] };
    feeds['ext.proj.bias'] = { data: (await bias.data()) as Float32Array, dims: [64] };
    feeds[`ext.${emb.id}`] = { data: (await emb.data()) as Float32Array, dims: [5, 3] };
    const out = (await runOnnx(session, feeds)).out_sample!;
    await session.release();
    expect(out.data).toBeInstanceOf(Uint16Array);
    expectClose(Array.from(out.data as Uint16Array, (h) => fromFloat16Bits(h)), await eager(), 1e-3);
  });

  it('stores parameters as initializers: a self-contained model', async () => {
    const { graph, externals } = captureGraphWithExternals(fn, specs);
    const files = await exportOnnxModel(graph, { ...named, weights: externals });
    expect(files.externalData).toBeNull();
    const session = await createOnnxSession(files.model, { threads: 1 });
    expect(session.inputNames).toEqual(['sample', 'input_ids']);
    const out = await runOnnx(session, { sample: { data: x, dims: [2, 3] }, input_ids: { data: ids, dims: [4] } });
    await session.release();
    expectClose(out.out_sample!.data as Float32Array, await eager());
    // Values by name work too, and partial maps keep the rest as inputs.
    const partial = onnx.ModelProto.decode(graphToOnnx(graph, { initializers: new Map([['proj.weight', (await w.data()) as Float32Array]]) }));
    expect(partial.graph!.initializer!.map((t) => t.name)).toContain('ext.proj.weight');
    expect(partial.graph!.input!.map((t) => t.name)).toEqual(['input0', 'input1', `ext.${emb.id}`, 'ext.proj.bias']);
  });

  it('moves initializers above the threshold to external data and saves both files atomically', async () => {
    const { graph, externals } = captureGraphWithExternals(fn, specs);
    const files = await exportOnnxModel(graph, { ...named, weights: externals, externalData: { location: 'weights.pb', threshold: 200 } });
    const model = onnx.ModelProto.decode(files.model);
    const external = model.graph!.initializer!.filter((t) => t.dataLocation === P.DataLocation.EXTERNAL);
    // proj.weight (768 bytes) and proj.bias (256 bytes) go out; the 60-byte embedding and small constants stay.
    expect(external.map((t) => t.name)).toEqual(['ext.proj.weight', 'ext.proj.bias']);
    const entries = external.map((t) => Object.fromEntries(t.externalData!.map((e) => [e.key, e.value])));
    expect(entries).toEqual([{ location: 'weights.pb', offset: '0', length: '768' }, { location: 'weights.pb', offset: '768', length: '256' }]);
    for (const t of external) expect(t.rawData?.length ?? 0).toBe(0);
    const data = files.externalData!;
    expect(data.location).toBe('weights.pb');
    expect(new Float32Array(data.bytes.slice(768, 1024).buffer)).toEqual(await bias.data());

    const dir = mkdtempSync(path.join(tmpdir(), 'denoise-export-'));
    try {
      const paths = await saveOnnxModel(dir, files);
      expect(paths).toEqual({ modelPath: path.join(dir, 'model.onnx'), externalDataPath: path.join(dir, 'weights.pb') });
      expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'weights.pb']);
      const session = await createOnnxSession(paths.modelPath, { threads: 1 });
      const out = await runOnnx(session, { sample: { data: x, dims: [2, 3] }, input_ids: { data: ids, dims: [4] } });
      await session.release();
      expectClose(out.out_sample!.data as Float32Array, await eager());
      // A failed rename (the target name is a directory) leaves no temporary file behind.
      const blocked = path.join(dir, 'blocked');
      mkdirSync(path.join(blocked, 'model.onnx'), { recursive: true });
      await expect(saveOnnxModel(blocked, files, { fsync: false })).rejects.toThrow();
      expect(readdirSync(blocked).sort()).toEqual(['model.onnx', 'weights.pb']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects malformed options, naming the option and the value', async () => {
    const { graph, externals } = captureGraphWithExternals(fn, specs);
    const cases: Array<[OnnxExportOptions, RegExp]> = [
      [{ inputNames: ['sample'] }, /^graphToOnnx: options\.inputNames must be 2 non-empty strings \(one per graph input\), got \["sample"\]$/],
      [{ inputNames: ['a', 'a'] }, /^graphToOnnx: two model inputs \/ outputs share the name 'a' \(input 1\)$/],
      [{ outputNames: ['input0'] }, /share the name 'input0' \(output 0\)/],
      [{ outputNames: ['ext.proj.weight'] }, /share the name 'ext\.proj\.weight' \(an external\)/],
      [{ dynamicAxes: { nope: { 0: 'b' } } }, /^graphToOnnx: options\.dynamicAxes names 'nope', which is no input or output of the model \(it has input0, input1, output0, ext\./],
      [{ dynamicAxes: { input0: { 2: 'b' } } }, /^graphToOnnx: options\.dynamicAxes\['input0'\] names axis 2, but 'input0' has shape \[2, 3\]$/],
      [{ ioTypes: { input0: 'int64' } }, /^graphToOnnx: options\.ioTypes\['input0'\] is 'int64', which needs a int32 value, but 'input0' is float32$/],
      [{ ioTypes: { input1: 'bfloat16' as never } }, /^graphToOnnx: options\.ioTypes\['input1'\] must be 'float16' or 'int64', got "bfloat16"$/],
      [{ initializers: new Map([['nope', new Float32Array(3)]]) }, /^graphToOnnx: options\.initializers has "nope", which is no external of the graph/],
      [{ initializers: new Map([['proj.bias', new Float64Array(64)]]) }, /^graphToOnnx: options\.initializers\["proj\.bias"\] must be a Float32Array of 64 values \(float32 \[64\]\), got Float64Array\(64\)/],
      [{ externalData: { location: 'w.pb' } }, /^graphToOnnx: options\.externalData needs a second file; use graphToOnnxFiles/],
    ];
    for (const [options, message] of cases) {
      expect(() => graphToOnnx(graph, options), JSON.stringify(options)).toThrow(message);
    }
    expect(() => graphToOnnx(graph, { inputNames: ['x'] })).toThrow(OnnxExportError);
    expect(OnnxExportError.isInstance(new OnnxExportError('x'))).toBe(true);
    expect(() => graphToOnnxFiles(graph, { externalData: { location: '../w.pb' } })).toThrow(/^graphToOnnxFiles: options\.externalData\.location must be a plain file name/);
    expect(() => graphToOnnxFiles(graph, { externalData: { location: 'w.pb', threshold: -1 } })).toThrow(/threshold must be an integer >= 0 \(bytes\), got -1$/);
    const some = new Map([...externals].slice(0, 1));
    await expect(exportOnnxModel(graph, { weights: some })).rejects.toThrow(/^exportOnnxModel: options\.weights has no tensor for external\(s\) proj\.weight, proj\.bias$/);
    await expect(saveOnnxModel('', { model: new Uint8Array(1), externalData: null })).rejects.toThrow(/^saveOnnxModel: dir must be a non-empty string/);
  });
});

type P_IValueInfo = import('onnx-proto').onnx.IValueInfoProto;
