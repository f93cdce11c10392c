// DDIMScheduler (Song, Meng & Ermon 2021) as diffusers implements it. Stateless between steps:
// the previous timestep is always `timestep - num_train_timesteps // numInferenceSteps`, even for
// 'trailing' and 'linspace' spacings whose real gaps differ (a diffusers quirk kept on purpose).

import { InvalidArgumentError, describe } from '../errors/index.js';
import { clip, div, mul, sub, add } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { SchedulerBase, axpby, clone, type SchedulerOptions, type SchedulerStepOptions, type SchedulerStepOutput } from './base.js';
import type { DiffusersSchedulerConfig } from './config.js';
import { type Spacing, f32, spacedTimesteps } from './numerics.js';

export class DDIMScheduler extends SchedulerBase {
  readonly className = 'DDIMScheduler' as const;
  private readonly finalAlphaCumprod: number;

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('DDIMScheduler', config, options);
    this.finalAlphaCumprod = this.config['set_alpha_to_one'] ? 1 : this.alphasCumprod[0]!;
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
    const spacing = this.config['timestep_spacing'] as Spacing;
    this.timesteps = Object.freeze(spacedTimesteps(spacing, T, numInferenceSteps, this.config['steps_offset'] as number, true));
    this.reset();
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    this.checkSample(`${this.className}.scaleModelInput`, 'sample', sample);
    return clone(sample);
  }

  protected clearState(): void {}

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    if (this.numInferenceSteps === null) throw new InvalidArgumentError(`${op}: numInferenceSteps is null; call setTimesteps() first`);
    const eta = options.eta ?? 0;
    if (typeof eta !== 'number' || !(eta >= 0)) throw new InvalidArgumentError(`${op}: options.eta must be a number >= 0, got ${describe(eta)}`);
    const c = this.config;
    const T = c['num_train_timesteps'] as number;
    const prevT = timestep - Math.floor(T / this.numInferenceSteps);
    const aT = this.alphaBarAt(op, timestep);
    const aPrev = prevT >= 0 ? this.alphaBarAt(op, prevT) : this.finalAlphaCumprod;
    const bT = f32(1 - aT);
    const { x0: predicted, eps: predictedEps, sqrtA, sqrtB } = this.predict(op, modelOutput, timestep, sample);
    let x0 = predicted;
    let eps = predictedEps;
    if (c['thresholding']) x0 = this.thresholdSample(x0, c['dynamic_thresholding_ratio'] as number, c['sample_max_value'] as number);
    else if (c['clip_sample']) x0 = clip(x0, -(c['clip_sample_range'] as number), c['clip_sample_range'] as number);

    // sigma_t(eta) of DDIM eq. (16)
    const variance = f32(f32(f32(1 - aPrev) / bT) * f32(1 - f32(aT / aPrev)));
    const std = f32(f32(eta) * f32(Math.sqrt(variance)));
    if (options.useClippedModelOutput) eps = div(sub(sample, mul(x0, sqrtA)), sqrtB);
    const direction = mul(eps, f32(Math.sqrt(f32(f32(1 - aPrev) - f32(std * std)))));
    let prev = add(mul(x0, f32(Math.sqrt(aPrev))), direction);
    if (eta > 0) prev = add(prev, mul(this.drawNoise(op, sample, options), std));
    return { prevSample: prev, predOriginalSample: x0 === modelOutput ? clone(x0) : x0 };
  }

  /** x0 and epsilon from the model output at `timestep`, before thresholding or clipping. */
  private predict(op: string, modelOutput: Tensor, timestep: number, sample: Tensor): { x0: Tensor; eps: Tensor; sqrtA: number; sqrtB: number } {
    const aT = this.alphaBarAt(op, timestep);
    // diffusers holds these scalars in 0-d float32 tensors: so do we (f32 after every operation).
    const bT = f32(1 - aT);
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(bT));
    switch (this.config['prediction_type']) {
      case 'epsilon':
        return { x0: div(sub(sample, mul(modelOutput, sqrtB)), sqrtA), eps: modelOutput, sqrtA, sqrtB };
      case 'sample':
        return { x0: modelOutput, eps: div(sub(sample, mul(modelOutput, sqrtA)), sqrtB), sqrtA, sqrtB };
      default: // v_prediction
        return { x0: axpby(sqrtA, sample, -sqrtB, modelOutput), eps: axpby(sqrtA, modelOutput, sqrtB, sample), sqrtA, sqrtB };
    }
  }

  protected override thresholdTarget(modelOutput: Tensor, timestep: number, sample: Tensor): Tensor {
    return this.predict(`${this.className}.stepAsync`, modelOutput, timestep, sample).x0;
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    return this.addNoiseAlphaBar(`${this.className}.addNoise`, original, noise, timesteps);
  }
}
