// HeunDiscreteScheduler (Karras et al. 2022, algorithm 1 without churn) as diffusers implements
// it. Every timestep after the first appears twice in `timesteps` and every sigma between the
// first and the last twice in `sigmas`: 2N - 1 model evaluations for N steps. Even entries are
// Euler predictor half-steps, odd entries the trapezoidal corrector; the very last entry is a
// plain Euler step to sigma = 0 (no corrector), as in diffusers.
//
// State: the step index, and between a predictor and its corrector the predictor's derivative,
// step size and starting sample (the scheduler's own copy).

import { add, clip, div, mul, sub } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { clone, type SchedulerOptions, type SchedulerStepOptions, type SchedulerStepOutput } from './base.js';
import type { DiffusersSchedulerConfig } from './config.js';
import { type Spacing, f32 } from './numerics.js';
import { eulerLadder, eulerTimesteps } from './euler.js';
import { SigmaSchedulerBase } from './sigma-base.js';

export class HeunDiscreteScheduler extends SigmaSchedulerBase {
  readonly className = 'HeunDiscreteScheduler' as const;
  override order = 2;
  private prevDerivative: Tensor | null = null;
  private dt: number | null = null;
  private firstSample: Tensor | null = null;

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('HeunDiscreteScheduler', config, options, false);
    // diffusers' constructor runs set_timesteps(num_train_timesteps).
    this.setTimesteps(this.config['num_train_timesteps'] as number);
  }

  get initNoiseSigma(): number {
    let max = -Infinity;
    for (const s of this.sigmas!) if (s > max) max = s;
    const spacing = this.config['timestep_spacing'];
    if (spacing === 'linspace' || spacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  /** True between a corrector and the next predictor (diffusers' state_in_first_order). */
  get stateInFirstOrder(): boolean {
    return this.dt === null;
  }

  setTimesteps(numInferenceSteps: number): void {
    const op = `${this.className}.setTimesteps`;
    this.checkSteps(op, numInferenceSteps);
    const c = this.config;
    const N = numInferenceSteps;
    this.numInferenceSteps = N;
    const base = eulerTimesteps(c['timestep_spacing'] as Spacing, c['num_train_timesteps'] as number, N, c['steps_offset'] as number);
    const ladder = eulerLadder(base, this.trainSigmas, this.logTrainSigmas, N, {
      interpolation: 'linear',
      ladder: c['use_karras_sigmas'] ? 'karras' : c['use_exponential_sigmas'] ? 'exponential' : 'none',
      sigmaMin: null, // Heun's config has no sigma_min / sigma_max: the ends come from the schedule
      sigmaMax: null,
      numpy: this.numpy,
      torch: this.torch,
    });
    const s = [...ladder.sigmas, 0].map(f32);
    const sigmas = [s[0]!];
    for (let i = 1; i < s.length - 1; i++) sigmas.push(s[i]!, s[i]!);
    sigmas.push(s[s.length - 1]!);
    const t = ladder.timesteps.map(f32);
    const timesteps = [t[0]!];
    for (let i = 1; i < t.length; i++) timesteps.push(t[i]!, t[i]!);
    this.sigmas = Object.freeze(sigmas);
    this.timesteps = Object.freeze(timesteps);
    this.reset();
  }

  protected clearState(): void {
    this.clearSigmaState();
    this.prevDerivative = null;
    this.dt = null;
    this.firstSample = null;
  }

  scaleModelInput(sample: Tensor, timestep: number): Tensor {
    const op = `${this.className}.scaleModelInput`;
    this.checkSample(op, 'sample', sample);
    this.checkTimestep(op, timestep);
    const sigma = this.sigmaAt(op, this.initStepIndex(op, timestep));
    return div(sample, f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  }

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, _options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    const i = this.initStepIndex(op, timestep);
    const first = this.stateInFirstOrder;
    const sigma = first ? this.sigmaAt(op, i) : this.sigmaAt(op, i - 1);
    const sigmaNext = first ? this.sigmaAt(op, i + 1) : this.sigmaAt(op, i);
    const sigmaHat = sigma; // gamma = 0
    const sigmaInput = first ? sigmaHat : sigmaNext;
    let x0: Tensor;
    switch (this.config['prediction_type']) {
      case 'epsilon':
        x0 = sub(sample, mul(modelOutput, sigmaInput));
        break;
      case 'v_prediction': {
        const s2p1 = f32(f32(sigmaInput * sigmaInput) + 1);
        x0 = add(mul(modelOutput, f32(-sigmaInput / f32(Math.sqrt(s2p1)))), div(sample, s2p1));
        break;
      }
      default:
        x0 = clone(modelOutput);
    }
    if (this.config['clip_sample']) {
      const r = this.config['clip_sample_range'] as number;
      x0 = clip(x0, -r, r);
    }
    let prev: Tensor;
    if (first) {
      const derivative = div(sub(sample, x0), sigmaHat);
      const dt = f32(sigmaNext - sigmaHat);
      this.release(this.prevDerivative);
      this.release(this.firstSample);
      this.prevDerivative = this.retain(derivative);
      this.dt = dt;
      this.firstSample = this.retain(clone(sample));
      prev = add(sample, mul(derivative, dt));
    } else {
      const d2 = div(sub(sample, x0), sigmaNext);
      const derivative = div(add(this.prevDerivative!, d2), 2);
      prev = add(this.firstSample!, mul(derivative, this.dt!));
      this.release(this.prevDerivative);
      this.release(this.firstSample);
      this.prevDerivative = null;
      this.firstSample = null;
      this.dt = null;
    }
    this.stepIndexValue = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    const op = `${this.className}.addNoise`;
    const list = this.timestepList(op, timesteps, original, noise);
    const sig = this.addNoiseIndices(op, list).map((i) => this.sigmaAt(op, i));
    return add(original, mul(noise, this.coefficientTensor(sig, original)));
  }
}
