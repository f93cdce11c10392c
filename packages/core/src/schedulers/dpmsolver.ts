// DPMSolverMultistepScheduler (Lu et al. 2022: DPM-Solver and DPM-Solver++, orders 1-3, ODE and
// SDE variants) as diffusers implements it.
//
// Quirks kept on purpose:
//  - its own spacings: 'linspace' and 'leading' lay out N + 1 points and drop the last (t = 0),
//    'leading' with a step of last_timestep // (N + 1); 'trailing' uses T / N;
//  - timesteps are integers: Karras and Lu ladders round the fractional timesteps (unless
//    beta_schedule is squaredcos_cap_v2), the exponential ladder truncates them, so a ladder can
//    repeat a timestep;
//  - the last step is first order whenever final_sigmas_type is 'zero' (and with
//    lower_order_final for fewer than 15 steps), the one before it second order at most.
// State: the step index, the last `solver_order` converted model outputs (the scheduler's own
// copies) and how many steps have been taken (lower_order_nums).
//
// Scalars (alpha_t, sigma_t, lambda, h and the update coefficients) are 0-d float32 tensors in
// diffusers and are computed in float32 here as well.

import { InvalidArgumentError } from '../errors/index.js';
import { add, div, mul, sub } from '../ops/elementwise.js';
import { sliceAxis } from '../ops/layout.js';
import type { Tensor } from '../tensor/tensor.js';
import { clone, type SchedulerOptions, type SchedulerStepOptions, type SchedulerStepOutput } from './base.js';
import type { DiffusersSchedulerConfig } from './config.js';
import {
  exponentialSigmas,
  f32,
  interpIndex,
  karrasSigmas,
  luLambdas,
  npArange,
  npLinspace,
  roundHalfEven,
  sigmaFromAlphaBar,
  sigmaToT,
} from './numerics.js';
import { SigmaSchedulerBase } from './sigma-base.js';

type Algorithm = 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++' | 'sde-dpmsolver';

/** alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t, lambda = log alpha_t - log sigma_t (float32). */
function alphaSigma(sigma: number): { a: number; s: number; l: number } {
  const a = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const s = f32(sigma * a);
  return { a, s, l: f32(f32(Math.log(a)) - f32(Math.log(s))) };
}

const fexp = (x: number) => f32(Math.exp(x));

export class DPMSolverMultistepScheduler extends SigmaSchedulerBase {
  readonly className = 'DPMSolverMultistepScheduler' as const;
  private modelOutputs: Array<Tensor | null> = [];
  private lowerOrderNums = 0;
  private readonly lambdaT: readonly number[];

  constructor(config: DiffusersSchedulerConfig = {}, options: SchedulerOptions = {}) {
    super('DPMSolverMultistepScheduler', config, options, true);
    this.lambdaT = Object.freeze(
      this.alphasCumprod.map((ac) => f32(f32(Math.log(f32(Math.sqrt(ac)))) - f32(Math.log(f32(Math.sqrt(f32(1 - ac))))))),
    );
    this.sigmas = this.trainSigmas;
    const T = this.alphasCumprod.length;
    this.timesteps = Object.freeze(npLinspace(0, T - 1, T).reverse().map(f32));
    this.clearState();
  }

  get initNoiseSigma(): number {
    return 1;
  }

  private get algorithm(): Algorithm {
    return this.config['algorithm_type'] as Algorithm;
  }

