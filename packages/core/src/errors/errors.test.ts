// @denoise/core — tests for errors/index.ts: the kind guards (also across two copies of the
// module, as with duplicate installs or ESM + CJS side by side) and describe().

import { describe as group, it, expect } from 'vitest';
import * as errors from './index.js';
import {
  AbortError, BackendUnavailableError, CheckpointError, DTypeError, DenoiseError, DisposedTensorError, InvalidArgumentError, ShapeError, describe,
} from './index.js';
import { tensor } from '../ops/creation.js';

type ErrorModule = typeof errors;

const NAMES = [
  'DenoiseError', 'ShapeError', 'DTypeError', 'InvalidArgumentError', 'BackendUnavailableError', 'CheckpointError', 'DisposedTensorError', 'AbortError',
] as const;
type Name = (typeof NAMES)[number];

function classes(m: ErrorModule): Record<Name, typeof DenoiseError> {
  return Object.fromEntries(NAMES.map((n) => [n, m[n] as typeof DenoiseError])) as Record<Name, typeof DenoiseError>;
}

const local = classes(errors);

group('error classes', () => {
  for (const name of NAMES) {
    it(`${name}: name, kind, message, cause, prototype chain`, () => {
      const cause = new Error('root');
      const Cls = local[name];
      const e = name === 'BackendUnavailableError' ? new BackendUnavailableError('msg', [], { cause }) : new Cls('msg', { cause });
      expect(e.name).toBe(name);
      expect(e.kind).toBe(name);
      expect(e.message).toBe('msg');
      expect(e.cause).toBe(cause);
      expect(e).toBeInstanceOf(Error);
      expect(e).toBeInstanceOf(DenoiseError);
      expect(e).toBeInstanceOf(Cls);
      expect(typeof e.stack).toBe('string');
      expect(String(e)).toBe(`${name}: msg`);
      expect(Object.prototype.toString.call(e)).toBe('[object Error]');
    });
  }

  it('BackendUnavailableError carries its failures (default none)', () => {
    expect(new BackendUnavailableError('x').failures).toEqual([]);
    const failures = [
      { name: 'gpu', reason: 'no adapter' },
      { name: 'wasm', reason: 'no SIMD' },
    ];
    expect(new BackendUnavailableError('x', failures).failures).toEqual(failures);
  });
});

group('isInstance', () => {
  for (const guard of NAMES) {
    it(`${guard}.isInstance accepts exactly its own kind${guard === 'DenoiseError' ? ' (all kinds)' : ''}`, () => {
      for (const made of NAMES) {
        const e = new local[made]('m');
        const expected = guard === 'DenoiseError' || guard === made;
        expect(local[guard].isInstance(e), `${guard}.isInstance(new ${made})`).toBe(expected);
      }
    });
  }

  it('rejects things that are not @denoise errors', () => {
    const impostors: unknown[] = [
      null,
      undefined,
      0,
      'ShapeError',
      Symbol.for('@denoise/core/error'),
      new Error('plain'),
      new TypeError('type'),
      { kind: 'ShapeError', message: 'no marker' },
      { [Symbol.for('@denoise/core/error')]: 'true', kind: 'ShapeError' }, // marker must be exactly true
      { [Symbol('@denoise/core/error')]: true, kind: 'ShapeError' }, // a local symbol, not the registered one
      () => undefined,
    ];
    for (const guard of NAMES) for (const x of impostors) expect(local[guard].isInstance(x), `${guard} vs ${String(describe(x))}`).toBe(false);
  });

  it('a plain object carrying the registered marker and a kind is recognised', () => {
    const foreign = { [Symbol.for('@denoise/core/error')]: true, kind: 'CheckpointError', message: 'from elsewhere' };
    expect(DenoiseError.isInstance(foreign)).toBe(true);
    expect(CheckpointError.isInstance(foreign)).toBe(true);
    expect(ShapeError.isInstance(foreign)).toBe(false);
    // A marker without a known kind is still some @denoise error.
    const vague = { [Symbol.for('@denoise/core/error')]: true };
    expect(DenoiseError.isInstance(vague)).toBe(true);
    expect(InvalidArgumentError.isInstance(vague)).toBe(false);
  });

  it('errors from a separate copy of the module are recognised, both ways', async () => {
    const copyModule = (await import('./index.js?copy' as string)) as ErrorModule;
    const other = classes(copyModule);
    // Really another copy: instanceof cannot see across it.
    expect(other.ShapeError).not.toBe(ShapeError);
    expect(new other.ShapeError('x')).not.toBeInstanceOf(ShapeError);
    expect(new other.ShapeError('x')).not.toBeInstanceOf(DenoiseError);
    for (const guard of NAMES) {
      for (const made of NAMES) {
        const expected = guard === 'DenoiseError' || guard === made;
        expect(local[guard].isInstance(new other[made]('m')), `local ${guard} vs copy ${made}`).toBe(expected);
        expect(other[guard].isInstance(new local[made]('m')), `copy ${guard} vs local ${made}`).toBe(expected);
      }
    }
    const bue = new copyModule.BackendUnavailableError('x', [{ name: 'a', reason: 'b' }]);
    expect(BackendUnavailableError.isInstance(bue)).toBe(true);
    expect(bue.failures).toEqual([{ name: 'a', reason: 'b' }]);
  });

  it('a user subclass keeps its parent kind', () => {
    class MyCheckpointError extends CheckpointError {}
    const e = new MyCheckpointError('m');
    expect(e.name).toBe('MyCheckpointError');
    expect(CheckpointError.isInstance(e)).toBe(true);
    expect(DenoiseError.isInstance(e)).toBe(true);
    expect(AbortError.isInstance(e)).toBe(false);
  });

  it('guards narrow to the right type (compile-time check, trivially true at run time)', () => {
    const e: unknown = new BackendUnavailableError('x', [{ name: 'n', reason: 'r' }]);
    if (BackendUnavailableError.isInstance(e)) expect(e.failures[0]!.name).toBe('n');
    else throw new Error('unreachable');
    const d: unknown = new DisposedTensorError('gone');
    expect(DisposedTensorError.isInstance(d) && d.kind).toBe('DisposedTensorError');
  });
});

