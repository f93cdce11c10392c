// @denoise/core — tests for io/safetensors-format.ts. Files are built by hand
// here (not by the serializer under test) so that a symmetric bug in writer and
// reader cannot hide; corruption tests check that untrusted input always ends
// in a CheckpointError with a useful message, never garbage or a TypeError.

import { describe, it, expect } from 'vitest';
import { CheckpointError, DenoiseError, InvalidArgumentError } from '../errors/index.js';
import {
  SAFETENSORS_DTYPES,
  bfloat16BitsToNumber,
  decodeToFloat32,
  decodeToFloat64,
  decodeToInt32,
  dtypeItemSize,
  encodeFromTypedArray,
  float16BitsToNumber,
  numberToBfloat16Bits,
  numberToFloat16Bits,
  parseSafetensors,
  serializeSafetensors,
  type RawTensor,
  type SafetensorsDType,
} from './safetensors-format.js';

/** A file from a header string and data bytes, assembled without the serializer. */
function buildFile(header: string, data: ArrayLike<number> = [], headerLenOverride?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const n = headerLenOverride ?? h.length;
  const out = new Uint8Array(8 + h.length + data.length);
  for (let i = 0; i < 8; i++) out[i] = Math.floor(n / 2 ** (8 * i)) % 256;
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
}

