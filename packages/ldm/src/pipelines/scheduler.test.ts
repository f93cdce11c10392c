// The scheduler_config.json adapter: every supported diffusers class, read from JSON text, picks
// its core sampler and a sigma ladder whose network timesteps are the ones core's
// diffusers-compatible scheduler visits (and hand-derived values); prediction types, beta
// schedules, spacings and Karras ladders carry over; samplers can be overridden by name.

import { InvalidArgumentError, SAMPLER_NAMES, createScheduler, sigmasFromAlphasCumprod, tidy, zeros, type DiffusersSchedulerConfig, type Tensor } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { PIPELINE_SCHEDULER_CLASSES, schedulerFromConfig, type PipelineSchedulerClass } from './scheduler.js';
import { SD_DDIM, SD_EULER, SD_PNDM } from './test-components.js';

/** A config as it comes out of a scheduler_config.json file. */
const roundTrip = (config: DiffusersSchedulerConfig) => schedulerFromConfig(JSON.parse(JSON.stringify(config)) as DiffusersSchedulerConfig);
const dedupe = (xs: readonly number[]) => xs.filter((v, i) => i === 0 || v !== xs[i - 1]);

/** Network timesteps of core's diffusers-compatible scheduler, each once. */
function coreTimesteps(config: DiffusersSchedulerConfig, steps: number): number[] {
  const s = createScheduler(config);
  s.setTimesteps(steps);
  return dedupe(s.timesteps);
}

const CASES: { cls: PipelineSchedulerClass; config: DiffusersSchedulerConfig; sampler: string; options?: Record<string, unknown>; hand: number[] }[] = [
  { cls: 'DDIMScheduler', config: SD_DDIM, sampler: 'ddim', hand: [751, 501, 251, 1] },
  { cls: 'PNDMScheduler', config: SD_PNDM, sampler: 'plms', options: { warmup: 'heun', weights: 'fixed' }, hand: [751, 501, 251, 1] },
  { cls: 'EulerDiscreteScheduler', config: SD_EULER, sampler: 'euler', hand: [999, 666, 333, 0] },
  { cls: 'EulerAncestralDiscreteScheduler', config: { ...SD_PNDM, _class_name: 'EulerAncestralDiscreteScheduler', timestep_spacing: 'trailing' }, sampler: 'euler_ancestral', hand: [999, 749, 499, 249] },
  { cls: 'HeunDiscreteScheduler', config: { ...SD_PNDM, _class_name: 'HeunDiscreteScheduler', timestep_spacing: 'linspace' }, sampler: 'heun', hand: [999, 666, 333, 0] },
  // linspace(0, 999, 5) = 0, 249.75, 499.5, 749.25, 999, rounded half to even, the last dropped
  { cls: 'DPMSolverMultistepScheduler', config: { ...SD_PNDM, _class_name: 'DPMSolverMultistepScheduler', timestep_spacing: 'linspace' }, sampler: 'dpmpp_2m', hand: [999, 749, 500, 250] },
  { cls: 'LMSDiscreteScheduler', config: { ...SD_PNDM, _class_name: 'LMSDiscreteScheduler', timestep_spacing: 'linspace' }, sampler: 'plms', options: { warmup: 'euler' }, hand: [999, 666, 333, 0] },
  { cls: 'DDPMScheduler', config: { _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_schedule: 'linear' }, sampler: 'ddpm', hand: [750, 500, 250, 0] },
];

