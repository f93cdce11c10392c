// The tfjs-cpu backend (plain JavaScript kernels, explicit request only): every kernel. The same
// engine also runs the kernels with the tfjs-node strategy (native transposed / batched matmul,
// tf.pad before convolutions), which cannot be tested on the native engine here.
import type { Backend } from '@denoise/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTfjsBackend } from './backend.js';
import { getTfjsInfo, loadTfjsBackend } from './resolve.js';
import { kernelSuite } from './test-utils/suite.js';

let backend: Backend;
let nodeStrategy: Backend;
beforeAll(async () => {
  backend = await loadTfjsBackend('cpu');
  nodeStrategy = createTfjsBackend(tf, 'node');
});

describe('tfjs-cpu', () => {
  it('initialises the cpu engine', () => {
    expect(backend.name).toBe('tfjs-cpu');
    expect(getTfjsInfo()).toEqual({ flavor: 'cpu', engineBackend: 'cpu' });
    expect(tf.getBackend()).toBe('cpu');
  });
  kernelSuite(() => backend);
});

describe('tfjs-node code paths on the cpu engine', () => {
  kernelSuite(() => nodeStrategy);
});
