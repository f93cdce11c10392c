// Timestep samplers for diffusion training: uniform, and improved DDPM's importance sampler
// (Nichol & Dhariwal 2021, improved_diffusion/resample.py, LossSecondMomentResampler). The
// importance sampler draws t with probability p_t ∝ sqrt(E[L_t^2]) (the last 10 losses seen at
// each t), mixed with a uniform 1e-3 once every t has a full history, and returns weights
// 1 / (T p_t) so that E_{t~p}[w_t L_t] = (1/T) sum_t L_t: the weighted loss stays an unbiased
// estimate of the uniform-t objective while its variance drops.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import type { Backend } from '../backend/types.js';
import { Tensor } from '../tensor/tensor.js';
import { Generator } from '../random/philox.js';
import { randint } from '../random/index.js';

function checkGen(op: string, gen: unknown): asserts gen is Generator {
  if (!(gen instanceof Generator)) throw new InvalidArgumentError(`${op}: gen must be a Generator (new Generator(seed)), got ${describe(gen)}`);
}

function checkCount(op: string, arg: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${op}: ${arg} must be an integer >= ${min}, got ${describe(v)}`);
  return v;
}

/** `batch` timesteps uniform in [0, T), int32 [batch], drawn from `gen`. */
export function uniformTimesteps(batch: number, T: number, gen: Generator, backend?: Backend): Tensor {
  const op = 'uniformTimesteps';
  checkCount(op, 'batch', batch, 1);
  checkCount(op, 'T', T, 1);
  checkGen(op, gen);
  return randint([batch], 0, T, gen, backend);
}

export interface LossAwareSamplerOptions {
  /** Losses remembered per timestep. Default 10. */
  historyPerTerm?: number;
  /** Probability mass spread uniformly once warm (keeps every p_t > 0). Default 1e-3. */
  uniformProb?: number;
}

export interface TimestepDraw {
  /** Timesteps, int32 [batch]. */
  t: Tensor;
  /** Importance weights 1 / (T p_t), [batch] (multiply the per-sample losses by them). */
  weights: Tensor;
  /** The same timesteps and weights on the host. */
  timesteps: Int32Array;
  importance: Float64Array;
}

export interface TimestepDrawOptions {
  /** dtype of the weights tensor. Default 'float32'. */
  dtype?: 'float32' | 'float64';
  /** Default: the current backend. */
  backend?: Backend;
}

/**
 * Improved DDPM's LossSecondMomentResampler. Until every timestep has `historyPerTerm` losses it
 * samples uniformly (weights 1); afterwards p_t = (1 - u) sqrt(mean(L_t^2)) / sum + u / T.
 * Feed it each batch's unweighted per-sample losses with `update` (diffusionLossTerms' perSample).
 */
export class LossAwareSampler {
  readonly numTimesteps: number;
  readonly historyPerTerm: number;
  readonly uniformProb: number;
  /** [T, historyPerTerm], oldest first. */
  private readonly history: Float64Array;
  private readonly counts: Int32Array;

  constructor(numTimesteps: number, options: LossAwareSamplerOptions = {}) {
    const op = 'LossAwareSampler';
    this.numTimesteps = checkCount(op, 'numTimesteps', numTimesteps, 1);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
    this.historyPerTerm = checkCount(op, 'options.historyPerTerm', options.historyPerTerm ?? 10, 1);
    const u = options.uniformProb ?? 1e-3;
    if (typeof u !== 'number' || !(u >= 0 && u <= 1)) throw new InvalidArgumentError(`${op}: options.uniformProb must be a number in [0, 1], got ${describe(options.uniformProb)}`);
    this.uniformProb = u;
    this.history = new Float64Array(numTimesteps * this.historyPerTerm);
    this.counts = new Int32Array(numTimesteps);
  }

  /** True once every timestep has a full loss history. */
  get warmedUp(): boolean {
    for (let t = 0; t < this.numTimesteps; t++) if (this.counts[t] !== this.historyPerTerm) return false;
    return true;
  }

  /** The sampling probabilities p_t (uniform until warm). */
  probabilities(): Float64Array {
    const T = this.numTimesteps;
    const p = new Float64Array(T);
    if (!this.warmedUp) return p.fill(1 / T);
    const H = this.historyPerTerm;
    let total = 0;
    for (let t = 0; t < T; t++) {
      let m2 = 0;
      for (let j = 0; j < H; j++) {
        const l = this.history[t * H + j]!;
        m2 += l * l;
      }
      p[t] = Math.sqrt(m2 / H);
      total += p[t]!;
    }
    // All-zero losses: nothing to prefer, stay uniform.
    if (!(total > 0) || !Number.isFinite(total)) return p.fill(1 / T);
    for (let t = 0; t < T; t++) p[t] = (1 - this.uniformProb) * (p[t]! / total) + this.uniformProb / T;
    return p;
  }

  /** Draws `batch` timesteps from p and their importance weights 1 / (T p_t). */
  sample(batch: number, gen: Generator, options: TimestepDrawOptions = {}): TimestepDraw {
    const op = 'LossAwareSampler.sample';
    checkCount(op, 'batch', batch, 1);
    checkGen(op, gen);
    const T = this.numTimesteps;
    const p = this.probabilities();
    const cdf = new Float64Array(T);
    let acc = 0;
    for (let t = 0; t < T; t++) cdf[t] = acc += p[t]!;
    const u = gen.uniformArray(batch, 'float64');
    const timesteps = new Int32Array(batch);
    const importance = new Float64Array(batch);
    for (let b = 0; b < batch; b++) {
      const target = u[b]! * acc;
      // The first t whose cumulative probability exceeds the target (skips zero-probability t).
      let lo = 0;
      let hi = T - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid]! > target) hi = mid;
        else lo = mid + 1;
      }
      timesteps[b] = lo;
      importance[b] = 1 / (T * p[lo]!);
    }
    const dtype = options.dtype ?? 'float32';
    const backend = options.backend ?? engine.backend;
    const t = engine.upload(timesteps.slice(), [batch], 'int32', backend);
    const weights = engine.upload(dtype === 'float64' ? importance.slice() : Float32Array.from(importance), [batch], dtype, backend);
    return { t, weights, timesteps, importance };
  }

  /**
   * Records the unweighted losses seen at timesteps `ts` (host arrays, or tensors on a backend
   * that reads synchronously; on WebGPU use updateAsync).
   */
  update(ts: ArrayLike<number> | Tensor, losses: ArrayLike<number> | Tensor): void {
    const op = 'LossAwareSampler.update';
    const tv = ts instanceof Tensor ? ts.dataSync() : ts;
    const lv = losses instanceof Tensor ? losses.dataSync() : losses;
    this.record(op, ts, losses, tv, lv);
  }

  /** update() for any backend: tensors are read back asynchronously (the same result). */
  async updateAsync(ts: ArrayLike<number> | Tensor, losses: ArrayLike<number> | Tensor): Promise<void> {
    const op = 'LossAwareSampler.updateAsync';
    const tv = ts instanceof Tensor ? await ts.data() : ts;
    const lv = losses instanceof Tensor ? await losses.data() : losses;
    this.record(op, ts, losses, tv, lv);
  }

  private record(op: string, ts: unknown, losses: unknown, tv: ArrayLike<number>, lv: ArrayLike<number>): void {
    if (typeof tv !== 'object' || tv === null || typeof tv.length !== 'number') throw new InvalidArgumentError(`${op}: ts must be an array of timesteps, got ${describe(ts)}`);
    if (typeof lv !== 'object' || lv === null || lv.length !== tv.length) {
      throw new ShapeError(`${op}: losses must hold one value per timestep (${tv.length}), got ${describe(losses)}`);
    }
    // Validate everything before recording anything.
    for (let i = 0; i < tv.length; i++) {
      const t = Number(tv[i]);
      if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) throw new InvalidArgumentError(`${op}: ts[${i}] must be an integer in [0, ${this.numTimesteps}), got ${describe(tv[i])}`);
      const l = Number(lv[i]);
      if (!Number.isFinite(l)) throw new InvalidArgumentError(`${op}: losses[${i}] must be a finite number, got ${describe(lv[i])}`);
    }
    const H = this.historyPerTerm;
    for (let i = 0; i < tv.length; i++) {
      const t = Number(tv[i]);
      const l = Number(lv[i]);
      const row = t * H;
      if (this.counts[t] === H) {
        // Shift out the oldest loss.
        this.history.copyWithin(row, row + 1, row + H);
        this.history[row + H - 1] = l;
      } else {
        this.history[row + this.counts[t]!] = l;
        this.counts[t] = this.counts[t]! + 1;
      }
    }
  }
}
