// @denoise/core — tests for io/safetensors.ts: tensors to files and back (the byte format itself
// and the atomic writer have their own tests). Files go to a fresh temporary directory.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { CheckpointError, DenoiseError, DisposedTensorError, InvalidArgumentError } from '../errors/index.js';
import { Generator } from '../random/index.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { createReferenceBackend } from '../backend/reference/backend.js';
import { getBackend } from '../backend/registry.js';
import { memory } from '../index.js';
import { deserializeTensors, loadSafetensors, parseSafetensors, saveSafetensors, serializeTensors } from './safetensors.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'denoise-safetensors-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let fileCounter = 0;
const freshPath = (name = 'ckpt') => path.join(dir, `${name}-${fileCounter++}.safetensors`);

/** The raw bytes of a typed array (bit-exact comparison, NaN and -0 included). */
const bytesOf = (a: ArrayBufferView): number[] => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

function sampleTensors(): Record<string, Tensor> {
  const gen = new Generator(31);
  const f32 = Float32Array.from(gen.normalArray(12, 'float32'));
  // Special values must survive too.
  f32.set([NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38], 6);
  const f64 = Float64Array.from(gen.normalArray(7, 'float64'));
  f64.set([NaN, -0, 5e-324, Number.MAX_VALUE], 3);
  return {
    'enc.weight': tensor(f32, [3, 4], { dtype: 'float32' }),
    'enc.bias64': tensor(f64, [7], { dtype: 'float64' }),
    'dec.index': tensor(Int32Array.from([-2147483648, -1, 0, 1, 2147483647, 42]), [2, 3], { dtype: 'int32' }),
    'dec.mask': tensor([1, 0, 0, 1, 1], [5], { dtype: 'bool' }),
    'dec.scalar': tensor(Float64Array.from([Math.PI]), [], { dtype: 'float64' }),
    'dec.empty': tensor(new Float32Array(0), [0, 3], { dtype: 'float32' }),
  };
}

describe('save / load round trip', () => {
  it('float32, float64 (kept), int32, bool, scalar and empty tensors with metadata, bit-exact', async () => {
    const src = sampleTensors();
    const file = freshPath();
    const metadata = { format: 'pt', step: '1200', note: 'ünïcödé ✓' };
    await saveSafetensors(file, src, { metadata });
    const { tensors, metadata: meta } = await loadSafetensors(file, { floatDType: 'keep' });
    expect(meta).toEqual(metadata);
    expect([...tensors.keys()].sort()).toEqual(Object.keys(src).sort());
    for (const [name, t] of Object.entries(src)) {
      const back = tensors.get(name)!;
      expect(back.dtype, name).toBe(t.dtype);
      expect(back.shape, name).toEqual(t.shape);
      expect(bytesOf(back.dataSync()), name).toEqual(bytesOf(t.dataSync()));
    }
    // The header records the stored dtypes.
    const parsed = parseSafetensors(new Uint8Array(fs.readFileSync(file)));
    expect(Object.fromEntries([...parsed.tensors].map(([n, r]) => [n, r.dtype]))).toEqual({
      'enc.weight': 'F32',
      'enc.bias64': 'F64',
      'dec.index': 'I32',
      'dec.mask': 'BOOL',
      'dec.scalar': 'F64',
      'dec.empty': 'F32',
    });
    expect(parsed.tensors.get('dec.mask')!.shape).toEqual([5]);
    for (const t of [...Object.values(src), ...tensors.values()]) t.dispose();
  });

  it('by default float64 loads as float32 (rounded to nearest)', async () => {
    const file = freshPath();
    const values = Float64Array.from(new Generator(32).normalArray(9, 'float64'));
    const t = tensor(values, [9], { dtype: 'float64' });
    await saveSafetensors(file, { x: t });
    const { tensors } = await loadSafetensors(file);
    const back = tensors.get('x')!;
    expect(back.dtype).toBe('float32');
    expect(Array.from(back.dataSync())).toEqual(Array.from(values, Math.fround));
    expect(Array.from(values, Math.fround)).not.toEqual(Array.from(values));
    t.dispose();
    back.dispose();
  });

  it('a Map of tensors saves the same bytes as the equivalent object', async () => {
    const a = tensor([1, 2, 3], [3]);
    const b = tensor([[1, 2]], [1, 2], { dtype: 'int32' });
    const fromObj = await serializeTensors({ a, b }, { metadata: { k: 'v' } });
    const fromMap = await serializeTensors(new Map([['a', a], ['b', b]]), { metadata: { k: 'v' } });
    expect(Array.from(fromMap)).toEqual(Array.from(fromObj));
    const fileA = freshPath();
    await saveSafetensors(fileA, new Map([['a', a], ['b', b]]), { metadata: { k: 'v' } });
    expect(Array.from(new Uint8Array(fs.readFileSync(fileA)))).toEqual(Array.from(fromObj));
    a.dispose();
    b.dispose();
  });

  it('in memory: serializeTensors / deserializeTensors', async () => {
    const x = tensor(Float64Array.from([1.5, -2.25]), [2], { dtype: 'float64' });
    const bytes = await serializeTensors({ x });
    const { tensors, metadata } = deserializeTensors(bytes, { floatDType: 'keep' });
    expect(metadata).toEqual({});
    expect(Array.from(tensors.get('x')!.dataSync())).toEqual([1.5, -2.25]);
    expect(tensors.get('x')!.dtype).toBe('float64');
    x.dispose();
    tensors.get('x')!.dispose();
  });
});

