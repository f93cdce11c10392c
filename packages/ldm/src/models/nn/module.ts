// The parameter tree every model of src/models is built on. A Module declares its parameters by
// name and shape and its sub-modules by name; the dotted path of a parameter is exactly the
// state-dict key diffusers / transformers use (`down_blocks.0.resnets.1.conv1.weight`), so that
// loading a checkpoint is a name match done by checkpoint/state-dict.ts's applyStateDict, which
// checks every shape and reports every missing, unexpected and mismatched key at once.
//
// Parameters start unset (no memory is taken until weights are loaded or initialised), become
// core variables named by their key, and are read by the layers through `Param.value`.

import { CheckpointError, Generator, InvalidArgumentError, describe, randn, variable, type Backend, type Tensor } from '@denoise/core';
import { applyStateDict, type KeyMapping, type StateDict } from '../../checkpoint/state-dict.js';

/** One named parameter: its shape, and its tensor once loaded. */
export class Param {
  /** The full state-dict key, set when the tree is assembled. */
  key = '';
  private tensor: Tensor | null = null;

  constructor(readonly shape: readonly number[]) {}

  get isSet(): boolean {
    return this.tensor !== null && !this.tensor.isDisposed;
  }

  /** The parameter's tensor; throws a CheckpointError naming the key if nothing was loaded. */
  get value(): Tensor {
    if (this.tensor === null || this.tensor.isDisposed) {
      throw new CheckpointError(`parameter ${describe(this.key)} has no value: load weights (loadWeights) or initialise them (initRandom) first`);
    }
    return this.tensor;
  }

  /** Takes `t` over as this parameter's value (a variable named by the key); the old value is freed. */
  set(t: Tensor): void {
    if (t.shape.length !== this.shape.length || t.shape.some((d, i) => d !== this.shape[i])) {
      throw new CheckpointError(`parameter ${describe(this.key)} must have shape ${describe(this.shape)}, got ${describe(t.shape)}`);
    }
    const v = t.isVariable ? t : variable(t, this.key);
    if (v !== t) t.dispose();
    v.name = this.key;
    this.tensor?.dispose();
    this.tensor = v;
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = null;
  }
}

export abstract class Module {
  private readonly ownParams = new Map<string, Param>();
  private readonly children = new Map<string, Module>();

  /** Declares a parameter of this module (its key is the module path plus `name`). */
  protected param(name: string, shape: readonly number[]): Param {
    const p = new Param(shape);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a sub-module under `name`. */
  protected child<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** Registers a list of sub-modules as `name.0`, `name.1`, ... (PyTorch's ModuleList). */
  protected childList<M extends Module>(name: string, modules: M[]): M[] {
    modules.forEach((m, i) => this.children.set(`${name}.${i}`, m));
    return modules;
  }

  /** Every parameter with its full key, in declaration order (children after own parameters). */
  namedParameters(prefix = ''): Array<[string, Param]> {
    const out: Array<[string, Param]> = [];
    for (const [n, p] of this.ownParams) {
      p.key = prefix + n;
      out.push([p.key, p]);
    }
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Parameter key → shape: the spec checkpoints are checked against. */
  paramSpec(): Record<string, number[]> {
    return Object.fromEntries(this.namedParameters().map(([k, p]) => [k, [...p.shape]]));
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    return this.namedParameters().reduce((n, [, p]) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** The current parameter tensors by key (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters().map(([k, p]) => [k, p.value]));
  }

  /** Parameter variables, for optimizers and `gradients`. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p.value);
  }

  /** Frees every parameter tensor. */
  dispose(): void {
    for (const [, p] of this.namedParameters()) p.dispose();
  }
}

export interface LoadWeightsOptions {
  /** Checkpoint-key renaming rules and keys to leave unused (see checkpoint/state-dict.ts). */
  mapping?: KeyMapping;
  /** Backend for the parameters; default the current backend. */
  backend?: Backend;
  /** Name for error messages. */
  name?: string;
}

/**
 * Loads a state dict (checkpoint key → stored tensor) into `module`. Every key is checked
 * before anything is uploaded: a StateDictMismatchError lists all missing, unexpected and
 * mismatched keys together.
 */
export function loadWeights(module: Module, stateDict: StateDict, options: LoadWeightsOptions = {}): void {
  const params = module.namedParameters();
  const tensors = applyStateDict(module.paramSpec(), stateDict, options.mapping ?? {}, {
    ...(options.backend ? { backend: options.backend } : {}),
    name: options.name ?? module.constructor.name,
  });
  for (const [key, p] of params) p.set(tensors[key]!);
}

/** Sets parameters from tensors by key (e.g. the stateDict() of a twin model); all keys must match. */
export function setWeights(module: Module, tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, name = module.constructor.name): void {
  const get = (k: string): Tensor | undefined => (tensors instanceof Map ? tensors.get(k) : (tensors as Record<string, Tensor>)[k]);
  const keys = tensors instanceof Map ? [...tensors.keys()] : Object.keys(tensors);
  const params = module.namedParameters();
  const known = new Set(params.map(([k]) => k));
  const missing = params.filter(([k]) => get(k) === undefined).map(([k]) => k);
  const unexpected = keys.filter((k) => !known.has(k));
  const mismatched = params.filter(([k, p]) => {
    const t = get(k);
    return t !== undefined && (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]));
  });
  if (missing.length || unexpected.length || mismatched.length) {
    throw new CheckpointError(
      `${name}: setWeights: ${missing.length} missing (${missing.slice(0, 10).join(', ')}), ${unexpected.length} unexpected (${unexpected.slice(0, 10).join(', ')}), ` +
        `${mismatched.length} mismatched (${mismatched.slice(0, 10).map(([k, p]) => `${k}: ${describe(p.shape)} vs ${describe(get(k)!.shape)}`).join(', ')})`,
    );
  }
  // variable() copies, so the source tensors stay with their owner.
  for (const [k, p] of params) p.set(variable(get(k)!, k));
}

/**
 * Random weights that keep activations of order one, for tests and round trips: weights
 * N(0, 1/fan_in), norm scales 1 + 0.2 N(0, 1), biases 0.2 N(0, 1), embedding tables N(0, 1).
 */
export function initRandom(module: Module, gen: Generator): void {
  if (!(gen instanceof Generator)) throw new InvalidArgumentError(`initRandom: gen must be a Generator, got ${describe(gen)}`);
  for (const [key, p] of module.namedParameters()) {
    const leaf = key.slice(key.lastIndexOf('.') + 1);
    const rank = p.shape.length;
    let t: Tensor;
    if (rank === 1 && leaf === 'weight' && /norm/.test(key)) t = randn(p.shape, gen, { mean: 1, std: 0.2 });
    else if (rank === 1) t = randn(p.shape, gen, { std: 0.2 });
    else if (/embedding/.test(key) && rank === 2) t = randn(p.shape, gen);
    else t = randn(p.shape, gen, { std: 1 / Math.sqrt(p.shape.slice(1).reduce((a, b) => a * b, 1)) });
    p.set(t);
  }
}
