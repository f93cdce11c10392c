// @denoise/core — tests for backend/registry.ts: priorities, lazy one-shot factories (also under
// concurrent resolution), the combined failure report, explicit-only backends, re-registration
// and setBackend / getBackend. Fake backends are distinct reference-backend instances, told
// apart by identity.

import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { BackendUnavailableError, DenoiseError, InvalidArgumentError } from '../errors/index.js';
import type { Backend } from './types.js';
import { createReferenceBackend } from './reference/backend.js';
import { _resetRegistryForTests, getBackend, listBackends, registerBackend, resolveBackend, setBackend, type BackendFactory } from './registry.js';
import { tensor } from '../ops/creation.js';

/** A factory that counts its calls and returns `backend` (or throws / rejects). */
function counted(result: Backend | Error | (() => Promise<Backend>), opts: { sync?: boolean } = {}): BackendFactory & { calls: number } {
  const f = (() => {
    f.calls++;
    if (result instanceof Error) {
      if (opts.sync) throw result;
      return Promise.reject(result);
    }
    if (typeof result === 'function') return result();
    return opts.sync ? result : Promise.resolve(result);
  }) as BackendFactory & { calls: number };
  f.calls = 0;
  return f;
}

/** A promise whose resolution the test controls. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

let previous: Backend;
beforeEach(() => {
  _resetRegistryForTests();
  previous = getBackend();
});
afterEach(async () => {
  await setBackend(previous);
  _resetRegistryForTests();
});

describe('registration and priority', () => {
  it('the reference backend is always registered', () => {
    expect(listBackends()).toEqual(['reference']);
  });

  it('lists by priority, highest first, ties in registration order', () => {
    const b = createReferenceBackend();
    registerBackend('a', counted(b), 1);
    registerBackend('b', counted(b), 5);
    registerBackend('c', counted(b), -1);
    registerBackend('d', counted(b), 5);
    expect(listBackends()).toEqual(['b', 'd', 'a', 'reference', 'c']);
  });

  it('registering does not run the factory', () => {
    const f = counted(createReferenceBackend());
    registerBackend('lazy', f, 3);
    expect(f.calls).toBe(0);
  });

  it('bad registrations', async () => {
    const f = counted(createReferenceBackend());
    expect(() => registerBackend('', f)).toThrow(InvalidArgumentError);
    expect(() => registerBackend(3 as never, f)).toThrow(/name/);
    expect(() => registerBackend('x', 'not a function' as never)).toThrow(/factory/);
    expect(() => registerBackend('x', f, NaN)).toThrow(/priority/);
    expect(() => registerBackend('x', f, Infinity)).toThrow(/priority/);
    expect(listBackends()).toEqual(['reference']);
  });
});

describe('resolveBackend', () => {
  it('with no names: the highest-priority backend that initialises', async () => {
    const good = createReferenceBackend();
    const low = counted(createReferenceBackend());
    const failing = counted(new Error('no adapter'));
    const ok = counted(good);
    registerBackend('low', low, 1);
    registerBackend('gpu', failing, 10);
    registerBackend('wasm', ok, 5);
    expect(await resolveBackend()).toBe(good);
    expect(failing.calls).toBe(1);
    expect(ok.calls).toBe(1);
    // Candidates after the first success are never initialised.
    expect(low.calls).toBe(0);
  });

  it('with names: in the given order, not by priority', async () => {
    const a = createReferenceBackend();
    const b = createReferenceBackend();
    registerBackend('a', counted(a), 1);
    registerBackend('b', counted(b), 100);
    expect(await resolveBackend(['a', 'b'])).toBe(a);
    expect(await resolveBackend(['b', 'a'])).toBe(b);
  });

  it('falls through failures to the reference backend', async () => {
    registerBackend('gpu', counted(new Error('no adapter')), 10);
    const r = await resolveBackend(['gpu', 'reference']);
    expect(r.name).toBe('reference');
    expect(r.specVersion).toBe(1);
    // The reference entry is initialised once, too.
    expect(await resolveBackend(['reference'])).toBe(r);
    expect(await resolveBackend()).toBe(r);
  });

  it('runs a factory once and reuses its backend', async () => {
    const b = createReferenceBackend();
    const f = counted(b, { sync: true });
    registerBackend('x', f);
    expect(await resolveBackend(['x'])).toBe(b);
    expect(await resolveBackend(['x'])).toBe(b);
    expect(f.calls).toBe(1);
  });

  it('runs a factory once when resolved concurrently', async () => {
    const b = createReferenceBackend();
    const gate = deferred<Backend>();
    const f = counted(() => gate.promise);
    registerBackend('slow', f, 1);
    const both = Promise.all([resolveBackend(['slow']), resolveBackend()]);
    // Let both resolutions reach the factory's pending promise.
    await new Promise((r) => setTimeout(r, 5));
    expect(f.calls).toBe(1);
    gate.resolve(b);
    const [r1, r2] = await both;
    expect(r1).toBe(b);
    expect(r2).toBe(b);
    expect(f.calls).toBe(1);
  });

  it('a failing factory is not retried (also when resolved concurrently)', async () => {
    const gate = deferred<Backend>();
    const f = counted(() => gate.promise);
    registerBackend('flaky', f);
    const both = Promise.allSettled([resolveBackend(['flaky']), resolveBackend(['flaky'])]);
    await new Promise((r) => setTimeout(r, 5));
    gate.reject(new Error('device lost'));
    const results = await both;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const r of results) {
      const e = (r as PromiseRejectedResult).reason;
      expect(BackendUnavailableError.isInstance(e)).toBe(true);
      expect((e as BackendUnavailableError).failures).toEqual([{ name: 'flaky', reason: 'device lost' }]);
    }
    const again = await rejection(resolveBackend(['flaky']));
    expect((again as BackendUnavailableError).failures).toEqual([{ name: 'flaky', reason: 'device lost' }]);
    expect(f.calls).toBe(1);
  });

  it('a factory that throws synchronously is remembered as failed too', async () => {
    const f = counted(new Error('sync boom'), { sync: true });
    registerBackend('sync', f);
    for (let i = 0; i < 3; i++) {
      const e = (await rejection(resolveBackend(['sync']))) as BackendUnavailableError;
      expect(e.failures).toEqual([{ name: 'sync', reason: 'sync boom' }]);
    }
    expect(f.calls).toBe(1);
    // A non-Error throw is reported by its string form.
    registerBackend('str', () => {
      throw 'plain string';
    });
    expect(((await rejection(resolveBackend(['str']))) as BackendUnavailableError).failures[0]!.reason).toBe('plain string');
  });

  it('one BackendUnavailableError lists every candidate with its reason, in order', async () => {
    registerBackend('gpu', counted(new Error('no WebGPU adapter')), 10);
    registerBackend('wasm', counted(new Error('SIMD not supported')), 5);
    registerBackend('bogus', counted({ name: 'bogus' } as unknown as Backend), 1);
    const err = await rejection(resolveBackend(['gpu', 'missing', 'wasm', 'bogus']));
    expect(BackendUnavailableError.isInstance(err)).toBe(true);
    expect(DenoiseError.isInstance(err)).toBe(true);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const e = err as BackendUnavailableError;
    expect(e.failures.map((f) => f.name)).toEqual(['gpu', 'missing', 'wasm', 'bogus']);
    expect(e.failures[0]!.reason).toBe('no WebGPU adapter');
    expect(e.failures[1]!.reason).toContain('not registered');
    // The unknown name is reported with what is registered.
    expect(e.failures[1]!.reason).toContain('registered: gpu, wasm, bogus, reference');
    expect(e.failures[2]!.reason).toBe('SIMD not supported');
    expect(e.failures[3]!.reason).toContain('does not implement backend spec version 1');
    expect(e.failures[3]!.reason).toContain('"bogus"');
    // The message names the candidates and has one line per failure, in order.
    const lines = e.message.split('\n');
    expect(lines[0]).toContain('["gpu", "missing", "wasm", "bogus"]');
    expect(lines.slice(1)).toEqual(e.failures.map((f) => `  [${f.name}] ${f.reason}`));
  });

  it('with no names and every backend failing, the reference is listed too', async () => {
    registerBackend('gpu', counted(new Error('no adapter')), 10);
    registerBackend('reference', counted(new Error('reference disabled')), 0, { override: true });
    const e = (await rejection(resolveBackend())) as BackendUnavailableError;
    expect(e.failures).toEqual([
      { name: 'gpu', reason: 'no adapter' },
      { name: 'reference', reason: 'reference disabled' },
    ]);
  });

  it('an unknown name alone', async () => {
    const e = (await rejection(resolveBackend(['webgl']))) as BackendUnavailableError;
    expect(BackendUnavailableError.isInstance(e)).toBe(true);
    expect(e.message).toContain('[webgl] not registered (registered: reference)');
  });

  it('bad names', async () => {
    expect(InvalidArgumentError.isInstance(await rejection(resolveBackend([])))).toBe(true);
    const e = await rejection(resolveBackend(['reference', 7 as never]));
    expect(InvalidArgumentError.isInstance(e)).toBe(true);
    expect((e as Error).message).toContain('7');
    expect(InvalidArgumentError.isInstance(await rejection(resolveBackend('reference' as never)))).toBe(true);
  });
});

describe('explicit-only backends', () => {
  it('are skipped by default but used when named', async () => {
    const cpu = createReferenceBackend();
    const f = counted(cpu);
    registerBackend('tfjs-cpu', f, 100, { explicitOnly: true });
    expect(listBackends()[0]).toBe('tfjs-cpu');
    const r = await resolveBackend();
    expect(r).not.toBe(cpu);
    expect(r.name).toBe('reference');
    expect(f.calls).toBe(0);
    expect(await resolveBackend(['tfjs-cpu'])).toBe(cpu);
    expect(f.calls).toBe(1);
  });

  it('are not listed as default candidates in the failure report', async () => {
    registerBackend('tfjs-cpu', counted(createReferenceBackend()), 100, { explicitOnly: true });
    registerBackend('reference', counted(new Error('off')), 0, { override: true });
    const e = (await rejection(resolveBackend())) as BackendUnavailableError;
    expect(e.failures.map((f) => f.name)).toEqual(['reference']);
  });
});

describe('re-registration', () => {
  it('the same factory again is a no-op (keeps priority and the initialised backend)', async () => {
    const b = createReferenceBackend();
    const f = counted(b);
    registerBackend('x', f, 3);
    expect(await resolveBackend(['x'])).toBe(b);
    registerBackend('x', f, 3);
    registerBackend('x', f, -5); // a module imported twice with another default: still a no-op
    expect(listBackends()).toEqual(['x', 'reference']);
    expect(await resolveBackend(['x'])).toBe(b);
    expect(f.calls).toBe(1);
  });

  it('a different factory under the same name errors unless override', async () => {
    const b1 = createReferenceBackend();
    const b2 = createReferenceBackend();
    const f1 = counted(b1);
    const f2 = counted(b2);
    registerBackend('x', f1);
    let err: unknown;
    try {
      registerBackend('x', f2);
    } catch (e) {
      err = e;
    }
    expect(InvalidArgumentError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain('"x"');
    expect((err as Error).message).toContain('override');
    expect(await resolveBackend(['x'])).toBe(b1);
    registerBackend('x', f2, 7, { override: true });
    expect(listBackends()).toEqual(['x', 'reference']);
    // The replacement starts fresh: its own factory runs.
    expect(await resolveBackend(['x'])).toBe(b2);
    expect(f2.calls).toBe(1);
  });

  it('override can replace a failed registration', async () => {
    registerBackend('gpu', counted(new Error('old driver')));
    await rejection(resolveBackend(['gpu']));
    const b = createReferenceBackend();
    registerBackend('gpu', counted(b), 0, { override: true });
    expect(await resolveBackend(['gpu'])).toBe(b);
  });

  it('_resetRegistryForTests forgets everything but the reference', async () => {
    registerBackend('x', counted(createReferenceBackend()), 3);
    _resetRegistryForTests();
    expect(listBackends()).toEqual(['reference']);
    expect(((await rejection(resolveBackend(['x']))) as BackendUnavailableError).failures[0]!.reason).toContain('not registered');
  });
});

describe('setBackend / getBackend', () => {
  it('a Backend object becomes current, and new tensors live on it', async () => {
    const b = createReferenceBackend();
    expect(await setBackend(b)).toBe(b);
    expect(getBackend()).toBe(b);
    const t = tensor([1, 2], [2]);
    expect(t.backend).toBe(b);
    t.dispose();
  });

  it('a name or a list of names is resolved', async () => {
    const b = createReferenceBackend();
    registerBackend('mine', counted(b));
    registerBackend('broken', counted(new Error('nope')));
    expect(await setBackend('mine')).toBe(b);
    expect(getBackend()).toBe(b);
    await setBackend(previous);
    expect(getBackend()).toBe(previous);
    expect(await setBackend(['broken', 'mine'])).toBe(b);
    expect(getBackend()).toBe(b);
  });

  it('a failed resolution leaves the current backend alone', async () => {
    registerBackend('broken', counted(new Error('nope')));
    const e = await rejection(setBackend('broken'));
    expect(BackendUnavailableError.isInstance(e)).toBe(true);
    expect(getBackend()).toBe(previous);
    expect(BackendUnavailableError.isInstance(await rejection(setBackend(['nothing'])))).toBe(true);
    expect(getBackend()).toBe(previous);
  });

  it('something that is not a backend is rejected', async () => {
    const e = await rejection(setBackend({ name: 'fake' } as unknown as Backend));
    expect(InvalidArgumentError.isInstance(e)).toBe(true);
    expect(getBackend()).toBe(previous);
    expect(InvalidArgumentError.isInstance(await rejection(setBackend(null as never)))).toBe(true);
    expect(getBackend()).toBe(previous);
  });
});
