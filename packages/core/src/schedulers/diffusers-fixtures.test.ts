// Replays the reference runs of Hugging Face diffusers' own scheduler code
// (test-fixtures/diffusers/*.json, written by test-fixtures/diffusers/generate.py) through the
// TypeScript adapter: training tables, timesteps, sigmas, init_noise_sigma, add_noise, and a whole
// denoising loop per config, free-running (our samples feed our next step), with the noise
// diffusers drew injected through step(..., { noise }).
//
// The adapter is built with the fixture's environment (torch 1 / 2, NumPy 1 / 2 promotion, as
// recorded in each file), see SchedulerOptions.
//
// Tolerance: float32. Every compared array must satisfy |ours - diffusers| <= TOL * max(1, max|diffusers|),
// per element, with TOL = 1e-5 for trajectories (free-running over up to 49 steps) and 2e-6 for
// schedules. Observed (SCHEDULER_FIXTURE_REPORT=1 prints it): schedules and the Euler / Heun /
// DDIM / PNDM trajectories agree to the 9 printed digits (~3e-9); DPM-Solver within 5e-7 (an
// occasional last-bit difference of torch's float32 exp / log); DDPM's 'sigmoid' beta schedule
// within 5e-6 (torch.sigmoid's SLEEF exp is not reproduced bit for bit).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { memory } from '../index.js';
import { engine } from '../engine/engine.js';
import { add, concat, mul, tanh, tensor } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { createScheduler, type SchedulerStepOptions } from './index.js';

interface HeadTail {
  length: number;
  head: number[];
  tail: number[];
}

interface FixtureStep {
  t: number;
  model_input: number[] | null;
  noise: number[] | null;
  prev_sample: number[];
  pred_original_sample: number[] | null;
}

interface FixtureCase {
  name: string;
  class: string;
  config: Record<string, unknown>;
  steps: number;
  step_kwargs?: Record<string, number | boolean>;
  before: { timesteps: HeadTail | null; sigmas?: HeadTail; init_noise_sigma: number };
  alphas_cumprod: { index: number[]; value: number[] };
  timesteps: number[];
  sigmas: number[] | null;
  init_noise_sigma: number;
  order: number;
  add_noise: { timesteps: number[]; result: number[] };
  x_T: number[];
  trajectory: FixtureStep[];
}

interface Fixture {
  diffusers_commit: string;
  torch: string;
  numpy_promotion: string;
  shape: number[];
  x_noise: number[];
  add_noise: { shape: number[]; original: number[]; noise: number[] };
  cases: FixtureCase[];
}

const FILES = ['ddim', 'pndm', 'euler', 'euler_ancestral', 'heun', 'dpmsolver_multistep', 'ddpm'] as const;
const dir = fileURLToPath(new URL('../../test-fixtures/diffusers/', import.meta.url));
const load = (name: string): Fixture => JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8')) as Fixture;

const TOL_TRAJECTORY = 1e-5;
const TOL_SCHEDULE = 2e-6;
const worst = { trajectory: 0, schedule: 0 };

/** Max of |a - e| / max(1, max|e|); throws with the first offending index above `tol`. */
function expectClose(what: string, actual: ArrayLike<number>, expected: readonly number[], tol: number): number {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = 1;
  for (const e of expected) scale = Math.max(scale, Math.abs(e));
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!) / scale;
    if (!(err <= tol)) throw new Error(`${what}[${i}]: got ${actual[i]}, diffusers ${expected[i]} (error ${err.toExponential(2)} of scale ${scale}, tolerance ${tol})`);
    maxErr = Math.max(maxErr, err);
  }
  return maxErr;
}

const f32 = (values: readonly number[], shape: readonly number[]): Tensor => tensor(Float32Array.from(values), shape);
const read = (t: Tensor): number[] => Array.from(t.dataSync());

/** The fixture's model: 0.1 * x + 0.05 * sin(t / 100) in float32 (DDPM learned_range: [f, tanh f]). */
function model(x: Tensor, t: number, learnedRange: boolean): Tensor {
  const f = add(mul(x, 0.1), 0.05 * Math.sin(t / 100));
  return learnedRange ? concat([f, tanh(f)], 1) : f;
}

function stepOptions(kwargs: Record<string, number | boolean> | undefined): SchedulerStepOptions {
  const o: SchedulerStepOptions = {};
  if (!kwargs) return o;
  const map: Record<string, keyof SchedulerStepOptions> = {
    eta: 'eta',
    use_clipped_model_output: 'useClippedModelOutput',
    s_churn: 'sChurn',
    s_tmin: 'sTmin',
    s_tmax: 'sTmax',
    s_noise: 'sNoise',
  };
  for (const [k, v] of Object.entries(kwargs)) {
    const key = map[k];
    if (!key) throw new Error(`unmapped step kwarg ${k}`);
    (o as Record<string, unknown>)[key] = v;
  }
  return o;
}

/** The Python environment the fixture came from, as adapter options. */
function env(fx: { torch: string; numpy_promotion: string }): { torch: 1 | 2; numpy: 1 | 2 } {
  return { torch: fx.torch.startsWith('1.') ? 1 : 2, numpy: fx.numpy_promotion.startsWith('weak') ? 2 : 1 };
}

function checkHeadTail(what: string, actual: readonly number[], expected: HeadTail, tol: number): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const n = expected.head.length;
  expectClose(`${what} head`, actual.slice(0, n), expected.head, tol);
  expectClose(`${what} tail`, actual.slice(actual.length - expected.tail.length), expected.tail, tol);
}

