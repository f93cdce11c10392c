// DDPMScheduler (Ho et al. 2020 ancestral sampling, with Nichol & Dhariwal's learned variances)
// as diffusers implements it. Stateless between steps; the previous timestep is the next entry
// of `timesteps` after setTimesteps, or t - 1 before it. Every step with t > 0 adds noise.
// variance_type 'learned' / 'learned_range' expect a model output with twice the sample's
// channels: [noise prediction, variance prediction] along axis 1.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { add, clip, div, exp, mul, sqrt, sub } from '../ops/elementwise.js';
import { sliceAxis } from '../ops/layout.js';
import type { Tensor } from '../tensor/tensor.js';
import { SchedulerBase, axpby, clone, type SchedulerOptions, type SchedulerStepOptions, type SchedulerStepOutput } from './base.js';
import type { DiffusersSchedulerConfig } from './config.js';
import { type Spacing, f32, spacedTimesteps } from './numerics.js';

export class DDPMScheduler extends SchedulerBase {
  readonly className = 'DDPMScheduler' as const;

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('DDPMScheduler', config, options);
    const T = this.alphasCumprod.length;
    this.timesteps = Object.freeze(Array.from({ length: T }, (_, i) => T - 1 - i));
  }

  get initNoiseSigma(): number {
    return 1;
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.config['num_train_timesteps'] as number;
    this.checkSteps(`${this.className}.setTimesteps`, numInferenceSteps, T);
    this.numInferenceSteps = numInferenceSteps;
    this.timesteps = Object.freeze(
      spacedTimesteps(this.config['timestep_spacing'] as Spacing, T, numInferenceSteps, this.config['steps_offset'] as number, true),
    );
    this.reset();
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    this.checkSample(`${this.className}.scaleModelInput`, 'sample', sample);
    return clone(sample);
  }

  protected clearState(): void {}

  /** diffusers' previous_timestep. */
  previousTimestep(timestep: number, op = `${this.className}.previousTimestep`): number {
    if (this.numInferenceSteps === null) return timestep - 1;
    const i = this.timesteps.indexOf(timestep);
    if (i < 0) throw new InvalidArgumentError(`${op}: timestep ${describe(timestep)} is not one of scheduler.timesteps; pass an entry of scheduler.timesteps`);
    return i === this.timesteps.length - 1 ? -1 : this.timesteps[i + 1]!;
  }

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    const c = this.config;
    const varianceType = c['variance_type'] as string;
    const prevT = this.previousTimestep(timestep, op);
    const split = this.splitOutput(op, modelOutput, sample);
    const predictedVariance = split.variance;
    modelOutput = split.output;
    const aT = this.alphaBarAt(op, timestep);
    const aPrev = prevT >= 0 ? this.alphaBarAt(op, prevT) : 1;
    const bT = f32(1 - aT);
    const bPrev = f32(1 - aPrev);
    const curAlpha = f32(aT / aPrev);
    const curBeta = f32(1 - curAlpha);

    let x0 = this.predictX0(op, modelOutput, timestep, sample);
    if (c['thresholding']) x0 = this.thresholdSample(x0, c['dynamic_thresholding_ratio'] as number, c['sample_max_value'] as number);
    else if (c['clip_sample']) x0 = clip(x0, -(c['clip_sample_range'] as number), c['clip_sample_range'] as number);

    const x0Coeff = f32(f32(f32(Math.sqrt(aPrev)) * curBeta) / bT);
    const sampleCoeff = f32(f32(f32(Math.sqrt(curAlpha)) * bPrev) / bT);
    let prev = axpby(x0Coeff, x0, sampleCoeff, sample);
    if (timestep > 0) {
      const noise = this.drawNoise(op, sample, options);
      // Posterior variance (1 - abar_prev) / (1 - abar_t) * beta_t, clamped away from 0.
      const variance = Math.max(f32(f32(f32(1 - aPrev) / f32(1 - aT)) * curBeta), f32(1e-20));
      let term: Tensor;
      switch (varianceType) {
        case 'fixed_small':
          term = mul(noise, f32(Math.sqrt(variance)));
          break;
        case 'fixed_small_log':
          term = mul(noise, f32(Math.exp(f32(0.5 * f32(Math.log(variance))))));
          break;
        case 'fixed_large':
          term = mul(noise, f32(Math.sqrt(curBeta)));
          break;
        case 'learned':
          term = mul(sqrt(predictedVariance!), noise);
          break;
        default: {
          // learned_range: interpolate log-variance between the posterior's and beta_t
          const minLog = f32(Math.log(variance));
          const maxLog = f32(Math.log(curBeta));
          const frac = div(add(predictedVariance!, 1), 2);
          const logVar = add(mul(frac, maxLog), mul(sub(1, frac), minLog));
          term = mul(exp(mul(logVar, 0.5)), noise);
        }
      }
      prev = add(prev, term);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** The noise (or x0, v) prediction and, with a learned variance, the variance prediction. */
  private splitOutput(op: string, modelOutput: Tensor, sample: Tensor): { output: Tensor; variance: Tensor | null } {
    const varianceType = this.config['variance_type'] as string;
    if (varianceType !== 'learned' && varianceType !== 'learned_range') return { output: modelOutput, variance: null };
    const channels = sample.shape[1];
    if (channels === undefined || modelOutput.shape[1] !== channels * 2) {
      throw new ShapeError(
        `${op}: variance_type '${varianceType}' needs a model output with twice the sample's channels (${describe(channels)} * 2 on axis 1), got shape ${describe(modelOutput.shape)}`,
      );
    }
    return { output: sliceAxis(modelOutput, 1, 0, channels), variance: sliceAxis(modelOutput, 1, channels, 2 * channels) };
  }

  /** x0 predicted from the (split) model output at `timestep`, before thresholding or clipping. */
  private predictX0(op: string, modelOutput: Tensor, timestep: number, sample: Tensor): Tensor {
    const aT = this.alphaBarAt(op, timestep);
    const bT = f32(1 - aT);
    switch (this.config['prediction_type']) {
      case 'epsilon':
        return div(sub(sample, mul(modelOutput, f32(Math.sqrt(bT)))), f32(Math.sqrt(aT)));
      case 'sample':
        return clone(modelOutput);
      default: // v_prediction
        return sub(mul(sample, f32(Math.sqrt(aT))), mul(modelOutput, f32(Math.sqrt(bT))));
    }
  }

  protected override thresholdTarget(modelOutput: Tensor, timestep: number, sample: Tensor): Tensor {
    const op = `${this.className}.stepAsync`;
    return this.predictX0(op, this.splitOutput(op, modelOutput, sample).output, timestep, sample);
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    return this.addNoiseAlphaBar(`${this.className}.addNoise`, original, noise, timesteps);
  }
}
