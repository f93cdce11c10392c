// Argument checks of the pipelines' public calls. Each throws an InvalidArgumentError whose
// message names the call, the argument, what was expected and what came, before any model runs.

import { AbortError, InvalidArgumentError, describe } from '@denoise/core';

export function checkInteger(op: string, arg: string, value: unknown, min: number, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${op}: ${arg} must be an integer in [${min}, ${max === Infinity ? 'inf' : max}], got ${describe(value)}`);
  }
  return value;
}

/** Guidance weight w: 0 or 1 run the conditional model alone (no unconditional pass), w > 1 guides. */
export function checkGuidance(op: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value === 0 || value >= 1)) {
    throw new InvalidArgumentError(`${op}: guidanceScale must be 0 (no guidance) or a finite number >= 1, got ${describe(value)}`);
  }
  return value;
}

/** img2img / inpainting strength in (0, 1]. */
export function checkStrength(op: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) throw new InvalidArgumentError(`${op}: strength must be a number in (0, 1], got ${describe(value)}`);
  return value;
}

/** A seed for image 0; image i uses seed + i. */
export function checkSeed(op: string, value: unknown, batch: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || !Number.isSafeInteger(value + batch - 1)) {
    throw new InvalidArgumentError(`${op}: seed must be a non-negative integer (seed + batch - 1 a safe integer), got ${describe(value)}`);
  }
  return value;
}

/** A pixel size: a positive multiple of `multiple` (8, and the VAE's downsampling factor). */
export function checkPixelSize(op: string, arg: string, value: unknown, multiple: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < multiple || value % multiple !== 0) {
    throw new InvalidArgumentError(`${op}: ${arg} must be a positive multiple of ${multiple}, got ${describe(value)}`);
  }
  return value;
}

export function checkOneOf<T extends string>(op: string, arg: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`${op}: ${arg} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

export function checkOptional(op: string, arg: string, value: unknown, kind: 'function' | 'boolean'): void {
  if (value !== undefined && typeof value !== kind) throw new InvalidArgumentError(`${op}: ${arg} must be a ${kind}, got ${describe(value)}`);
}

export function checkSignal(op: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as AbortSignal).aborted !== 'boolean') {
    throw new InvalidArgumentError(`${op}: signal must be an AbortSignal, got ${describe(value)}`);
  }
  return value as AbortSignal;
}

/** Throws core's AbortError when `signal` is aborted (checked between the stages of a call). */
export function throwIfAborted(op: string, signal: AbortSignal | undefined, stage: string): void {
  if (!signal?.aborted) return;
  const reason = signal.reason instanceof Error ? signal.reason.message : signal.reason !== undefined ? String(signal.reason) : 'aborted';
  throw new AbortError(`${op}: cancelled before ${stage} (${reason})`, { cause: signal.reason });
}

/**
 * The batch size: `batch` when given, else the length of the first per-image list given (a
 * prompt array, class labels), else 1. Every per-image list must have that length.
 */
export function resolveBatch(op: string, batch: unknown, lists: readonly { arg: string; value: unknown }[]): number {
  const arrays = lists.filter((l) => Array.isArray(l.value));
  const size = batch === undefined ? (arrays.length ? (arrays[0]!.value as unknown[]).length : 1) : checkInteger(op, 'batch', batch, 1);
  if (size < 1) throw new InvalidArgumentError(`${op}: ${arrays[0]!.arg} must not be empty`);
  for (const l of arrays) {
    const n = (l.value as unknown[]).length;
    if (n !== size) throw new InvalidArgumentError(`${op}: ${l.arg} must hold one entry per image (${size}${batch === undefined ? `, the length of ${arrays[0]!.arg}` : ', the batch'}), got ${n}`);
  }
  return size;
}

/** A prompt (string, or one string per image) as `batch` strings. */
export function promptList(op: string, arg: string, value: unknown, batch: number): string[] {
  if (typeof value === 'string') return new Array<string>(batch).fill(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...(value as string[])];
  throw new InvalidArgumentError(`${op}: ${arg} must be a string or an array of ${batch} strings, got ${describe(value)}`);
}
