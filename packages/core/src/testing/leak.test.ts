import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../backend/reference/backend.js';
import { engine } from '../engine/engine.js';
import { trainingLeakCheck } from './leak.js';

describe('memory', () => {
  it('1,000 training iterations leave live tensors and backend memory flat', () => {
    const backend = createReferenceBackend();
    const before = engine.memory().numTensors;
    const r = trainingLeakCheck(backend, 1000);
    expect(r.end).toEqual(r.start);
    expect(r.lastLoss).toBeLessThan(r.firstLoss * 0.5);
    // Everything the check made is gone again.
    expect(engine.memory().numTensors).toBe(before);
    expect(backend.memory().buffers).toBe(0);
  });
});