function expectCheckpointError(fn: () => unknown, fragment: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a CheckpointError containing ${JSON.stringify(fragment)}`).toBeInstanceOf(CheckpointError);
  expect(DenoiseError.isInstance(err)).toBe(true);
  expect((err as Error).message).toContain(fragment);
}

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);

describe('hand-built file', () => {
  // Unpadded header and a 3-byte U8 tensor first: every later tensor is
  // misaligned, as in files from writers that do not sort by alignment.
  const header =
    '{"__metadata__":{"format":"pt","note":"hand"},' +
    '"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[3,11]},' +
    '"c":{"dtype":"I64","shape":[1],"data_offsets":[11,19]},' +
    '"h":{"dtype":"F16","shape":[1,1],"data_offsets":[19,21]},' +
    '"e":{"dtype":"BF16","shape":[0],"data_offsets":[21,21]}}';
  const bytes: number[] = [];
  // u64 little-endian header length, byte by byte.
  bytes.push(header.length & 0xff, header.length >>> 8, 0, 0, 0, 0, 0, 0);
  for (let i = 0; i < header.length; i++) bytes.push(header.charCodeAt(i));
  bytes.push(1, 2, 3); // a
  bytes.push(0x00, 0x00, 0x80, 0x3f); // b[0] = 1.0f
  bytes.push(0x00, 0x00, 0x20, 0xc0); // b[1] = -2.5f
  bytes.push(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff); // c = -2
  bytes.push(0x00, 0x3c); // h = 1.0 (half)
  const file = Uint8Array.from(bytes);

  it('parses names, dtypes, shapes, metadata and data views', () => {
    expect(header.length).toBeLessThan(65536);
    const { tensors, metadata } = parseSafetensors(file, 'hand.safetensors');
    expect(metadata).toEqual({ format: 'pt', note: 'hand' });
    expect([...tensors.keys()]).toEqual(['a', 'b', 'c', 'h', 'e']);
    const a = tensors.get('a')!;
    expect(a.dtype).toBe('U8');
    expect(Array.from(a.data)).toEqual([1, 2, 3]);
    expect(a.data.buffer).toBe(file.buffer); // a view, not a copy
    const b = tensors.get('b')!;
    expect(b.shape).toEqual([2]);
    expect(b.data.byteOffset % 4).not.toBe(0); // the point of this test
    expect(Array.from(decodeToFloat32(b))).toEqual([1, -2.5]);
    expect(Array.from(decodeToFloat64(b))).toEqual([1, -2.5]);
    expect(Array.from(decodeToInt32(tensors.get('c')!))).toEqual([-2]);
    expect(Array.from(decodeToFloat32(tensors.get('c')!))).toEqual([-2]);
    expect(tensors.get('h')!.shape).toEqual([1, 1]);
    expect(Array.from(decodeToFloat32(tensors.get('h')!))).toEqual([1]);
    expect(tensors.get('e')!.data.length).toBe(0);
    expect(decodeToFloat32(tensors.get('e')!).length).toBe(0);
  });

  it('accepts trailing-space padding and a subarray input', () => {
    const padded = header + '       ';
    const data = bytes.slice(8 + header.length);
    const inner = buildFile(padded, data);
    const outer = new Uint8Array(inner.length + 5);
    outer.set(inner, 3);
    const { tensors } = parseSafetensors(outer.subarray(3, 3 + inner.length));
    expect(Array.from(decodeToFloat32(tensors.get('b')!))).toEqual([1, -2.5]);
  });

  it('errors on every truncation of the file', () => {
    const failures: number[] = [];
    for (let len = 0; len < file.length; len++) {
      try {
        parseSafetensors(file.subarray(0, len));
        failures.push(len);
      } catch (e) {
        if (!(e instanceof CheckpointError)) failures.push(len);
      }
    }
    expect(failures).toEqual([]);
    expectCheckpointError(
      () => parseSafetensors(file.subarray(0, file.length - 4), 'x.st'),
      'file is truncated: tensor "h" needs bytes up to 21 but the data section has only 17 (in x.st)',
    );
  });

  it('never throws anything but CheckpointError on single-byte corruption', () => {
    const bad: string[] = [];
    for (let pos = 0; pos < file.length; pos++) {
      for (const x of [0x01, 0x20, 0x80, 0xff]) {
        const copy = file.slice();
        copy[pos] = copy[pos]! ^ x;
        try {
          const { tensors } = parseSafetensors(copy);
          for (const t of tensors.values()) {
            if (t.dtype === 'F64' || t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') decodeToFloat32(t);
          }
        } catch (e) {
          if (!(e instanceof CheckpointError)) bad.push(`${pos}^${x}: ${String(e)}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('round trip', () => {
  const samples: Record<SafetensorsDType, () => Parameters<typeof encodeFromTypedArray>[1]> = {
    F64: () => Float64Array.from([0, -0, 1.5, -1e300, 5e-324, Infinity, Math.PI]),
    F32: () => f32(0, -0, 1.5, -3.4028234663852886e38, 1.401298464324817e-45, -Infinity, Math.fround(Math.E)),
    F16: () => f32(0, -0, 1, -2, 65504, 2 ** -24, Infinity, 0.333251953125),
    BF16: () => f32(0, 1, -2, 3.3895313892515355e38, 2 ** -133, -Infinity, 0.333984375),
    I64: () => Int32Array.from([0, 1, -1, 2147483647, -2147483648]),
    I32: () => Int32Array.from([0, 1, -1, 2147483647, -2147483648]),
    I16: () => Int16Array.from([0, 1, -1, 32767, -32768]),
    I8: () => Int8Array.from([0, 1, -1, 127, -128]),
    U8: () => Uint8Array.from([0, 1, 128, 255]),
    BOOL: () => Uint8Array.from([0, 1, 1, 0, 1]),
  };

  it('every dtype survives serialize → parse → decode', () => {
    const tensors = new Map<string, RawTensor>();
    for (const dtype of SAFETENSORS_DTYPES) {
      const src = samples[dtype]();
      tensors.set(`t_${dtype}`, { dtype, shape: [src.length], data: encodeFromTypedArray(dtype, src) });
    }
    // A 2-D tensor and a scalar for shape handling.
    tensors.set('matrix', { dtype: 'F32', shape: [2, 3], data: encodeFromTypedArray('F32', f32(1, 2, 3, 4, 5, 6)) });
    tensors.set('scalar', { dtype: 'I32', shape: [], data: encodeFromTypedArray('I32', Int32Array.of(-7)) });

    const file = serializeSafetensors(tensors, { format: 'pt', epoch: '3' });
    const parsed = parseSafetensors(file);
    expect(parsed.metadata).toEqual({ format: 'pt', epoch: '3' });
    expect(new Set(parsed.tensors.keys())).toEqual(new Set(tensors.keys()));
    for (const [name, t] of tensors) {
      const p = parsed.tensors.get(name)!;
      expect(p.dtype).toBe(t.dtype);
      expect(p.shape).toEqual(t.shape);
      expect(Array.from(p.data)).toEqual(Array.from(t.data));
    }
    for (const dtype of SAFETENSORS_DTYPES) {
      const src = samples[dtype]();
      const p = parsed.tensors.get(`t_${dtype}`)!;
      const expected = Array.from(src as ArrayLike<number>, Number);
      if (dtype === 'I64' || dtype === 'I32' || dtype === 'I16' || dtype === 'I8' || dtype === 'U8' || dtype === 'BOOL') {
        expect(Array.from(decodeToInt32(p))).toEqual(expected);
        expect(Array.from(decodeToFloat64(p))).toEqual(expected);
      } else if (dtype === 'F64') {
        expect(Array.from(decodeToFloat64(p))).toEqual(expected);
        expect(Array.from(decodeToFloat32(p))).toEqual(expected.map(Math.fround));
      } else {
        // All F32/F16/BF16 samples are exactly representable in their dtype.
        expect(Array.from(decodeToFloat32(p))).toEqual(expected);
        expect(Array.from(decodeToFloat64(p))).toEqual(expected);
      }
    }
    expect(Array.from(decodeToFloat32(parsed.tensors.get('matrix')!))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(decodeToInt32(parsed.tensors.get('scalar')!))).toEqual([-7]);
  });

  it('I64 from Int32Array is sign-extended; from BigInt64Array kept', () => {
    const bytes = encodeFromTypedArray('I64', Int32Array.of(-1, 5));
    expect(Array.from(bytes)).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 5, 0, 0, 0, 0, 0, 0, 0]);
    const big = encodeFromTypedArray('I64', BigInt64Array.of(-(2n ** 40n)));
    const dv = new DataView(big.buffer);
    expect(dv.getBigInt64(0, true)).toBe(-(2n ** 40n));
  });

  it('NaN survives F32/F16/BF16/F64 round trips', () => {
    for (const dtype of ['F64', 'F32', 'F16', 'BF16'] as const) {
      const src = dtype === 'F64' ? Float64Array.of(NaN, 1) : f32(NaN, 1);
      const t: RawTensor = { dtype, shape: [2], data: encodeFromTypedArray(dtype, src) };
      const back = decodeToFloat32(t);
      expect(Number.isNaN(back[0])).toBe(true);
      expect(back[1]).toBe(1);
    }
  });

  it('accepts a plain-object tensor record and Int32Array sources for narrow ints', () => {
    const file = serializeSafetensors({
      x: { dtype: 'I16', shape: [2], data: encodeFromTypedArray('I16', Int32Array.of(-300, 300)) },
      y: { dtype: 'I8', shape: [2], data: encodeFromTypedArray('I8', Int32Array.of(-128, 127)) },
      z: { dtype: 'U8', shape: [1], data: encodeFromTypedArray('U8', Int32Array.of(200)) },
    });
    const { tensors, metadata } = parseSafetensors(file);
    expect(metadata).toEqual({});
    expect(Array.from(decodeToInt32(tensors.get('x')!))).toEqual([-300, 300]);
    expect(Array.from(decodeToInt32(tensors.get('y')!))).toEqual([-128, 127]);
    expect(Array.from(decodeToInt32(tensors.get('z')!))).toEqual([200]);
  });
});

