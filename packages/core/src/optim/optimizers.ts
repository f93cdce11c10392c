// Optimizers over variables: SGD (momentum, Nesterov), Adam / AdamW and Adagrad, with the update
// rules of PyTorch's torch.optim (so hyper-parameters carry over). State lives in variables on
// the parameters' backend; each step runs without a tape, in a scope, and frees its temporaries.
//
// Every step can be recorded into a graph (a whole training step as one ONNX model): the values
// that change from step to step on the host (the learning rate, bias corrections) are then read
// from scalar variables that a host step (`engine.hostStep`) fills before each replay, and the
// step counter advances there too, so a replayed step computes exactly what an eager one does.

import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { type DType, isFloatDType } from '../tensor/dtype.js';
import { shapesEqual } from '../tensor/shape.js';
import { add, cast, div, mul, sqrt, sub } from '../ops/elementwise.js';
import { variable, zerosLike, fullOn } from '../ops/creation.js';

export interface Optimizer {
  readonly params: readonly Tensor[];
  /** The learning rate used by the next step (set it from a schedule each step). */
  lr: number;
  /** Number of steps taken. */
  readonly stepCount: number;
  /** Applies one update from gradients aligned with `params`. */
  step(grads: readonly Tensor[]): void;
  /** Named state tensors (for checkpoints): `${kind}.${paramIndex}`. */
  state(): Record<string, Tensor>;
  /** Restores state saved by state() (shapes must match). */
  loadState(state: Record<string, Tensor>, stepCount: number): void;
  /** Frees the optimizer's state. */
  dispose(): void;
}

function checkParams(op: string, params: readonly Tensor[]): void {
  if (!Array.isArray(params) || params.length === 0) throw new InvalidArgumentError(`${op}: params must be a non-empty array of variables, got ${describe(params)}`);
  params.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new InvalidArgumentError(`${op}: params[${i}] must be a variable, got ${describe(p)}`);
    p._check(op);
    if (!p.isVariable) throw new InvalidArgumentError(`${op}: params[${i}] must be a variable (create it with variable()), got a plain tensor of shape ${describe(p.shape)}`);
    if (!isFloatDType(p.dtype)) throw new DTypeError(`${op}: params[${i}] must have a float dtype, got ${p.dtype}`);
  });
}

