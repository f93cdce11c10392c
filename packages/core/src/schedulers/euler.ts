// EulerDiscreteScheduler and EulerAncestralDiscreteScheduler (k-diffusion's Euler and Euler
// ancestral samplers in diffusers' timestep vocabulary), and the sigma-ladder construction they
// share with HeunDiscreteScheduler.
//
// Scalars that diffusers computes as 0-d float32 tensors (sigma, sigma_hat, the v-prediction and
// input-scaling coefficients, sigma_up / sigma_down) are computed here in float32 as well
// (Math.fround after every operation), so the per-step numbers agree to the last bit or two.
// State: the step index only (see sigma-base.ts).

import { InvalidArgumentError, describe } from '../errors/index.js';
import { add, div, mul, sub } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { clone, type SchedulerOptions, type SchedulerStepOptions, type SchedulerStepOutput } from './base.js';
import type { DiffusersSchedulerConfig } from './config.js';
import {
  type Spacing,
  exponentialSigmas,
  f32,
  interpIndex,
  karrasSigmas,
  npLogF32,
  npArange,
  npLinspace,
  roundHalfEven,
  sigmaFromAlphaBar,
  sigmaToT,
  torchLinspace32,
} from './numerics.js';
import { SigmaSchedulerBase } from './sigma-base.js';

/** The float32 timesteps of Euler / Euler ancestral / Heun for a spacing (descending). */
export function eulerTimesteps(spacing: Spacing, T: number, N: number, stepsOffset: number): number[] {
  switch (spacing) {
    case 'linspace':
      return npLinspace(0, T - 1, N).reverse().map(f32);
    case 'leading': {
      const ratio = Math.floor(T / N);
      const ts: number[] = [];
      for (let i = N - 1; i >= 0; i--) ts.push(f32(f32(i * ratio) + stepsOffset));
      return ts;
    }
    case 'trailing':
      return npArange(T, 0, -T / N).map((t) => f32(f32(roundHalfEven(t)) - 1));
  }
}

export interface LadderOptions {
  interpolation: 'linear' | 'log_linear';
  ladder: 'none' | 'karras' | 'exponential';
  sigmaMin: number | null;
  sigmaMax: number | null;
  numpy: 1 | 2;
  torch: 1 | 2;
}

/**
 * Sigmas (float64, one per timestep; log_linear gives one more, as in diffusers) and the
 * timesteps they imply, before the final sigma is appended.
 */
export function eulerLadder(
  timesteps: number[],
  trainSigmas: readonly number[],
  logTrainSigmas: readonly number[],
  N: number,
  o: LadderOptions,
): { sigmas: number[]; timesteps: number[] } {
  let sigmas =
    o.interpolation === 'linear'
      ? timesteps.map((t) => interpIndex(t, trainSigmas))
      : // torch.linspace(np.log(sigmas[-1]), np.log(sigmas[0]), N + 1).exp(): over the whole
        // training table, so N + 1 sigmas for N timesteps (a diffusers quirk, kept)
        torchLinspace32(npLogF32(trainSigmas[trainSigmas.length - 1]!), npLogF32(trainSigmas[0]!), N + 1, o.torch).map((v) => f32(Math.exp(v)));
  let ts = timesteps;
  if (o.ladder !== 'none') {
    const lo = o.sigmaMin ?? sigmas[sigmas.length - 1]!;
    const hi = o.sigmaMax ?? sigmas[0]!;
    sigmas = o.ladder === 'karras' ? karrasSigmas(lo, hi, N) : exponentialSigmas(lo, hi, N);
    ts = sigmas.map((s) => sigmaToT(s, logTrainSigmas, o.numpy));
  }
  return { sigmas, timesteps: ts };
}

