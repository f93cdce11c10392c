// The tiled GEMM skeleton under matmul and the three convolutions (implicit GEMM). Two tilings:
//   tile64  a workgroup of 16 x 16 invocations computes a 64 x 64 tile of C = A B, each
//           invocation a 4 x 4 block (rows ty + 16 r, columns tx + 16 c, kept as four vec4
//           accumulators); K advances by 16 through two 4 KiB tiles in workgroup memory.
//           The default on hardware adapters.
//   tile16  16 x 16 invocations, one output each, 16 x 16 tiles of A and B. The default on
//           software adapters (lavapipe, SwiftShader): their shader compilers take seconds per
//           tile64 pipeline (LLVM), which dominates every short run (once compiled, tile64 is
//           faster there too: a 3x3 conv on [1, 32, 32, 32] ran in 22 ms vs 50 ms on lavapipe
//           with two cores; `gemmTile: 64` asks for it).
// A kernel supplies only its operand access in WGSL:
//   fn setup_(batch: u32)            per-batch (or per-group) state in var<private>s
//   fn loadA_(m: u32, k: u32) -> f32  element (m, k) of A, called only with m < M, k < K
//   fn loadB_(k: u32, n: u32) -> f32  element (k, n) of B, called only with k < K, n < N
//   fn store_(m: u32, n: u32, v: f32)
// so matmul reads strided (possibly transposed, batch-broadcast) matrices and conv2d gathers its
// im2col matrix on the fly, without materialising it.
//
// An operand B whose element address splits into a part that depends on the column alone and a
// part that depends on the row alone (the convolutions: output position and filter tap) can
// instead use the row interface (`gemmMain(tile, { rowsB: true })`), which moves the column's
// index arithmetic (integer divisions by run-time sizes) out of the K loop and does the row's
// once per row instead of once per element:
//   fn colsB_(n: VU)                 once per invocation, before the K loop: its B columns
//                                    (VU = vec4<u32> with tile64, whose invocations own four
//                                    columns; u32 with tile16), some possibly >= N
//   fn rowB_(k: u32) -> VF           row k < K of B at those columns (VF = vec4<f32> / f32),
//                                    0 at columns >= N
// with the aliases VU, VI (i32 / vec4<i32>), VB (bool / vec4<bool>) and VF declared by the
// skeleton, so one WGSL body serves both tilings (arithmetic, comparisons and select() work
// alike on scalars and vectors).

import { u32, type UniformField } from '../../kernel.js';
import type { Dispatch, Runtime } from '../../runtime/runtime.js';

export type GemmTile = 16 | 64;

/** Uniforms every GEMM kernel has: the problem size and the grid offsets of a split dispatch. */
export const GEMM_FIELDS: readonly UniformField[] = ['M', 'N', 'K', 'offX', 'offY', 'offZ'].map(u32);

/** How the skeleton reads B: element by element (loadB_) or by rows (colsB_ / rowB_). */
export interface GemmMainOptions {
  readonly rowsB?: boolean;
}

/** The entry point of a GEMM kernel with the given tiling. */
export function gemmMain(tile: GemmTile, options: GemmMainOptions = {}): string {
  const rowsB = options.rowsB === true;
  return tile === 64 ? tile64(rowsB) : tile16(rowsB);
}

/** The column-width aliases of the row interface: four columns per invocation, or one. */
function aliases(width: 1 | 4): string {
  return width === 4
    ? 'alias VU = vec4<u32>;\nalias VI = vec4<i32>;\nalias VB = vec4<bool>;\nalias VF = vec4<f32>;'
    : 'alias VU = u32;\nalias VI = i32;\nalias VB = bool;\nalias VF = f32;';
}

