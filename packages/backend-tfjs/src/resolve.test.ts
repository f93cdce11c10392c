// Flavor resolution with an injected importer: no native package is needed (and none of the
// fake modules touch the real tfjs engine).
import { afterEach, describe, expect, it } from 'vitest';
import { registerTfjsBackends, tfjsBackendFactories } from './register.js';
import { _resetTfjsStateForTests, getTfjsInfo, loadTfjsBackend } from './resolve.js';

/** The error a promise rejects with (fails if it resolves). */
function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

function notFound(specifier: string): Error {
  return Object.assign(new Error(`Cannot find package '${specifier}' imported from /app/node_modules/@denoise/backend-tfjs/dist/index.js`), { code: 'ERR_MODULE_NOT_FOUND' });
}

/** A stand-in for the tfjs namespace: enough for loadTfjsBackend and createTfjsBackend. */
function fakeTf(engineName: string, setBackendResults: boolean[] = [true]) {
  const calls: string[] = [];
  let current = '';
  const results = [...setBackendResults];
  const flags: Record<string, unknown> = {};
  return {
    calls,
    flags,
    tf: {
      setBackend: async (name: string) => {
        calls.push(`setBackend:${name}`);
        const ok = results.length > 1 ? results.shift()! : results[0]!;
        if (ok) current = name;
        return ok;
      },
      ready: async () => {
        calls.push('ready');
      },
      getBackend: () => current,
      findBackendFactory: (name: string) => (name === engineName ? () => ({}) : null),
      env: () => ({ set: (k: string, v: unknown) => void (flags[k] = v) }),
    },
  };
}

afterEach(() => _resetTfjsStateForTests());

describe('loadTfjsBackend', () => {
  it('names the missing package and its install command (tfjs-node-gpu)', async () => {
    const importer = async (s: string) => {
      throw notFound(s);
    };
    const p = loadTfjsBackend('node-gpu', { importer });
    await expect(p).rejects.toMatchObject({ kind: 'BackendUnavailableError' });
    const error = await rejection(p);
    expect(error.message).toContain('@tensorflow/tfjs-node-gpu');
    expect(error.message).toContain('npm install @tensorflow/tfjs-node-gpu');
    expect(error.message).toContain('CUDA');
    expect((error as unknown as { failures: Array<{ name: string }> }).failures[0]!.name).toBe('tfjs-node-gpu');
  });

  it('names the missing package and its install command (tfjs-node)', async () => {
    const importer = async (s: string) => {
      throw Object.assign(new Error(`Cannot find module '${s}'`), { code: 'MODULE_NOT_FOUND' });
    };
    const error = await rejection(loadTfjsBackend('node', { importer }));
    expect(error).toMatchObject({ kind: 'BackendUnavailableError' });
    expect(error.message).toContain('the package @tensorflow/tfjs-node is not installed');
    expect(error.message).toContain('npm install @tensorflow/tfjs-node');
    expect(error.message).toContain('libtensorflow');
  });

  it('reports a package that is installed but fails to load', async () => {
    const importer = async () => {
      throw new Error('libtensorflow.so.2: cannot open shared object file');
    };
    const error = await rejection(loadTfjsBackend('node', { importer }));
    expect(error).toMatchObject({ kind: 'BackendUnavailableError' });
    expect(error.message).toContain('importing @tensorflow/tfjs-node failed');
    expect(error.message).toContain('libtensorflow.so.2');
  });

  it('a failed flavor does not block another one', async () => {
    await expect(loadTfjsBackend('node-gpu', { importer: async (s) => Promise.reject(notFound(s)) })).rejects.toThrow();
    const fake = fakeTf('tensorflow');
    const backend = await loadTfjsBackend('node', { importer: async () => fake.tf });
    expect(backend.name).toBe('tfjs-node');
    expect(fake.calls).toEqual(['setBackend:tensorflow', 'ready']);
    expect(getTfjsInfo()).toEqual({ flavor: 'node', engineBackend: 'tensorflow' });
  });

  it('initialises a flavor once, also under concurrent requests', async () => {
    let imports = 0;
    const fake = fakeTf('tensorflow');
    const importer = async () => {
      imports++;
      return { default: fake.tf }; // a CommonJS module seen through import()
    };
    const [a, b] = await Promise.all([loadTfjsBackend('node-gpu', { importer }), loadTfjsBackend('node-gpu', { importer })]);
    const c = await loadTfjsBackend('node-gpu', { importer });
    expect(a).toBe(b);
    expect(a).toBe(c);
    expect(a.name).toBe('tfjs-node-gpu');
    expect(imports).toBe(1);
  });

  it('refuses a second, different flavor with a clear error', async () => {
    const fake = fakeTf('tensorflow');
    await loadTfjsBackend('node', { importer: async () => fake.tf });
    const error = await rejection(loadTfjsBackend('wasm', { importer: async () => fake.tf }));
    expect(error).toMatchObject({ kind: 'BackendUnavailableError' });
    expect(error.message).toContain("'node' is already initialised");
    expect(error.message).toContain('one global engine');
  });

  it('rejects an unknown flavor', async () => {
    await expect(loadTfjsBackend('webgl' as never)).rejects.toMatchObject({ kind: 'InvalidArgumentError' });
  });

  it('wasm: falls back to the single-threaded binary when the threaded one does not start', async () => {
    const fake = fakeTf('wasm', [false, true]);
    const wasmCalls: string[] = [];
    const wasm = {
      setWasmPaths: (p: unknown) => void wasmCalls.push(`paths:${typeof p}`),
      setThreadsCount: (n: number) => void wasmCalls.push(`threads:${n}`),
      getThreadsCount: () => 1,
    };
    const importer = async (s: string) => (s === '@tensorflow/tfjs-core' ? fake.tf : wasm);
    const backend = await loadTfjsBackend('wasm', { importer, threads: 2 });
    expect(backend.name).toBe('tfjs-wasm');
    expect(fake.calls).toEqual(['setBackend:wasm', 'setBackend:wasm', 'ready']);
    expect(wasmCalls).toEqual(['paths:string', 'threads:2', 'threads:1']);
    expect(fake.flags.WASM_HAS_MULTITHREAD_SUPPORT).toBe(false);
    expect(getTfjsInfo()).toEqual({ flavor: 'wasm', engineBackend: 'wasm', threads: 1 });
  });

  it('wasm: a backend package registered with another copy of tfjs-core is reported', async () => {
    const fake = fakeTf('something-else');
    const importer = async (s: string) => (s === '@tensorflow/tfjs-core' ? fake.tf : { setThreadsCount() {}, setWasmPaths() {}, getThreadsCount: () => 1 });
    const error = await rejection(loadTfjsBackend('wasm', { importer, threads: 1 }));
    expect(error).toMatchObject({ kind: 'BackendUnavailableError' });
    expect(error.message).toContain('dedupe @tensorflow/tfjs-core');
  });

  it('wasm: rejects a bad thread count', async () => {
    const fake = fakeTf('wasm');
    const importer = async (s: string) => (s === '@tensorflow/tfjs-core' ? fake.tf : { setThreadsCount() {}, setWasmPaths() {}, getThreadsCount: () => 1 });
    await expect(loadTfjsBackend('wasm', { importer, threads: 0 })).rejects.toMatchObject({ kind: 'InvalidArgumentError' });
  });
});