describe('float16 option', () => {
  it('stores float32 tensors as F16 and loads them back within half-precision error', async () => {
    const gen = new Generator(33);
    const values = Float32Array.from(gen.normalArray(64, 'float32'), (v) => v * 10);
    values.set([0, -0, 65504, -1 / 3, 1e-5], 0);
    const w = tensor(values, [8, 8], { dtype: 'float32' });
    const d = tensor(Float64Array.from([0.1, 0.2]), [2], { dtype: 'float64' });
    const i = tensor([7, -7], [2], { dtype: 'int32' });
    const file = freshPath();
    await saveSafetensors(file, { w, d, i }, { float16: true });
    const bytes = new Uint8Array(fs.readFileSync(file));
    const parsed = parseSafetensors(bytes, file);
    expect(parsed.tensors.get('w')!.dtype).toBe('F16');
    expect(parsed.tensors.get('w')!.data.byteLength).toBe(64 * 2);
    // Only float32 tensors are narrowed.
    expect(parsed.tensors.get('d')!.dtype).toBe('F64');
    expect(parsed.tensors.get('i')!.dtype).toBe('I32');

    const { tensors } = await loadSafetensors(file);
    const back = tensors.get('w')!;
    expect(back.dtype).toBe('float32');
    expect(back.shape).toEqual([8, 8]);
    const out = back.dataSync();
    for (let k = 0; k < values.length; k++) {
      const x = values[k]!;
      // Round to nearest half: relative error <= 2^-11 for normals, absolute <= 2^-25 below 2^-14.
      const tol = Math.max(Math.abs(x) * 2 ** -11, 2 ** -25);
      expect(Math.abs(out[k]! - x), `entry ${k}: ${x} -> ${out[k]}`).toBeLessThanOrEqual(tol);
    }
    expect(out[2]).toBe(65504);
    expect(Object.is(out[1], -0)).toBe(true);
    // Not a lossless copy: float16 really was used.
    expect(Array.from(out)).not.toEqual(Array.from(values));
    expect(Array.from(tensors.get('i')!.dataSync())).toEqual([7, -7]);
    for (const t of [w, d, i, ...tensors.values()]) t.dispose();
  });
});