function tile64(rowsB: boolean): string {
  // B tile: row kk, the four columns l.x + 16c of this invocation packed as one vec4.
  const loadB = rowsB
    ? `var b = vec4<f32>();
    if (bk < u.K) { b = rowB_(bk); }`
    : `var b = vec4<f32>();
    for (var c = 0u; c < 4u; c++) {
      let bn = col0 + l.x + 16u * c;
      if (bk < u.K && bn < u.N) { b[c] = loadB_(bk, bn); }
    }`;
  return `${rowsB ? aliases(4) : ''}
const TM = 64u;
const TN = 64u;
const TK = 16u;
var<workgroup> tileA: array<f32, 1024>;
var<workgroup> tileB: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.y + u.offY) * TM;
  let col0 = (wid.x + u.offX) * TN;
  setup_(wid.z + u.offZ);${rowsB ? '\n  colsB_(col0 + l.x + vec4<u32>(0u, 16u, 32u, 48u));' : ''}
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < u.K; k0 += TK) {
    for (var e = 0u; e < 4u; e++) {
      let idx = lid + e * 256u;
      let am = row0 + idx / TK;
      let ak = k0 + idx % TK;
      var a = 0.0;
      if (am < u.M && ak < u.K) { a = loadA_(am, ak); }
      tileA[idx] = a;
    }
    let bk = k0 + l.y;
    ${loadB}
    tileB[l.y * 16u + l.x] = b;
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let bv = tileB[kk * 16u + l.x];
      acc0 = fma(vec4<f32>(tileA[l.y * TK + kk]), bv, acc0);
      acc1 = fma(vec4<f32>(tileA[(l.y + 16u) * TK + kk]), bv, acc1);
      acc2 = fma(vec4<f32>(tileA[(l.y + 32u) * TK + kk]), bv, acc2);
      acc3 = fma(vec4<f32>(tileA[(l.y + 48u) * TK + kk]), bv, acc3);
    }
    workgroupBarrier();
  }
  let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    let m = row0 + l.y + 16u * r;
    for (var c = 0u; c < 4u; c++) {
      let n = col0 + l.x + 16u * c;
      if (m < u.M && n < u.N) { store_(m, n, accs[r][c]); }
    }
  }
}`;
}

function tile16(rowsB: boolean): string {
  const loadB = rowsB ? 'if (k0 + l.y < u.K) { b = rowB_(k0 + l.y); }' : 'if (k0 + l.y < u.K && n < u.N) { b = loadB_(k0 + l.y, n); }';
  return `${rowsB ? aliases(1) : ''}
const TS = 16u;
var<workgroup> tileA: array<f32, 256>;
var<workgroup> tileB: array<f32, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let m = (wid.y + u.offY) * TS + l.y;
  let n = (wid.x + u.offX) * TS + l.x;
  setup_(wid.z + u.offZ);${rowsB ? '\n  colsB_(n);' : ''}
  var acc = 0.0;
  for (var k0 = 0u; k0 < u.K; k0 += TS) {
    var a = 0.0;
    if (m < u.M && k0 + l.x < u.K) { a = loadA_(m, k0 + l.x); }
    tileA[l.y * TS + l.x] = a;
    var b = 0.0;
    ${loadB}
    tileB[l.y * TS + l.x] = b;
    workgroupBarrier();
    for (var kk = 0u; kk < TS; kk++) { acc = fma(tileA[l.y * TS + kk], tileB[kk * TS + l.x], acc); }
    workgroupBarrier();
  }
  if (m < u.M && n < u.N) { store_(m, n, acc); }
}`;
}

/**
 * The dispatches of an M x N GEMM over `batches` batches: a grid of tiles by batch,
 * split into several dispatches (with offsets) where a side exceeds the device's limit.
 */
export function gemmDispatches<P>(
  rt: Runtime,
  base: Omit<Dispatch<P>, 'workgroups' | 'uniforms'> & { readonly uniforms: Readonly<Record<string, number>> },
  M: number,
  N: number,
  K: number,
  batches: number,
): Dispatch<P>[] {
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  const tile = rt.gemmTile;
  const tiles = [Math.ceil(N / tile), Math.ceil(M / tile), batches];
  const steps: Dispatch<P>[] = [];
  for (let z = 0; z < tiles[2]!; z += max) {
    for (let y = 0; y < tiles[1]!; y += max) {
      for (let x = 0; x < tiles[0]!; x += max) {
        steps.push({
          ...base,
          uniforms: { ...base.uniforms, M, N, K, offX: x, offY: y, offZ: z },
          workgroups: [Math.min(max, tiles[0]! - x), Math.min(max, tiles[1]! - y), Math.min(max, tiles[2]! - z)],
        });
      }
    }
  }
  return steps;
}