describe('factories and registration', () => {
  it('lists the four flavors by priority; cpu is explicit-only', () => {
    const f = tfjsBackendFactories();
    expect(f.map((x) => [x.name, x.priority, x.explicitOnly ?? false])).toEqual([
      ['tfjs-node-gpu', 40, false],
      ['tfjs-node', 30, false],
      ['tfjs-wasm', 20, false],
      ['tfjs-cpu', 1, true],
    ]);
    const sorted = [...f].sort((a, b) => b.priority - a.priority).map((x) => x.name);
    expect(sorted).toEqual(['tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu']);
  });

  it('factories are stable across calls without options (re-registering is harmless)', () => {
    const a = tfjsBackendFactories();
    const b = tfjsBackendFactories();
    a.forEach((x, i) => expect(x.factory).toBe(b[i]!.factory));
  });

  it('registerTfjsBackends calls the given register function for each flavor, loading nothing', () => {
    const calls: unknown[] = [];
    registerTfjsBackends((name, factory, priority, options) => calls.push([name, typeof factory, priority, options]));
    expect(calls).toEqual([
      ['tfjs-node-gpu', 'function', 40, {}],
      ['tfjs-node', 'function', 30, {}],
      ['tfjs-wasm', 'function', 20, {}],
      ['tfjs-cpu', 'function', 1, { explicitOnly: true }],
    ]);
    expect(getTfjsInfo()).toBe(null);
  });

  it('factories with options pass them to loadTfjsBackend', async () => {
    const fake = fakeTf('tensorflow');
    const node = tfjsBackendFactories({ importer: async () => fake.tf }).find((f) => f.name === 'tfjs-node')!;
    expect((await node.factory()).name).toBe('tfjs-node');
  });
});