for (const file of FILES) {
  const fx = load(file);
  describe(`diffusers ${file} (commit ${fx.diffusers_commit.slice(0, 10)})`, () => {
    for (const c of fx.cases) {
      it(c.name, () => {
        const live = memory().numTensors;
        const s = createScheduler({ _class_name: c.class, ...c.config }, env(fx));
        expect(s.className).toBe(c.class);

        // The schedule before setTimesteps.
        if (c.before.timesteps) checkHeadTail('before.timesteps', s.timesteps, c.before.timesteps, TOL_SCHEDULE);
        if (c.before.sigmas) checkHeadTail('before.sigmas', s.sigmas!, c.before.sigmas, TOL_SCHEDULE);
        expectClose('before.init_noise_sigma', [s.initNoiseSigma], [c.before.init_noise_sigma], TOL_SCHEDULE);
        expectClose('alphas_cumprod', c.alphas_cumprod.index.map((i) => s.alphasCumprod[i]!), c.alphas_cumprod.value, TOL_SCHEDULE);

        // setTimesteps: timesteps (integers exactly), sigmas, init_noise_sigma, order.
        s.setTimesteps(c.steps);
        if (c.timesteps.every(Number.isInteger)) expect([...s.timesteps]).toEqual(c.timesteps);
        else expectClose('timesteps', s.timesteps, c.timesteps, 1e-6);
        if (c.sigmas === null) expect(s.sigmas).toBeNull();
        else worst.schedule = Math.max(worst.schedule, expectClose('sigmas', s.sigmas!, c.sigmas, TOL_SCHEDULE));
        expectClose('init_noise_sigma', [s.initNoiseSigma], [c.init_noise_sigma], TOL_SCHEDULE);
        expect(s.order).toBe(c.order);

        // add_noise on a batch of two at two scheduled timesteps, before any step.
        engine.tidy(() => {
          const an = fx.add_noise;
          // Our own timesteps at the positions diffusers used (the fixture's values are rounded to 9 digits).
          const picks = [s.timesteps[0]!, s.timesteps[Math.floor(s.timesteps.length / 2)]!];
          expectClose('add_noise timesteps', picks, c.add_noise.timesteps, 1e-6);
          const noisy = s.addNoise(f32(an.original, an.shape), f32(an.noise, an.shape), picks);
          worst.schedule = Math.max(worst.schedule, expectClose('add_noise', read(noisy), c.add_noise.result, TOL_SCHEDULE * 5));
        });

        // The denoising loop, one model evaluation per entry of `timesteps`.
        expect(c.trajectory.length).toBe(s.timesteps.length);
        const learned = c.class === 'DDPMScheduler' && c.config['variance_type'] === 'learned_range';
        const options = stepOptions(c.step_kwargs);
        let sample = engine.keep(engine.tidy(() => mul(f32(fx.x_noise, fx.shape), s.initNoiseSigma)));
        worst.trajectory = Math.max(worst.trajectory, expectClose('x_T', read(sample), c.x_T, TOL_SCHEDULE));
        let evaluations = 0;
        const before = worst.trajectory;
        worst.trajectory = 0;
        s.timesteps.forEach((t, k) => {
          const ref = c.trajectory[k]!;
          const at = `step ${k} (t=${t})`;
          if (Number.isInteger(ref.t)) expect(t, `${at}: timestep`).toBe(ref.t);
          else expectClose(`${at} timestep`, [t], [ref.t], 1e-6);
          const next = engine.tidy(() => {
            const input = s.scaleModelInput(sample, t);
            if (ref.model_input) worst.trajectory = Math.max(worst.trajectory, expectClose(`${at} model_input`, read(input), ref.model_input, TOL_TRAJECTORY));
            const out = model(input, t, learned);
            evaluations++;
            const noise = ref.noise ? f32(ref.noise, fx.shape) : undefined;
            const res = s.step(out, t, sample, noise ? { ...options, noise } : options);
            worst.trajectory = Math.max(worst.trajectory, expectClose(`${at} prev_sample`, read(res.prevSample), ref.prev_sample, TOL_TRAJECTORY));
            if (ref.pred_original_sample === null) expect(res.predOriginalSample, `${at}: predOriginalSample`).toBeNull();
            else worst.trajectory = Math.max(worst.trajectory, expectClose(`${at} pred_original_sample`, read(res.predOriginalSample!), ref.pred_original_sample, TOL_TRAJECTORY));
            return res.prevSample;
          });
          sample.dispose();
          sample = engine.keep(next);
        });
        sample.dispose();

        // Model evaluations: N, Heun 2N - 1, PLMS N + 1 (the second timestep twice), PRK 3 * 4 + (N - 3) ... as diffusers.
        const N = c.steps;
        if (c.class === 'HeunDiscreteScheduler') expect(evaluations).toBe(2 * N - 1);
        else if (c.class === 'PNDMScheduler') expect(evaluations).toBe(c.config['skip_prk_steps'] ? N + 1 : 12 + N - 3);
        else expect(evaluations).toBe(N);

        if (process.env['SCHEDULER_FIXTURE_REPORT']) console.log(`${file} / ${c.name}: worst trajectory deviation ${worst.trajectory.toExponential(2)}`);
        worst.trajectory = Math.max(before, worst.trajectory);
        s.reset();
        expect(memory().numTensors, 'tensors left alive').toBe(live);
      });
    }
  });
}

describe('fixture accuracy summary', () => {
  it('reports the worst deviations seen', () => {
    if (process.env['SCHEDULER_FIXTURE_REPORT']) console.log(`worst relative deviation: trajectory ${worst.trajectory.toExponential(2)}, schedule ${worst.schedule.toExponential(2)}`);
    expect(worst.trajectory).toBeLessThanOrEqual(TOL_TRAJECTORY);
  });
});
