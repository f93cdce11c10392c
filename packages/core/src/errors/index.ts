// Typed errors of @denoise. Every package throws these so that callers can branch on the kind of
// failure. `isInstance` checks a Symbol.for marker instead of `instanceof`, so the check survives
// two copies of @denoise/core in one process (duplicate installs, ESM and CJS side by side).

const MARKER = Symbol.for('@denoise/core/error');

export type DenoiseErrorKind =
  | 'DenoiseError'
  | 'ShapeError'
  | 'DTypeError'
  | 'InvalidArgumentError'
  | 'BackendUnavailableError'
  | 'CheckpointError'
  | 'DisposedTensorError'
  | 'AbortError';

export class DenoiseError extends Error {
  readonly [MARKER] = true;
  readonly kind: DenoiseErrorKind = 'DenoiseError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** True for any @denoise error, from this copy of the package or another one. */
  static isInstance(error: unknown): error is DenoiseError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}

function kindGuard<T extends DenoiseError>(kind: DenoiseErrorKind) {
  return (error: unknown): error is T => DenoiseError.isInstance(error) && error.kind === kind;
}

/** A tensor has the wrong rank or size, or two shapes do not broadcast. */
export class ShapeError extends DenoiseError {
  override readonly kind = 'ShapeError';
  static override isInstance = kindGuard<ShapeError>('ShapeError');
}

/** A tensor has a dtype the operation does not accept. */
export class DTypeError extends DenoiseError {
  override readonly kind = 'DTypeError';
  static override isInstance = kindGuard<DTypeError>('DTypeError');
}

/** An argument that is not a tensor (a number, an option, a string) is out of range or malformed. */
export class InvalidArgumentError extends DenoiseError {
  override readonly kind = 'InvalidArgumentError';
  static override isInstance = kindGuard<InvalidArgumentError>('InvalidArgumentError');
}

/** No backend could be initialised; the message lists why each candidate failed. */
export class BackendUnavailableError extends DenoiseError {
  override readonly kind = 'BackendUnavailableError';
  static override isInstance = kindGuard<BackendUnavailableError>('BackendUnavailableError');
  /** Per-candidate failure reasons, in the order the candidates were tried. */
  readonly failures: ReadonlyArray<{ name: string; reason: string }>;
  constructor(message: string, failures: ReadonlyArray<{ name: string; reason: string }> = [], options?: { cause?: unknown }) {
    super(message, options);
    this.failures = failures;
  }
}

/** A checkpoint file is missing, truncated, corrupt or does not match the model. */
export class CheckpointError extends DenoiseError {
  override readonly kind = 'CheckpointError';
  static override isInstance = kindGuard<CheckpointError>('CheckpointError');
}

/** A tensor was used after `dispose()`. */
export class DisposedTensorError extends DenoiseError {
  override readonly kind = 'DisposedTensorError';
  static override isInstance = kindGuard<DisposedTensorError>('DisposedTensorError');
}

/** Long work (sampling, training) was cancelled through an AbortSignal. */
export class AbortError extends DenoiseError {
  override readonly kind = 'AbortError';
  static override isInstance = kindGuard<AbortError>('AbortError');
}

/** Typed arrays longer than this are shown by their first entries only. */
const MAX_TYPED_ENTRIES = 8;

/**
 * Formats a value for an error message: shapes as [a, b], strings quoted, plain objects as
 * JSON, class instances (a Tensor, a Map) by their own toString() or their class name. Always
 * returns a short-ish string, never undefined, and never dumps an object's internals.
 */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value == null) return String(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  const obj = value as object;
  if (ArrayBuffer.isView(obj) && !(obj instanceof DataView)) {
    const arr = obj as unknown as ArrayLike<number | bigint>;
    const shown = Array.from({ length: Math.min(arr.length, MAX_TYPED_ENTRIES) }, (_, i) => String(arr[i]));
    if (arr.length > MAX_TYPED_ENTRIES) shown.push(`... ${arr.length - MAX_TYPED_ENTRIES} more`);
    return `${obj.constructor.name}(${arr.length}) [${shown.join(', ')}]`;
  }
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) {
    // A class instance: JSON would dump its internals (a Tensor's backend and data).
    if (typeof (obj as { toString?: unknown }).toString === 'function' && (obj as { toString: unknown }).toString !== Object.prototype.toString) {
      try {
        const s = String(obj);
        if (typeof s === 'string') return s;
      } catch {
        // fall through to the class name
      }
    }
    const name = (obj as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name ? `[object ${name}]` : Object.prototype.toString.call(obj);
  }
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') return json;
  } catch {
    // BigInt or a cycle inside: fall back to the tag
  }
  return Object.prototype.toString.call(value);
}
