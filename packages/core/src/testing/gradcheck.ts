// Finite-difference gradient checking in float64 on the reference backend: the independent
// oracle for every gradient rule in autograd/gradients.ts.

import { gradients } from '../autograd/index.js';
import { createReferenceBackend } from '../backend/reference/backend.js';
import type { Backend } from '../backend/types.js';
import { engine } from '../engine/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { mul } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| / (atol + rtol * |numeric|) over all entries (<= 1 passes). */
  worst: number;
  /** Where the worst entry is: input index and flat position. */
  at: { input: number; index: number; analytic: number; numeric: number } | null;
}

export interface GradcheckOptions {
  /** Central-difference step. Default 1e-6. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Backend to run on; default a private float64 reference backend. */
  backend?: Backend;
}

let shared: Backend | null = null;

/**
 * Checks d/dx of sum(f(xs) * w) for a fixed random weight w (so every output entry matters)
 * against central differences. `inputs` are float64 host arrays with shapes; `indexInputs`
 * (int32) are passed through untouched after the float inputs.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: ReadonlyArray<{ shape: number[]; values: Float64Array; dtype?: 'float64' | 'int32' | 'bool' }>,
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-7;
  const rtol = options.rtol ?? 1e-5;
  const backend = options.backend ?? (shared ??= createReferenceBackend());
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    return engine.tidy(() => {
      const make = (i: number, values: Float64Array): Tensor => {
        const inp = inputs[i]!;
        const dtype = inp.dtype ?? 'float64';
        const data = dtype === 'float64' ? values : dtype === 'int32' ? Int32Array.from(values) : Uint8Array.from(values);
        return engine.upload(data.slice(), inp.shape, dtype, backend);
      };
      const xs = inputs.map((inp, i) => make(i, inp.values));
      const probe = f(...xs);
      // A fixed, non-uniform weighting of the outputs.
      const wVals = new Float64Array(probe.size);
      for (let i = 0; i < wVals.length; i++) wVals[i] = Math.sin(1.3 * i + 0.7) + 0.1;
      const w = engine.upload(wVals, probe.shape, 'float64', backend);
      const floatIdx = inputs.flatMap((inp, i) => ((inp.dtype ?? 'float64') === 'float64' ? [i] : []));
      const loss = (...args: Tensor[]) => sum(mul(f(...args), w));
      const { grads } = gradients(() => loss(...xs), floatIdx.map((i) => xs[i]!));
      let worst = 0;
      let at: GradcheckResult['at'] = null;
      floatIdx.forEach((inputIndex, gi) => {
        const analytic = grads[gi]!.dataSync();
        const base = inputs[inputIndex]!.values;
        for (let k = 0; k < base.length; k++) {
          const plus = base.slice();
          const minus = base.slice();
          plus[k] = (plus[k] as number) + eps;
          minus[k] = (minus[k] as number) - eps;
          const eval1 = (vals: Float64Array) =>
            engine.tidy(() => {
              const args = xs.map((x, j) => (j === inputIndex ? make(j, vals) : x));
              return loss(...args).item();
            });
          const numeric = (eval1(plus) - eval1(minus)) / (2 * eps);
          const a = analytic[k] as number;
          const err = Math.abs(a - numeric) / (atol + rtol * Math.abs(numeric));
          if (!(err <= worst) || Number.isNaN(err)) {
            worst = Number.isNaN(err) ? Infinity : err;
            at = { input: inputIndex, index: k, analytic: a, numeric };
          }
        }
      });
      return { ok: worst <= 1, worst, at };
    });
  } finally {
    engine.setBackend(prev);
  }
}
