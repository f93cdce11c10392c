// End to end with core's registry and the real packages: tfjs-node-gpu and tfjs-node are not
// installed here, so resolution by priority falls through to tfjs-wasm, and the errors name the
// missing packages.
import { listBackends, registerBackend, resolveBackend } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { registerTfjsBackends } from './index.js';

/** The error a promise rejects with (fails if it resolves). */
function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

describe("core's registry with the tfjs backends", () => {
  it('registers by priority, twice without error, and resolves to tfjs-wasm', async () => {
    registerTfjsBackends(registerBackend);
    registerTfjsBackends(registerBackend); // same factories: harmless
    const names = listBackends();
    expect(names.indexOf('tfjs-node-gpu')).toBeLessThan(names.indexOf('tfjs-node'));
    expect(names.indexOf('tfjs-node')).toBeLessThan(names.indexOf('tfjs-wasm'));
    expect(names.indexOf('tfjs-wasm')).toBeLessThan(names.indexOf('tfjs-cpu'));

    const backend = await resolveBackend();
    expect(backend.name).toBe('tfjs-wasm');

    const error = await rejection(resolveBackend(['tfjs-node-gpu', 'tfjs-node', 'tfjs-cpu']));
    expect(error).toMatchObject({ kind: 'BackendUnavailableError' });
    expect(error.message).toContain('the package @tensorflow/tfjs-node-gpu is not installed');
    expect(error.message).toContain('npm install @tensorflow/tfjs-node-gpu');
    expect(error.message).toContain('npm install @tensorflow/tfjs-node');
    expect(error.message).toContain("'wasm' is already initialised");
  });
});
