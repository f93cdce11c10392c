import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { expectClose, read, readHandle, upload } from './test-helpers.js';
import type { BinaryOp, CompareOp, UnaryOp } from '../types.js';
import type { DType } from '../../tensor/dtype.js';

const be = createReferenceBackend();
const k = be.kernels;

function unary(op: UnaryOp, values: number[], dtype: DType = 'float64'): number[] {
  const x = upload(be, values, [values.length], dtype);
  const outDtype = op === 'logicalNot' ? 'bool' : dtype;
  return readHandle(be, k.unary(x, { op }, { shape: x.shape, dtype: outDtype }), outDtype);
}

function binary(op: BinaryOp, a: number[], aShape: number[], b: number[], bShape: number[], outShape: number[], dtype: DType = 'float64'): number[] {
  const h = k.binary(upload(be, a, aShape, dtype), upload(be, b, bShape, dtype), { op }, { shape: outShape, dtype });
  return readHandle(be, h, dtype);
}

describe('reference unary', () => {
  const xs = [-3.5, -1, -0.25, 0.5, 1, 2.75, 10];
  const closedForms: Array<[UnaryOp, (x: number) => number]> = [
    ['neg', (x) => -x],
    ['abs', (x) => (x < 0 ? -x : x)],
    ['exp', (x) => Math.E ** x],
    ['expm1', (x) => Math.E ** x - 1],
    ['sin', (x) => Math.sin(x)],
    ['cos', (x) => Math.sin(x + Math.PI / 2)],
    ['tanh', (x) => (Math.E ** (2 * x) - 1) / (Math.E ** (2 * x) + 1)],
    ['square', (x) => x * x],
    ['reciprocal', (x) => 1 / x],
    ['relu', (x) => (x > 0 ? x : 0)],
    ['floor', (x) => x - (((x % 1) + 1) % 1)],
    ['ceil', (x) => -Math.floor(-x)],
    ['sigmoid', (x) => 1 / (1 + Math.E ** -x)],
  ];
  for (const [op, f] of closedForms) {
    it(`${op} matches its closed form`, () => {
      expectClose(unary(op, xs), xs.map(f), 1e-14, 1e-13);
    });
  }

  it('log, log1p, sqrt, rsqrt on positive inputs', () => {
    const pos = [1e-6, 0.5, 1, 2, 100];
    expectClose(unary('log', pos), pos.map((x) => Math.log(x)));
    expectClose(unary('log1p', pos), pos.map((x) => Math.log(1 + x)), 1e-12, 1e-10);
    expectClose(unary('log1p', [1e-12]), [1e-12 - 5e-25], 0, 1e-15); // accurate near 0
    expectClose(unary('expm1', [1e-12]), [1e-12 + 5e-25], 0, 1e-15);
    expectClose(unary('sqrt', pos), pos.map((x) => x ** 0.5));
    expectClose(unary('rsqrt', pos), pos.map((x) => x ** -0.5));
    expect(unary('sqrt', [-1])[0]).toBeNaN();
    expect(unary('log', [0])).toEqual([-Infinity]);
  });

  it('sign is -1 / 0 / 1 with sign(0) = 0', () => {
    const r = unary('sign', [-2, -0, 0, 3, -1e-300]);
    expect(r.map((v) => v + 0)).toEqual([-1, 0, 0, 1, -1]);
    expect(unary('sign', [NaN])[0]).toBeNaN();
  });

  it('round is round-half-to-even', () => {
    const r = unary('round', [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6, 3.5, 1e17 + 2]);
    expect(r.map((v) => v + 0)).toEqual([0, 2, 2, 0, -2, -2, 2, 3, -3, 4, 1e17 + 2]);
    expect(Object.is(r[3], -0)).toBe(true); // round(-0.5) = -0 like NumPy
  });

  it('sigmoid is stable for large |x|', () => {
    const r = unary('sigmoid', [-1000, -700, 0, 700, 1000, 40]);
    expect(r[0]).toBe(0);
    expect(r[1]! / Math.exp(-700)).toBeCloseTo(1, 12);
    expect(r[2]).toBe(0.5);
    expect(r[3]).toBe(1);
    expect(r[4]).toBe(1);
    for (const x of [-30, -5, 0.3, 12]) {
      const [a, b] = unary('sigmoid', [x, -x]);
      expect(a! + b!).toBeCloseTo(1, 15);
    }
  });

  it('erf matches known values to 1e-14', () => {
    const table: Array<[number, number]> = [
      [0.5, 0.5204998778130465], [1, 0.8427007929497149], [-2, -0.9953222650189527], [3, 0.9999779095030014],
      [-5.5, -0.9999999999999927], [-3.2, -0.9999939742388483], [-2.7, -0.9998656672600594],
      [-1.3, -0.9340079449406524], [-0.9, -0.7969082124228322], [-0.1, -0.1124629160182849],
      [1e-8, 1.1283791670955126e-8], [0.05, 0.05637197779701663], [0.3, 0.3286267594591274],
      [0.77, 0.7238216139648593], [1.5, 0.9661051464753108], [2.2, 0.9981371537020182],
      [2.9, 0.9999589021219005], [3.1, 0.9999883513426328], [3.7, 0.9999998328489421],
      [4.5, 0.9999999998033839], [5.2, 0.9999999999998075], [5.9, 0.9999999999999999],
    ];
    const r = unary('erf', table.map(([x]) => x));
    expectClose(r, table.map(([, y]) => y), 1e-14, 0);
    expect(unary('erf', [0, 7, -40, Infinity, -Infinity])).toEqual([0, 1, -1, 1, -1]);
    expect(unary('erf', [NaN])[0]).toBeNaN();
  });

  it('erf is odd and increasing, and its two branches join smoothly at |x| = 3', () => {
    const xs = Array.from({ length: 601 }, (_, i) => -6 + i * 0.02);
    const r = unary('erf', xs);
    const neg = unary('erf', xs.map((x) => -x));
    for (let i = 0; i < xs.length; i++) expect(r[i]).toBe(-neg[i]!);
    for (let i = 1; i < xs.length; i++) expect(r[i]!).toBeGreaterThanOrEqual(r[i - 1]!);
    // derivative 2/sqrt(pi) e^{-9} across the switch point
    const [below, above] = unary('erf', [3 - 1e-6, 3 + 1e-6]);
    expect((above! - below!) / 2e-6).toBeCloseTo((2 / Math.sqrt(Math.PI)) * Math.exp(-9), 8);
  });

  it('logicalNot on bool', () => {
    expect(unary('logicalNot', [1, 0, 1], 'bool')).toEqual([0, 1, 0]);
  });

  it('float32 results are rounded to float32 on store', () => {
    const r = unary('exp', [1, 0.1], 'float32');
    expect(r).toEqual([Math.fround(Math.E), Math.fround(Math.exp(Math.fround(0.1)))]);
  });

  it('int32 results stay integers and wrap', () => {
    expect(unary('neg', [5, -2147483648], 'int32')).toEqual([-5, -2147483648]);
    expect(unary('abs', [-7, 3], 'int32')).toEqual([7, 3]);
    expect(unary('square', [65536, -3], 'int32')).toEqual([0, 9]);
  });
});

