// Argument checks and NumPy-compatible helpers shared by the schedule functions. Schedules are
// host-side number crunching (a few thousand float64 values), so they work on plain arrays and
// never touch a backend.

import { InvalidArgumentError, describe } from '../errors/index.js';

/** A read-only list of numbers: a number[] or a Float64Array (or any typed array). */
export type NumberArray = ArrayLike<number>;

export function checkPositiveInt(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new InvalidArgumentError(`${op}: ${arg} must be a positive integer, got ${describe(v)}`);
  }
  return v;
}

export function checkNonNegativeInt(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`${op}: ${arg} must be an integer >= 0, got ${describe(v)}`);
  }
  return v;
}

/**
 * A finite number inside an interval; `lo`/`hi` bound it, `open` makes the bound exclusive.
 * `expected` names the interval in the message, e.g. "in (0, 1)".
 */
export function checkNumberIn(op: string, arg: string, v: unknown, lo: number, hi: number, openLo: boolean, openHi: boolean): number {
  const ok =
    typeof v === 'number' && Number.isFinite(v) && (openLo ? v > lo : v >= lo) && (openHi ? v < hi : v <= hi);
  if (!ok) {
    const range = `${openLo ? '(' : '['}${lo}, ${hi === Infinity ? 'Infinity' : hi}${openHi ? ')' : ']'}`;
    throw new InvalidArgumentError(`${op}: ${arg} must be a finite number in ${range}, got ${describe(v)}`);
  }
  return v;
}

/**
 * Copies a list of numbers into a Float64Array, checking each entry with `ok`; the message names
 * the first offending index. `expected` describes a valid entry ("in (0, 1]").
 */
export function checkArray(op: string, arg: string, values: unknown, ok: (v: number) => boolean, expected: string, minLength = 1): Float64Array {
  const isList = Array.isArray(values) || (ArrayBuffer.isView(values) && !(values instanceof DataView));
  if (!isList) throw new InvalidArgumentError(`${op}: ${arg} must be an array of numbers, got ${describe(values)}`);
  const list = values as ArrayLike<unknown>;
  if (list.length < minLength) throw new InvalidArgumentError(`${op}: ${arg} must hold at least ${minLength} value${minLength === 1 ? '' : 's'}, got ${list.length}`);
  const out = new Float64Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
      throw new InvalidArgumentError(`${op}: ${arg}[${i}] must be a finite number ${expected}, got ${describe(v)}`);
    }
    out[i] = v;
  }
  return out;
}

/** NumPy's linspace(start, stop, n) (endpoint included), value for value: start + i * step, last = stop. */
export function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

/** Rounds half to even, like NumPy's round and PyTorch's round. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; on an exact tie pick the even neighbour instead.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
