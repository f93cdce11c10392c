// Host-side numerics of the diffusers adapter: beta schedules, timestep spacings and sigma
// ladders, computed the way diffusers computes them so that the numbers agree to float32.
//
// diffusers keeps its schedules in float32 torch tensors and float64 NumPy arrays, converting
// between them at fixed places. Each function here says which precision a value has in diffusers
// and rounds to float32 (Math.fround) at exactly those places. Elementwise float32 arithmetic
// (+ - * / sqrt) is reproduced exactly by computing in float64 and rounding once; transcendental
// functions (log, exp, pow) can differ from torch's and NumPy's vector kernels in the last bit.
// Everything here is private to src/schedulers; nothing depends on src/schedules.

export const f32 = Math.fround;

/** NumPy's np.round / torch.round: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds half up; fix exact ties toward the even neighbour.
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

// ---- NumPy's float32 log ---------------------------------------------------------------------
//
// diffusers takes np.log of float32 sigma tables. NumPy's float32 log on x86-64 (its AVX2 /
// AVX-512F kernels, and the portable SIMD kernel of later releases) is not correctly rounded: it
// evaluates a fixed rational approximation with fused multiply-adds, and about one value in five
// differs from the correctly rounded log in the last bit. That last bit decides which side of a
// training grid point a Karras or exponential ladder's end lands on, and so (after DPM-Solver's
// truncation to integers) whole timesteps. The same evaluation is reproduced here in float32.
// Coefficients of the approximation P(y)/Q(y) for log(1 + y), y in [sqrt(1/2) - 1, sqrt(2) - 1).
const LOG_P = [0, 9.999999999999998702752e-1, 2.112677543073053063722, 1.480000633576506585156, 3.808837741388407920751e-1, 2.589979117907922693523e-2].map(Math.fround);
const LOG_Q = [1, 2.612677543073109236779, 2.453006071784736363091, 9.864942958519418960339e-1, 1.546476374983906719538e-1, 5.875095403124574342950e-3].map(Math.fround);
const LN2_F32 = Math.fround(Math.LN2);
const SQRT1_2_F32 = Math.fround(Math.SQRT1_2);
const F32_MIN_NORMAL = 2 ** -126;
const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);

/** float32 fused multiply-add a * b + c (the product is exact in float64; one more rounding is rarely visible). */
function fmaf(a: number, b: number, c: number): number {
  return Math.fround(a * b + c);
}

/** np.log on a float32 value, as NumPy's SIMD float32 kernel computes it. */
export function npLogF32(value: number): number {
  let x = Math.fround(value);
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let scaleExp = 0;
  if (x < F32_MIN_NORMAL) {
    x = Math.fround(x * 2 ** 100);
    scaleExp = 100;
  }
  f32Bits[0] = x;
  const bits = u32Bits[0]!;
  let e = ((bits >>> 23) & 0xff) - 126 - scaleExp;
  u32Bits[0] = (bits & 0x7fffff) | 0x3f000000;
  let m = f32Bits[0]!; // in [0.5, 1)
  if (m <= SQRT1_2_F32) {
    m = Math.fround(m + m);
    e -= 1;
  }
  const y = Math.fround(m - 1);
  let num = fmaf(LOG_P[5]!, y, LOG_P[4]!);
  let den = fmaf(LOG_Q[5]!, y, LOG_Q[4]!);
  for (let k = 3; k >= 0; k--) {
    num = fmaf(num, y, LOG_P[k]!);
    den = fmaf(den, y, LOG_Q[k]!);
  }
  return fmaf(e, LN2_F32, Math.fround(num / den));
}

/** np.linspace(start, stop, num) in float64: i * step + start, the last point exactly `stop`. */
export function npLinspace(start: number, stop: number, num: number): number[] {
  const out = new Array<number>(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const div = num - 1;
  const delta = stop - start;
  const step = delta / div;
  for (let i = 0; i < num; i++) out[i] = step === 0 ? (i / div) * delta + start : i * step + start;
  out[num - 1] = stop;
  return out;
}

/**
 * np.arange(start, stop, step) in float64. NumPy fills float ranges as start + i * delta with
 * delta = (start + step) - start, and sizes them by ceil((stop - start) / step).
 */
export function npArange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Array<number>(length);
  if (length === 0) return out;
  out[0] = start;
  if (length === 1) return out;
  const delta = start + step - start;
  for (let i = 1; i < length; i++) out[i] = start + i * delta;
  return out;
}

