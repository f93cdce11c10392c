// Shared machinery of the sigma-indexed diffusers schedulers (Euler, Euler ancestral, Heun,
// DPM-Solver multistep): the step index and how diffusers finds it, set_begin_index, and the
// training sigma table.
//
// State (like diffusers): `stepIndex` is null until the first scaleModelInput() or step(); it is
// then found from the timestep passed (the first match in `timesteps`, or the second match when
// the timestep occurs more than once — diffusers' rule so that img2img starting mid-schedule on a
// duplicated timestep lands on the right entry) unless setBeginIndex() fixed it, and advances by
// one per step(). scaleModelInput() uses the current index, so the order of calls matters
// exactly as in diffusers.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { SchedulerBase, type SchedulerOptions } from './base.js';
import type { DiffusersSchedulerConfig, SchedulerClassName } from './config.js';
import { npLogF32, sigmaFromAlphaBar } from './numerics.js';

export abstract class SigmaSchedulerBase extends SchedulerBase {
  protected stepIndexValue: number | null = null;
  protected beginIndexValue: number | null = null;
  /** float32 training sigmas sqrt((1 - abar) / abar), ascending in t. */
  protected readonly trainSigmas: readonly number[];
  /** np.log of the float32 trainSigmas, bit for bit as NumPy computes it (see npLogF32). */
  protected readonly logTrainSigmas: readonly number[];

  constructor(className: SchedulerClassName, config: DiffusersSchedulerConfig, options: SchedulerOptions, zeroSnrFix: boolean) {
    super(className, config, options);
    if (zeroSnrFix && this.config['rescale_betas_zero_snr']) {
      // diffusers' sigma schedulers replace the final 0 with 2^-24 so that sigma stays finite.
      const ac = [...this.alphasCumprod];
      ac[ac.length - 1] = 2 ** -24;
      (this as { alphasCumprod: readonly number[] }).alphasCumprod = Object.freeze(ac);
    }
    this.trainSigmas = Object.freeze(this.alphasCumprod.map(sigmaFromAlphaBar));
    this.logTrainSigmas = Object.freeze(this.trainSigmas.map(npLogF32));
  }

  /** The index of the next step (null before the first scaleModelInput / step). */
  get stepIndex(): number | null {
    return this.stepIndexValue;
  }

  get beginIndex(): number | null {
    return this.beginIndexValue;
  }

  /** Start stepping at timesteps[beginIndex] (img2img pipelines call this); diffusers' set_begin_index. */
  override setBeginIndex(beginIndex = 0): void {
    if (!Number.isInteger(beginIndex) || beginIndex < 0) {
      throw new InvalidArgumentError(`${this.className}.setBeginIndex: beginIndex must be an integer >= 0, got ${describe(beginIndex)}`);
    }
    this.beginIndexValue = beginIndex;
  }

  /** diffusers' index_for_timestep: first match, or the second when there are several. */
  indexForTimestep(timestep: number, op = `${this.className}.indexForTimestep`): number {
    const matches: number[] = [];
    for (let i = 0; i < this.timesteps.length && matches.length < 2; i++) if (this.timesteps[i] === timestep) matches.push(i);
    if (matches.length === 0) return this.timestepNotFound(op, timestep);
    return matches.length > 1 ? matches[1]! : matches[0]!;
  }

  protected timestepNotFound(op: string, timestep: number): number {
    throw new InvalidArgumentError(`${op}: timestep ${describe(timestep)} is not one of scheduler.timesteps; pass an entry of scheduler.timesteps`);
  }

  protected initStepIndex(op: string, timestep: number): number {
    if (this.stepIndexValue === null) {
      this.stepIndexValue = this.beginIndexValue === null ? this.indexForTimestep(timestep, op) : this.beginIndexValue;
    }
    return this.stepIndexValue;
  }

  protected sigmaAt(op: string, index: number): number {
    const s = this.sigmas!;
    if (index >= s.length) {
      throw new InvalidArgumentError(`${op}: step index ${index} is past the end of the schedule (${s.length - 1} sigmas after the first); call setTimesteps() or reset() to start again`);
    }
    return s[index]!;
  }

  /** Step indices for add_noise, like diffusers: by timestep, else the begin / current index. */
  protected addNoiseIndices(op: string, list: readonly number[]): number[] {
    if (this.beginIndexValue === null) return list.map((t) => this.indexForTimestep(t, op));
    const i = this.stepIndexValue ?? this.beginIndexValue;
    return list.map(() => i);
  }

  protected clearSigmaState(): void {
    this.stepIndexValue = null;
    this.beginIndexValue = null;
  }
}