describe('serializer layout', () => {
  it('matches the reference writer: dtype order, name order, space padding, contiguous data', () => {
    const t = (dtype: SafetensorsDType, n: number): RawTensor => ({
      dtype,
      shape: [n],
      data: new Uint8Array(n * dtypeItemSize(dtype)).fill(n),
    });
    const file = serializeSafetensors(
      new Map([
        ['b', t('F32', 1)],
        ['10', t('U8', 3)],
        ['2', t('U8', 1)],
        ['a', t('F32', 2)],
        ['w', t('I64', 1)],
        ['h', t('F16', 1)],
        ['bf', t('BF16', 1)],
        ['d', t('F64', 1)],
      ]),
    );
    const n = new DataView(file.buffer).getUint32(0, true);
    expect(new DataView(file.buffer).getUint32(4, true)).toBe(0);
    expect(n % 8).toBe(0);
    const headerText = new TextDecoder().decode(file.subarray(8, 8 + n));
    const expected =
      '{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},' +
      '"b":{"dtype":"F32","shape":[1],"data_offsets":[24,28]},' +
      '"bf":{"dtype":"BF16","shape":[1],"data_offsets":[28,30]},' +
      '"h":{"dtype":"F16","shape":[1],"data_offsets":[30,32]},' +
      '"10":{"dtype":"U8","shape":[3],"data_offsets":[32,35]},' +
      '"2":{"dtype":"U8","shape":[1],"data_offsets":[35,36]}}';
    expect(headerText.trimEnd()).toBe(expected);
    expect(headerText.slice(expected.length)).toMatch(/^ *$/);
    expect(n - expected.length).toBeLessThan(8);
    expect(file.length).toBe(8 + n + 36);
  });

  it('writes __metadata__ first and only when given', () => {
    const one = { x: { dtype: 'U8' as const, shape: [1], data: Uint8Array.of(9) } };
    const text = (f: Uint8Array): string => new TextDecoder().decode(f.subarray(8, 8 + f[0]!)).trimEnd();
    expect(text(serializeSafetensors(one))).toBe('{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}');
    expect(text(serializeSafetensors(one, { k: 'v "q"' }))).toBe(
      '{"__metadata__":{"k":"v \\"q\\""},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
    );
  });

  it('empty input gives a valid empty file', () => {
    const file = serializeSafetensors(new Map());
    expect(file.length).toBe(16);
    const { tensors, metadata } = parseSafetensors(file);
    expect(tensors.size).toBe(0);
    expect(metadata).toEqual({});
  });

  it('F32 decode of an aligned tensor is a view of the file (no copy)', () => {
    const file = serializeSafetensors({ w: { dtype: 'F32', shape: [3], data: encodeFromTypedArray('F32', f32(1, 2, 3)) } });
    const t = parseSafetensors(file).tensors.get('w')!;
    const v = decodeToFloat32(t);
    expect(v.buffer).toBe(file.buffer);
    expect(Array.from(v)).toEqual([1, 2, 3]);
  });

  it('rejects bad input with InvalidArgumentError', () => {
    const ok = (): RawTensor => ({ dtype: 'F32', shape: [1], data: new Uint8Array(4) });
    expect(() => serializeSafetensors({ __metadata__: ok() })).toThrow(
      'serializeSafetensors: tensor name must be a non-empty string other than "__metadata__", got "__metadata__"',
    );
    expect(() => serializeSafetensors(new Map([['', ok()]]))).toThrow(InvalidArgumentError);
    expect(() => serializeSafetensors({ x: { ...ok(), dtype: 'F8' as SafetensorsDType } })).toThrow(
      'serializeSafetensors: tensor "x": dtype must be one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, got "F8"',
    );
    expect(() => serializeSafetensors({ x: { ...ok(), shape: [2, 3] } })).toThrow(
      'serializeSafetensors: tensor "x": data has 4 bytes but dtype F32 with shape [2,3] needs 24',
    );
    expect(() => serializeSafetensors({ x: { ...ok(), shape: [-1] } })).toThrow(
      'serializeSafetensors: tensor "x": shape must be an array of non-negative integers, got [-1]',
    );
    expect(() => serializeSafetensors({ x: ok() }, { epoch: 3 as unknown as string })).toThrow(
      'serializeSafetensors: metadata value for key "epoch" must be a string, got 3',
    );
  });
});