/**
 * torch.linspace(start, end, steps, dtype=float32) on the CPU, bit for bit. In float32: step =
 * (end - start) / (steps - 1); the first half is start + step * i and the second half
 * end - step * (steps - 1 - i), each a fused multiply-add (torch's x86-64 kernels are built with
 * FMA and contraction). torch 2 evaluates every element that way; torch 1.x (1.13) filled 16 at a
 * time with 8-wide vectors whose lanes add l * step to the first lane's value, leaving the last
 * steps % 16 elements to the scalar formula. The two differ in the last bit of about a fifth of
 * the values; `torch` picks the major version to match.
 */
export function torchLinspace32(start: number, end: number, steps: number, torch: 1 | 2 = 2): number[] {
  const s = f32(start);
  const e = f32(end);
  const out = new Array<number>(steps);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const scalar = (i: number) => (i < half ? fmaf(step, i, s) : fmaf(-step, steps - i - 1, e));
  let i = 0;
  if (torch === 1) {
    // two 8-lane vectors per iteration while 16 elements remain
    for (; i + 16 <= steps; i += 16) {
      for (const v of [i, i + 8]) {
        const base = scalar(v);
        out[v] = base;
        for (let l = 1; l < 8; l++) out[v + l] = f32(base + f32(l * step));
      }
    }
  }
  for (; i < steps; i++) out[i] = scalar(i);
  return out;
}

/** np.interp(x, [0, 1, ..., n-1], fp) for one x (float64). */
export function interpIndex(x: number, fp: readonly number[]): number {
  const n = fp.length;
  if (!(x > 0)) return x === 0 || x < 0 ? fp[0]! : NaN;
  if (x >= n - 1) return fp[n - 1]!;
  const j = Math.floor(x);
  if (x === j) return fp[j]!;
  const slope = fp[j + 1]! - fp[j]!; // (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]) with unit spacing
  return slope * (x - j) + fp[j]!;
}

// ---- betas -----------------------------------------------------------------------------------

function alphaBarCosine(t: number): number {
  return Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
}

function alphaBarExp(t: number): number {
  return Math.exp(t * -12.0);
}

function alphaBarLaplace(t: number): number {
  const lmb = -0.5 * Math.sign(0.5 - t || 1) * Math.log(1 - 2 * Math.abs(0.5 - t) + 1e-6);
  const snr = Math.exp(lmb);
  return Math.sqrt(snr / (1 + snr));
}

/** diffusers' betas_for_alpha_bar: float64 arithmetic, stored as float32. */
export function betasForAlphaBar(n: number, kind: 'cosine' | 'exp' | 'laplace', maxBeta = 0.999): number[] {
  const fn = kind === 'cosine' ? alphaBarCosine : kind === 'exp' ? alphaBarExp : alphaBarLaplace;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t1 = i / n;
    const t2 = (i + 1) / n;
    out[i] = f32(Math.min(1 - fn(t2) / fn(t1), maxBeta));
  }
  return out;
}

export type BetaScheduleName = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2' | 'exp' | 'laplace' | 'sigmoid';

/** The float32 betas of a diffusers scheduler constructor. */
export function makeBetas(
  schedule: BetaScheduleName,
  n: number,
  betaStart: number,
  betaEnd: number,
  trained: readonly number[] | null,
  torch: 1 | 2 = 2,
): number[] {
  if (trained) return trained.map(f32);
  switch (schedule) {
    case 'linear':
      return torchLinspace32(betaStart, betaEnd, n, torch);
    case 'scaled_linear':
      return torchLinspace32(Math.sqrt(betaStart), Math.sqrt(betaEnd), n, torch).map((b) => f32(b * b));
    case 'squaredcos_cap_v2':
      return betasForAlphaBar(n, 'cosine');
    case 'exp':
      return betasForAlphaBar(n, 'exp');
    case 'laplace':
      return betasForAlphaBar(n, 'laplace');
    case 'sigmoid': {
      // torch.sigmoid(torch.linspace(-6, 6, n)) * (end - start) + start, all float32
      const range = f32(betaEnd - betaStart);
      return torchLinspace32(-6, 6, n, torch).map((x) => f32(f32(f32(1 / (1 + Math.exp(-x))) * range) + f32(betaStart)));
    }
  }
}

/** torch.cumprod on float32: accumulates in float64, stores float32. */
export function cumprod32(values: readonly number[]): number[] {
  const out = new Array<number>(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i]!;
    out[i] = f32(acc);
  }
  return out;
}

/** rescale_zero_terminal_snr (Lin et al. 2023, algorithm 1) in float32 steps, like diffusers. */
export function rescaleZeroTerminalSnr(betas: readonly number[]): number[] {
  const alphas = betas.map((b) => f32(1 - b));
  const abar = cumprod32(alphas);
  const sq = abar.map((a) => f32(Math.sqrt(a)));
  const s0 = sq[0]!;
  const sT = sq[sq.length - 1]!;
  const scale = f32(s0 / f32(s0 - sT));
  const shifted = sq.map((v) => f32(f32(v - sT) * scale));
  const bar = shifted.map((v) => f32(v * v));
  const out = new Array<number>(bar.length);
  out[0] = f32(1 - bar[0]!);
  for (let i = 1; i < bar.length; i++) out[i] = f32(1 - f32(bar[i]! / bar[i - 1]!));
  return out;
}

