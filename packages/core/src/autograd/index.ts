// Reverse-mode automatic differentiation over the primitives. A tape (engine/engine.ts) records
// every kernel call whose inputs depend on the watched tensors; the backward pass walks it in
// reverse, applying each kernel's vector-Jacobian product (gradients.ts). Gradients are computed
// with ordinary core ops, so they work on every backend. Everything the forward and backward
// passes allocate is freed before these functions return, except the value and the gradients.

import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { type Tape, engine } from '../engine/engine.js';
import { isFloatDType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { add, cast } from '../ops/elementwise.js';
import { onesLike, zerosLike } from '../ops/creation.js';
import { GRADIENTS } from './gradients.js';

export interface ValueAndGrads {
  /** The function's value (a scalar unless a seed gradient was given). */
  value: Tensor;
  /** One gradient per watched tensor, shaped like it. */
  grads: Tensor[];
}

function checkWatched(op: string, wrt: readonly Tensor[]): void {
  if (!Array.isArray(wrt)) throw new InvalidArgumentError(`${op}: wrt must be an array of tensors, got ${describe(wrt)}`);
  wrt.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new InvalidArgumentError(`${op}: wrt[${i}] must be a Tensor, got ${describe(t)}`);
    t._check(op);
    if (!isFloatDType(t.dtype)) throw new DTypeError(`${op}: wrt[${i}] must be float32 or float64 to have a gradient, got ${t.dtype}`);
  });
}

/**
 * Runs the backward pass of `tape` from `root` with seed `dy`; returns d root / d wrt.
 *
 * Memory: the tape is topologically ordered, so once a node has been processed nothing reads the
 * gradient of its output again. That gradient is freed right away (gradients are shared between
 * map entries when a rule passes dy through, so they are reference-counted), which keeps the peak
 * near one layer's activations' gradients instead of all of them.
 */
function backward(tape: Tape, root: Tensor, dy: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const grads = new Map<number, Tensor>([[root.id, dy]]);
  const refs = new Map<Tensor, number>([[dy, 1]]);
  const hold = (t: Tensor) => refs.set(t, (refs.get(t) ?? 0) + 1);
  const release = (t: Tensor) => {
    const n = (refs.get(t) ?? 1) - 1;
    if (n > 0) {
      refs.set(t, n);
      return;
    }
    refs.delete(t);
    // The seed may be the caller's tensor; everything else here was made by the rules.
    if (t !== dy) t.dispose();
  };
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i]!;
    const g = grads.get(node.output.id);
    if (!g) continue;
    // The rule's temporaries die with its scope; only the input gradients come out.
    const inputGrads = engine.tidy(() => GRADIENTS[node.kernel](g, node));
    node.inputs.forEach((x, j) => {
      let gx = inputGrads[j];
      if (!gx || !tape.tracked.has(x.id) || !isFloatDType(x.dtype)) return;
      if (gx.dtype !== x.dtype) gx = cast(gx, x.dtype);
      const prev = grads.get(x.id);
      const next = prev ? add(prev, gx) : gx;
      hold(next);
      grads.set(x.id, next);
      if (prev) release(prev);
    });
    // Rule outputs that were summed into an existing gradient, or belong to inputs without one.
    for (const t of inputGrads) if (t && t !== g && t !== dy && !refs.has(t) && !t.isDisposed) t.dispose();
    grads.delete(node.output.id);
    release(g);
  }
  return wrt.map((x) => grads.get(x.id) ?? zerosLike(x));
}

/**
 * The value of `f()` and its gradients with respect to `wrt` (parameters, inputs, latents).
 * `f` must return a one-element float tensor, unless `seed` (the upstream gradient, shaped like
 * the value) is given: then this computes a vector-Jacobian product.
 */
export function gradients(f: () => Tensor, wrt: readonly Tensor[], seed?: Tensor): ValueAndGrads {
  checkWatched('gradients', wrt);
  const tape = engine.startTape(wrt);
  try {
    return engine.tidy(() => {
      const value = f();
      engine.stopTape(tape);
      if (!(value instanceof Tensor)) throw new InvalidArgumentError(`gradients: f must return a Tensor, got ${describe(value)}`);
      if (!isFloatDType(value.dtype)) throw new DTypeError(`gradients: f must return a float tensor, got ${value.dtype}`);
      if (seed) {
        if (seed.shape.length !== value.shape.length || seed.shape.some((d, i) => d !== value.shape[i])) {
          throw new ShapeError(`gradients: seed must have the value's shape ${describe(value.shape)}, got ${describe(seed.shape)}`);
        }
      } else if (value.size !== 1) {
        throw new ShapeError(`gradients: f must return a one-element tensor (a loss), got shape ${describe(value.shape)}; pass a seed for a vector-Jacobian product`);
      }
      const grads = engine.noGrad(() => backward(tape, value, seed ? cast(seed, value.dtype) : onesLike(value), wrt));
      return { value, grads };
    });
  } finally {
    engine.releaseTape(tape);
  }
}

/** Wraps `f(...xs)` into a function returning its value and the gradients w.r.t. every argument. */
export function valueAndGrad<A extends Tensor[]>(f: (...xs: A) => Tensor): (...xs: A) => ValueAndGrads {
  return (...xs: A) => gradients(() => f(...xs), xs);
}

/** Wraps `f(...xs)` into a function returning the gradients w.r.t. every argument. */
export function grad<A extends Tensor[]>(f: (...xs: A) => Tensor): (...xs: A) => Tensor[] {
  return (...xs: A) => {
    const { value, grads } = gradients(() => f(...xs), xs);
    value.dispose();
    return grads;
  };
}

/** Vector-Jacobian product: the gradient of <f(xs), dy> w.r.t. xs. */
export function vjp(f: () => Tensor, wrt: readonly Tensor[], dy: Tensor): ValueAndGrads {
  return gradients(f, wrt, dy);
}

/** Runs `fn` without recording for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  return engine.noGrad(fn);
}