describe('reference binary', () => {
  it('broadcasts [3,1] with [1,4]', () => {
    const a = [1, 2, 3];
    const b = [10, 20, 30, 40];
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) expected.push(a[i]! - b[j]!);
    expect(binary('sub', a, [3, 1], b, [1, 4], [3, 4])).toEqual(expected);
  });

  it('broadcasts a scalar [] with [2,3] on either side', () => {
    expect(binary('mul', [2], [], [1, 2, 3, 4, 5, 6], [2, 3], [2, 3])).toEqual([2, 4, 6, 8, 10, 12]);
    expect(binary('div', [1, 2, 3, 4, 5, 6], [2, 3], [2], [], [2, 3])).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
  });

  it('broadcasts a trailing vector [3] against [2,2,3] and middle ones [2,1,3] with [4,1]', () => {
    const x = Array.from({ length: 12 }, (_, i) => i);
    expect(binary('add', x, [2, 2, 3], [100, 200, 300], [3], [2, 2, 3])).toEqual(x.map((v, i) => v + [100, 200, 300][i % 3]!));
    const a = [1, 2, 3, 4, 5, 6]; // [2,1,3]
    const b = [10, 20, 30, 40]; // [4,1]
    const r = binary('add', a, [2, 1, 3], b, [4, 1], [2, 4, 3]);
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) for (let l = 0; l < 3; l++) expected.push(a[i * 3 + l]! + b[j]!);
    expect(r).toEqual(expected);
  });

  it('int32 div is floor division and mod is floored (sign of the divisor)', () => {
    const a = [-7, 7, -7, 7, 6, -6, 0];
    const b = [2, 2, -2, -2, 3, 3, -5];
    expect(binary('div', a, [7], b, [7], [7], 'int32')).toEqual([-4, 3, 3, -4, 2, -2, 0]);
    expect(binary('mod', a, [7], b, [7], [7], 'int32')).toEqual([1, 1, -1, -1, 0, 0, 0]);
  });

  it('float mod is floored too, and div is true division', () => {
    const r = binary('mod', [-7, 7, -7.5, 7.5, 5.25], [5], [2, -2, 2, -2, 0.5], [5], [5]);
    expect(r).toEqual([1, -1, 0.5, -0.5, 0.25]);
    expect(binary('div', [-7], [1], [2], [1], [1])).toEqual([-3.5]);
    // a - floor(a / b) * b identity on random values
    const a = [3.3, -8.1, 0.7, -0.2];
    const m = binary('mod', a, [4], [1.7, 1.7, -0.3, -0.3], [4], [4]);
    expectClose(m, [3.3 - 1.7, -8.1 + 5 * 1.7, 0.7 - 3 * 0.3, -0.2], 1e-12);
  });

  it('int32 mul and pow wrap like 32-bit integers', () => {
    expect(binary('mul', [65536, 46341, -3], [3], [65536, 46341, 7], [3], [3], 'int32')).toEqual([
      0, Number(BigInt.asIntN(32, 46341n * 46341n)), -21,
    ]);
    expect(binary('pow', [3, 2, 3, -2, 5], [5], [4, 31, 20, 3, 0], [5], [5], 'int32')).toEqual([
      81, -2147483648, Number(BigInt.asIntN(32, 3n ** 20n)), -8, 1,
    ]);
    expect(binary('add', [2147483647], [1], [1], [1], [1], 'int32')).toEqual([-2147483648]);
  });

  it('pow, maximum, minimum on floats (NaN propagates through maximum / minimum)', () => {
    expectClose(binary('pow', [2, 9, 4], [3], [0.5, 0.5, -1], [3], [3]), [Math.SQRT2, 3, 0.25]);
    const mx = binary('maximum', [1, 5, NaN, -0.5], [4], [2, 3, 0, NaN], [4], [4]);
    expect(mx.slice(0, 2)).toEqual([2, 5]);
    expect(mx[2]).toBeNaN();
    expect(mx[3]).toBeNaN();
    const mn = binary('minimum', [1, 5, NaN], [3], [2, 3, 0], [3], [3]);
    expect(mn.slice(0, 2)).toEqual([1, 3]);
    expect(mn[2]).toBeNaN();
  });

  it('logicalAnd / logicalOr on bool', () => {
    expect(binary('logicalAnd', [0, 0, 1, 1], [4], [0, 1, 0, 1], [4], [4], 'bool')).toEqual([0, 0, 0, 1]);
    expect(binary('logicalOr', [0, 0, 1, 1], [4], [0, 1, 0, 1], [4], [4], 'bool')).toEqual([0, 1, 1, 1]);
  });

  it('float32 add rounds once on store', () => {
    const r = binary('add', [0.1], [1], [0.2], [1], [1], 'float32');
    expect(r).toEqual([Math.fround(Math.fround(0.1) + Math.fround(0.2))]);
  });
});

