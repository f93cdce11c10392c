// A tiny PNG encoder (8-bit grayscale or RGB, filter 0 on every row) with node:zlib and CRC-32,
// and an image grid helper.

import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as PNG and zlib use) of bytes. */
export function crc32(bytes, crc = 0) {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encodes 8-bit pixels (row-major, `channels` 1 = gray or 3 = RGB) as a PNG file. */
export function encodePng(pixels, width, height, channels = 1) {
  if (channels !== 1 && channels !== 3) throw new Error('encodePng: channels must be 1 or 3');
  if (pixels.length !== width * height * channels) throw new Error(`encodePng: expected ${width * height * channels} bytes, got ${pixels.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // interlace
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    for (let i = 0; i < stride; i++) raw[y * (stride + 1) + 1 + i] = pixels[y * stride + i];
  }
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

/**
 * Lays out `count` images of h x w (float values in [-1, 1], concatenated) on a grid of `cols`
 * columns, upscaled by `scale`, with a `pad`-pixel gray border; returns 8-bit gray pixels.
 */
export function imageGrid(values, count, h, w, { cols, scale = 1, pad = 2, background = 64 } = {}) {
  const rows = Math.ceil(count / cols);
  const cw = w * scale + pad;
  const ch = h * scale + pad;
  const width = cols * cw + pad;
  const height = rows * ch + pad;
  const out = new Uint8Array(width * height).fill(background);
  for (let k = 0; k < count; k++) {
    const r = Math.floor(k / cols);
    const c = k % cols;
    for (let y = 0; y < h * scale; y++) {
      for (let x = 0; x < w * scale; x++) {
        const v = values[k * h * w + Math.floor(y / scale) * w + Math.floor(x / scale)];
        const byte = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
        out[(pad + r * ch + y) * width + pad + c * cw + x] = byte;
      }
    }
  }
  return { pixels: out, width, height };
}
