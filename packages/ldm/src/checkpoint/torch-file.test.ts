// PyTorch zip checkpoints read without Python: fixtures written by torch 1.13
// (test-fixtures/checkpoint/generate.py), the real TAESD weights, malicious pickles, and
// truncated or corrupt archives.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointError, type RawTensor } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { rawToBigInt64, rawToFloat64 } from './decode.js';
import { ALLOWED_PICKLE_GLOBALS, PICKLE_STATE, TorchTensorRef, torchPersistentLoad, unpickle } from './pickle.js';
import { TorchCheckpoint, readTorchCheckpoint } from './torch-file.js';
import { ZipArchive, crc32 } from './zip.js';
import { bytesSource } from './source.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.resolve(here, '../../test-fixtures/checkpoint');
const TAESD = path.resolve(here, '../../../../../shared/data/taesd');
const fixture = (name: string) => path.join(FIXTURES, name);

interface Expected {
  dtype: string;
  shape: number[];
  values: Array<number | string | boolean>;
}
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Record<string, Expected>;

const RAW_DTYPE: Record<string, RawTensor['dtype']> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

function expectMatches(prefix: string, tensors: Map<string, RawTensor>, rename: (k: string) => string = (k) => k) {
  const keys = Object.keys(expected).filter((k) => k.startsWith(`${prefix}/`));
  expect(keys.length).toBeGreaterThan(0);
  for (const key of keys) {
    const want = expected[key]!;
    const name = rename(key.slice(prefix.length + 1));
    const got = tensors.get(name);
    expect(got, name).toBeDefined();
    expect(got!.dtype, name).toBe(RAW_DTYPE[want.dtype]);
    expect(got!.shape, name).toEqual(want.shape);
    if (want.dtype === 'int64') expect([...rawToBigInt64(got!)].map(String), name).toEqual(want.values);
    else if (want.dtype === 'bool') expect([...rawToFloat64(got!)].map(Boolean), name).toEqual(want.values);
    else expect([...rawToFloat64(got!)], name).toEqual(want.values.map(Number)); // exact: f16/bf16 widen exactly
  }
}