describe('reference compare / where / cast / fill', () => {
  it('compare ops with broadcasting and NaN', () => {
    const a = upload(be, [1, 2, NaN], [3]);
    const b = upload(be, [2], []);
    const cases: Array<[CompareOp, number[]]> = [
      ['equal', [0, 1, 0]],
      ['notEqual', [1, 0, 1]],
      ['less', [1, 0, 0]],
      ['lessEqual', [1, 1, 0]],
      ['greater', [0, 0, 0]],
      ['greaterEqual', [0, 1, 0]],
    ];
    for (const [op, expected] of cases) {
      const h = k.compare(a, b, { op }, { shape: [3], dtype: 'bool' });
      expect(be.readSync(h, 'bool')).toEqual(new Uint8Array(expected));
    }
  });

  it('where broadcasts cond [2,1], a [1,3] and b []', () => {
    const cond = upload(be, [1, 0], [2, 1], 'bool');
    const a = upload(be, [1, 2, 3], [1, 3]);
    const b = upload(be, [-1], []);
    expect(readHandle(be, k.where(cond, a, b, { shape: [2, 3], dtype: 'float64' }))).toEqual([1, 2, 3, -1, -1, -1]);
  });

  it('cast: float -> int32 truncates, anything -> bool is x != 0, int/bool -> float exact', () => {
    const f = upload(be, [1.7, -1.7, -0.5, 2.5, 0, -0, 0.1, NaN], [8]);
    expect(readHandle(be, k.cast(f, { shape: [8], dtype: 'int32' }), 'int32')).toEqual([1, -1, 0, 2, 0, 0, 0, 0]);
    expect(readHandle(be, k.cast(f, { shape: [8], dtype: 'bool' }), 'bool')).toEqual([1, 1, 1, 1, 0, 0, 1, 1]);
    const i = upload(be, [16777217, -3, 0], [3], 'int32');
    expect(readHandle(be, k.cast(i, { shape: [3], dtype: 'float64' }))).toEqual([16777217, -3, 0]);
    expect(readHandle(be, k.cast(i, { shape: [3], dtype: 'float32' }), 'float32')).toEqual([16777216, -3, 0]);
    expect(readHandle(be, k.cast(i, { shape: [3], dtype: 'bool' }), 'bool')).toEqual([1, 1, 0]);
    const bl = upload(be, [1, 0], [2], 'bool');
    expect(readHandle(be, k.cast(bl, { shape: [2], dtype: 'int32' }), 'int32')).toEqual([1, 0]);
    expect(readHandle(be, k.cast(upload(be, [0.1], [1]), { shape: [1], dtype: 'float32' }), 'float32')).toEqual([Math.fround(0.1)]);
  });

  it('fill each dtype', () => {
    expect(be.readSync(k.fill({ value: 0.1 }, { shape: [2, 2], dtype: 'float32' }), 'float32')).toEqual(new Float32Array(4).fill(0.1));
    expect(readHandle(be, k.fill({ value: -2.5 }, { shape: [3], dtype: 'float64' }))).toEqual([-2.5, -2.5, -2.5]);
    expect(readHandle(be, k.fill({ value: 7 }, { shape: [], dtype: 'int32' }), 'int32')).toEqual([7]);
    expect(readHandle(be, k.fill({ value: 3 }, { shape: [2], dtype: 'bool' }), 'bool')).toEqual([1, 1]);
    expect(readHandle(be, k.fill({ value: 1 }, { shape: [0, 3], dtype: 'float64' }))).toEqual([]);
  });

  it('reads back inputs unchanged', () => {
    const x = upload(be, [1, 2], [2]);
    k.unary(x, { op: 'neg' }, { shape: [2], dtype: 'float64' });
    expect(read(be, x)).toEqual([1, 2]);
  });
});
