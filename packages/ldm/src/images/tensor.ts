// Images ↔ NCHW float tensors, and the PSNR used to judge reconstructions. Models of this
// package take RGB in [0, 1] (TAESD) or [-1, 1] (the SD VAE, diffusers' convention); alpha is
// composited over a background colour on the way in.

import { InvalidArgumentError, ShapeError, describe, engine, type Backend, type Tensor } from '@denoise/core';
import { checkImage, type RgbaImage } from './png.js';

export type PixelRange = '0,1' | '-1,1';

export interface ImagesToTensorOptions {
  /** Value range of the tensor: '0,1' (default) or '-1,1'. */
  range?: PixelRange;
  /** RGB (0-255) that transparent pixels are composited over; default white. */
  background?: readonly [number, number, number];
  backend?: Backend;
}

function checkRange(op: string, range: unknown): PixelRange {
  if (range !== '0,1' && range !== '-1,1') throw new InvalidArgumentError(`${op}: options.range must be '0,1' or '-1,1', got ${describe(range)}`);
  return range;
}

/** RGBA images of one size → float32 [N, 3, H, W]. */
export function imagesToTensor(images: readonly RgbaImage[], options: ImagesToTensorOptions = {}): Tensor {
  if (!Array.isArray(images) || images.length === 0) throw new InvalidArgumentError(`imagesToTensor: images must be a non-empty array, got ${describe(images)}`);
  const range = checkRange('imagesToTensor', options.range ?? '0,1');
  const bg = options.background ?? [255, 255, 255];
  const { width, height } = images[0]!;
  const plane = width * height;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((img, n) => {
    checkImage('imagesToTensor', img);
    if (img.width !== width || img.height !== height) throw new ShapeError(`imagesToTensor: images[${n}] is ${img.width}x${img.height}, images[0] is ${width}x${height}`);
    for (let i = 0; i < plane; i++) {
      const a = img.data[4 * i + 3]! / 255;
      for (let c = 0; c < 3; c++) {
        const v = (img.data[4 * i + c]! * a + bg[c]! * (1 - a)) / 255;
        out[(n * 3 + c) * plane + i] = range === '0,1' ? v : 2 * v - 1;
      }
    }
  });
  return engine.upload(out, [images.length, 3, height, width], 'float32', options.backend ?? engine.backend);
}

/** float [N, 3 | 1, H, W] → opaque RGBA images, values clamped and rounded. */
export async function tensorToImages(x: Tensor, options: { range?: PixelRange } = {}): Promise<RgbaImage[]> {
  if (x.rank !== 4 || (x.shape[1] !== 3 && x.shape[1] !== 1)) throw new ShapeError(`tensorToImages: x must be [N, 3, H, W] or [N, 1, H, W], got ${describe(x.shape)}`);
  const range = checkRange('tensorToImages', options.range ?? '0,1');
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const values = await x.data();
  const plane = h * w;
  const images: RgbaImage[] = [];
  for (let k = 0; k < n; k++) {
    const data = new Uint8Array(plane * 4);
    for (let i = 0; i < plane; i++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = Number(values[(k * c + (c === 3 ? ch : 0)) * plane + i]);
        const unit = range === '0,1' ? v : (v + 1) / 2;
        data[4 * i + ch] = Math.round(Math.min(1, Math.max(0, unit)) * 255);
      }
      data[4 * i + 3] = 255;
    }
    images.push({ width: w, height: h, data });
  }
  return images;
}

/**
 * Peak signal-to-noise ratio in dB between two images (RGB channels, peak 255) or two arrays
 * of the same length (peak `peak`, default 1). Identical inputs give Infinity.
 */
export function psnr(a: RgbaImage | ArrayLike<number>, b: RgbaImage | ArrayLike<number>, peak?: number): number {
  const isImage = (v: unknown): v is RgbaImage => typeof v === 'object' && v !== null && 'width' in v && 'data' in v;
  let sum = 0;
  let count = 0;
  if (isImage(a) && isImage(b)) {
    if (a.width !== b.width || a.height !== b.height) throw new ShapeError(`psnr: images differ in size (${a.width}x${a.height} vs ${b.width}x${b.height})`);
    for (let i = 0; i < a.data.length; i++) {
      if (i % 4 === 3) continue;
      const d = a.data[i]! - b.data[i]!;
      sum += d * d;
      count++;
    }
    peak ??= 255;
  } else if (!isImage(a) && !isImage(b)) {
    if (a.length !== b.length) throw new ShapeError(`psnr: arrays differ in length (${a.length} vs ${b.length})`);
    for (let i = 0; i < a.length; i++) {
      const d = a[i]! - b[i]!;
      sum += d * d;
    }
    count = a.length;
    peak ??= 1;
  } else {
    throw new InvalidArgumentError('psnr: compare two images or two arrays');
  }
  const mse = sum / count;
  return mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse);
}
