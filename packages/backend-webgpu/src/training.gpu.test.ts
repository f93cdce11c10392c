// Autograd through the WebGPU backend: a small MLP (linear -> gelu -> linear, with an mse head
// and a cross-entropy head) trained with AdamW for 20 steps gives the losses the reference
// backend gives, within float32 tolerance. Then 200 more steps on the GPU must neither leak
// tensors nor grow the buffer pool: after the first steps every buffer comes from the pool.
import { AdamW, EMA, Generator, createReferenceBackend, engine, gradients, randint, randn, trainingStep, trainingStepAsync, variable, type Backend, type Tensor } from '@denoise/core';
import * as op from '@denoise/core';
import { expect, it } from 'vitest';
import { describeGpu } from './test-utils/gpu.js';

interface Model {
  step(): Promise<number>;
  /** One step through core's trainingStepAsync (clipping to norm 0.5, EMA): the loss and the norm before clipping. */
  coreStep(): Promise<{ loss: number; gradNorm: number }>;
  /** The same through the synchronous trainingStep (throws on WebGPU). */
  coreStepSync(): unknown;
  params(): Promise<Float32Array[]>;
  dispose(): void;
}

/** The model and its data, drawn from one seed: the same values on every backend. */
function buildModel(backend: Backend): Model {
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    const gen = new Generator(99);
    const init = (shape: number[], std: number) => {
      const t = randn(shape, gen, { std });
      const v = variable(t);
      t.dispose();
      return v;
    };
    const w1 = init([32, 12], 0.3);
    const b1 = init([32], 0.05);
    const w2 = init([1, 32], 0.2);
    const w3 = init([5, 32], 0.2);
    const params = [w1, b1, w2, w3];
    const x = engine.keep(randn([24, 12], gen));
    const y = engine.keep(randn([24, 1], gen));
    const labels = engine.keep(randint([24], 0, 5, gen));
    const opt = new AdamW(params, { lr: 0.02, weightDecay: 1e-3 });
    const ema = new EMA(params, { decay: 0.9 });
    const lossFn = () => {
      const h = op.gelu(op.linear(x, w1, b1));
      return op.add(op.mse(op.linear(h, w2), y), op.crossEntropy(op.linear(h, w3), labels));
    };
    return {
      async coreStep() {
        engine.setBackend(backend);
        const r = await trainingStepAsync({ optimizer: opt, lossFn, clipNorm: 0.5, ema });
        return { loss: r.loss, gradNorm: r.gradNorm! };
      },
      coreStepSync() {
        engine.setBackend(backend);
        return trainingStep({ optimizer: opt, lossFn, clipNorm: 0.5, ema });
      },
      async step() {
        engine.setBackend(backend);
        const { value, grads } = gradients(() => {
          const h = op.gelu(op.linear(x, w1, b1));
          return op.add(op.mse(op.linear(h, w2), y), op.crossEntropy(op.linear(h, w3), labels));
        }, params);
        opt.step(grads);
        const loss = (await value.data())[0]!;
        value.dispose();
        for (const g of grads) g.dispose();
        return loss;
      },
      params: () => Promise.all(params.map(async (p) => Float32Array.from(await p.data()))),
      dispose() {
        opt.dispose();
        ema.dispose();
        for (const t of [...params, x, y, labels] as Tensor[]) t.dispose();
      },
    };
  } finally {
    engine.setBackend(prev);
  }
}

async function train(backend: Backend, steps: number): Promise<{ losses: number[]; params: Float32Array[] }> {
  const prev = engine.backend;
  const model = buildModel(backend);
  try {
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push(await model.step());
    return { losses, params: await model.params() };
  } finally {
    model.dispose();
    engine.setBackend(prev);
  }
}

