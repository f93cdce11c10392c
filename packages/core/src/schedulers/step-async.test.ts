// stepAsync on a backend that reads only asynchronously (as WebGPU does) against step on the
// reference backend: the same trajectories, bit for bit, for every scheduler that thresholds,
// every prediction type and solver variant; and the errors step() gives there instead.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { add, mul, sin } from '../ops/elementwise.js';
import { tensor } from '../ops/creation.js';
import { Generator } from '../random/philox.js';
import { asyncReadBackend, createReferenceBackend } from '../testing/index.js';
import type { Backend } from '../backend/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { createScheduler } from './create.js';
import type { DiffusersSchedulerConfig } from './config.js';

const SHAPE = [2, 3, 2, 2];
// Batch entry 0 stays within [-1, 1]-ish, entry 1 reaches about 4: the quantile clamps to 1 for
// one and exceeds it for the other, so thresholding changes the samples.
const X_T = Array.from({ length: 24 }, (_, i) => (i < 12 ? 0.7 : 3.2) * Math.sin(1.7 * i + 0.3));

/** A deterministic stand-in for a denoiser (twice the channels for learned variances). */
function model(x: Tensor, t: number, learned: boolean): Tensor {
  const out = add(mul(x, 0.8), 0.3 * Math.sin(t / 97));
  if (!learned) return out;
  return engine.runKernel('concat', [out, sin(x)], { axis: 1 }, { shape: [x.shape[0]!, 2 * x.shape[1]!, ...x.shape.slice(2)], dtype: x.dtype }, 'concat');
}

