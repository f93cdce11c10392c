// PNDMScheduler (Liu et al. 2022, pseudo numerical methods) as diffusers implements it: PLMS
// (the linear multistep part) and, unless skip_prk_steps, the pseudo Runge-Kutta warm-up.
//
// State (like diffusers): a step counter, the last four noise predictions (`ets`), the sample a
// multi-evaluation step started from, and PRK's running weighted sum. Quirks kept on purpose:
//  - PLMS without PRK holds its second timestep twice ([t0, t1, t1, t2, ...]: N + 1 model
//    evaluations): the call at t0 makes a first-order step to t1, the first call at t1 redoes
//    that step from t0 with the average of both noise predictions, the second call at t1 steps on;
//  - the step size is always num_train_timesteps // numInferenceSteps, whatever the spacing;
//  - PRK (skip_prk_steps false) first runs 3 Runge-Kutta-like steps of 4 evaluations each over
//    the four highest grid timesteps and their half-steps (12 entries of `timesteps`), then PLMS
//    continues from the fourth grid timestep down.

import { InvalidArgumentError } from '../errors/index.js';
import { add, div, mul, sub } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { SchedulerBase, axpby, clone, type SchedulerOptions, type SchedulerStepOptions, type SchedulerStepOutput } from './base.js';
import type { DiffusersSchedulerConfig } from './config.js';
import { f32, npArange, npLinspace, roundHalfEven } from './numerics.js';