describe('damaged and missing files', () => {
  it('a truncated file gives a CheckpointError naming the path, at every cut', async () => {
    const src = sampleTensors();
    const file = freshPath('full');
    await saveSafetensors(file, src, { metadata: { a: 'b' } });
    const full = fs.readFileSync(file);
    const headerLen = Number(full.readBigUInt64LE(0));
    const cuts = [0, 1, 7, 8, 9, 8 + Math.floor(headerLen / 2), 8 + headerLen - 1, 8 + headerLen, 8 + headerLen + 1, full.length - 1];
    expect(new Set(cuts).size).toBe(cuts.length);
    for (const cut of cuts) {
      const p = freshPath('cut');
      fs.writeFileSync(p, full);
      fs.truncateSync(p, cut);
      expect(fs.statSync(p).size).toBe(cut);
      const err = await rejection(loadSafetensors(p));
      expect(CheckpointError.isInstance(err), `cut at ${cut}: ${String(err)}`).toBe(true);
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message, `cut at ${cut}`).toContain(p);
    }
    for (const t of Object.values(src)) t.dispose();
  });

  it('a truncated file leaks no tensors', async () => {
    const src = sampleTensors();
    const file = freshPath();
    await saveSafetensors(file, src);
    fs.truncateSync(file, fs.statSync(file).size - 3);
    const before = memory().numTensors;
    await rejection(loadSafetensors(file));
    expect(memory().numTensors).toBe(before);
    for (const t of Object.values(src)) t.dispose();
  });

  it('garbage gives a CheckpointError naming the path', async () => {
    const p = freshPath('garbage');
    fs.writeFileSync(p, Buffer.from('this is not a safetensors file at all'));
    const err = await rejection(loadSafetensors(p));
    expect(CheckpointError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain(p);
  });

  it('a missing file gives a CheckpointError naming the path', async () => {
    const p = path.join(dir, 'does-not-exist.safetensors');
    const err = await rejection(loadSafetensors(p));
    expect(CheckpointError.isInstance(err)).toBe(true);
    expect(DenoiseError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain(p);
    // A directory is not a checkpoint either.
    const err2 = await rejection(loadSafetensors(dir));
    expect(CheckpointError.isInstance(err2)).toBe(true);
    expect((err2 as Error).message).toContain(dir);
  });
});

describe('a failing save keeps the previous checkpoint', () => {
  it('a disposed tensor: the old file stays byte-identical and no temp file is left', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'overwrite-'));
    const file = path.join(sub, 'model.safetensors');
    const good = tensor([1, 2, 3], [3]);
    await saveSafetensors(file, { w: good }, { metadata: { version: '1' } });
    const before = fs.readFileSync(file);

    const dead = tensor([4, 5, 6], [3]);
    dead.dispose();
    const err = await rejection(saveSafetensors(file, { w: good, dead }, { metadata: { version: '2' } }));
    expect(DisposedTensorError.isInstance(err)).toBe(true);
    expect(Buffer.compare(fs.readFileSync(file), before)).toBe(0);
    expect(fs.readdirSync(sub)).toEqual(['model.safetensors']);

    // Not a tensor at all: same.
    const err2 = await rejection(saveSafetensors(file, { w: good, x: [1, 2] as never }));
    expect(InvalidArgumentError.isInstance(err2)).toBe(true);
    expect((err2 as Error).message).toContain('"x"');
    expect(Buffer.compare(fs.readFileSync(file), before)).toBe(0);
    expect(fs.readdirSync(sub)).toEqual(['model.safetensors']);

    // Bad metadata (caught by the serializer before any write): same.
    await rejection(saveSafetensors(file, { w: good }, { metadata: { n: 3 as never } }));
    expect(Buffer.compare(fs.readFileSync(file), before)).toBe(0);

    // And the old checkpoint still loads.
    const { tensors, metadata } = await loadSafetensors(file);
    expect(metadata).toEqual({ version: '1' });
    expect(Array.from(tensors.get('w')!.dataSync())).toEqual([1, 2, 3]);
    good.dispose();
    tensors.get('w')!.dispose();
  });

  it('a successful save replaces the old file', async () => {
    const file = freshPath();
    const a = tensor([1], [1]);
    const b = tensor([2, 3], [2]);
    await saveSafetensors(file, { a });
    await saveSafetensors(file, { b });
    const { tensors } = await loadSafetensors(file);
    expect([...tensors.keys()]).toEqual(['b']);
    for (const t of [a, b, ...tensors.values()]) t.dispose();
  });
});

describe('load options', () => {
  it('filter selects tensors by name', async () => {
    const src = sampleTensors();
    const file = freshPath();
    await saveSafetensors(file, src, { metadata: { m: '1' } });
    const seen: string[] = [];
    const { tensors, metadata } = await loadSafetensors(file, {
      filter: (name) => {
        seen.push(name);
        return name.startsWith('enc.');
      },
    });
    expect([...tensors.keys()].sort()).toEqual(['enc.bias64', 'enc.weight']);
    expect(seen.sort()).toEqual(Object.keys(src).sort());
    expect(metadata).toEqual({ m: '1' });
    expect(bytesOf(tensors.get('enc.weight')!.dataSync())).toEqual(bytesOf(src['enc.weight']!.dataSync()));
    const none = await loadSafetensors(file, { filter: () => false });
    expect(none.tensors.size).toBe(0);
    for (const t of [...Object.values(src), ...tensors.values()]) t.dispose();
  });

  it('tensors are created on the requested backend (default: the current one)', async () => {
    const other = createReferenceBackend();
    const file = freshPath();
    const x = tensor([1, 2], [2]);
    const m = tensor([1, 0], [2], { dtype: 'bool' });
    await saveSafetensors(file, { x, m });
    const onOther = await loadSafetensors(file, { backend: other });
    for (const t of onOther.tensors.values()) expect(t.backend).toBe(other);
    expect(Array.from(onOther.tensors.get('x')!.dataSync())).toEqual([1, 2]);
    expect(other.memory().buffers).toBe(2);
    const onCurrent = await loadSafetensors(file);
    for (const t of onCurrent.tensors.values()) expect(t.backend).toBe(getBackend());
    for (const t of [x, m, ...onOther.tensors.values(), ...onCurrent.tensors.values()]) t.dispose();
    expect(other.memory().buffers).toBe(0);
  });

  it('bad arguments', async () => {
    const file = freshPath();
    const x = tensor([1], [1]);
    await saveSafetensors(file, { x });
    for (const p of [
      loadSafetensors(file, { floatDType: 'float64' as never }),
      loadSafetensors(file, { filter: 'enc' as never }),
      loadSafetensors(''),
      saveSafetensors('', { x }),
      loadSafetensors(3 as never),
    ]) {
      expect(InvalidArgumentError.isInstance(await rejection(p))).toBe(true);
    }
    expect(() => deserializeTensors(new Uint8Array(0), { floatDType: 'f16' as never })).toThrow(InvalidArgumentError);
    x.dispose();
  });
});
