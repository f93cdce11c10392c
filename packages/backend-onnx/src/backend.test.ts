// The onnx backend: eager kernels through the fallback pass core's conformance suite; a small
// model trained with AdamW + EMA gives the same loss curve eagerly (reference backend) and as a
// compiled training step in ONNX Runtime; state stays on the host between steps; memory is flat;
// onnxruntime-web takes over when onnxruntime-node cannot load; errors are typed.
import {
  AdamW,
  BackendUnavailableError,
  EMA,
  Generator,
  InvalidArgumentError,
  type Backend,
  type Tensor,
  add,
  createReferenceBackend,
  engine,
  gelu,
  gradients,
  layerNorm,
  matmul,
  mean,
  mul,
  randn,
  reshape,
  resolveBackend,
  registerBackend,
  square,
  sub,
  tensor,
  tidy,
  variable,
  zeros,
} from '@denoise/core';
import { conformanceCases, runConformanceCase } from '@denoise/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend, OnnxHandle, compileOnnx, createOnnxBackend, registerOnnxBackend } from './backend.js';
import { createOnnxSession } from './run.js';

/** A reference backend that counts uploads (to see what crosses from the host to it). */
function countingReference(): Backend & { uploads: number } {
  const ref = createReferenceBackend();
  const b = Object.create(ref) as Backend & { uploads: number };
  b.uploads = 0;
  b.upload = (v, s, d) => {
    b.uploads++;
    return ref.upload(v, s, d);
  };
  return b;
}

let onnx: OnnxBackend;
let fallback: Backend & { uploads: number };
beforeAll(async () => {
  fallback = countingReference();
  onnx = await createOnnxBackend({ fallback, threads: 1 });
});

