// Small helpers shared by the diffusion model and the classifier: named parameters created as
// core variables from a seeded Generator, and saving / loading them as safetensors.

import { randn, zeros, ones, variable, tensor, loadSafetensors, saveSafetensors } from '@denoise/core';

/** A named parameter store: `params.get(name)` is a core variable. */
export class ParamStore {
  constructor(gen) {
    this.gen = gen;
    /** @type {Map<string, import('@denoise/core').Tensor>} */
    this.map = new Map();
  }

  add(name, t) {
    if (this.map.has(name)) throw new Error(`duplicate parameter ${name}`);
    const v = variable(t, name);
    t.dispose();
    this.map.set(name, v);
    return v;
  }

  /** Normal init with std = gain / sqrt(fanIn). */
  normal(name, shape, fanIn, gain = 1) {
    return this.add(name, randn(shape, this.gen, { std: gain / Math.sqrt(fanIn) }));
  }

  zeros(name, shape) {
    return this.add(name, zeros(shape));
  }

  ones(name, shape) {
    return this.add(name, ones(shape));
  }

  /** A 3x3 (or k x k) conv: weight [cout, cin, k, k] and bias [cout]; gain 0 gives a zero conv. */
  conv(name, cin, cout, k = 3, gain = 1) {
    if (gain === 0) this.zeros(`${name}.weight`, [cout, cin, k, k]);
    else this.normal(`${name}.weight`, [cout, cin, k, k], cin * k * k, gain);
    this.zeros(`${name}.bias`, [cout]);
  }

  linear(name, fin, fout, gain = 1) {
    if (gain === 0) this.zeros(`${name}.weight`, [fout, fin]);
    else this.normal(`${name}.weight`, [fout, fin], fin, gain);
    this.zeros(`${name}.bias`, [fout]);
  }

  norm(name, c) {
    this.ones(`${name}.weight`, [c]);
    this.zeros(`${name}.bias`, [c]);
  }

  get(name) {
    const v = this.map.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  }

  names() {
    return [...this.map.keys()];
  }

  list() {
    return [...this.map.values()];
  }

  count() {
    let n = 0;
    for (const v of this.map.values()) n += v.size;
    return n;
  }

  /** Copies values from a Map / record of tensors with the same names and shapes. */
  load(tensors, prefix = '') {
    for (const [name, v] of this.map) {
      const t = tensors instanceof Map ? tensors.get(prefix + name) : tensors[prefix + name];
      if (!t) throw new Error(`checkpoint lacks ${prefix + name}`);
      if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) throw new Error(`checkpoint ${prefix + name} has shape [${t.shape}], expected [${v.shape}]`);
      v.assign(t);
    }
  }

  dispose() {
    for (const v of this.map.values()) v.dispose();
    this.map.clear();
  }
}

/** Saves a ParamStore (plus optional extra named tensors) with metadata. */
export async function saveParams(file, store, { metadata = {}, float16 = false, extra = {} } = {}) {
  const tensors = { ...Object.fromEntries(store.map), ...extra };
  await saveSafetensors(file, tensors, { metadata, float16 });
}

/** Loads a checkpoint into a ParamStore built from the config in its metadata. */
export async function loadCheckpoint(file) {
  const { tensors, metadata } = await loadSafetensors(file);
  return { tensors, metadata };
}

/** Host float32 array -> tensor helper. */
export function f32(values, shape) {
  return tensor(values instanceof Float32Array ? values : Float32Array.from(values), shape);
}
