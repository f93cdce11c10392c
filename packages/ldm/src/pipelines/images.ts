// Images in and out of the pipelines: RGBA inputs checked and turned into tensors, masks
// binarised as diffusers' mask processor does, decoded tensors and previews turned into RGBA
// images on the host (synchronously, so progress callbacks get their preview during the step),
// the cheap latent-to-RGB preview projection, and writing results as PNG files.

import { InvalidArgumentError, ShapeError, describe, engine, type Tensor } from '@denoise/core';
import { checkImage, writePng, type RgbaImage } from '../images/png.js';

/** An RGBA input image; `data` may also be a Uint8ClampedArray (a canvas' ImageData). */
export interface RgbaInput {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
}

/**
 * Approximate RGB of Stable Diffusion 1.x / 2.x latents (scaled, as the UNet sees them), a
 * 4 x 3 matrix applied per pixel with output in [-1, 1]: ComfyUI's SD1.5 latent_rgb_factors.
 */
export const SD_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

/** A projection for any channel count: SD's factors for 4 channels, else channel k feeds colour k mod 3. */
export function defaultLatentRgbFactors(channels: number): (readonly [number, number, number])[] {
  if (channels === 4) return SD_LATENT_RGB_FACTORS.map((r) => [...r] as [number, number, number]);
  const perColour = Math.ceil(channels / 3);
  return Array.from({ length: channels }, (_, k) => [0, 1, 2].map((c) => (c === k % 3 ? 1 / perColour : 0)) as [number, number, number]);
}

/** RGBA inputs as RgbaImages (clamped arrays viewed as Uint8Array), each checked. */
export function toRgbaImages(op: string, arg: string, input: RgbaInput | readonly RgbaInput[], batch: number): RgbaImage[] {
  const list = Array.isArray(input) ? (input as readonly RgbaInput[]) : [input as RgbaInput];
  if (list.length !== 1 && list.length !== batch) throw new InvalidArgumentError(`${op}: ${arg} must be one image or ${batch} (one per batch image), got ${list.length}`);
  const out = list.map((img, i) => {
    const where = list.length > 1 ? `${arg}[${i}]` : arg;
    const data = img?.data instanceof Uint8ClampedArray ? new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length) : img?.data;
    const image = { width: img?.width, height: img?.height, data } as RgbaImage;
    checkImage(`${op}: ${where}`, image);
    return image;
  });
  const { width, height } = out[0]!;
  out.forEach((img, i) => {
    if (img.width !== width || img.height !== height) throw new ShapeError(`${op}: ${arg}[${i}] is ${img.width}x${img.height}, ${arg}[0] is ${width}x${height}; all must have one size`);
  });
  return list.length === batch ? out : new Array<RgbaImage>(batch).fill(out[0]!);
}

/**
 * Masks as float32 [B, 1, H, W] of 0 (keep) and 1 (repaint): the luminance L = (299 R + 587 G +
 * 114 B) / 1000 of each pixel (PIL's 'L' conversion), divided by 255, binarised at 0.5.
 */
export function masksToTensor(masks: readonly RgbaImage[]): Tensor {
  const { width, height } = masks[0]!;
  const plane = width * height;
  const out = new Float32Array(masks.length * plane);
  masks.forEach((m, n) => {
    for (let i = 0; i < plane; i++) {
      const l = (299 * m.data[4 * i]! + 587 * m.data[4 * i + 1]! + 114 * m.data[4 * i + 2]!) / 1000;
      out[n * plane + i] = l / 255 >= 0.5 ? 1 : 0;
    }
  });
  return engine.upload(out, [masks.length, 1, height, width], 'float32', engine.backend);
}

/**
 * Channel-planar values [n, c, h, w] (c = 3, or c latent channels with `factors`) to n opaque
 * RGBA images of outH x outW, sampling the nearest source pixel. `range` is the value range of
 * the RGB planes: [0, 1] or [-1, 1]; values are clamped.
 */
export function planesToRgba(
  values: ArrayLike<number>,
  shape: readonly [number, number, number, number],
  options: { range: '0,1' | '-1,1'; outHeight?: number; outWidth?: number; factors?: readonly (readonly number[])[] },
): RgbaImage[] {
  const [n, c, h, w] = shape;
  const outH = options.outHeight ?? h;
  const outW = options.outWidth ?? w;
  const plane = h * w;
  const mix = options.factors ?? [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const lo = options.range === '0,1' ? 0 : -1;
  const scale = 255 / (1 - lo);
  const rows = Array.from({ length: outH }, (_, y) => Math.floor((y * h) / outH));
  const cols = Array.from({ length: outW }, (_, x) => Math.floor((x * w) / outW));
  const images: RgbaImage[] = [];
  for (let k = 0; k < n; k++) {
    const data = new Uint8Array(outH * outW * 4);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const src = k * c * plane + rows[y]! * w + cols[x]!;
        const o = 4 * (y * outW + x);
        for (let rgb = 0; rgb < 3; rgb++) {
          let v = 0;
          for (let ch = 0; ch < c; ch++) v += Number(values[src + ch * plane]) * mix[ch]![rgb]!;
          data[o + rgb] = Math.round((Math.min(1, Math.max(lo, v)) - lo) * scale);
        }
        data[o + 3] = 255;
      }
    }
    images.push({ width: outW, height: outH, data });
  }
  return images;
}

/**
 * Writes images as PNG files. `path` names the file; for several images it must hold `{i}`
 * (replaced by the index), else the index is added before the extension (`out.png` →
 * `out-0.png`, `out-1.png`). Returns the paths written. Node only.
 */
export async function writePngs(images: readonly RgbaImage[], path: string): Promise<string[]> {
  if (!Array.isArray(images)) throw new InvalidArgumentError(`writePngs: images must be an array of RGBA images, got ${describe(images)}`);
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`writePngs: path must be a non-empty string, got ${describe(path)}`);
  const name = (i: number): string => {
    if (path.includes('{i}')) return path.replaceAll('{i}', String(i));
    if (images.length === 1) return path;
    const dot = path.lastIndexOf('.');
    return dot > path.lastIndexOf('/') ? `${path.slice(0, dot)}-${i}${path.slice(dot)}` : `${path}-${i}`;
  };
  const paths = images.map((_, i) => name(i));
  for (const [i, img] of images.entries()) await writePng(paths[i]!, img);
  return paths;
}