  setTimesteps(numInferenceSteps: number): void {
    const op = `${this.className}.setTimesteps`;
    this.checkSteps(op, numInferenceSteps);
    const c = this.config;
    const T = c['num_train_timesteps'] as number;
    const N = numInferenceSteps;
    // The first timestep whose log-SNR is not below lambda_min_clipped bounds the schedule.
    const flipped = [...this.lambdaT].reverse();
    const minClipped = c['lambda_min_clipped'] as number;
    let clippedIdx = flipped.findIndex((l) => l >= minClipped);
    if (clippedIdx < 0) clippedIdx = flipped.length;
    const last = T - clippedIdx;
    let timesteps: number[];
    switch (c['timestep_spacing']) {
      case 'linspace':
        timesteps = npLinspace(0, last - 1, N + 1).map(roundHalfEven).reverse().slice(0, -1);
        break;
      case 'leading': {
        const ratio = Math.floor(last / (N + 1));
        timesteps = [];
        for (let i = N; i >= 1; i--) timesteps.push(i * ratio + (c['steps_offset'] as number));
        break;
      }
      default: // trailing
        timesteps = npArange(last, 0, -T / N).map((t) => roundHalfEven(t) - 1);
    }
    const train = this.trainSigmas;
    const logTrain = this.logTrainSigmas;
    const roundLadder = c['beta_schedule'] !== 'squaredcos_cap_v2';
    let sigmas: number[];
    if (c['use_karras_sigmas']) {
      sigmas = karrasSigmas(train[0]!, train[train.length - 1]!, N);
      timesteps = sigmas.map((s) => sigmaToT(s, logTrain, this.numpy));
      if (roundLadder) timesteps = timesteps.map(roundHalfEven);
    } else if (c['use_lu_lambdas']) {
      const lambdas = luLambdas(logTrain[0]!, logTrain[logTrain.length - 1]!, N);
      sigmas = lambdas.map(Math.exp);
      timesteps = sigmas.map((s) => sigmaToT(s, logTrain, this.numpy));
      if (roundLadder) timesteps = timesteps.map(roundHalfEven);
    } else if (c['use_exponential_sigmas']) {
      sigmas = exponentialSigmas(train[0]!, train[train.length - 1]!, N);
      timesteps = sigmas.map((s) => sigmaToT(s, logTrain, this.numpy));
    } else {
      sigmas = timesteps.map((t) => interpIndex(t, train));
    }
    const lastSigma = c['final_sigmas_type'] === 'sigma_min' ? sigmaFromAlphaBar(this.alphasCumprod[0]!) : 0;
    this.sigmas = Object.freeze([...sigmas, lastSigma].map(f32));
    // torch's .to(int64) truncates toward zero
    this.timesteps = Object.freeze(timesteps.map(Math.trunc));
    this.numInferenceSteps = timesteps.length;
    this.reset();
  }

  /** diffusers returns the last index for a timestep that is not in the schedule. */
  protected override timestepNotFound(): number {
    return this.timesteps.length - 1;
  }

  protected clearState(): void {
    this.clearSigmaState();
    this.modelOutputs = new Array<Tensor | null>(this.config['solver_order'] as number).fill(null);
    this.lowerOrderNums = 0;
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    this.checkSample(`${this.className}.scaleModelInput`, 'sample', sample);
    return clone(sample);
  }

  /** The solver's working quantity: x0 (dpmsolver++ variants) or epsilon (dpmsolver variants). */
  private convertModelOutput(modelOutput: Tensor, sample: Tensor, sigma: number): Tensor {
    const c = this.config;
    const { a, s } = alphaSigma(sigma);
    const threshold = (x: Tensor) => this.thresholdSample(x, c['dynamic_thresholding_ratio'] as number, c['sample_max_value'] as number);
    if (this.predictsData) {
      const x0 = this.dataPrediction(modelOutput, sample, a, s);
      return c['thresholding'] ? threshold(x0) : x0;
    }
    let eps = this.noisePrediction(modelOutput, sample, a, s);
    if (c['thresholding']) {
      const x0 = threshold(div(sub(sample, mul(eps, s)), a));
      eps = div(sub(sample, mul(x0, a)), s);
    }
    return eps;
  }

  /** x0 from the model output (the dpmsolver++ variants' working quantity). */
  private dataPrediction(modelOutput: Tensor, sample: Tensor, a: number, s: number): Tensor {
    switch (this.config['prediction_type']) {
      case 'epsilon': {
        const eps = this.learnedVariance() ? sliceAxis(modelOutput, 1, 0, 3) : modelOutput;
        return div(sub(sample, mul(eps, s)), a);
      }
      case 'sample':
        return clone(modelOutput);
      default: // v_prediction
        return sub(mul(sample, a), mul(modelOutput, s));
    }
  }

  /** Epsilon from the model output (the dpmsolver variants' working quantity). */
  private noisePrediction(modelOutput: Tensor, sample: Tensor, a: number, s: number): Tensor {
    switch (this.config['prediction_type']) {
      case 'epsilon':
        return this.learnedVariance() ? sliceAxis(modelOutput, 1, 0, 3) : clone(modelOutput);
      case 'sample':
        return div(sub(sample, mul(modelOutput, a)), s);
      default:
        return add(mul(modelOutput, a), mul(sample, s));
    }
  }

  /** The dpmsolver++ variants work on x0, the dpmsolver variants on epsilon. */
  private get predictsData(): boolean {
    return this.algorithm === 'dpmsolver++' || this.algorithm === 'sde-dpmsolver++';
  }

  private learnedVariance(): boolean {
    return this.config['variance_type'] === 'learned' || this.config['variance_type'] === 'learned_range';
  }