/** sqrt((1 - a) / a) for a float32 alphas_cumprod entry, in float32. */
export function sigmaFromAlphaBar(a: number): number {
  return f32(Math.sqrt(f32(f32(1 - a) / a)));
}

// ---- sigma ladders ---------------------------------------------------------------------------

/**
 * diffusers' _sigma_to_t: the fractional training timestep whose log-sigma matches `sigma`,
 * interpolating linearly in log-sigma between neighbouring training steps. `logSigmas` (float32)
 * ascend. The arithmetic mixes a float64 log-sigma with the float32 table: NumPy 2 (NEP 50)
 * computes in float64, NumPy 1's value-based casting in float32 — the results differ by about
 * 1e-7 relative, and by a whole step where DPM-Solver truncates a value just below an integer.
 */
export function sigmaToT(sigma: number, logSigmas: readonly number[], numpy: 1 | 2 = 2): number {
  const n = logSigmas.length;
  let logSigma = Math.log(Math.max(sigma, 1e-10));
  if (numpy === 1) logSigma = f32(logSigma);
  // The last index whose log-sigma does not exceed logSigma (0 when none), at most n - 2.
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma >= logSigmas[i]!) low = i;
  if (low > n - 2) low = n - 2;
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  let w = numpy === 1 ? f32(f32(lo - logSigma) / f32(lo - hi)) : (lo - logSigma) / (lo - hi);
  w = Math.min(Math.max(w, 0), 1);
  const oneMinusW = numpy === 1 ? f32(1 - w) : 1 - w;
  return oneMinusW * low + w * (low + 1);
}

/** Karras et al. (2022) rho = 7 ladder from sigmaMax down to sigmaMin, float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7.0;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return npLinspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** Log-uniform ladder from sigmaMax down to sigmaMin, float64. */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  return npLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
}

/** Lu et al.'s uniform-lambda ladder (rho = 1) between two log-sigma bounds, float64. */
export function luLambdas(lambdaMin: number, lambdaMax: number, n: number): number[] {
  return npLinspace(0, 1, n).map((r) => lambdaMax + r * (lambdaMin - lambdaMax));
}

// ---- timestep spacings -----------------------------------------------------------------------

export type Spacing = 'leading' | 'trailing' | 'linspace';

/**
 * The descending float64 timesteps most schedulers build (before their final dtype cast):
 *  linspace: linspace(0, T - 1, N) reversed (rounded only where the caller rounds);
 *  leading:  arange(N) * (T // N), reversed, + steps_offset;
 *  trailing: round(arange(T, 0, -T / N)) - 1.
 */
export function spacedTimesteps(spacing: Spacing, T: number, N: number, stepsOffset: number, roundLinspace: boolean): number[] {
  switch (spacing) {
    case 'linspace': {
      const ts = npLinspace(0, T - 1, N).reverse();
      return roundLinspace ? ts.map(roundHalfEven) : ts;
    }
    case 'leading': {
      const ratio = Math.floor(T / N);
      const ts: number[] = [];
      for (let i = N - 1; i >= 0; i--) ts.push(i * ratio + stepsOffset);
      return ts;
    }
    case 'trailing':
      return npArange(T, 0, -T / N).map((t) => roundHalfEven(t) - 1);
  }
}

// ---- dynamic thresholding --------------------------------------------------------------------

/** torch.quantile(values, q) with linear interpolation (values are copied, then sorted). */
export function quantileLinear(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const frac = pos - lo;
  return sorted[lo]! + frac * (sorted[hi]! - sorted[lo]!);
}

/**
 * The per-batch-entry scales of diffusers' _threshold_sample from x's values (batch-major):
 * the `ratio` quantile of |x| (float32-rounded for float32 samples), clamped to [1, maxValue].
 */
export function thresholdScales(values: ArrayLike<number>, batch: number, float32: boolean, ratio: number, maxValue: number): number[] {
  const per = values.length / batch;
  const scales: number[] = [];
  for (let b = 0; b < batch; b++) {
    const abs = new Float64Array(per);
    for (let i = 0; i < per; i++) abs[i] = Math.abs(values[b * per + i] as number);
    let s = quantileLinear(abs, ratio);
    if (float32) s = f32(s);
    scales.push(Math.min(Math.max(s, 1), maxValue));
  }
  return scales;
}