describe('parse errors', () => {
  const good = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  const fourBytes = [0, 0, 128, 63];
  const src = 'model.safetensors';
  const parse = (b: Uint8Array) => (): unknown => parseSafetensors(b, src);
  const entry = (dtype: unknown, shape: unknown, offsets: unknown): string =>
    JSON.stringify({ a: { dtype, shape, data_offsets: offsets } });

  it('sanity: the base file parses', () => {
    expect(parseSafetensors(buildFile(good, fourBytes)).tensors.size).toBe(1);
  });

  it('file shorter than 8 bytes', () => {
    expectCheckpointError(parse(new Uint8Array(5)), 'parseSafetensors: file is 5 bytes, shorter than the 8-byte header length prefix (in model.safetensors)');
  });

  it('header length larger than the file', () => {
    const f = buildFile(good, fourBytes, 99999999);
    const padded = new Uint8Array(120);
    padded.set(f.subarray(0, 120));
    expectCheckpointError(parse(padded), 'parseSafetensors: header length 99999999 exceeds file size 120');
    // Lengths needing all 64 bits must not be misread through float rounding.
    const huge = buildFile(good, fourBytes);
    huge.fill(0xff, 0, 8);
    expectCheckpointError(parse(huge), 'header length 18446744073709551615 exceeds file size');
  });

  it('invalid JSON, invalid UTF-8, non-object header', () => {
    expectCheckpointError(parse(buildFile('{"a":', [])), 'is not valid JSON');
    const bad = buildFile('{"\u00e9":1}');
    bad[10] = 0xff; // break the 2-byte UTF-8 sequence
    expectCheckpointError(parse(bad), 'is not valid UTF-8');
    expectCheckpointError(parse(buildFile('[1,2]')), 'header must be a JSON object, got an array');
    expectCheckpointError(parse(buildFile('3')), 'header must be a JSON object, got 3');
    expectCheckpointError(parse(buildFile('null')), 'header must be a JSON object, got null');
    expectCheckpointError(parse(buildFile('')), 'is not valid JSON');
    expectCheckpointError(parse(buildFile('\ufeff{}')), 'is not valid JSON');
  });

  it('bad tensor entries', () => {
    expectCheckpointError(parse(buildFile('{"a":5}')), 'tensor "a": entry must be an object with dtype, shape and data_offsets, got 5');
    expectCheckpointError(parse(buildFile(entry('F8_E4M3', [1], [0, 1]), [0])), 'tensor "a": unknown dtype "F8_E4M3" (supported: F64');
    expectCheckpointError(parse(buildFile(entry(undefined, [1], [0, 1]), [0])), 'tensor "a": unknown dtype undefined');
    for (const shape of [[-1], [1.5], '4', null, [2, '2']]) {
      expectCheckpointError(parse(buildFile(entry('F32', shape, [0, 4]), fourBytes)), 'tensor "a": shape must be an array of non-negative integers');
    }
    for (const offsets of [[0], [4, 0], [0, '4'], [0, 4, 8], null, [-4, 0], [0.5, 4.5]]) {
      expectCheckpointError(
        parse(buildFile(entry('F32', [1], offsets), fourBytes)),
        'tensor "a": data_offsets must be [begin, end] non-negative integers with begin <= end',
      );
    }
  });

  it('size mismatch between offsets and shape', () => {
    expectCheckpointError(
      parse(buildFile(entry('F32', [3], [0, 8]), new Array(8).fill(0))),
      'tensor "a": data_offsets [0, 8] span 8 bytes but dtype F32 with shape [3] needs 12',
    );
  });

  it('truncated data section', () => {
    const h = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}}';
    expectCheckpointError(
      parse(buildFile(h, new Array(12).fill(0))),
      'parseSafetensors: file is truncated: tensor "b" needs bytes up to 16 but the data section has only 12 (in model.safetensors)',
    );
  });

  it('overlaps, holes and trailing bytes', () => {
    const overlap = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expectCheckpointError(parse(buildFile(overlap, new Array(8).fill(0))), 'tensors "a" and "b" overlap: "b" starts at byte 4 but "a" ends at byte 8');
    const hole = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    expectCheckpointError(parse(buildFile(hole, new Array(12).fill(0))), 'data section has a hole: bytes 4..8 are not covered by any tensor (before tensor "b")');
    const leading = '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expectCheckpointError(parse(buildFile(leading, new Array(8).fill(0))), 'data section has a hole: bytes 0..4');
    expectCheckpointError(parse(buildFile(good, [...fourBytes, 1, 2])), 'data section has 2 trailing bytes not covered by any tensor (tensors cover 4 of 6)');
    // A zero-size tensor sitting inside another one is an overlap per the spec.
    const inside = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}';
    expectCheckpointError(parse(buildFile(inside, new Array(8).fill(0))), 'overlap');
  });

  it('bad metadata', () => {
    expectCheckpointError(
      parse(buildFile('{"__metadata__":{"epoch":3}}')),
      '__metadata__ value for key "epoch" must be a string, got 3',
    );
    expectCheckpointError(parse(buildFile('{"__metadata__":["x"]}')), '__metadata__ must be an object of string values, got ["x"]');
    expect(parseSafetensors(buildFile('{"__metadata__":null}')).metadata).toEqual({});
  });

  it('a "__proto__" key stays an ordinary entry', () => {
    const { metadata } = parseSafetensors(buildFile('{"__metadata__":{"__proto__":"x"}}'));
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(Object.keys(metadata)).toEqual(['__proto__']);
  });

  it('rejects a non-Uint8Array argument with InvalidArgumentError', () => {
    expect(() => parseSafetensors([1, 2] as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });
});

