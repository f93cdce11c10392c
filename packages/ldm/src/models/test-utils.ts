// Test helpers for src/models (not exported by the package): the reference fixtures written by
// test-fixtures/models/generate.py (config.json, weights, io.safetensors with inputs "in.*" and
// reference outputs "out.*"), and the max |difference| between tensors.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, type Tensor } from '@denoise/core';
import { loadStateDict, type StateDict } from '../checkpoint/state-dict.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MODEL_FIXTURES = path.resolve(here, '../../test-fixtures/models');

export interface Fixture {
  config: Record<string, unknown>;
  weights: StateDict;
  io: Map<string, Tensor>;
}

export async function loadFixture(name: string, weightsFile = 'diffusion_pytorch_model.safetensors'): Promise<Fixture> {
  const dir = path.join(MODEL_FIXTURES, name);
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const weights = (await loadStateDict(path.join(dir, weightsFile))).tensors;
  const io = (await loadSafetensors(path.join(dir, 'io.safetensors'))).tensors;
  return { config, weights, io };
}

export function io(f: Fixture, key: string): Tensor {
  const t = f.io.get(key);
  if (!t) throw new Error(`fixture has no ${key}; it has ${[...f.io.keys()].join(', ')}`);
  return t;
}

/** max |a - b| over all entries (shapes must match). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs((x[i] as number) - (y[i] as number));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Max diffs measured by the exactness tests, printed once per file for the report. */
export const measured: Record<string, number> = {};

export function report(title: string): void {
  const lines = Object.entries(measured).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`);
  if (lines.length) console.log(`${title} max |diff| vs reference:\n${lines.join('\n')}`);
}