group('describe()', () => {
  it('arrays (shapes) as [a, b], nested, empty', () => {
    expect(describe([2, 3])).toBe('[2, 3]');
    expect(describe([])).toBe('[]');
    expect(describe([[1, 2], [3], []])).toBe('[[1, 2], [3], []]');
    expect(describe(['a', 1, null, undefined, true])).toBe('["a", 1, null, undefined, true]');
  });

  it('strings quoted with JSON escapes', () => {
    expect(describe('abc')).toBe('"abc"');
    expect(describe('')).toBe('""');
    expect(describe('say "hi"\n')).toBe('"say \\"hi\\"\\n"');
  });

  it('numbers, booleans, bigints, null and undefined as themselves', () => {
    expect(describe(3)).toBe('3');
    expect(describe(-1.5)).toBe('-1.5');
    expect(describe(1e-7)).toBe('1e-7');
    expect(describe(NaN)).toBe('NaN');
    expect(describe(-Infinity)).toBe('-Infinity');
    expect(describe(true)).toBe('true');
    expect(describe(10n)).toBe('10');
    expect(describe(null)).toBe('null');
    expect(describe(undefined)).toBe('undefined');
  });

  it('functions by name', () => {
    function namedFn() {
      return 1;
    }
    expect(describe(namedFn)).toBe('function namedFn');
    expect(describe(class Foo {})).toBe('function Foo');
    expect(describe([() => 1][0])).toBe('function (anonymous)');
  });

  it('plain objects as JSON', () => {
    expect(describe({ a: 1, b: [2, 3], c: 'x' })).toBe('{"a":1,"b":[2,3],"c":"x"}');
    expect(describe({})).toBe('{}');
    expect(describe(Object.create(null))).toBe('{}');
  });

  it('always a string, even where JSON cannot help', () => {
    expect(describe(Symbol('s'))).toBe('Symbol(s)');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describe(cyclic)).toBe('[object Object]');
    expect(describe({ n: 1n })).toBe('[object Object]');
    expect(describe({ toJSON: () => undefined })).toBe('[object Object]');
  });

  it('typed arrays by type, length and first entries', () => {
    expect(describe(new Float32Array([1, 2.5]))).toBe('Float32Array(2) [1, 2.5]');
    expect(describe(new Int32Array(0))).toBe('Int32Array(0) []');
    expect(describe(Float64Array.from({ length: 10 }, (_, i) => i))).toBe('Float64Array(10) [0, 1, 2, 3, 4, 5, 6, 7, ... 2 more]');
  });

  it('class instances by their toString or class name, without dumping internals', () => {
    const t = tensor(new Float32Array(10_000).fill(7), [100, 100]);
    const s = describe(t);
    expect(s).toBe(t.toString());
    expect(s).toContain('shape=[100, 100]');
    expect(s.length).toBeLessThan(200);
    expect(describe([t])).toBe(`[${t.toString()}]`);
    t.dispose();
    expect(describe(new Map([[1, 2]]))).toBe('[object Map]');
    expect(describe(new (class Widget {})())).toBe('[object Widget]');
    expect(describe(new ShapeError('bad'))).toBe('ShapeError: bad');
  });
});
