// @denoise/core — tests for io/atomic-write.ts: the guarantee under test is
// that a failed checkpoint save leaves the previous file intact and no temp
// debris behind. Failures are injected through the beforeRename hook because
// permission tricks (read-only directories) do not stop root in CI containers.

import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, DenoiseError, InvalidArgumentError } from '../errors/index.js';
import { readFileChecked, writeFileAtomic } from './atomic-write.js';

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'denoise-atomic-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tempFiles = async (): Promise<string[]> => (await readdir(dir)).filter((f) => f.endsWith('.tmp'));

describe('writeFileAtomic', () => {
  it('writes bytes and reads them back', async () => {
    const p = join(dir, 'a.bin');
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    await writeFileAtomic(p, data);
    expect(await readFileChecked(p)).toEqual(data);
    expect(await tempFiles()).toEqual([]);
  });

  it('writes strings as UTF-8', async () => {
    const p = join(dir, 'a.json');
    await writeFileAtomic(p, '{"σ":"ü"}');
    expect(await readFile(p, 'utf8')).toBe('{"σ":"ü"}');
  });

  it('writes a subarray view exactly, not its whole buffer', async () => {
    const p = join(dir, 'view.bin');
    const big = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    await writeFileAtomic(p, big.subarray(2, 4));
    expect(Array.from(await readFileChecked(p))).toEqual([3, 4]);
  });

  it('replaces an existing file and keeps its permission bits', async () => {
    const p = join(dir, 'ckpt.safetensors');
    await writeFile(p, 'old');
    await chmod(p, 0o640);
    await writeFileAtomic(p, 'new contents', { fsync: false });
    expect(await readFile(p, 'utf8')).toBe('new contents');
    expect((await stat(p)).mode & 0o777).toBe(0o640);
    expect(await tempFiles()).toEqual([]);
  });

  it('stages the data in a hidden temp file in the same directory before renaming', async () => {
    const p = join(dir, 'model.bin');
    await writeFile(p, 'old');
    let seen: string[] = [];
    let stagedContent = '';
    let targetDuring = '';
    await writeFileAtomic(p, 'new', {
      beforeRename: async () => {
        seen = await tempFiles();
        stagedContent = await readFile(join(dir, seen[0] ?? 'missing'), 'utf8');
        targetDuring = await readFile(p, 'utf8');
      },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^\.model\.bin\.[0-9a-f]{16}\.tmp$/);
    expect(stagedContent).toBe('new');
    expect(targetDuring).toBe('old');
    expect(await readFile(p, 'utf8')).toBe('new');
  });

  it('keeps the old file intact and removes the temp file when the write fails (sync throw)', async () => {
    const p = join(dir, 'ckpt.bin');
    await writeFile(p, 'precious');
    const boom = new Error('disk on fire');
    await expect(
      writeFileAtomic(p, new Uint8Array(4096).fill(1), {
        beforeRename: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
    expect(await readFile(p, 'utf8')).toBe('precious');
    expect(await tempFiles()).toEqual([]);
    expect(await readdir(dir)).toEqual(['ckpt.bin']);
  });

  it('keeps the old file intact and removes the temp file when the write fails (async rejection)', async () => {
    const p = join(dir, 'ckpt.bin');
    await writeFile(p, 'precious');
    await expect(
      writeFileAtomic(p, 'replacement', {
        beforeRename: async () => {
          await new Promise((r) => setTimeout(r, 5));
          throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(await readFile(p, 'utf8')).toBe('precious');
    expect(await readdir(dir)).toEqual(['ckpt.bin']);
  });

  it('cleans up when the rename itself fails (target is a directory)', async () => {
    const p = join(dir, 'sub');
    await mkdir(p);
    await writeFile(join(p, 'keep'), 'x');
    const err = await writeFileAtomic(p, 'data').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(DenoiseError.isInstance(err)).toBe(false); // plain fs error, code preserved
    expect(typeof (err as { code?: unknown }).code).toBe('string');
    expect(await tempFiles()).toEqual([]);
    expect(await readFile(join(p, 'keep'), 'utf8')).toBe('x');
  });

  it('fails with the fs error when the directory does not exist', async () => {
    const err = await writeFileAtomic(join(dir, 'missing', 'x.bin'), 'data').catch((e: unknown) => e);
    expect((err as { code?: unknown }).code).toBe('ENOENT');
  });

  it('concurrent writers never interleave: the result is one complete payload', async () => {
    const p = join(dir, 'race.bin');
    const payloads = Array.from({ length: 16 }, (_, i) => new Uint8Array(64 * 1024).fill(i + 1));
    await Promise.all(payloads.map((d) => writeFileAtomic(p, d)));
    const got = await readFileChecked(p);
    expect(got.length).toBe(64 * 1024);
    const first = got[0]!;
    expect(got.every((b) => b === first)).toBe(true);
    expect(await tempFiles()).toEqual([]);
  });

  it('rejects bad arguments with InvalidArgumentError before touching the disk', async () => {
    await expect(writeFileAtomic('', 'x')).rejects.toThrow('writeFileAtomic: path must be a non-empty string, got ""');
    await expect(writeFileAtomic(join(dir, 'x'), 42 as unknown as string)).rejects.toThrow(
      'writeFileAtomic: data must be a Uint8Array or a string, got number 42',
    );
    await expect(writeFileAtomic(join(dir, 'x'), [1, 2] as unknown as Uint8Array)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('readFileChecked', () => {
  it('returns a plain Uint8Array, not a Buffer', async () => {
    const p = join(dir, 'x');
    await writeFile(p, Uint8Array.of(9, 8, 7));
    const got = await readFileChecked(p);
    expect(Object.getPrototypeOf(got)).toBe(Uint8Array.prototype);
    expect(Array.from(got)).toEqual([9, 8, 7]);
  });

  it('a missing file is a CheckpointError naming the path', async () => {
    const p = join(dir, 'nope.safetensors');
    const err = await readFileChecked(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toBe(`readFileChecked: file not found: ${p} (ENOENT)`);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('a directory is a CheckpointError', async () => {
    await expect(readFileChecked(dir)).rejects.toThrow(`readFileChecked: expected a file but ${dir} is a directory (EISDIR)`);
  });

  it('rejects an empty path', async () => {
    await expect(readFileChecked('')).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
