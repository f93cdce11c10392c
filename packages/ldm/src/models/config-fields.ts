// Reading config.json objects with typed validation: each field is read with its expected type
// and range, every problem is collected, and one ConfigError lists them all (the component, each
// field, what was expected and what came). Keys starting with "_" (`_class_name`,
// `_diffusers_version`, `_name_or_path`) and keys the reader never asks about are ignored, as
// diffusers and transformers ignore them.

import { InvalidArgumentError, describe } from '@denoise/core';

/** A config.json object that does not describe a model these classes can build. */
export class ConfigError extends InvalidArgumentError {
  constructor(
    message: string,
    /** 'UNet2DConditionModel', 'AutoencoderKL', 'CLIPTextModel'. */
    readonly component: string,
    /** One line per bad field: `field: expected ..., got ...`. */
    readonly problems: readonly string[],
  ) {
    super(message);
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

export class FieldReader {
  readonly problems: string[] = [];

  constructor(
    readonly component: string,
    readonly json: Readonly<Record<string, unknown>>,
  ) {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ConfigError(`${component}: config must be a JSON object, got ${describe(json)}`, component, ['config: expected an object']);
    }
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.json, name) && this.json[name] !== undefined;
  }

  private raw(name: string): unknown {
    return this.json[name];
  }

  problem(name: string, expected: string, got: unknown = this.raw(name)): void {
    this.problems.push(`${name}: expected ${expected}, got ${describe(got)}`);
  }

  int(name: string, dflt: number, min = 0): number {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (isInt(v) && v >= min) return v;
    this.problem(name, `an integer >= ${min}`);
    return dflt;
  }

  nullableInt(name: string, dflt: number | null, min = 1): number | null {
    if (!this.has(name) || this.raw(name) === null) return this.has(name) ? null : dflt;
    return this.int(name, dflt ?? min, min);
  }

  number(name: string, dflt: number, positive = false): number {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0)) return v;
    this.problem(name, positive ? 'a positive number' : 'a finite number');
    return dflt;
  }

  nullableNumber(name: string, dflt: number | null): number | null {
    if (!this.has(name)) return dflt;
    if (this.raw(name) === null) return null;
    return this.number(name, dflt ?? 0);
  }

  bool(name: string, dflt: boolean): boolean {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (typeof v === 'boolean') return v;
    this.problem(name, 'true or false');
    return dflt;
  }

  oneOf<T extends string | null>(name: string, allowed: readonly T[], dflt: T, unsupported: readonly string[] = []): T {
    if (!this.has(name)) return dflt;
    const v = this.raw(name) as T;
    if (allowed.includes(v)) return v;
    if (typeof v === 'string' && unsupported.includes(v)) this.problems.push(`${name}: ${describe(v)} is not supported (supported: ${allowed.map((a) => describe(a)).join(', ')})`);
    else this.problem(name, `one of ${allowed.map((a) => describe(a)).join(', ')}`);
    return dflt;
  }

  /** An integer or a list of integers (one per block when `length` is given). */
  intOrList(name: string, dflt: number | number[], length: number | null, min = 1): number | number[] {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (isInt(v) && v >= min) return v;
    if (Array.isArray(v) && v.length > 0 && v.every((x) => isInt(x) && x >= min)) {
      if (length !== null && v.length !== length) {
        this.problem(name, `${length} entries (one per block)`, v);
        return dflt;
      }
      return [...(v as number[])];
    }
    this.problem(name, `an integer >= ${min} or a list of them`);
    return dflt;
  }

  intList(name: string, dflt: number[], min = 1): number[] {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (Array.isArray(v) && v.length > 0 && v.every((x) => isInt(x) && x >= min)) return [...(v as number[])];
    this.problem(name, `a non-empty list of integers >= ${min}`);
    return dflt;
  }

  boolOrList(name: string, dflt: boolean | boolean[], length: number): boolean | boolean[] {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (typeof v === 'boolean') return v;
    if (Array.isArray(v) && v.length === length && v.every((x) => typeof x === 'boolean')) return [...(v as boolean[])];
    this.problem(name, `true, false or a list of ${length} of them`);
    return dflt;
  }

  stringList<T extends string>(name: string, allowed: readonly T[], dflt: T[], unsupported: (s: string) => boolean = () => false): T[] {
    if (!this.has(name)) return dflt;
    const v = this.raw(name);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
      this.problem(name, 'a non-empty list of block type names');
      return dflt;
    }
    const bad = (v as string[]).filter((x) => !allowed.includes(x as T));
    if (bad.length) {
      const kind = bad.some(unsupported) ? 'not supported' : 'unknown';
      this.problems.push(`${name}: ${bad.map((b) => describe(b)).join(', ')} ${bad.length > 1 ? 'are' : 'is'} ${kind} (supported: ${allowed.join(', ')})`);
      return dflt;
    }
    return [...(v as T[])];
  }

  /** A field this implementation only supports at its default value (null / false / a string). */
  onlyDefault(name: string, dflt: unknown, why: string): void {
    if (!this.has(name)) return;
    const v = this.raw(name);
    if (v === dflt || (dflt === null && v === null)) return;
    this.problems.push(`${name}: ${describe(v)} is not supported (${why})`);
  }

  /** A raw value (checked by the caller). */
  get(name: string): unknown {
    return this.raw(name);
  }

  /** Throws one ConfigError for everything collected. */
  finish(): void {
    if (this.problems.length === 0) return;
    throw new ConfigError(`${this.component}: invalid or unsupported config:\n  ${this.problems.join('\n  ')}`, this.component, [...this.problems]);
  }
}