await describeGpu('training through the webgpu backend', (backend) => {
  it('20 AdamW steps of an MLP give the reference backend losses and parameters', async () => {
    const want = await train(createReferenceBackend(), 20);
    const got = await train(backend(), 20);
    expect(want.losses[19]!).toBeLessThan(want.losses[0]! * 0.8);
    got.losses.forEach((l, i) => expect(Math.abs(l - want.losses[i]!)).toBeLessThan(1e-5 + 1e-4 * Math.abs(want.losses[i]!)));
    got.params.forEach((p, i) => p.forEach((v, j) => expect(Math.abs(v - want.params[i]![j]!)).toBeLessThan(1e-4 + 1e-3 * Math.abs(want.params[i]![j]!))));
  });

  it('core\'s trainingStepAsync (clipping, EMA) gives the reference losses and gradient norms; the synchronous trainingStep says why it cannot run', async () => {
    const run = async (b: Backend) => {
      const prev = engine.backend;
      const model = buildModel(b);
      try {
        const out = [];
        for (let i = 0; i < 10; i++) out.push(await model.coreStep());
        return out;
      } finally {
        model.dispose();
        engine.setBackend(prev);
      }
    };
    const want = await run(createReferenceBackend());
    const got = await run(backend());
    expect(want[0]!.gradNorm).toBeGreaterThan(0.5);
    got.forEach((r, i) => {
      expect(Math.abs(r.loss - want[i]!.loss)).toBeLessThan(1e-5 + 1e-4 * Math.abs(want[i]!.loss));
      expect(Math.abs(r.gradNorm - want[i]!.gradNorm)).toBeLessThan(1e-5 + 1e-4 * want[i]!.gradNorm);
    });
    const prev = engine.backend;
    const model = buildModel(backend());
    try {
      expect(() => model.coreStepSync()).toThrow(/cannot read synchronously; use await tensor.data\(\)/);
    } finally {
      model.dispose();
      engine.setBackend(prev);
    }
  });

  it('200 steps leave memory and the buffer pool where the first steps left them', async () => {
    const b = backend();
    const prev = engine.backend;
    const model = buildModel(b);
    try {
      for (let i = 0; i < 3; i++) await model.step();
      const start = { memory: b.memory(), tensors: engine.memory().numTensors, pool: b.pool() };
      let last = 0;
      for (let i = 0; i < 200; i++) last = await model.step();
      const end = { memory: b.memory(), tensors: engine.memory().numTensors, pool: b.pool() };
      expect(end.memory).toEqual(start.memory);
      expect(end.tensors).toBe(start.tensors);
      expect(end.pool.created).toBe(start.pool.created);
      expect(end.pool.allocatedBytes).toBe(start.pool.allocatedBytes);
      expect(Number.isFinite(last)).toBe(true);
    } finally {
      model.dispose();
      engine.setBackend(prev);
    }
  }, 120_000);
});

// A diffusers-style scheduler with dynamic thresholding (which reads the predicted x0 back) on
// WebGPU through stepAsync: the trajectory the reference backend gives with step().
await describeGpu('schedulers on webgpu', (backend) => {
  it('DPM-Solver++ 2M with thresholding: stepAsync on WebGPU follows step() on the reference backend', async () => {
    const config = { _class_name: 'DPMSolverMultistepScheduler', thresholding: true, sample_max_value: 2, dynamic_thresholding_ratio: 0.9 };
    const run = async (b: Backend, async: boolean) => {
      const s = op.createScheduler(config);
      s.setTimesteps(5);
      const gen = new Generator(4);
      let x = engine.keep(randn([2, 3, 4, 4], gen, { std: 3, backend: b }));
      const prevSamples: number[][] = [];
      for (const t of s.timesteps) {
        const out = engine.tidy(() => op.add(op.mul(x, 0.7), 0.2 * Math.cos(t / 50)));
        const r = async ? await s.stepAsync(out, t, x) : s.step(out, t, x);
        prevSamples.push(Array.from(await r.prevSample.data()));
        for (const u of [out, x, r.predOriginalSample]) u?.dispose();
        x = engine.keep(r.prevSample);
      }
      x.dispose();
      s.reset();
      return prevSamples;
    };
    const want = await run(createReferenceBackend(), false);
    const b = backend();
    const before = engine.memory().numTensors;
    const got = await run(b, true);
    expect(engine.memory().numTensors).toBe(before);
    let worst = 0;
    got.forEach((row, k) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[k]![i]!) / (1e-3 + Math.abs(want[k]![i]!))))));
    expect(worst).toBeLessThan(1e-4);
    // Thresholding is in effect: the samples stay within the clamp.
    expect(Math.max(...got[got.length - 1]!.map(Math.abs))).toBeLessThanOrEqual(1 + 1e-6);
    // step() cannot read x0 there and says what to call instead.
    const s = op.createScheduler(config);
    s.setTimesteps(5);
    const x = randn([2, 3, 4, 4], new Generator(4), { backend: b });
    expect(() => s.step(x, s.timesteps[0]!, x)).toThrow('use await scheduler.stepAsync(...)');
    x.dispose();
    s.reset();
  });
});