describe('PyTorch zip checkpoints', () => {
  it('reads every storage dtype exactly (f32, f16, bf16, f64, int64 beyond 2^53, ints, bool, 0-d, empty)', async () => {
    const { tensors } = await readTorchCheckpoint(fixture('dtypes.pth'));
    expect([...tensors.keys()]).toEqual(['f32', 'f16', 'bf16', 'f64', 'i64', 'i32', 'i16', 'i8', 'u8', 'bool', 'scalar', 'empty', 'f16_special']);
    expectMatches('dtypes', tensors);
    expect(tensors.get('scalar')!.shape).toEqual([]);
    expect(rawToFloat64(tensors.get('f16_special')!)[2]).toBeCloseTo(5.960464477539063e-8, 20); // a subnormal half
  });

  it('gathers non-contiguous views, storage offsets, stride-0 expands and shared storages', async () => {
    const ckpt = await TorchCheckpoint.open(fixture('views.pth'));
    const root = ckpt.root as Map<string, TorchTensorRef>;
    expect(root.get('transposed')!.stride).toEqual([1, 6]);
    expect(root.get('sliced')!.storageOffset).toBe(6);
    expect(root.get('expanded')!.stride).toEqual([0, 1]);
    // 'base', 'transposed', 'reshaped' and 'column' are views of one storage.
    expect(new Set(['base', 'transposed', 'reshaped', 'column', 'sliced'].map((k) => root.get(k)!.storage.key)).size).toBe(1);
    const tensors = await ckpt.tensors();
    await ckpt.close();
    expectMatches('views', tensors);
  });

  it("reads a module's state_dict (OrderedDict with _metadata kept aside)", async () => {
    const ckpt = await TorchCheckpoint.open(fixture('module.pth'));
    const root = ckpt.root as Map<string, unknown> & { [PICKLE_STATE]?: unknown };
    expect(root).toBeInstanceOf(Map);
    expect(root[PICKLE_STATE]).toBeInstanceOf(Map); // {'_metadata': OrderedDict(...)}
    const tensors = await ckpt.tensors();
    await ckpt.close();
    expect([...tensors.keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '2.weight']);
    expectMatches('module', tensors);
  });

  it('reads the same archive re-zipped with deflate', async () => {
    const archive = await ZipArchive.open(bytesSource(readFileSync(fixture('module_deflated.pth'))));
    expect([...archive.entries.values()].some((e) => e.method === 8)).toBe(true);
    const { tensors } = await readTorchCheckpoint(fixture('module_deflated.pth'));
    expectMatches('module', tensors);
  });

  it('reads a Lightning-style checkpoint: nn.Parameters inside state_dict, numbers, strings, bytes, big ints', async () => {
    const { root, tensors } = await readTorchCheckpoint(fixture('lightning.ckpt'));
    const top = root as Map<string, unknown>;
    expect(top.get('epoch')).toBe(3);
    expect(top.get('global_step')).toBe(1234);
    expect(top.get('pytorch-lightning_version')).toBe('1.9.0');
    expect(top.get('big')).toBe(2n ** 70n);
    expect(top.get('blob')).toEqual(new Uint8Array([0, 1, ...new TextEncoder().encode('binary')]));
    const hparams = top.get('hparams') as Map<string, unknown>;
    expect(hparams.get('lr')).toBe(1e-4);
    expect(hparams.get('betas')).toEqual([0.9, 0.999]);
    expect(hparams.get('flags')).toEqual([true, null]);
    const sd = top.get('state_dict') as Map<string, TorchTensorRef>;
    expect(sd.get('model.0.weight')!.requiresGrad).toBe(true);
    expectMatches('lightning', tensors, (k) => `state_dict.${k}`);
  });

  it('reads the real TAESD (FLUX.2) fp16 weights: 79 tensors each, the shapes torch reports', async () => {
    for (const part of ['encoder', 'decoder']) {
      const { tensors } = await readTorchCheckpoint(path.join(TAESD, `taef2_${part}.pth`));
      expect(tensors.size).toBe(79);
      for (const t of tensors.values()) expect(t.dtype).toBe('F16');
      if (part === 'encoder') {
        expect(tensors.get('0.weight')!.shape).toEqual([64, 3, 3, 3]);
        expect(tensors.get('11.pool.0.weight')!.shape).toEqual([256, 64, 1, 1]);
        expect(tensors.get('14.weight')!.shape).toEqual([32, 64, 3, 3]);
      } else {
        expect(tensors.get('1.weight')!.shape).toEqual([64, 32, 3, 3]);
        expect(tensors.get('19.weight')!.shape).toEqual([3, 64, 3, 3]);
        // A value torch prints for decoder['3.pool.1.weight'][:2]: 0.9873, 0.9673 (fp16).
        const w = rawToFloat64(tensors.get('3.pool.1.weight')!);
        expect(w[0]).toBeCloseTo(0.9873, 3);
        expect(w[1]).toBeCloseTo(0.9673, 3);
      }
    }
  });
});

