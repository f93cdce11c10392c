// A small, strict ZIP reader for PyTorch checkpoints (`torch.save` since 1.6 writes a zip of
// `<archive>/data.pkl`, `<archive>/data/<key>` storages, `byteorder`, `version`).
//
// Why not an npm zip library: checkpoints reach many gigabytes, so the reader must seek (read the
// central directory, then one entry at a time, from a file handle), understand ZIP64, and turn
// every defect into a CheckpointError naming the file; fflate's unzip wants the whole archive in
// memory and yauzl is Node-only with a callback API. PyTorch writes stored (uncompressed)
// entries; deflated ones (an archive re-zipped by hand) are inflated with the standard
// DecompressionStream('deflate-raw'), in Node and browsers alike. CRC-32 is checked by default.

import { CheckpointError } from '@denoise/core';
import type { ByteSource } from './source.js';

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, the zip polynomial) of `bytes`, continuing from `crc`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function u64(view: DataView, at: number, what: string, source: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${source}: corrupt zip: ${what} ${v} is too large`);
  return Number(v);
}

export class ZipArchive {
  private constructor(
    readonly source: ByteSource,
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  /** Reads the central directory; a missing, truncated or malformed one is a CheckpointError. */
  static async open(source: ByteSource): Promise<ZipArchive> {
    const name = source.name;
    if (source.size < EOCD_MIN) throw new CheckpointError(`${name}: not a zip archive (${source.size} bytes is shorter than any zip); truncated?`);
    // The end-of-central-directory record sits in the last 22 + 65535 bytes (after a comment).
    const tailLength = Math.min(source.size, EOCD_MIN + MAX_COMMENT);
    const tailStart = source.size - tailLength;
    const tail = await source.read(tailStart, tailLength);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tail.length - EOCD_MIN; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_MIN + tv.getUint16(i + 20, true) === tail.length) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new CheckpointError(`${name}: not a zip archive or truncated (no end-of-central-directory record); PyTorch checkpoints are zip files since torch 1.6`);
    }
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) throw new CheckpointError(`${name}: multi-disk zip archives are not supported`);
    // ZIP64: a locator right before the EOCD points at the 64-bit record.
    const locAt = eocd - 20;
    if (locAt >= 0 && tv.getUint32(locAt, true) === SIG_EOCD64_LOCATOR) {
      const rec64Offset = u64(tv, locAt + 8, 'ZIP64 record offset', name);
      const rec = await source.read(rec64Offset, 56);
      const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
      if (rv.getUint32(0, true) !== SIG_EOCD64) throw new CheckpointError(`${name}: corrupt zip: bad ZIP64 end-of-central-directory signature`);
      count = u64(rv, 32, 'entry count', name);
      cdSize = u64(rv, 40, 'central directory size', name);
      cdOffset = u64(rv, 48, 'central directory offset', name);
    }
    if (cdOffset + cdSize > source.size) throw new CheckpointError(`${name}: truncated zip: the central directory [${cdOffset}, ${cdOffset + cdSize}) lies past the end of the ${source.size}-byte file`);
    const cd = await source.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const decoder = new TextDecoder('utf-8', { fatal: false });
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) throw new CheckpointError(`${name}: corrupt zip: central directory entry ${i} is malformed`);
      const flags = cv.getUint16(p + 8, true);
      const method = cv.getUint16(p + 10, true);
      const crc = cv.getUint32(p + 16, true);
      let compressedSize = cv.getUint32(p + 20, true);
      let size = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let localHeaderOffset = cv.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length) throw new CheckpointError(`${name}: corrupt zip: central directory entry ${i} runs past the directory`);
      const entryName = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: 64-bit values for the fields saturated at 0xffffffff.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cv.getUint16(e, true);
        const len = cv.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) (size = u64(cv, q, 'entry size', name)), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = u64(cv, q, 'entry size', name)), (q += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(cv, q, 'entry offset', name);
        }
        e += 4 + len;
      }
      if (flags & 1) throw new CheckpointError(`${name}: entry ${JSON.stringify(entryName)} is encrypted`);
      if (method !== 0 && method !== 8) throw new CheckpointError(`${name}: entry ${JSON.stringify(entryName)} uses compression method ${method}; only stored (0) and deflate (8) are supported`);
      if (method === 0 && compressedSize !== size) throw new CheckpointError(`${name}: corrupt zip: stored entry ${JSON.stringify(entryName)} has sizes ${compressedSize} != ${size}`);
      if (localHeaderOffset + 30 + compressedSize > source.size) {
        throw new CheckpointError(`${name}: truncated zip: entry ${JSON.stringify(entryName)} lies past the end of the ${source.size}-byte file`);
      }
      entries.set(entryName, { name: entryName, method, compressedSize, size, crc32: crc, localHeaderOffset });
      p = end;
    }
    return new ZipArchive(source, entries);
  }

  /** The bytes of one entry; checks its local header, inflates it and (by default) its CRC-32. */
  async read(entryName: string, options: { verifyCrc?: boolean } = {}): Promise<Uint8Array> {
    const name = this.source.name;
    const entry = this.entries.get(entryName);
    if (!entry) throw new CheckpointError(`${name}: zip entry ${JSON.stringify(entryName)} is missing`);
    const header = await this.source.read(entry.localHeaderOffset, 30);
    const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
    if (hv.getUint32(0, true) !== SIG_LOCAL) throw new CheckpointError(`${name}: corrupt zip: bad local header for ${JSON.stringify(entryName)}`);
    const dataStart = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (dataStart + entry.compressedSize > this.source.size) {
      throw new CheckpointError(`${name}: truncated zip: entry ${JSON.stringify(entryName)} lies past the end of the ${this.source.size}-byte file`);
    }
    const raw = await this.source.read(dataStart, entry.compressedSize);
    const data = entry.method === 0 ? raw : await inflateRaw(raw, entry, name);
    if (data.length !== entry.size) throw new CheckpointError(`${name}: corrupt zip: entry ${JSON.stringify(entryName)} inflates to ${data.length} bytes, expected ${entry.size}`);
    if (options.verifyCrc !== false && crc32(data) !== entry.crc32) {
      throw new CheckpointError(`${name}: corrupt zip: CRC-32 mismatch in entry ${JSON.stringify(entryName)}`);
    }
    return data;
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}

async function inflateRaw(bytes: Uint8Array, entry: ZipEntry, source: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new CheckpointError(`${source}: corrupt zip: entry ${JSON.stringify(entry.name)} does not inflate: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
