// Random-access byte sources for checkpoint readers. A multi-gigabyte `.ckpt` is read piece by
// piece (central directory, data.pkl, one storage at a time) instead of whole, so the readers
// take a ByteSource rather than a Uint8Array. Bytes in memory and Node files are the two kinds;
// node:fs is imported lazily, only when a file is opened, so browser builds never see it.

import { CheckpointError, InvalidArgumentError, describe } from '@denoise/core';

export interface ByteSource {
  /** A name for error messages (the file path, or '<buffer>'). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset`; a CheckpointError if they are not all there. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the file handle, if any. Idempotent. */
  close(): Promise<void>;
}

/** A ByteSource over bytes already in memory (views, does not copy). */
export function bytesSource(bytes: Uint8Array, name = '<buffer>'): ByteSource {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`bytesSource: bytes must be a Uint8Array, got ${describe(bytes)}`);
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new CheckpointError(`${name}: truncated: needs bytes [${offset}, ${offset + length}) of a ${bytes.length}-byte file`);
      }
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

/** Opens a file as a ByteSource (Node only). A missing or unreadable file is a CheckpointError. */
export async function fileSource(path: string): Promise<ByteSource> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`fileSource: path must be a non-empty string, got ${describe(path)}`);
  const { open } = await import('node:fs/promises');
  let handle: Awaited<ReturnType<typeof open>>;
  let size: number;
  try {
    handle = await open(path, 'r');
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new Error('not a regular file');
    }
    size = stat.size;
  } catch (e) {
    throw new CheckpointError(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length) {
      if (closed) throw new CheckpointError(`${path}: read after close`);
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new CheckpointError(`${path}: truncated: needs bytes [${offset}, ${offset + length}) of a ${size}-byte file`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new CheckpointError(`${path}: truncated: the file ended while reading bytes [${offset}, ${offset + length})`);
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** Reads a whole file (Node only) as bytes; a missing file is a CheckpointError. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const source = await fileSource(path);
  try {
    return await source.read(0, source.size);
  } finally {
    await source.close();
  }
}