describe('schedulerFromConfig: scheduler_config.json onto core samplers', () => {
  it('covers every class the pipelines accept', () => {
    expect(CASES.map((c) => c.cls).sort()).toEqual([...PIPELINE_SCHEDULER_CLASSES].sort());
  });

  for (const c of CASES) {
    it(`${c.cls}: sampler ${c.sampler}, timesteps ${c.hand.join(', ')} for 4 steps`, () => {
      const s = roundTrip(c.config);
      expect(s.className).toBe(c.cls);
      expect(s.samplerName).toBe(c.sampler);
      expect(s.samplerOptions).toEqual(c.options ?? {});
      expect(s.sampler().name).toBe(c.sampler);
      const plan = s.plan(4);
      expect(plan.timesteps).toEqual(c.hand);
      if (c.cls !== 'LMSDiscreteScheduler') expect(plan.timesteps).toEqual(coreTimesteps(c.config, 4));
      // ... and they are what the network is given at the ladder's sigmas.
      const seen: number[] = [];
      const denoise = s.denoiser((x: Tensor, t: number) => (seen.push(t), x), plan);
      tidy(() => plan.sigmas.slice(0, -1).forEach((sigma) => denoise(zeros([1]), sigma, null)));
      expect(seen).toEqual(c.hand);
      expect(plan.sigmas.length).toBe(plan.timesteps.length + 1);
      for (let i = 1; i < plan.sigmas.length; i++) expect(plan.sigmas[i]!).toBeLessThan(plan.sigmas[i - 1]!);
      // The ladder's sigmas are the training table's at those timesteps.
      const table = sigmasFromAlphasCumprod(s.alphasCumprod);
      plan.timesteps.forEach((t, i) => expect(plan.sigmas[i]!).toBeCloseTo(table[t]!, 5));
      expect(s.alphasCumprod).toEqual(createScheduler({ ...c.config, _class_name: c.cls === 'LMSDiscreteScheduler' ? 'EulerDiscreteScheduler' : c.cls }).alphasCumprod);
    });
  }

  it('final noise level: 0, or sigma(alphas_cumprod[0]) where set_alpha_to_one is false (PNDM, as diffusers)', () => {
    const abar0 = roundTrip(SD_PNDM).alphasCumprod[0]!;
    expect(roundTrip(SD_PNDM).plan(4).sigmas.at(-1)).toBeCloseTo(Math.sqrt((1 - abar0) / abar0), 12);
    expect(roundTrip({ ...SD_DDIM, set_alpha_to_one: true }).plan(4).sigmas.at(-1)).toBe(0);
    expect(roundTrip(SD_EULER).plan(4).sigmas.at(-1)).toBe(0);
  });

  it('a last step that does not lower the noise (DDIM at t = 0 to alphas_cumprod[0]) is left out', () => {
    const config = { ...SD_DDIM, timestep_spacing: 'linspace' };
    expect(coreTimesteps(config, 4)).toEqual([999, 666, 333, 0]);
    const plan = roundTrip(config).plan(4);
    expect(plan.timesteps).toEqual([999, 666, 333]);
    expect(plan.sigmas.at(-1)).toBe(sigmasFromAlphasCumprod(roundTrip(config).alphasCumprod)[0]);
  });

  it('initial noise scale: init_noise_sigma of sigma schedulers, sqrt(1 + sigma_0^2) for VP-sample schedulers', () => {
    const euler = roundTrip(SD_EULER);
    expect(euler.plan(4).initNoiseSigma).toBe(createScheduler(SD_EULER).initNoiseSigma);
    expect(euler.plan(4).initNoiseSigma).toBe(euler.plan(4).sigmas[0]);
    const leading = roundTrip({ ...SD_EULER, timestep_spacing: 'leading' });
    const s0 = leading.plan(4).sigmas[0]!;
    expect(leading.plan(4).initNoiseSigma).toBeCloseTo(Math.sqrt(s0 * s0 + 1), 5);
    const ddim = roundTrip(SD_DDIM).plan(4);
    expect(ddim.initNoiseSigma).toBeCloseTo(Math.sqrt(1 + ddim.sigmas[0]! ** 2), 12);
  });

  it('spacings, steps_offset and Karras ladders give core\'s scheduler timesteps', () => {
    for (const spacing of ['leading', 'trailing', 'linspace']) {
      for (const cls of ['DDIMScheduler', 'DDPMScheduler', 'DPMSolverMultistepScheduler'] as const) {
        const config = { ...SD_DDIM, _class_name: cls, timestep_spacing: spacing, set_alpha_to_one: true };
        expect(roundTrip(config).plan(7).timesteps).toEqual(coreTimesteps(config, 7));
      }
      const euler = { ...SD_EULER, timestep_spacing: spacing };
      expect(roundTrip(euler).plan(7).timesteps).toEqual(coreTimesteps(euler, 7));
    }
    for (const cls of ['EulerDiscreteScheduler', 'HeunDiscreteScheduler', 'LMSDiscreteScheduler', 'DPMSolverMultistepScheduler'] as const) {
      const karras = roundTrip({ ...SD_EULER, _class_name: cls, use_karras_sigmas: true }).plan(6);
      const want = createScheduler({ ...SD_EULER, _class_name: cls === 'LMSDiscreteScheduler' ? 'EulerDiscreteScheduler' : cls, use_karras_sigmas: true });
      want.setTimesteps(6);
      expect(karras.sigmas).toEqual(dedupe(want.sigmas!));
      expect(karras.timesteps).toEqual(dedupe(want.timesteps));
    }
  });

  it('prediction types and beta schedules carry over', () => {
    expect(roundTrip({ ...SD_DDIM, prediction_type: 'v_prediction' }).prediction).toBe('v_prediction');
    expect(roundTrip({ ...SD_DDIM, prediction_type: 'sample' }).prediction).toBe('sample');
    expect(roundTrip(SD_DDIM).prediction).toBe('epsilon');
    for (const beta_schedule of ['linear', 'scaled_linear', 'squaredcos_cap_v2']) {
      const config = { ...SD_DDIM, beta_schedule };
      expect(roundTrip(config).alphasCumprod).toEqual(createScheduler(config).alphasCumprod);
    }
    expect(roundTrip({ ...SD_DDIM, num_train_timesteps: 500 }).plan(5).timesteps).toEqual([401, 301, 201, 101, 1]);
  });

  it('DPM-Solver variants: SDE → dpmpp_2m_sde, first order → ddim; samplers override by name', () => {
    const dpm = { ...SD_PNDM, _class_name: 'DPMSolverMultistepScheduler' };
    expect(roundTrip({ ...dpm, algorithm_type: 'sde-dpmsolver++' }).samplerName).toBe('dpmpp_2m_sde');
    expect(roundTrip({ ...dpm, solver_order: 1 }).samplerName).toBe('ddim');
    const s = roundTrip(SD_DDIM);
    for (const name of SAMPLER_NAMES) expect(s.sampler({ sampler: name }).name).toBe(name);
    expect(() => s.sampler({ sampler: 'lms' as never }, 'textToImage')).toThrow(/^textToImage: sampler must be one of 'ddpm', 'ddim'/);
    expect(() => s.sampler({ sampler: 'ddim', samplerOptions: { eta: -1 } })).toThrow(InvalidArgumentError);
  });

  it('rejects unknown classes, bad keys and bad step counts with typed errors', () => {
    expect(() => schedulerFromConfig({ _class_name: 'UniPCMultistepScheduler' })).toThrow(/config._class_name must be one of DDIMScheduler, .*LMSDiscreteScheduler, got "UniPCMultistepScheduler"/);
    expect(() => schedulerFromConfig({})).toThrow(InvalidArgumentError);
    expect(() => schedulerFromConfig({ ...SD_DDIM, beta_schedule: 'cubic' })).toThrow(/beta_schedule = "cubic" is not a known value/);
    expect(() => schedulerFromConfig({ ...SD_EULER, prediction_type: 'v_prediction', timestep_type: 'continuous' })).toThrow(/timestep_type = 'continuous'/);
    expect(() => schedulerFromConfig(SD_DDIM).plan(0)).toThrow('DDIMScheduler.plan: steps must be an integer in [1, 1000], got 0');
  });
});