describe('float16', () => {
  const known: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0000, 0],
    [0x3555, 0.333251953125],
  ];

  it('decodes known bit patterns exactly', () => {
    for (const [bits, value] of known) expect(float16BitsToNumber(bits)).toBe(value);
    expect(Number.isNaN(float16BitsToNumber(0x7e00))).toBe(true);
    expect(Number.isNaN(float16BitsToNumber(0x7c01))).toBe(true);
    expect(Object.is(float16BitsToNumber(0x8000), -0)).toBe(true);
  });

  it('encodes known values exactly', () => {
    for (const [bits, value] of known) expect(numberToFloat16Bits(value)).toBe(bits);
    expect(numberToFloat16Bits(NaN)).toBe(0x7e00);
    expect(numberToFloat16Bits(-0)).toBe(0x8000);
  });

  it('decodes every pattern per the IEEE formula and re-encodes non-NaNs to the same bits', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >>> 10) & 0x1f;
      const m = h & 0x3ff;
      const v = float16BitsToNumber(h);
      const expected = e === 0x1f ? (m === 0 ? s * Infinity : NaN) : e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
      const okValue = Number.isNaN(expected) ? Number.isNaN(v) : Object.is(v, expected);
      const okBits = Number.isNaN(expected) ? (numberToFloat16Bits(v) & 0x7e00) === 0x7e00 : numberToFloat16Bits(v) === h;
      if (!okValue || !okBits) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds to nearest, ties to even, including subnormals and overflow', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // tie, 0x3c00 even
      [1 + 3 * 2 ** -11, 0x3c02], // tie, rounds up to even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above tie
      [1 + 2 ** -11 - 2 ** -20, 0x3c00], // below tie
      [65519, 0x7bff],
      [65520, 0x7c00], // tie between 65504 (odd) and 2^16: even is inf
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal
      [2 ** -25 + 2 ** -40, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie 1|2 → 2
      [5 * 2 ** -25, 0x0002], // tie 2|3 → 2
      [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal and smallest normal
      [-(2 ** -26), 0x8000],
      [2 ** -30, 0x0000],
    ];
    for (const [x, bits] of cases) expect([x, numberToFloat16Bits(x)]).toEqual([x, bits]);
  });

  it('agrees with a brute-force nearest-even search on many float32 values', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let s = 987654321;
    const bad: number[] = [];
    for (let i = 0; i < 20000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      // Bias exponents into the half range (2^-26 .. 2^16) so most samples are interesting.
      u[0] = ((s & 0x80000000) | ((101 + (s % 42)) << 23) | (Math.imul(s, 2654435761) >>> 9)) >>> 0;
      const x = f[0]!;
      const h = numberToFloat16Bits(x);
      const v = float16BitsToNumber(h);
      if (!Number.isFinite(v)) {
        if (Math.abs(x) < 65520) bad.push(x);
        continue;
      }
      const mag = h & 0x7fff;
      const neighbours = [mag - 1, mag + 1].filter((m) => m >= 0 && m < 0x7c00).map((m) => float16BitsToNumber(m | (h & 0x8000)));
      const err = Math.abs(v - x);
      for (const w of neighbours) {
        const e2 = Math.abs(w - x);
        if (e2 < err || (e2 === err && (mag & 1) === 1)) bad.push(x);
      }
    }
    expect(bad).toEqual([]);
  });

  it('encodeFromTypedArray(F16) writes little-endian half bits', () => {
    expect(Array.from(encodeFromTypedArray('F16', f32(1, -2, 65504, 2 ** -24, Infinity, NaN, -0)))).toEqual([
      0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c, 0x00, 0x7e, 0x00, 0x80,
    ]);
  });
});

