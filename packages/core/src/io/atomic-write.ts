// @denoise/core — io/atomic-write.ts
//
// Node-only file helpers used when saving and loading checkpoints. A training
// run killed mid-save (OOM, preemption, Ctrl-C) must never leave a half-written
// checkpoint where the previous good one was, so writes go to a temporary file
// in the same directory (same filesystem, so rename is atomic) and are renamed
// over the target only once the bytes are durable.
//
// This is the only module in @denoise/core that imports node:* — everything
// else must also run in browsers — so keep it out of browser entry points.

import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError, InvalidArgumentError } from '../errors/index.js';

export interface WriteFileAtomicOptions {
  /**
   * fsync the file before the rename and the directory after it (default
   * true). Without it a power loss can still surface an empty or stale file;
   * turn off only for scratch output where speed matters more.
   */
  fsync?: boolean;
  /**
   * @internal Test hook run after the temp file is complete and before the
   * rename; throwing from it simulates a failure at the last moment.
   */
  beforeRename?: () => void | Promise<void>;
}

// Directory fsync is unsupported on some platforms/filesystems (Windows,
// some network mounts); the rename already happened, so these are benign.
const IGNORABLE_DIR_SYNC_CODES = new Set(['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP', 'EBADF', 'EACCES']);

function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
    ? (e as { code: string }).code
    : undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

/**
 * Atomically replaces `path` with `data` (strings are written as UTF-8).
 * Readers see either the old file or the complete new one, never a mix.
 * The temp file is `.<name>.<random hex>.tmp` next to the target and is
 * removed on any failure; the original error is rethrown unchanged (with its
 * `code`), since I/O failures are not argument errors.
 * An existing target's permission bits are carried over to the new file.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  opts: WriteFileAtomicOptions = {},
): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError(`writeFileAtomic: path must be a non-empty string, got ${describe(path)}`);
  }
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new InvalidArgumentError(`writeFileAtomic: data must be a Uint8Array or a string, got ${describe(data)}`);
  }
  if (typeof opts !== 'object' || opts === null) {
    throw new InvalidArgumentError(`writeFileAtomic: opts must be an object, got ${describe(opts)}`);
  }
  const doSync = opts.fsync ?? true;
  const target = resolve(path);
  const dir = dirname(target);
  // crypto, not Math.random: names must not collide between concurrent
  // writers (several processes saving into one directory).
  const tmp = join(dir, `.${basename(target)}.${randomBytes(8).toString('hex')}.tmp`);

  let tmpCreated = false;
  try {
    const mode = await existingMode(target);
    // 'wx': fail rather than clobber if the random name somehow exists.
    const handle = await open(tmp, 'wx');
    tmpCreated = true;
    try {
      await handle.writeFile(data);
      if (doSync) await handle.sync();
    } finally {
      await handle.close();
    }
    if (mode !== undefined) await chmod(tmp, mode);
    if (opts.beforeRename !== undefined) await opts.beforeRename();
    await rename(tmp, target);
    tmpCreated = false;
  } catch (e) {
    if (tmpCreated) {
      // Best effort: the original error is what the caller needs to see.
      await unlink(tmp).catch(() => undefined);
    }
    throw e;
  }
  if (doSync) await syncDirectory(dir);
}

async function existingMode(target: string): Promise<number | undefined> {
  try {
    const s = await stat(target);
    return s.isFile() ? s.mode & 0o7777 : undefined;
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Makes the rename itself durable: the directory entry lives in the directory. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    const code = errorCode(e);
    if (code === undefined || !IGNORABLE_DIR_SYNC_CODES.has(code)) throw e;
  } finally {
    await handle?.close();
  }
}

/**
 * Reads a whole file as a plain Uint8Array (not a Node Buffer, so results
 * compare and behave the same as in browsers).
 * @throws CheckpointError when the file does not exist or is a directory;
 *   other I/O errors are rethrown unchanged.
 */
export async function readFileChecked(path: string): Promise<Uint8Array> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError(`readFileChecked: path must be a non-empty string, got ${describe(path)}`);
  }
  let buf: Uint8Array;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = errorCode(e);
    let err: CheckpointError | undefined;
    if (code === 'ENOENT') {
      err = new CheckpointError(`readFileChecked: file not found: ${resolve(path)} (ENOENT)`);
    } else if (code === 'EISDIR') {
      err = new CheckpointError(`readFileChecked: expected a file but ${resolve(path)} is a directory (EISDIR)`);
    }
    if (err === undefined) throw e;
    // Set after construction: the error classes take only a message.
    err.cause = e;
    throw err;
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