export class PNDMScheduler extends SchedulerBase {
  readonly className = 'PNDMScheduler' as const;
  private readonly finalAlphaCumprod: number;
  private readonly pndmOrder = 4;
  private prkTimesteps: number[] = [];
  private counter = 0;
  private ets: Tensor[] = [];
  private curSample: Tensor | null = null;
  private curModelOutput: Tensor | null = null;

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('PNDMScheduler', config, options);
    this.finalAlphaCumprod = this.config['set_alpha_to_one'] ? 1 : this.alphasCumprod[0]!;
    // diffusers leaves `timesteps` as None until set_timesteps.
    this.timesteps = Object.freeze([]);
  }

  get initNoiseSigma(): number {
    return 1;
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.config['num_train_timesteps'] as number;
    this.checkSteps(`${this.className}.setTimesteps`, numInferenceSteps);
    this.numInferenceSteps = numInferenceSteps;
    const N = numInferenceSteps;
    // The base grid, ascending.
    let base: number[];
    switch (this.config['timestep_spacing']) {
      case 'linspace':
        base = npLinspace(0, T - 1, N).map(roundHalfEven);
        break;
      case 'leading': {
        const ratio = Math.floor(T / N);
        base = Array.from({ length: N }, (_, i) => i * ratio + (this.config['steps_offset'] as number));
        break;
      }
      default: // trailing
        base = npArange(T, 0, -T / N).map(roundHalfEven).reverse().map((t) => t - 1);
    }
    let prk: number[];
    let plms: number[];
    if (this.config['skip_prk_steps']) {
      prk = [];
      plms = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
    } else {
      // The last four grid points, each followed by its half-step, then every entry but the
      // very first and last doubled, descending: 12 evaluations (3 RK4-like steps).
      const half = Math.floor(Math.floor(T / N) / 2);
      const last = base.slice(-this.pndmOrder);
      const pairs: number[] = [];
      for (const t of last) pairs.push(t, t + half);
      const trimmed = pairs.slice(0, -1);
      const doubled: number[] = [];
      for (const t of trimmed) doubled.push(t, t);
      prk = doubled.slice(1, -1).reverse();
      plms = base.slice(0, -3).reverse();
    }
    this.prkTimesteps = prk;
    this.timesteps = Object.freeze([...prk, ...plms].map(Math.trunc));
    this.reset();
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    this.checkSample(`${this.className}.scaleModelInput`, 'sample', sample);
    return clone(sample);
  }

  protected clearState(): void {
    this.counter = 0;
    this.ets = [];
    this.curSample = null;
    this.curModelOutput = null;
  }

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, _options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    if (this.numInferenceSteps === null) throw new InvalidArgumentError(`${op}: numInferenceSteps is null; call setTimesteps() first`);
    if (this.counter < this.prkTimesteps.length && !this.config['skip_prk_steps']) return this.stepPrk(op, modelOutput, timestep, sample);
    return this.stepPlms(op, modelOutput, timestep, sample);
  }

  private setCurSample(t: Tensor | null): void {
    if (this.curSample !== t) this.release(this.curSample);
    this.curSample = t;
  }

  private stepPrk(op: string, modelOutput: Tensor, timestep: number, sample: Tensor): SchedulerStepOutput {
    const T = this.config['num_train_timesteps'] as number;
    const N = this.numInferenceSteps!;
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(Math.floor(T / N) / 2);
    const prevTimestep = timestep - diffToPrev;
    const t = this.prkTimesteps[Math.floor(this.counter / 4) * 4]!;
    const acc = (w: number) => {
      const term = mul(modelOutput, w);
      const next = this.curModelOutput ? add(this.curModelOutput, term) : term;
      this.release(this.curModelOutput);
      this.curModelOutput = this.retain(next);
    };
    let eps = modelOutput;
    const phase = this.counter % 4;
    if (phase === 0) {
      acc(1 / 6);
      this.pushEt(modelOutput);
      this.setCurSample(this.retain(clone(sample)));
    } else if (phase === 1 || phase === 2) {
      acc(1 / 3);
    } else {
      const term = mul(modelOutput, 1 / 6);
      eps = this.curModelOutput ? add(this.curModelOutput, term) : term;
      this.release(this.curModelOutput);
      this.curModelOutput = null;
    }
    const from = this.curSample ?? sample;
    const prev = this.prevSample(op, from, t, prevTimestep, eps);
    this.counter++;
    return { prevSample: prev, predOriginalSample: null };
  }

  private stepPlms(op: string, modelOutput: Tensor, timestep: number, sample: Tensor): SchedulerStepOutput {
    if (!this.config['skip_prk_steps'] && this.ets.length < 3) {
      throw new InvalidArgumentError(`${op}: PLMS steps need 12 PRK warm-up steps first (skip_prk_steps is false); run the scheduler over its timesteps in order`);
    }
    const T = this.config['num_train_timesteps'] as number;
    const ratio = Math.floor(T / this.numInferenceSteps!);
    let t = timestep;
    let prevTimestep = timestep - ratio;
    if (this.counter !== 1) {
      while (this.ets.length > 3) this.release(this.ets.shift());
      this.pushEt(modelOutput);
    } else {
      prevTimestep = timestep;
      t = timestep + ratio;
    }
    let eps: Tensor;
    let from = sample;
    const e = this.ets;
    const n = e.length;
    if (n === 1 && this.counter === 0) {
      eps = modelOutput;
      this.setCurSample(this.retain(clone(sample)));
    } else if (n === 1 && this.counter === 1) {
      eps = div(add(modelOutput, e[n - 1]!), 2);
      from = this.curSample ?? sample;
    } else if (n === 2) {
      eps = div(sub(mul(e[n - 1]!, 3), e[n - 2]!), 2);
    } else if (n === 3) {
      eps = div(add(sub(mul(e[n - 1]!, 23), mul(e[n - 2]!, 16)), mul(e[n - 3]!, 5)), 12);
    } else {
      eps = mul(sub(add(sub(mul(e[n - 1]!, 55), mul(e[n - 2]!, 59)), mul(e[n - 3]!, 37)), mul(e[n - 4]!, 9)), 1 / 24);
    }
    const prev = this.prevSample(op, from, t, prevTimestep, eps);
    if (n === 1 && this.counter === 1) this.setCurSample(null);
    this.counter++;
    return { prevSample: prev, predOriginalSample: null };
  }

  private pushEt(modelOutput: Tensor): void {
    this.ets.push(this.retain(clone(modelOutput)));
  }

  /** Formula (9) of the PNDM paper: x_{t - delta} from x_t and the noise estimate. */
  private prevSample(op: string, sample: Tensor, t: number, prevT: number, eps: Tensor): Tensor {
    const aT = this.alphaBarAt(op, t);
    const aPrev = prevT >= 0 ? this.alphaBarAt(op, prevT) : this.finalAlphaCumprod;
    // float32 scalars, as diffusers' 0-d tensors
    const bT = f32(1 - aT);
    const bPrev = f32(1 - aPrev);
    if (this.config['prediction_type'] === 'v_prediction') eps = axpby(f32(Math.sqrt(aT)), eps, f32(Math.sqrt(bT)), sample);
    const sampleCoeff = f32(Math.sqrt(f32(aPrev / aT)));
    const denom = f32(f32(aT * f32(Math.sqrt(bPrev))) + f32(Math.sqrt(f32(f32(aT * bT) * aPrev))));
    return sub(mul(sample, sampleCoeff), div(mul(eps, f32(aPrev - aT)), denom));
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    return this.addNoiseAlphaBar(`${this.className}.addNoise`, original, noise, timesteps);
  }
}