const CASES: { name: string; config: DiffusersSchedulerConfig; learned?: boolean; eta?: number }[] = [
  { name: 'DDIM epsilon', config: { _class_name: 'DDIMScheduler', thresholding: true, sample_max_value: 2.5, dynamic_thresholding_ratio: 0.8 } },
  { name: 'DDIM sample (eta 0.5)', config: { _class_name: 'DDIMScheduler', prediction_type: 'sample', thresholding: true, sample_max_value: 2, dynamic_thresholding_ratio: 0.9 }, eta: 0.5 },
  { name: 'DDIM v_prediction', config: { _class_name: 'DDIMScheduler', prediction_type: 'v_prediction', thresholding: true, sample_max_value: 3 } },
  { name: 'DDPM epsilon', config: { _class_name: 'DDPMScheduler', thresholding: true, sample_max_value: 2.5, dynamic_thresholding_ratio: 0.8 } },
  { name: 'DDPM learned_range', config: { _class_name: 'DDPMScheduler', variance_type: 'learned_range', thresholding: true, sample_max_value: 2 }, learned: true },
  { name: 'DDPM sample', config: { _class_name: 'DDPMScheduler', prediction_type: 'sample', thresholding: true, sample_max_value: 1.5 } },
  { name: 'DPM-Solver++ 2M epsilon', config: { _class_name: 'DPMSolverMultistepScheduler', thresholding: true, sample_max_value: 2.5, dynamic_thresholding_ratio: 0.8 } },
  { name: 'DPM-Solver 3M v_prediction', config: { _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'dpmsolver', final_sigmas_type: 'sigma_min', solver_order: 3, prediction_type: 'v_prediction', thresholding: true, sample_max_value: 2 } },
  { name: 'SDE-DPM-Solver++ sample', config: { _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver++', prediction_type: 'sample', thresholding: true, sample_max_value: 2 } },
  { name: 'SDE-DPM-Solver v_prediction', config: { _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver', final_sigmas_type: 'sigma_min', prediction_type: 'v_prediction', thresholding: true, sample_max_value: 2.5 } },
  { name: 'DPM-Solver epsilon, begin index', config: { _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'dpmsolver', final_sigmas_type: 'sigma_min', thresholding: true, sample_max_value: 2.5 } },
  { name: 'Euler (no thresholding)', config: { _class_name: 'EulerDiscreteScheduler' } },
];

async function trajectory(backend: Backend, config: DiffusersSchedulerConfig, run: 'step' | 'stepAsync', learned: boolean, eta: number, beginIndex: boolean): Promise<number[][]> {
  const s = createScheduler(config);
  s.setTimesteps(6);
  if (beginIndex) (s as { setBeginIndex?(i: number): void }).setBeginIndex?.(1);
  const gen = new Generator(5);
  let x = engine.keep(engine.tidy(() => mul(tensor(Float32Array.from(X_T), SHAPE, { backend }), s.initNoiseSigma)));
  const seen: number[][] = [];
  for (const t of s.timesteps.slice(beginIndex ? 1 : 0)) {
    const input = s.scaleModelInput(x, t);
    const out = engine.tidy(() => model(input, t, learned));
    const options = { gen, eta };
    const r = run === 'step' ? s.step(out, t, x, options) : await s.stepAsync(out, t, x, options);
    seen.push(Array.from(await r.prevSample.data()));
    if (r.predOriginalSample) seen.push(Array.from(await r.predOriginalSample.data()));
    for (const u of [input, out, x, r.predOriginalSample]) u?.dispose();
    x = engine.keep(r.prevSample);
  }
  x.dispose();
  s.reset();
  return seen;
}

describe('scheduler.stepAsync', () => {
  for (const c of CASES) {
    it(`${c.name}: on an async-only backend, the same trajectory as step() on the reference backend`, async () => {
      const reference = createReferenceBackend();
      const asyncOnly = asyncReadBackend();
      const learned = c.learned ?? false;
      const eta = c.eta ?? 0;
      const begin = c.name.includes('begin index');
      const expected = await trajectory(reference, c.config, 'step', learned, eta, begin);
      const before = asyncOnly.memory().buffers;
      const actual = await trajectory(asyncOnly, c.config, 'stepAsync', learned, eta, begin);
      expect(actual).toEqual(expected);
      expect(asyncOnly.memory().buffers, 'buffers left alive').toBe(before);
      if (c.config['thresholding']) {
        // The thresholding is in effect: without it the trajectory differs.
        const plain = await trajectory(reference, { ...c.config, thresholding: false }, 'step', learned, eta, begin);
        expect(plain).not.toEqual(expected);
        // step() cannot threshold there, and says what to use instead.
        const s = createScheduler(c.config);
        s.setTimesteps(6);
        const x = tensor(Float32Array.from(X_T), SHAPE, { backend: asyncOnly });
        const t = s.timesteps[0]!;
        const out = engine.tidy(() => model(x, t, learned));
        expect(() => s.step(out, t, x, { gen: new Generator(1), eta })).toThrow(
          `${s.className}.step: thresholding reads the predicted x0 back to the host, and backend "reference-async-read" reads only asynchronously; use await scheduler.stepAsync(...)`,
        );
        for (const u of [x, out]) u.dispose();
        s.reset();
      }
    });
  }

  it('checks its arguments like step()', async () => {
    const s = createScheduler({ _class_name: 'DDIMScheduler', thresholding: true });
    s.setTimesteps(4);
    const x = tensor([1, 2], [1, 2]);
    await expect(s.stepAsync(x, Number.NaN, x)).rejects.toThrow('DDIMScheduler.stepAsync: timestep must be a finite number');
    await expect(s.stepAsync(x, 1, null as never)).rejects.toThrow('DDIMScheduler.stepAsync: sample must be a Tensor');
    // A rank-0 sample keeps its shape through the thresholding, either way.
    const x0 = tensor(3);
    const a = s.step(x0, s.timesteps[0]!, x0);
    const b = await s.stepAsync(x0, s.timesteps[0]!, x0);
    expect(a.prevSample.shape).toEqual([]);
    expect(b.prevSample.shape).toEqual([]);
    expect(b.prevSample.item()).toBe(a.prevSample.item());
    for (const t of [x, x0, a.prevSample, a.predOriginalSample, b.prevSample, b.predOriginalSample]) t?.dispose();
  });
});