function checkOptions(op: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object with at least lr, got ${describe(options)}`);
}

function checkPositive(op: string, arg: string, v: number, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new InvalidArgumentError(`${op}: ${arg} must be a ${allowZero ? 'non-negative' : 'positive'} finite number, got ${describe(v)}`);
  }
  return v;
}

/** Per-step scalars of an update: host numbers eagerly, scalar variables in a recorded step. */
type StepScalars = Readonly<Record<string, Tensor | number>>;

abstract class BaseOptimizer implements Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  protected steps = 0;
  protected readonly slots = new Map<string, Tensor[]>();
  /** Scalar variables per parameter dtype, used by recorded steps. */
  private readonly scalarVars = new Map<DType, Record<string, Tensor>>();
  protected abstract readonly opName: string;
  /** The state kinds this optimizer keeps, with the value each slot starts from. */
  protected abstract slotInits(): Readonly<Record<string, number>>;
  /** The scalars of the current step (after the step counter advanced), from lr and the step count. */
  protected abstract stepScalars(): Record<string, number>;

  constructor(params: readonly Tensor[], lr: number) {
    this.params = [...params];
    this.lr = lr;
  }

  get stepCount(): number {
    return this.steps;
  }

  /** A per-parameter state slot, created lazily as variables filled with `init`. */
  protected slot(kind: string): Tensor[] {
    let s = this.slots.get(kind);
    if (!s) {
      const init = this.slotInits()[kind] ?? 0;
      // Real storage even while a step is being recorded (the state outlives the recording).
      s = engine.withoutInterceptor(() =>
        engine.noGrad(() =>
          this.params.map((p, i) => {
            const z = init === 0 ? zerosLike(p) : fullOn(p, p.shape, init, p.dtype);
            const v = variable(z, `${kind}.${i}`);
            z.dispose();
            return v;
          }),
        ),
      );
      this.slots.set(kind, s);
    }
    return s;
  }

  /** The step's scalars as variables on `like`'s backend and dtype (recorded steps). */
  private scalarVariables(like: Tensor): Record<string, Tensor> {
    let vars = this.scalarVars.get(like.dtype);
    if (!vars) {
      const names = Object.keys(this.stepScalars());
      vars = engine.withoutInterceptor(() =>
        engine.noGrad(() =>
          Object.fromEntries(
            names.map((n) => {
              const z = fullOn(like, [], 0, like.dtype);
              const v = variable(z, `${this.opName}.${n}`);
              z.dispose();
              return [n, v];
            }),
          ),
        ),
      );
      this.scalarVars.set(like.dtype, vars);
    }
    return vars;
  }

  /** Host part of a recorded step: advance the counter and write this step's scalars. */
  private replayStep(): void {
    checkPositive(`${this.opName}.step`, 'lr', this.lr, true);
    this.steps++;
    const values = this.stepScalars();
    engine.noGrad(() => {
      for (const vars of this.scalarVars.values()) {
        for (const [n, v] of Object.entries(vars)) engine.tidy(() => v.assign(fullOn(v, [], values[n]!, v.dtype)));
      }
    });
  }

  step(grads: readonly Tensor[]): void {
    const op = `${this.opName}.step`;
    if (!Array.isArray(grads) || grads.length !== this.params.length) {
      throw new InvalidArgumentError(`${op}: grads must hold one tensor per parameter (${this.params.length}), got ${describe(Array.isArray(grads) ? grads.length : grads)}`);
    }
    // Everything is checked before anything changes, so a bad call leaves no partial update.
    grads.forEach((g, i) => {
      const p = this.params[i]!;
      if (!(g instanceof Tensor)) throw new InvalidArgumentError(`${op}: grads[${i}] must be a Tensor, got ${describe(g)}`);
      g._check(op);
      p._check(op);
      if (!shapesEqual(g.shape, p.shape)) throw new ShapeError(`${op}: grads[${i}] must have shape ${describe(p.shape)}, got ${describe(g.shape)}`);
      if (g.dtype !== p.dtype) throw new DTypeError(`${op}: grads[${i}] must have the parameter's dtype ${p.dtype}, got ${g.dtype}`);
      if (g._backend !== p._backend) throw new InvalidArgumentError(`${op}: grads[${i}] lives on backend "${g._backend.name}" but its parameter on "${p._backend.name}"`);
    });
    checkPositive(op, 'lr', this.lr, true);
    if (engine.capturing) {
      // Recorded: the counter and the scalars are the replay's business (see replayStep).
      for (const p of this.params) this.scalarVariables(p);
      engine.hostStep(() => this.replayStep());
      engine.noGrad(() => this.params.forEach((p, i) => engine.tidy(() => this.update(i, p, grads[i]!, this.scalarVariables(p)))));
      return;
    }
    this.steps++;
    const scalars = this.stepScalars();
    engine.noGrad(() => this.params.forEach((p, i) => engine.tidy(() => this.update(i, p, grads[i]!, scalars))));
  }

  protected abstract update(i: number, p: Tensor, g: Tensor, s: StepScalars): void;

  state(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [kind, tensors] of this.slots) tensors.forEach((t, i) => (out[`${kind}.${i}`] = t));
    return out;
  }

  loadState(state: Record<string, Tensor>, stepCount: number): void {
    const op = `${this.opName}.loadState`;
    if (typeof state !== 'object' || state === null) throw new InvalidArgumentError(`${op}: state must be an object of tensors, got ${describe(state)}`);
    if (!Number.isInteger(stepCount) || stepCount < 0) throw new InvalidArgumentError(`${op}: stepCount must be a non-negative integer, got ${describe(stepCount)}`);
    const kinds = this.slotInits();
    // Validate every entry first so that a bad state changes nothing.
    const entries = Object.entries(state).map(([key, value]) => {
      const m = /^(.+)\.(\d+)$/.exec(key);
      if (!m) throw new InvalidArgumentError(`${op}: unexpected key ${describe(key)}`);
      const kind = m[1]!;
      if (!Object.prototype.hasOwnProperty.call(kinds, kind)) {
        throw new InvalidArgumentError(`${op}: key ${describe(key)} is not state of ${this.opName} (its kinds: ${describe(Object.keys(kinds))})`);
      }
      const idx = Number(m[2]);
      if (idx >= this.params.length) throw new InvalidArgumentError(`${op}: key ${describe(key)} names parameter ${idx}, but there are ${this.params.length}`);
      if (!(value instanceof Tensor)) throw new InvalidArgumentError(`${op}: state[${describe(key)}] must be a Tensor, got ${describe(value)}`);
      value._check(op);
      const p = this.params[idx]!;
      if (!shapesEqual(value.shape, p.shape)) throw new ShapeError(`${op}: state[${describe(key)}] must have shape ${describe(p.shape)}, got ${describe(value.shape)}`);
      if (!isFloatDType(value.dtype)) throw new DTypeError(`${op}: state[${describe(key)}] must have a float dtype, got ${value.dtype}`);
      return { kind, idx, value, dtype: p.dtype };
    });
    for (const { kind, idx, value, dtype } of entries) {
      const slot = this.slot(kind);
      // A copy (cast to the parameter's dtype, e.g. state saved as float32 for float64 params);
      // the tidy frees it if assign fails.
      engine.noGrad(() => engine.tidy(() => slot[idx]!.assign(value.dtype === dtype ? add(value, 0) : cast(value, dtype))));
    }
    this.steps = stepCount;
  }

  dispose(): void {
    for (const tensors of this.slots.values()) for (const t of tensors) t.dispose();
    this.slots.clear();
    for (const vars of this.scalarVars.values()) for (const t of Object.values(vars)) t.dispose();
    this.scalarVars.clear();
  }
}