  protected override thresholdTarget(modelOutput: Tensor, timestep: number, sample: Tensor): Tensor {
    const op = `${this.className}.stepAsync`;
    if (this.numInferenceSteps === null) throw new InvalidArgumentError(`${op}: numInferenceSteps is null; call setTimesteps() first`);
    // The index step() will use, without setting it.
    const i = this.stepIndexValue ?? this.beginIndexValue ?? this.indexForTimestep(timestep, op);
    const { a, s } = alphaSigma(this.sigmaAt(op, i));
    if (this.predictsData) return this.dataPrediction(modelOutput, sample, a, s);
    return div(sub(sample, mul(this.noisePrediction(modelOutput, sample, a, s), s)), a);
  }

  protected stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): SchedulerStepOutput {
    const op = `${this.className}.step`;
    if (this.numInferenceSteps === null) throw new InvalidArgumentError(`${op}: numInferenceSteps is null; call setTimesteps() first`);
    const c = this.config;
    const order = c['solver_order'] as number;
    const i = this.initStepIndex(op, timestep);
    const n = this.timesteps.length;
    const lowerOrderFinal =
      i === n - 1 && (Boolean(c['euler_at_final']) || (Boolean(c['lower_order_final']) && n < 15) || c['final_sigmas_type'] === 'zero');
    const lowerOrderSecond = i === n - 2 && Boolean(c['lower_order_final']) && n < 15;

    const converted = this.convertModelOutput(modelOutput, sample, this.sigmaAt(op, i));
    this.release(this.modelOutputs[0]);
    for (let k = 0; k < order - 1; k++) this.modelOutputs[k] = this.modelOutputs[k + 1]!;
    this.modelOutputs[order - 1] = this.retain(converted);

    const sde = this.algorithm === 'sde-dpmsolver++' || this.algorithm === 'sde-dpmsolver';
    const noise = sde ? this.drawNoise(op, sample, options) : null;
    let prev: Tensor;
    if (order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) prev = this.firstOrder(op, i, converted, sample, noise);
    else if (order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) prev = this.secondOrder(op, i, sample, noise);
    else prev = this.thirdOrder(op, i, sample, noise);
    if (this.lowerOrderNums < order) this.lowerOrderNums++;
    this.stepIndexValue = i + 1;
    const plusPlus = this.predictsData;
    return { prevSample: prev, predOriginalSample: plusPlus ? clone(converted) : null };
  }

  private firstOrder(op: string, i: number, m: Tensor, sample: Tensor, noise: Tensor | null): Tensor {
    const t = alphaSigma(this.sigmaAt(op, i + 1));
    const s0 = alphaSigma(this.sigmaAt(op, i));
    const h = f32(t.l - s0.l);
    switch (this.algorithm) {
      case 'dpmsolver++':
        return sub(mul(sample, f32(t.s / s0.s)), mul(m, f32(t.a * f32(fexp(-h) - 1))));
      case 'dpmsolver':
        return sub(mul(sample, f32(t.a / s0.a)), mul(m, f32(t.s * f32(fexp(h) - 1))));
      case 'sde-dpmsolver++': {
        const e2 = fexp(f32(-2 * h));
        return add(
          add(mul(sample, f32(f32(t.s / s0.s) * fexp(-h))), mul(m, f32(t.a * f32(1 - e2)))),
          mul(noise!, f32(t.s * f32(Math.sqrt(f32(1 - e2))))),
        );
      }
      case 'sde-dpmsolver':
        return add(
          sub(mul(sample, f32(t.a / s0.a)), mul(m, f32(2 * f32(t.s * f32(fexp(h) - 1))))),
          mul(noise!, f32(t.s * f32(Math.sqrt(f32(fexp(f32(2 * h)) - 1))))),
        );
    }
  }

  private secondOrder(op: string, i: number, sample: Tensor, noise: Tensor | null): Tensor {
    const t = alphaSigma(this.sigmaAt(op, i + 1));
    const s0 = alphaSigma(this.sigmaAt(op, i));
    const s1 = alphaSigma(this.sigmaAt(op, i - 1));
    const outs = this.modelOutputs;
    const m0 = outs[outs.length - 1]!;
    const m1 = outs[outs.length - 2]!;
    const h = f32(t.l - s0.l);
    const h0 = f32(s0.l - s1.l);
    const r0 = f32(h0 / h);
    const D0 = m0;
    const D1 = mul(sub(m0, m1), f32(1 / r0));
    const heun = this.config['solver_type'] === 'heun';
    switch (this.algorithm) {
      case 'dpmsolver++': {
        const base = sub(mul(sample, f32(t.s / s0.s)), mul(D0, f32(t.a * f32(fexp(-h) - 1))));
        if (heun) return add(base, mul(D1, f32(t.a * f32(f32(f32(fexp(-h) - 1) / h) + 1))));
        return sub(base, mul(D1, f32(0.5 * f32(t.a * f32(fexp(-h) - 1)))));
      }
      case 'dpmsolver': {
        const base = sub(mul(sample, f32(t.a / s0.a)), mul(D0, f32(t.s * f32(fexp(h) - 1))));
        if (heun) return sub(base, mul(D1, f32(t.s * f32(f32(f32(fexp(h) - 1) / h) - 1))));
        return sub(base, mul(D1, f32(0.5 * f32(t.s * f32(fexp(h) - 1)))));
      }
      case 'sde-dpmsolver++': {
        const e2 = fexp(f32(-2 * h));
        const base = add(mul(sample, f32(f32(t.s / s0.s) * fexp(-h))), mul(D0, f32(t.a * f32(1 - e2))));
        const d1 = heun ? f32(t.a * f32(f32(f32(1 - e2) / f32(-2 * h)) + 1)) : f32(0.5 * f32(t.a * f32(1 - e2)));
        return add(add(base, mul(D1, d1)), mul(noise!, f32(t.s * f32(Math.sqrt(f32(1 - e2))))));
      }
      case 'sde-dpmsolver': {
        const base = sub(mul(sample, f32(t.a / s0.a)), mul(D0, f32(2 * f32(t.s * f32(fexp(h) - 1)))));
        const d1 = heun ? f32(2 * f32(t.s * f32(f32(f32(fexp(h) - 1) / h) - 1))) : f32(t.s * f32(fexp(h) - 1));
        return add(sub(base, mul(D1, d1)), mul(noise!, f32(t.s * f32(Math.sqrt(f32(fexp(f32(2 * h)) - 1))))));
      }
    }
  }

  private thirdOrder(op: string, i: number, sample: Tensor, noise: Tensor | null): Tensor {
    const t = alphaSigma(this.sigmaAt(op, i + 1));
    const s0 = alphaSigma(this.sigmaAt(op, i));
    const s1 = alphaSigma(this.sigmaAt(op, i - 1));
    const s2 = alphaSigma(this.sigmaAt(op, i - 2));
    const outs = this.modelOutputs;
    const m0 = outs[outs.length - 1]!;
    const m1 = outs[outs.length - 2]!;
    const m2 = outs[outs.length - 3]!;
    const h = f32(t.l - s0.l);
    const h0 = f32(s0.l - s1.l);
    const h1 = f32(s1.l - s2.l);
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const D0 = m0;
    const D10 = mul(sub(m0, m1), f32(1 / r0));
    const D11 = mul(sub(m1, m2), f32(1 / r1));
    const diff = sub(D10, D11);
    const D1 = add(D10, mul(diff, f32(r0 / f32(r0 + r1))));
    const D2 = mul(diff, f32(1 / f32(r0 + r1)));
    const h2 = f32(h * h);
    switch (this.algorithm) {
      case 'dpmsolver++': {
        const em = f32(fexp(-h) - 1);
        return sub(
          add(sub(mul(sample, f32(t.s / s0.s)), mul(D0, f32(t.a * em))), mul(D1, f32(t.a * f32(f32(em / h) + 1)))),
          mul(D2, f32(t.a * f32(f32(f32(em + h) / h2) - 0.5))),
        );
      }
      case 'dpmsolver': {
        const ep = f32(fexp(h) - 1);
        return sub(
          sub(sub(mul(sample, f32(t.a / s0.a)), mul(D0, f32(t.s * ep))), mul(D1, f32(t.s * f32(f32(ep / h) - 1)))),
          mul(D2, f32(t.s * f32(f32(f32(ep - h) / h2) - 0.5))),
        );
      }
      default: {
        // sde-dpmsolver++ (sde-dpmsolver with order 3 is rejected at construction)
        const e2 = fexp(f32(-2 * h));
        const one = f32(1 - e2);
        const twoH = f32(2 * h);
        return add(
          add(
            add(add(mul(sample, f32(f32(t.s / s0.s) * fexp(-h))), mul(D0, f32(t.a * one))), mul(D1, f32(t.a * f32(f32(one / f32(-2 * h)) + 1)))),
            mul(D2, f32(t.a * f32(f32(f32(one - twoH) / f32(twoH * twoH)) - 0.5))),
          ),
          mul(noise!, f32(t.s * f32(Math.sqrt(one)))),
        );
      }
    }
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    const op = `${this.className}.addNoise`;
    const list = this.timestepList(op, timesteps, original, noise);
    const idx = this.addNoiseIndices(op, list);
    const as = idx.map((i) => alphaSigma(this.sigmaAt(op, i)));
    return add(mul(original, this.coefficientTensor(as.map((v) => v.a), original)), mul(noise, this.coefficientTensor(as.map((v) => v.s), original)));
  }
}