describe('the restricted unpickler refuses code', () => {
  const markers = ['system', 'eval', 'subprocess'].map((k) => `/tmp/denoise-ldm-pwned-${k}`);

  it.each([
    ['evil_system.pth', 'posix.system'],
    // torch.save's protocol 2 spells globals the Python 2 way.
    ['evil_eval.pth', '__builtin__.eval'],
    ['evil_subprocess.pth', 'commands.Popen'],
    ['evil_raw.pkl', 'subprocess.Popen'],
  ])('%s: refuses %s by name, runs nothing', async (file, global) => {
    const err = await TorchCheckpoint.open(fixture(file)).catch((e: unknown) => e);
    expect(CheckpointError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain(`refused pickle global "${global}"`);
    expect((err as Error).message).toContain('nothing was executed');
    for (const m of markers) expect(existsSync(m), m).toBe(false);
  });

  const op = (s: string) => [...s].map((c) => c.charCodeAt(0));
  const pickle = (...parts: Array<number | number[]>) => new Uint8Array(parts.flat());

  it('refuses a GLOBAL even when it is never called, and STACK_GLOBAL, INST and EXT opcodes', () => {
    // PROTO 2; GLOBAL 'os\nsystem\n'; STOP
    expect(() => unpickle(pickle(0x80, 2, 0x63, op('os\nsystem\n'), 0x2e))).toThrow(/refused pickle global "os.system"/);
    // SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'exec', STACK_GLOBAL
    expect(() => unpickle(pickle(0x80, 4, 0x8c, 8, op('builtins'), 0x8c, 4, op('exec'), 0x93, 0x2e))).toThrow(/"builtins.exec"/);
    // MARK; INST 'os\nsystem\n' (protocol 0)
    expect(() => unpickle(pickle(0x28, 0x69, op('os\nsystem\n'), 0x2e))).toThrow(/"os.system"/);
    // EXT1 1
    expect(() => unpickle(pickle(0x80, 2, 0x82, 1, 0x2e))).toThrow(/refused pickle opcode EXT1/);
  });

  it('allowed globals are data constructors only: calling a storage type or building state on a tuple fails', () => {
    // GLOBAL torch.FloatStorage; EMPTY_TUPLE; REDUCE
    expect(() => unpickle(pickle(0x80, 2, 0x63, op('torch\nFloatStorage\n'), 0x29, 0x52, 0x2e))).toThrow(/cannot be called/);
    // EMPTY_LIST; EMPTY_DICT; BUILD
    expect(() => unpickle(pickle(0x80, 2, 0x5d, 0x7d, 0x62, 0x2e))).toThrow(/BUILD on an object that takes no state/);
    // _rebuild_tensor_v2 with a plain tuple instead of a storage
    expect(() => unpickle(pickle(0x80, 2, 0x63, op('torch._utils\n_rebuild_tensor_v2\n'), 0x28, 0x4b, 1, 0x4b, 0, 0x29, 0x29, 0x74, 0x52, 0x2e))).toThrow(/expects a storage/);
    expect(ALLOWED_PICKLE_GLOBALS).toContain('torch._utils._rebuild_tensor_v2');
    expect(ALLOWED_PICKLE_GLOBALS.some((g) => /^(os|posix|builtins\.(eval|exec|getattr)|subprocess)/.test(g))).toBe(false);
  });

  it('decodes the ordinary opcodes: protocol 0 text forms, memo, sets, longs, floats', () => {
    // protocol 0: (lp0 \n I1 \n aF2.5 \n aS'x\n' a.  = [1, 2.5, 'x\n']
    const p0 = new TextEncoder().encode("(lp0\nI1\naF2.5\naS'x\\n'\naV\\u00e9\na.");
    expect(unpickle(p0)).toEqual([1, 2.5, 'x\n', 'é']);
    // protocol 4: EMPTY_SET, MARK, BININT1 1, BININT1 2, ADDITEMS, MEMOIZE, BINGET 0, TUPLE2, STOP
    expect(unpickle(pickle(0x80, 4, 0x8f, 0x28, 0x4b, 1, 0x4b, 2, 0x90, 0x94, 0x68, 0, 0x86, 0x2e))).toEqual([new Set([1, 2]), new Set([1, 2])]);
    // LONG1 with 9 bytes: -2^64 + 1
    expect(unpickle(pickle(0x80, 2, 0x8a, 9, [1, 0, 0, 0, 0, 0, 0, 0, 0xff], 0x2e))).toBe(-(2n ** 64n) + 1n);
    // BINFLOAT (big-endian) -1.5
    expect(unpickle(pickle(0x80, 2, 0x47, [0xbf, 0xf8, 0, 0, 0, 0, 0, 0], 0x2e))).toBe(-1.5);
  });

  it('hostile structure: deep nesting and a stride-0 expansion bomb are refused', async () => {
    // A pickle of 100,000 nested lists: [[[...]]] (EMPTY_LIST, then MARK-free nesting via APPEND).
    const depth = 100000;
    const deep = pickle(0x80, 2, Array(depth).fill(0x5d), Array(depth - 1).fill(0x61), 0x2e);
    const nested = unpickle(deep);
    expect(Array.isArray(nested)).toBe(true);
    const ckpt = await TorchCheckpoint.open(readFileSync(fixture('module.pth')));
    await expect(ckpt.tensors(nested)).rejects.toThrow(/nest deeper than 256 levels/);
    // A 54-float storage expanded to 2^30 elements by a stride-0 view.
    const storage = torchPersistentLoad(['storage', (unpickle(pickle(0x80, 2, 0x63, op('torch\nFloatStorage\n'), 0x2e)) as object), '0', 'cpu', 54]); // module.pth's storage 0: 54 floats
    await expect(ckpt.tensor(new TorchTensorRef(storage, 0, [1 << 30], [0], false), 'bomb')).rejects.toThrow(/stride-0 expansion\) is refused/);
    await ckpt.close();
  });

  it('malformed streams are CheckpointErrors, never crashes or huge allocations', () => {
    expect(() => unpickle(pickle(0x80, 2, 0x4e))).toThrow(/ends without STOP/);
    expect(() => unpickle(pickle(0x80, 2, 0x58, [0xff, 0xff, 0xff, 0x7f], 0x2e))).toThrow(/needs 2147483647 more bytes/);
    expect(() => unpickle(pickle(0x80, 2, 0x68, 7, 0x2e))).toThrow(/memo key 7/);
    expect(() => unpickle(pickle(0x80, 2, 0xff, 0x2e))).toThrow(/unknown opcode 0xff/);
    expect(() => unpickle(pickle(0x80, 2, 0x61, 0x2e))).toThrow(/stack underflow/);
  });
});