abstract class EulerLikeBase extends SigmaSchedulerBase {
  get initNoiseSigma(): number {
    let max = -Infinity;
    for (const s of this.sigmas!) if (s > max) max = s;
    const spacing = this.config['timestep_spacing'];
    if (spacing === 'linspace' || spacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  /** sample / sqrt(sigma^2 + 1) at the current step index. */
  scaleModelInput(sample: Tensor, timestep: number): Tensor {
    const op = `${this.className}.scaleModelInput`;
    this.checkSample(op, 'sample', sample);
    this.checkTimestep(op, timestep);
    const i = this.initStepIndex(op, timestep);
    const sigma = this.sigmaAt(op, i);
    return div(sample, f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  }

  /** x0 from the model output at noise level `sigma` (float32 scalar arithmetic as diffusers). */
  protected predictX0(modelOutput: Tensor, sample: Tensor, sigmaInput: number): Tensor {
    switch (this.config['prediction_type']) {
      case 'epsilon':
        return sub(sample, mul(modelOutput, sigmaInput));
      case 'v_prediction': {
        const s2p1 = f32(f32(sigmaInput * sigmaInput) + 1);
        return add(mul(modelOutput, f32(-sigmaInput / f32(Math.sqrt(s2p1)))), div(sample, s2p1));
      }
      default: // sample / original_sample
        return clone(modelOutput);
    }
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    const op = `${this.className}.addNoise`;
    const list = this.timestepList(op, timesteps, original, noise);
    const idx = this.addNoiseIndices(op, list);
    const sig = idx.map((i) => this.sigmaAt(op, i));
    return add(original, mul(noise, this.coefficientTensor(sig, original)));
  }
}

export class EulerDiscreteScheduler extends EulerLikeBase {
  readonly className = 'EulerDiscreteScheduler' as const;

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('EulerDiscreteScheduler', config, options, true);
    const T = this.alphasCumprod.length;
    const flipped = [...this.trainSigmas].reverse();
    this.sigmas = Object.freeze([...flipped, 0]);
    this.timesteps = Object.freeze(
      this.continuousV() ? flipped.map((s) => f32(0.25 * f32(Math.log(s)))) : npLinspace(0, T - 1, T).reverse().map(f32),
    );
  }

  private continuousV(): boolean {
    return this.config['timestep_type'] === 'continuous' && this.config['prediction_type'] === 'v_prediction';
  }

  setTimesteps(numInferenceSteps: number): void {
    const op = `${this.className}.setTimesteps`;
    this.checkSteps(op, numInferenceSteps);
    const c = this.config;
    const T = c['num_train_timesteps'] as number;
    const N = numInferenceSteps;
    this.numInferenceSteps = N;
    const base = eulerTimesteps(c['timestep_spacing'] as Spacing, T, N, c['steps_offset'] as number);
    const ladder = eulerLadder(base, this.trainSigmas, this.logTrainSigmas, N, {
      interpolation: c['interpolation_type'] as 'linear' | 'log_linear',
      ladder: c['use_karras_sigmas'] ? 'karras' : c['use_exponential_sigmas'] ? 'exponential' : 'none',
      sigmaMin: c['sigma_min'] as number | null,
      sigmaMax: c['sigma_max'] as number | null,
      numpy: this.numpy,
      torch: this.torch,
    });
    const last = c['final_sigmas_type'] === 'sigma_min' ? sigmaFromAlphaBar(this.alphasCumprod[0]!) : 0;
    const sigmas = [...ladder.sigmas, last].map(f32);
    this.sigmas = Object.freeze(sigmas);
    this.timesteps = Object.freeze(
      this.continuousV() ? sigmas.slice(0, -1).map((s) => f32(0.25 * f32(Math.log(s)))) : ladder.timesteps.map(f32),
    );
    this.reset();
  }

  protected clearState(): void {
    this.clearSigmaState();
  }

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    const sChurn = options.sChurn ?? 0;
    const sTmin = options.sTmin ?? 0;
    const sTmax = options.sTmax ?? Infinity;
    const sNoise = options.sNoise ?? 1;
    for (const [k, v] of [['sChurn', sChurn], ['sTmin', sTmin], ['sTmax', sTmax], ['sNoise', sNoise]] as const) {
      if (typeof v !== 'number' || Number.isNaN(v)) throw new InvalidArgumentError(`${op}: options.${k} must be a number, got ${describe(v)}`);
    }
    const i = this.initStepIndex(op, timestep);
    const sigma = this.sigmaAt(op, i);
    const sigmaNext = this.sigmaAt(op, i + 1);
    const gamma = sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / (this.sigmas!.length - 1), 2 ** 0.5 - 1) : 0;
    const sigmaHat = f32(sigma * f32(gamma + 1));
    let x = sample;
    if (gamma > 0) {
      const eps = mul(this.drawNoise(op, sample, options), sNoise);
      x = add(x, mul(eps, f32(Math.sqrt(f32(f32(sigmaHat * sigmaHat) - f32(sigma * sigma))))));
    }
    const x0 = this.predictX0(modelOutput, x, this.config['prediction_type'] === 'epsilon' ? sigmaHat : sigma);
    const derivative = div(sub(x, x0), sigmaHat);
    const dt = f32(sigmaNext - sigmaHat);
    const prev = add(x, mul(derivative, dt));
    this.stepIndexValue = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

export class EulerAncestralDiscreteScheduler extends EulerLikeBase {
  readonly className = 'EulerAncestralDiscreteScheduler' as const;

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('EulerAncestralDiscreteScheduler', config, options, true);
    const T = this.alphasCumprod.length;
    this.sigmas = Object.freeze([...[...this.trainSigmas].reverse(), 0]);
    this.timesteps = Object.freeze(npLinspace(0, T - 1, T).reverse());
  }

  setTimesteps(numInferenceSteps: number): void {
    const op = `${this.className}.setTimesteps`;
    this.checkSteps(op, numInferenceSteps);
    const c = this.config;
    const N = numInferenceSteps;
    this.numInferenceSteps = N;
    const ts = eulerTimesteps(c['timestep_spacing'] as Spacing, c['num_train_timesteps'] as number, N, c['steps_offset'] as number);
    this.sigmas = Object.freeze([...ts.map((t) => interpIndex(t, this.trainSigmas)), 0].map(f32));
    this.timesteps = Object.freeze(ts);
    this.reset();
  }

  protected clearState(): void {
    this.clearSigmaState();
  }

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    const i = this.initStepIndex(op, timestep);
    const sigma = this.sigmaAt(op, i);
    const sigmaTo = this.sigmaAt(op, i + 1);
    const x0 = this.predictX0(modelOutput, sample, sigma);
    const to2 = f32(sigmaTo * sigmaTo);
    const from2 = f32(sigma * sigma);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const derivative = div(sub(sample, x0), sigma);
    const dt = f32(sigmaDown - sigma);
    let prev = add(sample, mul(derivative, dt));
    // diffusers draws noise on every step, the last one (sigma_up = 0) included.
    prev = add(prev, mul(this.drawNoise(op, sample, options), sigmaUp));
    this.stepIndexValue = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