describe('bfloat16', () => {
  it('decodes known patterns exactly', () => {
    expect(bfloat16BitsToNumber(0x3f80)).toBe(1);
    expect(bfloat16BitsToNumber(0xc000)).toBe(-2);
    expect(bfloat16BitsToNumber(0x7f80)).toBe(Infinity);
    expect(bfloat16BitsToNumber(0x0001)).toBe(2 ** -133);
    expect(bfloat16BitsToNumber(0x7f7f)).toBe(3.3895313892515355e38);
    expect(Number.isNaN(bfloat16BitsToNumber(0x7fc0))).toBe(true);
    const t: RawTensor = { dtype: 'BF16', shape: [3], data: Uint8Array.of(0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40) };
    expect(Array.from(decodeToFloat32(t))).toEqual([1, -2, 3.140625]);
  });

  it('rounds to nearest even and keeps NaN a NaN', () => {
    expect(numberToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToBfloat16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(numberToBfloat16Bits(3.4028234663852886e38)).toBe(0x7f80); // rounds past max to inf
    expect(numberToBfloat16Bits(-Infinity)).toBe(0xff80);
    // A NaN whose payload lives only in the dropped low bits must not become inf.
    const f = new Float32Array(1);
    new Uint32Array(f.buffer)[0] = 0x7f800001;
    const b = numberToBfloat16Bits(f[0]!);
    expect(b & 0x7f80).toBe(0x7f80);
    expect(b & 0x007f).not.toBe(0);
  });
});

describe('decoders', () => {
  const raw = (dtype: SafetensorsDType, bytes: number[], shape = [bytes.length / dtypeItemSize(dtype)]): RawTensor => ({
    dtype,
    shape,
    data: Uint8Array.from(bytes),
  });

  it('decodeToInt32 rejects I64 values outside int32, naming the value', () => {
    const t = { dtype: 'I64' as const, shape: [2], data: encodeFromTypedArray('I64', BigInt64Array.of(1n, 2n ** 32n)) };
    expectCheckpointError(
      () => decodeToInt32(t, 'input_ids'),
      'decodeToInt32: tensor "input_ids" element 1 is 4294967296, which does not fit in int32 (expected -2147483648..2147483647)',
    );
    const neg = { dtype: 'I64' as const, shape: [1], data: encodeFromTypedArray('I64', BigInt64Array.of(-(2n ** 31n) - 1n)) };
    expectCheckpointError(() => decodeToInt32(neg), 'decodeToInt32: tensor element 0 is -2147483649');
  });

  it('decodeToInt32 rejects float dtypes', () => {
    expectCheckpointError(() => decodeToInt32(raw('F32', [0, 0, 0, 0])), 'decodeToInt32: tensor has dtype F32, expected an integer dtype');
  });

  it('decodes narrow ints and BOOL, treating any non-zero bool byte as true', () => {
    expect(Array.from(decodeToInt32(raw('I16', [0xff, 0xff, 0x00, 0x80])))).toEqual([-1, -32768]);
    expect(Array.from(decodeToInt32(raw('I8', [0xff, 0x80, 0x7f])))).toEqual([-1, -128, 127]);
    expect(Array.from(decodeToFloat32(raw('U8', [0, 255])))).toEqual([0, 255]);
    expect(Array.from(decodeToInt32(raw('BOOL', [0, 1, 2])))).toEqual([0, 1, 1]);
    expect(Array.from(decodeToFloat32(raw('BOOL', [0, 7])))).toEqual([0, 1]);
  });

  it('decodes unaligned multi-byte data (copy path) for every wide dtype', () => {
    const cases: [SafetensorsDType, Parameters<typeof encodeFromTypedArray>[1], number[]][] = [
      ['F64', Float64Array.of(1.25, -3), [1.25, -3]],
      ['F32', f32(0.5, -7), [0.5, -7]],
      ['F16', f32(0.5, -7), [0.5, -7]],
      ['BF16', f32(0.5, -7), [0.5, -7]],
      ['I64', Int32Array.of(-5, 9), [-5, 9]],
      ['I32', Int32Array.of(-5, 9), [-5, 9]],
      ['I16', Int16Array.of(-5, 9), [-5, 9]],
    ];
    for (const [dtype, src, expected] of cases) {
      const enc = encodeFromTypedArray(dtype, src);
      const host = new Uint8Array(enc.length + 1);
      host.set(enc, 1); // offset 1: misaligned for every multi-byte type
      const t: RawTensor = { dtype, shape: [2], data: host.subarray(1) };
      expect(Array.from(decodeToFloat32(t))).toEqual(expected);
      expect(Array.from(decodeToFloat64(t))).toEqual(expected);
      if (dtype.startsWith('I')) expect(Array.from(decodeToInt32(t))).toEqual(expected);
    }
  });

  it('I64 → float32 rounds once (no double rounding through float64)', () => {
    // 2^60 + 2^36 + 1 is just above the float32 tie at 2^60 + 2^36; via float64
    // the +1 is lost and the tie then rounds to even (2^60), which is wrong.
    const v = 2n ** 60n + 2n ** 36n + 1n;
    const t: RawTensor = { dtype: 'I64', shape: [3], data: encodeFromTypedArray('I64', BigInt64Array.of(v, -v, 2n ** 53n + 1n)) };
    expect(Array.from(decodeToFloat32(t))).toEqual([2 ** 60 + 2 ** 37, -(2 ** 60 + 2 ** 37), 2 ** 53]);
    expect(decodeToFloat64(t)[2]).toBe(2 ** 53);
  });

  it('rejects inconsistent RawTensors with InvalidArgumentError', () => {
    expect(() => decodeToFloat32({ dtype: 'F32', shape: [2], data: new Uint8Array(4) }, 'w')).toThrow(
      'decodeToFloat32: tensor "w": data has 4 bytes but dtype F32 with shape [2] needs 8',
    );
  });
});

describe('encodeFromTypedArray validation', () => {
  it('names the expected and actual array types', () => {
    expect(() => encodeFromTypedArray('F16', Float64Array.of(1))).toThrow(
      'encodeFromTypedArray: dtype F16 expects Float32Array, got Float64Array',
    );
    expect(() => encodeFromTypedArray('I32', f32(1))).toThrow('encodeFromTypedArray: dtype I32 expects Int32Array, got Float32Array');
    expect(() => encodeFromTypedArray('BOOL', [1] as unknown as Uint8Array)).toThrow(
      'encodeFromTypedArray: dtype BOOL expects Uint8Array, got [1]',
    );
    expect(() => encodeFromTypedArray('Q4' as SafetensorsDType, f32(1))).toThrow(InvalidArgumentError);
  });

  it('range-checks narrowing from Int32Array', () => {
    expect(() => encodeFromTypedArray('U8', Int32Array.of(1, 300))).toThrow(
      'encodeFromTypedArray: value 300 at index 1 does not fit in U8 (expected 0..255)',
    );
    expect(() => encodeFromTypedArray('I8', Int32Array.of(-129))).toThrow('does not fit in I8 (expected -128..127)');
    expect(() => encodeFromTypedArray('I16', Int32Array.of(40000))).toThrow('does not fit in I16 (expected -32768..32767)');
  });

  it('F32 from Float64Array rounds to nearest float32; BOOL normalises to 0/1', () => {
    const bytes = encodeFromTypedArray('F32', Float64Array.of(0.1));
    expect(new DataView(bytes.buffer).getFloat32(0, true)).toBe(Math.fround(0.1));
    expect(Array.from(encodeFromTypedArray('BOOL', Uint8Array.of(0, 5, 1)))).toEqual([0, 1, 1]);
  });

  it('encodes from a Uint8Array subarray (non-zero byteOffset)', () => {
    const view = new Uint8Array([3, 4]);
    expect(Array.from(encodeFromTypedArray('U8', view.subarray(1)))).toEqual([4]);
  });
});
