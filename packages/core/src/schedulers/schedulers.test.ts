// Behaviour of the diffusers adapter beyond the reference numbers (diffusers-fixtures.test.ts):
// config validation and its messages, state and reset(), generators and injected noise, tensor
// ownership and memory, float64 samples.

import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { memory } from '../index.js';
import { add, cast, mul, tensor } from '../ops/index.js';
import { Generator, randn } from '../random/index.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerDiscreteScheduler,
  HeunDiscreteScheduler,
  SCHEDULER_CLASSES,
  createScheduler,
  type DiffusersScheduler,
  type SchedulerStepOptions,
} from './index.js';

const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', steps_offset: 1, timestep_spacing: 'leading' } as const;
const SHAPE = [1, 2, 3, 3];

function expectInvalid(fn: () => unknown, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(InvalidArgumentError.isInstance(err), `expected an InvalidArgumentError, got ${String(err)}`).toBe(true);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

const model = (x: Tensor, t: number): Tensor => add(mul(x, 0.1), 0.05 * Math.sin(t / 100));
const read = (t: Tensor): number[] => Array.from(t.dataSync());

/** Runs a whole denoising loop (like a pipeline) and returns the final sample's values. */
function run(s: DiffusersScheduler, steps: number, options: (k: number) => SchedulerStepOptions = () => ({})): number[] {
  s.setTimesteps(steps);
  let x = engine.keep(engine.tidy(() => mul(randn(SHAPE, new Generator(7)), s.initNoiseSigma)));
  s.timesteps.forEach((t, k) => {
    const next = engine.tidy(() => s.step(model(s.scaleModelInput(x, t), t), t, x, options(k)).prevSample);
    x.dispose();
    x = engine.keep(next);
  });
  const out = read(x);
  x.dispose();
  return out;
}

describe('createScheduler: config validation', () => {
  it('builds every supported class from _class_name, with class defaults', () => {
    for (const cls of SCHEDULER_CLASSES) expect(createScheduler({ _class_name: cls }).className).toBe(cls);
    expect(createScheduler({ _class_name: 'HeunDiscreteScheduler' }).config['beta_start']).toBe(0.00085);
    expect(createScheduler({ _class_name: 'EulerDiscreteScheduler' }).config['timestep_spacing']).toBe('linspace');
    expect(createScheduler({ _class_name: 'DDIMScheduler' }).config['timestep_spacing']).toBe('leading');
  });

  it('rejects an unknown or missing class, listing the supported ones', () => {
    expectInvalid(() => createScheduler({ _class_name: 'LMSDiscreteScheduler' }), 'createScheduler', '"LMSDiscreteScheduler"', 'DDIMScheduler', 'DPMSolverMultistepScheduler');
    expectInvalid(() => createScheduler({}), 'createScheduler', '_class_name', 'EulerDiscreteScheduler');
    expectInvalid(() => createScheduler(null as never), 'createScheduler', 'config');
  });

  it('lets options.className override _class_name (diffusers Cls.from_config)', () => {
    const s = createScheduler({ _class_name: 'PNDMScheduler', ...SD, skip_prk_steps: true, clip_sample: false }, { className: 'DPMSolverMultistepScheduler' });
    expect(s.className).toBe('DPMSolverMultistepScheduler');
    expect(s.config['steps_offset']).toBe(1);
  });

  it('ignores keys the class does not take, whatever their type', () => {
    const s = createScheduler({ _class_name: 'EulerDiscreteScheduler', clip_sample: 'not a boolean' as never, skip_prk_steps: 3 as never, foo: {}, _diffusers_version: '0.30.0' });
    expect(s.config).not.toHaveProperty('clip_sample');
    expect(s.config).not.toHaveProperty('foo');
  });

  it('rejects a key of the class with a wrong type, naming it', () => {
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', beta_start: '0.1' as never }), 'DDIMScheduler config.beta_start', 'number', '"0.1"');
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', num_train_timesteps: 10.5 }), 'config.num_train_timesteps', 'integer');
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', clip_sample: 1 as never }), 'config.clip_sample', 'boolean');
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', trained_betas: [0.1, 'x'] as never }), 'config.trained_betas');
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', steps_offset: null as never }), 'config.steps_offset', 'null');
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', num_train_timesteps: 4, trained_betas: [0.1, 0.2] }), 'trained_betas', '4');
  });

  it('rejects unknown and unsupported values, listing the supported ones', () => {
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', beta_schedule: 'cosine' }), 'config.beta_schedule', '"cosine"', "'linear', 'scaled_linear', 'squaredcos_cap_v2'");
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler', timestep_spacing: 'uniform' }), 'config.timestep_spacing', "'leading', 'trailing', 'linspace'");
    expectInvalid(() => createScheduler({ _class_name: 'PNDMScheduler', prediction_type: 'sample' }), 'config.prediction_type', "'epsilon', 'v_prediction'");
    expectInvalid(() => createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler', prediction_type: 'sample' }), 'not supported by this adapter');
    expectInvalid(() => createScheduler({ _class_name: 'DDPMScheduler', variance_type: 'fixed_large_log' }), 'config.variance_type', 'not supported', "'fixed_small'");
    expectInvalid(() => createScheduler({ _class_name: 'EulerDiscreteScheduler', use_beta_sigmas: true }), 'config.use_beta_sigmas', 'not supported', 'false');
    expectInvalid(() => createScheduler({ _class_name: 'DPMSolverMultistepScheduler', use_flow_sigmas: true }), 'config.use_flow_sigmas');
    expectInvalid(() => createScheduler({ _class_name: 'DPMSolverMultistepScheduler', prediction_type: 'flow_prediction' }), 'flow_prediction', 'not supported');
    expectInvalid(() => createScheduler({ _class_name: 'DPMSolverMultistepScheduler', solver_order: 4 }), 'config.solver_order');
  });

  it('rejects the combinations diffusers rejects', () => {
    expectInvalid(() => createScheduler({ _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: true, use_exponential_sigmas: true }), 'only one of');
    expectInvalid(() => createScheduler({ _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'dpmsolver' }), 'final_sigmas_type', "'sigma_min'");
    expectInvalid(() => createScheduler({ _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver', solver_order: 3, final_sigmas_type: 'sigma_min' }), 'solver_order = 3');
  });

  it("maps the values diffusers rewrites (DPM-Solver's deis, logrho) and treats null flags as off", () => {
    const s = createScheduler({ _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'deis', solver_type: 'logrho', use_karras_sigmas: null });
    expect(s.config['algorithm_type']).toBe('dpmsolver++');
    expect(s.config['solver_type']).toBe('midpoint');
    expect(s.config['use_karras_sigmas']).toBe(false);
  });

  it('checks the environment options', () => {
    expectInvalid(() => createScheduler({ _class_name: 'DDIMScheduler' }, { numpy: 3 as never }), 'options.numpy');
    expectInvalid(() => new DDIMScheduler({}, { torch: 0 as never }), 'new DDIMScheduler', 'options.torch');
  });
});

describe('setTimesteps and step arguments', () => {
  it('validates numInferenceSteps', () => {
    const s = createScheduler({ _class_name: 'DDIMScheduler' });
    expectInvalid(() => s.setTimesteps(0), 'DDIMScheduler.setTimesteps', 'numInferenceSteps');
    expectInvalid(() => s.setTimesteps(2.5), 'numInferenceSteps');
    expectInvalid(() => s.setTimesteps(1001), '1000');
  });

  it('needs setTimesteps before stepping where diffusers does', () => {
    const x = tensor(new Float32Array(18), SHAPE);
    for (const cls of ['DDIMScheduler', 'PNDMScheduler', 'DPMSolverMultistepScheduler'] as const) {
      expectInvalid(() => createScheduler({ _class_name: cls }).step(x, 999, x), `${cls}.step`, 'setTimesteps');
    }
    // Euler, Heun and DDPM step on their default schedule, as in diffusers.
    expect(() => engine.tidy(() => createScheduler({ _class_name: 'EulerDiscreteScheduler' }).step(x, 999, x))).not.toThrow();
    x.dispose();
  });

  it('rejects timesteps outside the schedule', () => {
    const x = tensor(new Float32Array(18), SHAPE);
    const euler = createScheduler({ _class_name: 'EulerDiscreteScheduler', ...SD });
    euler.setTimesteps(10);
    expectInvalid(() => euler.scaleModelInput(x, 900), 'EulerDiscreteScheduler.scaleModelInput', '900', 'scheduler.timesteps');
    const ddim = createScheduler({ _class_name: 'DDIMScheduler' });
    ddim.setTimesteps(10);
    expectInvalid(() => ddim.step(x, 1000.5, x), 'timestep', '[0, 999]');
    expectInvalid(() => ddim.step(x, Number.NaN, x), 'timestep must be a finite number');
    x.dispose();
  });

  it('asks for a generator or noise when a step is stochastic, and checks the noise shape', () => {
    const x = tensor(new Float32Array(18), SHAPE);
    const s = createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler' });
    s.setTimesteps(5);
    expectInvalid(() => s.step(x, s.timesteps[0]!, x), 'EulerAncestralDiscreteScheduler.step', 'options.gen', 'options.noise');
    expect(() => s.step(x, s.timesteps[0]!, x, { noise: tensor(new Float32Array(9), [1, 1, 3, 3]) })).toThrow(ShapeError);
    expectInvalid(() => s.step(x, s.timesteps[0]!, x, { gen: 42 as never }), 'options.gen');
    x.dispose();
  });

  it('needs twice the channels for learned variances', () => {
    const x = tensor(new Float32Array(18), SHAPE);
    const s = createScheduler({ _class_name: 'DDPMScheduler', variance_type: 'learned_range' });
    s.setTimesteps(5);
    expect(() => s.step(x, s.timesteps[0]!, x, { gen: new Generator(1) })).toThrow(/twice the sample's channels/);
    x.dispose();
  });
});

describe('state', () => {
  it('Euler: the step index is found from the first timestep, advances per step, and reset() clears it', () => {
    const s = new EulerDiscreteScheduler(SD);
    s.setTimesteps(10);
    expect(s.stepIndex).toBeNull();
    const x = tensor(new Float32Array(18).fill(1), SHAPE);
    engine.tidy(() => s.scaleModelInput(x, s.timesteps[0]!));
    expect(s.stepIndex).toBe(0);
    engine.tidy(() => s.step(x, s.timesteps[0]!, x));
    expect(s.stepIndex).toBe(1);
    s.reset();
    expect(s.stepIndex).toBeNull();
    x.dispose();
  });

  it('a reset() scheduler repeats a run exactly, for every class', () => {
    for (const cls of SCHEDULER_CLASSES) {
      const s = createScheduler({ _class_name: cls, ...SD, ...(cls === 'PNDMScheduler' ? { skip_prk_steps: true } : {}) });
      const opts = () => ({ gen: new Generator(3) });
      const a = run(s, 8, opts);
      s.reset();
      const b = run(s, 8, opts);
      expect(b, cls).toEqual(a);
    }
  });

  it('Heun alternates predictor and corrector: 2N - 1 timesteps with duplicates', () => {
    const s = new HeunDiscreteScheduler(SD);
    s.setTimesteps(4);
    expect(s.timesteps.length).toBe(7);
    expect(s.timesteps[1]).toBe(s.timesteps[2]);
    expect(s.sigmas!.length).toBe(8);
    const x = tensor(new Float32Array(18).fill(1), SHAPE);
    const live = memory().numTensors;
    expect(s.stateInFirstOrder).toBe(true);
    engine.tidy(() => {
      s.step(x, s.timesteps[0]!, x);
    });
    expect(s.stateInFirstOrder).toBe(false);
    expect(memory().numTensors).toBe(live + 2); // its derivative and its copy of the sample
    s.reset();
    expect(s.stateInFirstOrder).toBe(true);
    expect(memory().numTensors).toBe(live);
    x.dispose();
  });

  it('PLMS repeats its second timestep; PRK adds the 12-evaluation warm-up', () => {
    const plms = createScheduler({ _class_name: 'PNDMScheduler', ...SD, skip_prk_steps: true });
    plms.setTimesteps(10);
    expect([...plms.timesteps.slice(0, 4)]).toEqual([901, 801, 801, 701]);
    expect(plms.timesteps.length).toBe(11);
    const prk = createScheduler({ _class_name: 'PNDMScheduler' });
    prk.setTimesteps(10);
    expect([...prk.timesteps.slice(0, 5)]).toEqual([900, 850, 850, 800, 800]);
    expect(prk.timesteps.length).toBe(19);
  });

  it('DPM-Solver keeps its history as its own copies and frees it on reset / setTimesteps', () => {
    const s = new DPMSolverMultistepScheduler({ ...SD, solver_order: 3 });
    s.setTimesteps(6);
    const live = memory().numTensors;
    let x = tensor(new Float32Array(18).fill(0.5), SHAPE);
    for (const t of s.timesteps.slice(0, 4)) {
      const mo = engine.tidy(() => model(x, t));
      const { prevSample, predOriginalSample } = s.step(mo, t, x);
      // the caller may free everything it got or gave; the scheduler's history is unaffected
      mo.dispose();
      predOriginalSample!.dispose();
      x.dispose();
      x = prevSample;
    }
    expect(memory().numTensors).toBe(live + 1 + 3); // x, and 3 history entries
    s.setTimesteps(6);
    expect(memory().numTensors).toBe(live + 1);
    x.dispose();
  });

  it('DPM-Solver takes the last step for a timestep it does not know, like diffusers', () => {
    const s = new DPMSolverMultistepScheduler(SD);
    s.setTimesteps(10);
    const x = tensor(new Float32Array(18).fill(0.5), SHAPE);
    engine.tidy(() => {
      const out = s.step(x, 12345, x);
      // first-order step to sigma = 0 with a data prediction: x_0 exactly
      expect(read(out.prevSample)).toEqual(read(out.predOriginalSample!));
    });
    expect(s.stepIndex).toBe(10);
    x.dispose();
  });

  it('setBeginIndex starts mid-schedule (img2img); addNoise then uses that index', () => {
    const s = new EulerDiscreteScheduler(SD);
    s.setTimesteps(10);
    s.setBeginIndex(4);
    const x0 = tensor(new Float32Array(18).fill(0.25), SHAPE);
    const noise = tensor(new Float32Array(18).fill(1), SHAPE);
    engine.tidy(() => {
      const noisy = s.addNoise(x0, noise, s.timesteps[4]!);
      expect(read(noisy)[0]).toBeCloseTo(0.25 + s.sigmas![4]!, 5);
      s.scaleModelInput(noisy, 12345); // the index comes from beginIndex, not the timestep
    });
    expect(s.stepIndex).toBe(4);
    expectInvalid(() => s.setBeginIndex(-1), 'setBeginIndex');
    x0.dispose();
    noise.dispose();
  });
});

describe('noise and generators', () => {
  it('ancestral noise is randn(shape, gen): passing the same draws as options.noise gives the same step', () => {
    const s = createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler', ...SD });
    const shared = new Generator(11);
    const a = run(s, 6, () => ({ gen: shared }));
    const replay = new Generator(11);
    const b = run(s, 6, () => ({ noise: randn(SHAPE, replay) }));
    expect(b).toEqual(a);
    const c = run(s, 6, () => ({ gen: new Generator(12) }));
    expect(c).not.toEqual(a);
  });

  it('DDIM draws noise only with eta > 0, DDPM only for t > 0', () => {
    const ddim = createScheduler({ _class_name: 'DDIMScheduler', ...SD });
    const gen = new Generator(5);
    const before = gen.offset;
    run(ddim, 5, () => ({ gen }));
    expect(gen.offset).toBe(before);
    run(ddim, 5, () => ({ gen, eta: 1 }));
    expect(gen.offset).not.toBe(before);
    expectInvalid(() => run(ddim, 5, () => ({ eta: -1 })), 'options.eta');
  });
});

describe('ownership and dtypes', () => {
  it('returns new tensors (the inputs stay the caller’s)', () => {
    const x = tensor(new Float32Array(18).fill(1), SHAPE);
    for (const cls of SCHEDULER_CLASSES) {
      const s = createScheduler({ _class_name: cls, ...SD, ...(cls === 'PNDMScheduler' ? { skip_prk_steps: true } : {}) });
      s.setTimesteps(5);
      const t = s.timesteps[0]!;
      engine.tidy(() => {
        const input = s.scaleModelInput(x, t);
        expect(input, cls).not.toBe(x);
        const out = s.step(x, t, x, { gen: new Generator(1) });
        expect(out.prevSample).not.toBe(x);
        expect(out.predOriginalSample).not.toBe(x);
      });
      s.reset();
      expect(x.isDisposed).toBe(false);
    }
    x.dispose();
  });

  it('works on float64 samples (more precise than diffusers, same to float32 accuracy)', () => {
    const s = createScheduler({ _class_name: 'DPMSolverMultistepScheduler', ...SD });
    s.setTimesteps(8);
    let x32 = engine.keep(engine.tidy(() => randn(SHAPE, new Generator(9))));
    let x64 = engine.keep(engine.tidy(() => cast(x32, 'float64')));
    const s64 = createScheduler({ _class_name: 'DPMSolverMultistepScheduler', ...SD });
    s64.setTimesteps(8);
    for (const t of s.timesteps) {
      const [n32, n64] = engine.tidy(() => [s.step(model(x32, t), t, x32).prevSample, s64.step(model(x64, t), t, x64).prevSample]);
      x32.dispose();
      x64.dispose();
      x32 = engine.keep(n32!);
      x64 = engine.keep(n64!);
    }
    expect(x64.dtype).toBe('float64');
    const a = read(x32);
    const b = read(x64);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(b[i]!)));
    x32.dispose();
    x64.dispose();
  });

  it('addNoise takes one timestep for all, or one per batch entry', () => {
    const s = createScheduler({ _class_name: 'DDIMScheduler' });
    const x0 = tensor(new Float32Array(36).fill(1), [2, 2, 3, 3]);
    const eps = tensor(new Float32Array(36).fill(0), [2, 2, 3, 3]);
    engine.tidy(() => {
      const one = read(s.addNoise(x0, eps, 500));
      const per = read(s.addNoise(x0, eps, [0, 999]));
      const a = s.alphasCumprod;
      expect(one[0]).toBeCloseTo(Math.sqrt(a[500]!), 6);
      expect(one[35]).toBeCloseTo(Math.sqrt(a[500]!), 6);
      expect(per[0]).toBeCloseTo(Math.sqrt(a[0]!), 6);
      expect(per[35]).toBeCloseTo(Math.sqrt(a[999]!), 6);
      expect(() => s.addNoise(x0, eps, [1, 2, 3])).toThrow(ShapeError);
    });
    x0.dispose();
    eps.dispose();
  });
});
