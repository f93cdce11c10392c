// A small CNN digit classifier, trained on the real training digits, that judges generated
// samples:
//   x [B, 1, 28, 28] --space-to-depth--> [B, 4, 14, 14] --3x3 conv 32, ReLU--> --3x3 conv 32,
//   ReLU--> --3x3 stride-2 conv 64, ReLU--> [B, 64, 7, 7] --flatten, linear 128, ReLU-->
//   --linear 10--> logits

import { Generator, add, argmax, conv2d, linear, loadSafetensors, relu, reshape, softmax, tensor, tidy } from '@denoise/core';
import { ParamStore } from './nn.mjs';
import { spaceToDepth } from './model.mjs';

export function createClassifier(gen = new Generator(0)) {
  const p = new ParamStore(gen);
  p.conv('conv1', 4, 32, 3, Math.SQRT2);
  p.conv('conv2', 32, 32, 3, Math.SQRT2);
  p.conv('conv3', 32, 64, 3, Math.SQRT2);
  p.linear('fc1', 64 * 7 * 7, 128, Math.SQRT2);
  p.linear('fc2', 128, 10);
  return p;
}

function conv(p, name, x, options) {
  return add(conv2d(x, p.get(`${name}.weight`), options), reshape(p.get(`${name}.bias`), [1, -1, 1, 1]));
}

/** Logits [B, 10] of digits x [B, 1, 28, 28] in [-1, 1]. */
export function classify(p, x) {
  let h = relu(conv(p, 'conv1', spaceToDepth(x), { padding: 1 }));
  h = relu(conv(p, 'conv2', h, { padding: 1 }));
  h = relu(conv(p, 'conv3', h, { stride: 2, padding: 1 }));
  h = reshape(h, [h.shape[0], -1]);
  h = relu(linear(h, p.get('fc1.weight'), p.get('fc1.bias')));
  return linear(h, p.get('fc2.weight'), p.get('fc2.bias'));
}

/** Predicted classes (and their probabilities) of host pixels [n * 784] in [-1, 1]. */
export function predict(p, pixels, n, batch = 250) {
  const classes = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    tidy(() => {
      const x = tensor(pixels.subarray(s * 784, (s + m) * 784), [m, 1, 28, 28]);
      const logits = classify(p, x);
      const probs = softmax(logits, -1).dataSync();
      classes.set(argmax(logits, -1).dataSync(), s);
      for (let k = 0; k < m; k++) confidence[s + k] = probs[k * 10 + classes[s + k]];
    });
  }
  return { classes, confidence };
}

/** Loads the shipped classifier checkpoint. */
export async function loadClassifier(file) {
  const { tensors, metadata } = await loadSafetensors(file);
  if (metadata.format !== 'mnist-classifier') throw new Error(`${file} is not an mnist-classifier checkpoint`);
  const p = createClassifier();
  p.load(tensors);
  for (const t of tensors.values()) t.dispose();
  return { params: p, metadata };
}

/**
 * Shifts each 28x28 image by a random offset in [-maxShift, maxShift] (host arrays, background
 * -1), an augmentation that makes the classifier robust to off-centre samples.
 */
export function randomShift(x, n, gen, maxShift = 2) {
  const out = new Float32Array(x.length).fill(-1);
  const r = gen.randintArray(2 * n, -maxShift, maxShift + 1);
  for (let k = 0; k < n; k++) {
    const dy = r[2 * k];
    const dx = r[2 * k + 1];
    for (let y = 0; y < 28; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= 28) continue;
      for (let xx = 0; xx < 28; xx++) {
        const sx = xx - dx;
        if (sx < 0 || sx >= 28) continue;
        out[k * 784 + y * 28 + xx] = x[k * 784 + sy * 28 + sx];
      }
    }
  }
  return out;
}