/** A stored-entry zip whose central directory uses ZIP64 extra fields and a ZIP64 end record. */
function writeZip64(entries: Array<[string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const [name, data] of entries) {
    const n = enc.encode(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    parts.push(local, n, data);
    const cd = Buffer.alloc(46 + n.length + 28);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(45, 4);
    cd.writeUInt16LE(45, 6);
    cd.writeUInt32LE(crc32(data), 16);
    cd.writeUInt32LE(0xffffffff, 20); // sizes and offset saturated: the extra field has them
    cd.writeUInt32LE(0xffffffff, 24);
    cd.writeUInt16LE(n.length, 28);
    cd.writeUInt16LE(28, 30);
    cd.writeUInt32LE(0xffffffff, 42);
    cd.set(n, 46);
    const extra = 46 + n.length;
    cd.writeUInt16LE(0x0001, extra);
    cd.writeUInt16LE(24, extra + 2);
    cd.writeBigUInt64LE(BigInt(data.length), extra + 4);
    cd.writeBigUInt64LE(BigInt(data.length), extra + 12);
    cd.writeBigUInt64LE(BigInt(offset), extra + 20);
    central.push(cd);
    offset += 30 + n.length + data.length;
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  const eocd64 = Buffer.alloc(56);
  eocd64.writeUInt32LE(0x06064b50, 0);
  eocd64.writeBigUInt64LE(44n, 4);
  eocd64.writeUInt16LE(45, 12);
  eocd64.writeUInt16LE(45, 14);
  eocd64.writeBigUInt64LE(BigInt(entries.length), 24);
  eocd64.writeBigUInt64LE(BigInt(entries.length), 32);
  eocd64.writeBigUInt64LE(BigInt(cdSize), 40);
  eocd64.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + cdSize), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return new Uint8Array(Buffer.concat([...parts, ...central, eocd64, locator, eocd]));
}

describe('corrupt and truncated archives', () => {
  const good = readFileSync(fixture('module.pth'));

  it('a truncated file', async () => {
    for (const cut of [10, 500, good.length - 30]) {
      const err = await TorchCheckpoint.open(good.subarray(0, cut)).catch((e: unknown) => e);
      expect(CheckpointError.isInstance(err), `cut at ${cut}`).toBe(true);
      expect((err as Error).message).toMatch(/truncated|not a zip/);
    }
  });

  it('a flipped byte in a storage fails the CRC-32 check', async () => {
    const archive = await ZipArchive.open(bytesSource(good));
    const entry = [...archive.entries.values()].find((e) => e.name.endsWith('data/0'))!;
    const bad = Buffer.from(good); // a copy (Buffer.slice would share the bytes)
    const headerLen = 30 + bad.readUInt16LE(entry.localHeaderOffset + 26) + bad.readUInt16LE(entry.localHeaderOffset + 28);
    bad[entry.localHeaderOffset + headerLen + 3]! ^= 0x40;
    const ckpt = await TorchCheckpoint.open(bad);
    await expect(ckpt.tensors()).rejects.toThrow(/CRC-32 mismatch in entry "module\/data\/0"/);
    await ckpt.close();
  });

  it('not a checkpoint at all, and an archive without data.pkl', async () => {
    await expect(TorchCheckpoint.open(new TextEncoder().encode('hello world, not a checkpoint'))).rejects.toThrow(/not a PyTorch checkpoint/);
    await expect(TorchCheckpoint.open(fixture('does-not-exist.pth'))).rejects.toThrow(/cannot read .*does-not-exist\.pth/);
  });

  it('reads a ZIP64 archive (64-bit sizes and offsets, as torch writes for files past 4 GiB)', async () => {
    const source = await ZipArchive.open(bytesSource(good));
    const entries: Array<[string, Uint8Array]> = [];
    for (const name of source.entries.keys()) entries.push([name, await source.read(name)]);
    const zip64 = writeZip64(entries);
    const archive = await ZipArchive.open(bytesSource(zip64));
    expect([...archive.entries.keys()]).toEqual(entries.map(([n]) => n));
    const { tensors } = await readTorchCheckpoint(zip64);
    expectMatches('module', tensors);
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