export interface SGDOptions {
  lr: number;
  /** Default 0. */
  momentum?: number;
  /** Default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
}

/** Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD. */
export class SGD extends BaseOptimizer {
  protected readonly opName = 'SGD';
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: readonly Tensor[], options: SGDOptions) {
    checkOptions('SGD', options);
    checkParams('SGD', params);
    super(params, checkPositive('SGD', 'options.lr', options.lr, true));
    this.momentum = checkPositive('SGD', 'options.momentum', options.momentum ?? 0, true);
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = checkPositive('SGD', 'options.weightDecay', options.weightDecay ?? 0, true);
    if (this.nesterov && this.momentum === 0) throw new InvalidArgumentError('SGD: options.nesterov needs options.momentum > 0');
  }

  protected slotInits(): Readonly<Record<string, number>> {
    return this.momentum ? { momentum: 0 } : {};
  }

  protected stepScalars(): Record<string, number> {
    return { lr: this.lr };
  }

  protected update(i: number, p: Tensor, g: Tensor, s: StepScalars): void {
    let d = this.weightDecay ? add(g, mul(p, this.weightDecay)) : g;
    if (this.momentum) {
      const buf = this.slot('momentum')[i]!;
      // PyTorch: a buffer that does not exist yet (first step, and not restored by loadState)
      // starts as the gradient itself.
      const next = this.initMomentum ? add(d, 0) : add(mul(buf, this.momentum), d);
      buf.assign(next);
      d = this.nesterov ? add(d, mul(buf, this.momentum)) : buf;
    }
    p.assign(sub(p, mul(d, s.lr!)));
  }

  /** True during a step that starts without momentum buffers. */
  private initMomentum = false;

  override step(grads: readonly Tensor[]): void {
    // A recorded step uses the general rule on zero buffers, which gives the same values.
    this.initMomentum = this.momentum > 0 && !this.slots.has('momentum') && !engine.capturing;
    try {
      super.step(grads);
    } finally {
      this.initMomentum = false;
    }
  }
}

export interface AdamOptions {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay. Default 0 (Adam), 0.01 (AdamW). */
  weightDecay?: number;
}

/** Adam (Kingma & Ba), as torch.optim.Adam; weight decay is an L2 term in the gradient. */
export class Adam extends BaseOptimizer {
  protected readonly opName: string = 'Adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;

