// createScheduler: a diffusers scheduler_config.json object in, the matching scheduler out.

import { InvalidArgumentError, describe } from '../errors/index.js';
import type { SchedulerOptions } from './base.js';
import { type DiffusersSchedulerConfig, SCHEDULER_CLASSES, type SchedulerClassName, resolveConfig } from './config.js';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import { DPMSolverMultistepScheduler } from './dpmsolver.js';
import { EulerAncestralDiscreteScheduler, EulerDiscreteScheduler } from './euler.js';
import { HeunDiscreteScheduler } from './heun.js';
import { PNDMScheduler } from './pndm.js';

export type AnyDiffusersScheduler =
  | DDIMScheduler
  | PNDMScheduler
  | EulerDiscreteScheduler
  | EulerAncestralDiscreteScheduler
  | HeunDiscreteScheduler
  | DPMSolverMultistepScheduler
  | DDPMScheduler;

export interface CreateSchedulerOptions extends SchedulerOptions {
  /** The class to build, overriding config._class_name (like diffusers' `Cls.from_config(config)`). */
  className?: SchedulerClassName;
}

const CONSTRUCTORS: Record<SchedulerClassName, new (config: DiffusersSchedulerConfig, options?: SchedulerOptions) => AnyDiffusersScheduler> = {
  DDIMScheduler,
  PNDMScheduler,
  EulerDiscreteScheduler,
  EulerAncestralDiscreteScheduler,
  HeunDiscreteScheduler,
  DPMSolverMultistepScheduler,
  DDPMScheduler,
};

/**
 * Builds the scheduler a diffusers `scheduler_config.json` describes. The class comes from
 * `config._class_name`, or from `options.className` (which wins, like diffusers'
 * `Cls.from_config`). Keys the class does not take are ignored; a key it takes with a wrong type
 * or a value this adapter does not implement throws InvalidArgumentError naming the key and the
 * supported values.
 */
export function createScheduler(config: DiffusersSchedulerConfig, options: CreateSchedulerOptions = {}): AnyDiffusersScheduler {
  const op = 'createScheduler';
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new InvalidArgumentError(`${op}: config must be a scheduler_config.json object, got ${describe(config)}`);
  }
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const { className, ...schedulerOptions } = options;
  const name = className ?? config._class_name;
  if (name === undefined) {
    throw new InvalidArgumentError(`${op}: config._class_name is missing (and no className was given); supported: ${SCHEDULER_CLASSES.join(', ')}`);
  }
  if (typeof name !== 'string' || !(SCHEDULER_CLASSES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(`${op}: scheduler class ${describe(name)} is not supported; supported: ${SCHEDULER_CLASSES.join(', ')}`);
  }
  const cls = name as SchedulerClassName;
  // Checked here first so that errors name createScheduler; the constructor resolves it again.
  const resolved = resolveConfig(op, cls, config as Record<string, unknown>);
  return new CONSTRUCTORS[cls](resolved, schedulerOptions);
}
