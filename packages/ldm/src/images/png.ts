// PNG in and out as 8-bit RGBA, on the pure-JS `fast-png` codec (browsers and Node alike):
// palette, gray, gray+alpha, RGB and 16-bit images all come out as RGBA bytes.

import { decode, encode, convertIndexedToRgb } from 'fast-png';
import { InvalidArgumentError, describe } from '@denoise/core';

/** An 8-bit RGBA image, rows top to bottom: data.length = width * height * 4. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Decodes PNG bytes to RGBA; a malformed file is an InvalidArgumentError naming `name`. */
export function decodePng(bytes: Uint8Array, name = 'image'): RgbaImage {
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new InvalidArgumentError(`decodePng: ${name} is not a valid PNG: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { width, height } = png;
  const n = width * height;
  const out = new Uint8Array(n * 4);
  if (png.palette) {
    const rgb = convertIndexedToRgb(png); // RGB or RGBA (with a tRNS chunk)
    const ch = rgb.length / n;
    for (let i = 0; i < n; i++) {
      out[4 * i] = rgb[ch * i]!;
      out[4 * i + 1] = rgb[ch * i + 1]!;
      out[4 * i + 2] = rgb[ch * i + 2]!;
      out[4 * i + 3] = ch === 4 ? rgb[ch * i + 3]! : 255;
    }
    return { width, height, data: out };
  }
  if (png.depth !== 8 && png.depth !== 16) throw new InvalidArgumentError(`decodePng: ${name}: ${png.depth}-bit gray images are not supported`);
  const shift = png.depth === 16 ? 8 : 0;
  const src = png.data;
  const ch = png.channels;
  for (let i = 0; i < n; i++) {
    const v = (k: number) => src[ch * i + k]! >> shift;
    const [r, g, b, a] = ch === 1 ? [v(0), v(0), v(0), 255] : ch === 2 ? [v(0), v(0), v(0), v(1)] : ch === 3 ? [v(0), v(1), v(2), 255] : [v(0), v(1), v(2), v(3)];
    out[4 * i] = r;
    out[4 * i + 1] = g;
    out[4 * i + 2] = b;
    out[4 * i + 3] = a;
  }
  return { width, height, data: out };
}

/** Encodes an RGBA image as PNG bytes. */
export function encodePng(image: RgbaImage): Uint8Array {
  checkImage('encodePng', image);
  return encode({ width: image.width, height: image.height, data: image.data, depth: 8, channels: 4 });
}

export function checkImage(op: string, image: RgbaImage): void {
  if (typeof image !== 'object' || image === null || !Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width < 1 || image.height < 1) {
    throw new InvalidArgumentError(`${op}: image must be {width, height, data} with positive integer sizes, got ${describe(image)}`);
  }
  if (!(image.data instanceof Uint8Array) || image.data.length !== image.width * image.height * 4) {
    throw new InvalidArgumentError(`${op}: image.data must be a Uint8Array of width * height * 4 = ${image.width * image.height * 4} RGBA bytes, got ${describe(image.data)}`);
  }
}

/** Reads a PNG file (Node). */
export async function readPng(path: string): Promise<RgbaImage> {
  const { readFile } = await import('node:fs/promises');
  return decodePng(new Uint8Array(await readFile(path)), path);
}

/** Writes a PNG file (Node). */
export async function writePng(path: string, image: RgbaImage): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, encodePng(image));
}