  constructor(params: readonly Tensor[], options: AdamOptions, defaultDecay = 0, name = 'Adam') {
    checkOptions(name, options);
    checkParams(name, params);
    super(params, checkPositive(name, 'options.lr', options.lr, true));
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    for (const [n, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(typeof b === 'number' && b >= 0 && b < 1)) throw new InvalidArgumentError(`${name}: options.${n} must be a number in [0, 1), got ${describe(b)}`);
    }
    this.eps = checkPositive(name, 'options.eps', options.eps ?? 1e-8);
    this.weightDecay = checkPositive(name, 'options.weightDecay', options.weightDecay ?? defaultDecay, true);
  }

  protected slotInits(): Readonly<Record<string, number>> {
    return { m: 0, v: 0 };
  }

  protected stepScalars(): Record<string, number> {
    const bc1 = 1 - this.beta1 ** this.steps;
    const bc2 = 1 - this.beta2 ** this.steps;
    return { lrOverBc1: this.lr / bc1, sqrtBc2: Math.sqrt(bc2), decayFactor: 1 - this.lr * this.weightDecay };
  }

  protected update(i: number, p: Tensor, g0: Tensor, s: StepScalars): void {
    const m = this.slot('m')[i]!;
    const v = this.slot('v')[i]!;
    let g = g0;
    let base = p;
    if (this.weightDecay) {
      if (this.decoupled) base = mul(p, s.decayFactor!);
      else g = add(g, mul(p, this.weightDecay));
    }
    m.assign(add(mul(m, this.beta1), mul(g, 1 - this.beta1)));
    v.assign(add(mul(v, this.beta2), mul(mul(g, g), 1 - this.beta2)));
    // p -= lr / bc1 * m / (sqrt(v / bc2) + eps), PyTorch's formulation.
    const denom = add(div(sqrt(v), s.sqrtBc2!), this.eps);
    p.assign(sub(base, mul(div(m, denom), s.lrOverBc1!)));
  }
}

/** AdamW (Loshchilov & Hutter): Adam with decoupled weight decay (default 0.01), as torch.optim.AdamW. */
export class AdamW extends Adam {
  protected override readonly opName = 'AdamW';
  protected override readonly decoupled = true;
  constructor(params: readonly Tensor[], options: AdamOptions) {
    super(params, options, 0.01, 'AdamW');
  }
}

export interface AdagradOptions {
  lr: number;
  /** Default 1e-10 (PyTorch's). */
  eps?: number;
  /** Default 0. */
  initialAccumulator?: number;
  /** Default 0. */
  weightDecay?: number;
  /** Per-step decay of the learning rate: lr / (1 + (step - 1) * lrDecay). Default 0. */
  lrDecay?: number;
}

/** Adagrad (Duchi et al.), as torch.optim.Adagrad. Diffusion-LM's control loop uses it on latents. */
export class Adagrad extends BaseOptimizer {
  protected readonly opName = 'Adagrad';
  readonly eps: number;
  readonly initialAccumulator: number;
  readonly weightDecay: number;
  readonly lrDecay: number;

  constructor(params: readonly Tensor[], options: AdagradOptions) {
    checkOptions('Adagrad', options);
    checkParams('Adagrad', params);
    super(params, checkPositive('Adagrad', 'options.lr', options.lr, true));
    this.eps = checkPositive('Adagrad', 'options.eps', options.eps ?? 1e-10);
    this.initialAccumulator = checkPositive('Adagrad', 'options.initialAccumulator', options.initialAccumulator ?? 0, true);
    this.weightDecay = checkPositive('Adagrad', 'options.weightDecay', options.weightDecay ?? 0, true);
    this.lrDecay = checkPositive('Adagrad', 'options.lrDecay', options.lrDecay ?? 0, true);
  }

  protected slotInits(): Readonly<Record<string, number>> {
    return { sum: this.initialAccumulator };
  }

  protected stepScalars(): Record<string, number> {
    return { clr: this.lr / (1 + (this.steps - 1) * this.lrDecay) };
  }

  protected update(i: number, p: Tensor, g0: Tensor, s: StepScalars): void {
    const acc = this.slot('sum')[i]!;
    const g = this.weightDecay ? add(g0, mul(p, this.weightDecay)) : g0;
    acc.assign(add(acc, mul(g, g)));
    p.assign(sub(p, mul(div(g, add(sqrt(acc), this.eps)), s.clr!)));
  }
}