describe('eager kernels on the onnx backend (through its fallback)', () => {
  for (const c of conformanceCases) {
    it(c.name, async () => {
      const r = await runConformanceCase(c, onnx);
      expect(r.message).toBe('ok');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// A two-layer MLP with layer norm, trained on a fixed regression task.

interface Mlp {
  params: Tensor[];
  loss(x: Tensor, y: Tensor): Tensor;
}

function makeMlp(backend: Backend): Mlp {
  const prev = engine.backend;
  engine.setBackend(backend);
  const gen = new Generator(11);
  const params = tidy(() => [
    variable(mul(randn([6, 32], gen, { backend }), 0.4), 'w1'),
    variable(zeros([32], 'float32', backend), 'b1'),
    variable(add(zeros([32], 'float32', backend), 1), 'g'),
    variable(zeros([32], 'float32', backend), 'beta'),
    variable(mul(randn([32, 3], gen, { backend }), 0.2), 'w2'),
  ]);
  engine.setBackend(prev);
  const [w1, b1, g, beta, w2] = params as [Tensor, Tensor, Tensor, Tensor, Tensor];
  return {
    params,
    loss: (x, y) => mean(square(sub(matmul(gelu(layerNorm(add(matmul(x, w1), b1), g, beta)), w2), y))),
  };
}

function batch(backend: Backend): { x: Tensor; y: Tensor } {
  const gen = new Generator(5);
  return tidy(() => {
    const x = randn([64, 6], gen, { backend });
    const target = randn([6, 3], gen, { backend });
    return { x, y: matmul(x, target) };
  });
}

const STEPS = 40;

async function train(backend: Backend, compiled: boolean): Promise<{ losses: number[]; params: Float32Array[]; shadow: Float32Array[]; run?: ReturnType<typeof compileOnnx> }> {
  const prev = engine.backend;
  engine.setBackend(backend);
  const m = makeMlp(backend);
  const opt = new AdamW(m.params, { lr: 0.02, weightDecay: 0.01 });
  const ema = new EMA(m.params, { decay: 0.9, warmup: 2 });
  const { x, y } = batch(backend);
  const step = (xb: Tensor, yb: Tensor): Tensor => {
    const { value, grads } = gradients(() => m.loss(xb, yb), m.params);
    opt.step(grads);
    ema.update();
    for (const g of grads) g.dispose();
    return value;
  };
  const run = compiled ? compileOnnx(step, { backend }) : undefined;
  const losses: number[] = [];
  for (let k = 0; k < STEPS; k++) {
    opt.lr = 0.02 * (1 - k / STEPS); // a schedule: the compiled step must see each step's lr
    const loss = (run ? await run(x, y) : step(x, y)) as Tensor;
    losses.push((await loss.data())[0] as number);
    loss.dispose();
  }
  const params = await Promise.all(m.params.map(async (p) => (await p.data()) as Float32Array));
  const shadow = await Promise.all(ema.shadow.map(async (p) => (await p.data()) as Float32Array));
  opt.dispose();
  ema.dispose();
  for (const t of [...m.params, x, y]) t.dispose();
  engine.setBackend(prev);
  return { losses, params, shadow, ...(run ? { run } : {}) };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, label: string, rtol = 2e-4, atol = 2e-5): void {
  expect(got.length, label).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) expect.fail(`${label}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('a training run eagerly and as a compiled ONNX Runtime step', () => {
  it('gives the same loss curve, parameters and EMA weights (float32 tolerance)', async () => {
    const ref = createReferenceBackend();
    const eager = await train(ref, false);
    const before = { tensors: engine.memory().numTensors, buffers: onnx.memory().buffers };
    const uploadsBefore = fallback.uploads;
    const comp = await train(onnx, true);
    expect(comp.run!.captures).toBe(1);
    expectClose(comp.losses, eager.losses, 'loss');
    comp.params.forEach((p, i) => expectClose(p, eager.params[i]!, `param ${i}`));
    comp.shadow.forEach((p, i) => expectClose(p, eager.shadow[i]!, `ema ${i}`));
    expect(eager.losses[STEPS - 1]!).toBeLessThan(eager.losses[0]! * 0.5);
    // Nothing the compiled steps made stayed alive; nothing was left on either side.
    expect(engine.memory().numTensors).toBe(before.tensors);
    expect(onnx.memory().buffers).toBe(before.buffers);
    // Per step, only the step's scalars (lr, bias corrections, EMA decay) were written eagerly;
    // parameters and moments never went to the fallback backend.
    expect(fallback.uploads - uploadsBefore).toBeLessThan(20 + STEPS * 8);
    await comp.run!.dispose();
  }, 60_000);

  it('variables made from host tensors stay on the host (a reshape of a host tensor runs there)', async () => {
    engine.setBackend(onnx);
    const before = fallback.uploads;
    const t = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const v = variable(t, 'w');
    const r = reshape(t, [3, 2]);
    expect(fallback.uploads).toBe(before);
    expect(Array.from(await v.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.shape).toEqual([3, 2]);
    expect(Array.from(await r.data())).toEqual([1, 2, 3, 4, 5, 6]);
    // An eager kernel uploads what it reads, once; a reshape of a fallback-only result stays there.
    const y = mul(v, 2);
    expect(fallback.uploads).toBe(before + 1);
    const z = reshape(y, [6]);
    expect(Array.from(await z.data())).toEqual([2, 4, 6, 8, 10, 12]);
    expect(fallback.uploads).toBe(before + 1);
    for (const x of [t, v, r, y, z]) x.dispose();
  });

  it('keeps parameters and optimizer state on the host between steps', async () => {
    engine.setBackend(onnx);
    const m = makeMlp(onnx);
    const opt = new AdamW(m.params, { lr: 0.01 });
    const { x, y } = batch(onnx);
    const run = compileOnnx((xb, yb) => {
      const { value, grads } = gradients(() => m.loss(xb, yb), m.params);
      opt.step(grads);
      return value;
    });
    for (let k = 0; k < 3; k++) (await run(x, y) as Tensor).dispose();
    for (const t of [...m.params, ...Object.values(opt.state())]) {
      const h = t._handle as OnnxHandle;
      expect(h.host).not.toBeNull();
      expect(h.fb).toBeNull();
    }
    expect(opt.stepCount).toBe(3);
    await run.dispose();
    opt.dispose();
    for (const t of [...m.params, x, y]) t.dispose();
    engine.setBackend(engine.reference);
  });

  it('records once per input signature and checks its arguments', async () => {
    engine.setBackend(onnx);
    const w = tidy(() => variable(randn([4, 2], new Generator(1), { backend: onnx }), 'w'));
    const f = compileOnnx((a) => matmul(a, w));
    const a3 = randn([3, 4], new Generator(2), { backend: onnx });
    const a5 = randn([5, 4], new Generator(3), { backend: onnx });
    const r1 = (await f(a3)) as Tensor;
    const r2 = (await f(a5)) as Tensor;
    const r3 = (await f(a3)) as Tensor;
    expect(f.captures).toBe(2);
    expect(r1.shape).toEqual([3, 2]);
    expect(r2.shape).toEqual([5, 2]);
    const want = tidy(() => matmul(a3, w));
    expectClose(await r3.data(), await want.data(), 'matmul', 1e-6, 1e-6);
    const onRef = randn([3, 4], new Generator(2), { backend: engine.reference });
    await expect(f(onRef)).rejects.toThrow(InvalidArgumentError);
    await expect(f(onRef)).rejects.toThrow(/lives on backend "reference"/);
    w.dispose();
    await expect(f(a3)).rejects.toThrow(/disposed/);
    await f.dispose();
    for (const t of [a3, a5, r1, r2, r3, want, onRef]) t.dispose();
    engine.setBackend(engine.reference);
  });
});

describe('runtimes, providers and the registry', () => {
  const nodeFails = (name: string) => (name === 'onnxruntime-node' ? Promise.reject(new Error('native binding failed to load')) : import('onnxruntime-web'));

  it('falls back to onnxruntime-web when onnxruntime-node cannot load, with the same results', async () => {
    const web = await createOnnxBackend({ fallback: createReferenceBackend(), runtime: { importer: nodeFails } });
    expect(web.runtime.name).toBe('onnxruntime-web');
    const gen = new Generator(9);
    const prev = engine.backend;
    engine.setBackend(web);
    const w = tidy(() => variable(randn([8, 8], gen, { backend: web }), 'w'));
    const x = randn([4, 8], gen, { backend: web });
    const f = compileOnnx((a) => gelu(matmul(a, w)));
    const got = (await f(x)) as Tensor;
    const want = tidy(() => gelu(matmul(x, w)));
    expectClose(await got.data(), await want.data(), 'gelu(matmul)', 1e-5, 1e-6);
    await f.dispose();
    for (const t of [w, x, got, want]) t.dispose();
    engine.setBackend(prev);
  });

  it('says why when no runtime loads', async () => {
    const err = await createOnnxBackend({ fallback: createReferenceBackend(), runtime: { importer: () => Promise.reject(new Error('missing')) } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).failures.map((f) => f.name)).toEqual(['onnxruntime-node', 'onnxruntime-web']);
    expect(String(err)).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/);
  });

  it('the CUDA provider is refused clearly where it cannot run', async () => {
    const model = new Uint8Array(0);
    const web = await createOnnxBackend({ fallback: createReferenceBackend(), runtime: { importer: nodeFails } });
    await expect(createOnnxSession(model, { executionProviders: ['cuda'], runtime: web.runtime })).rejects.toThrow(BackendUnavailableError);
    await expect(createOnnxSession(model, { executionProviders: ['tpu' as 'cuda'] })).rejects.toThrow(/executionProviders/);
    // onnxruntime-node: where its CUDA provider library is missing (installed with
    // ONNXRUNTIME_NODE_INSTALL=skip, or no GPU), the error says how to install it.
    const { captureGraph, add: addOp } = await import('@denoise/core');
    const { graphToOnnx } = await import('./export.js');
    const bytes = graphToOnnx(captureGraph((a) => addOp(a, 1), [{ shape: [3], dtype: 'float32' }]));
    const r = await createOnnxSession(bytes, { executionProviders: ['cuda'] }).then(
      (s) => ({ ok: true as const, s }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (r.ok) {
      expect(r.s.executionProviders).toEqual(['cuda', 'cpu']);
      await r.s.release();
    } else {
      expect(r.e).toBeInstanceOf(BackendUnavailableError);
      expect(String(r.e)).toMatch(/CUDA execution provider.*ONNXRUNTIME_NODE_INSTALL=skip/s);
    }
    await expect(createOnnxSession(model, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });

  it('registers as "onnx" and resolves with the registry', async () => {
    registerOnnxBackend(registerBackend, { fallback: ['reference'], threads: 1 });
    const b = await resolveBackend(['onnx']);
    expect(b).toBeInstanceOf(OnnxBackend);
    expect(b.name).toBe('onnx');
    expect((b as OnnxBackend).fallback.name).toBe('reference');
    await expect(createOnnxBackend({ fallback: ['onnx'] })).rejects.toThrow(/cannot name the backend itself/);
  });
});

afterAll(() => {
  engine.setBackend(engine.reference);
});
