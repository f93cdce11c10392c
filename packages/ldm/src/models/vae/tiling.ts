// Tiled encoding and decoding (diffusers' AutoencoderKL._tiled_encode / tiled_decode): the input
// is cut into tiles of `tileIn` starting every `stepIn` positions (edge tiles are smaller), each
// tile is mapped on its own, and each output tile is blended with its upper and left neighbours
// over `blend` rows / columns by linear ramps (blend_v / blend_h) before being cropped to
// tileOut - blend and stitched. Blended tiles replace the originals, so a tile's right and
// bottom neighbours blend against its blended version, as diffusers' in-place updates do.
// Peak memory is one tile's activations plus the stitched outputs.

import { InvalidArgumentError, add, concat, describe, mul, slice, tensor, tidy, type Tensor } from '@denoise/core';

export interface TilingOptions {
  /** Image-space tile size (default: the config's sample_size, 512 for SD). */
  tileSampleSize?: number;
  /** Fraction of a tile overlapping its neighbour (default 0.25, diffusers' tile_overlap_factor). */
  tileOverlapFactor?: number;
}

export interface TiledApplyOptions {
  tileIn: number;
  stepIn: number;
  /** Nominal output tile size (the crop is tileOut - blend). */
  tileOut: number;
  blend: number;
  apply: (tile: Tensor) => Tensor;
}

/** Ramp weights [1, 1, e, 1] (axis 2) or [1, 1, 1, e] (axis 3): (1 - y/e) for `a`, y/e for `b`, rounded to float32 as PyTorch's scalar products are. */
function ramps(e: number, axis: 2 | 3, like: Tensor): [Tensor, Tensor] {
  const wa = new Float32Array(e);
  const wb = new Float32Array(e);
  for (let y = 0; y < e; y++) {
    wa[y] = 1 - y / e;
    wb[y] = y / e;
  }
  const shape = axis === 2 ? [1, 1, e, 1] : [1, 1, 1, e];
  return [tensor(wa, shape, { backend: like.backend }), tensor(wb, shape, { backend: like.backend })];
}

/** b with its first `extent` rows (axis 2) or columns (axis 3) blended from the end of a. */
export function blend(a: Tensor, b: Tensor, extent: number, axis: 2 | 3): Tensor {
  const e = Math.min(a.shape[axis]!, b.shape[axis]!, extent);
  if (e <= 0) return b;
  const n = a.shape[axis]!;
  const begin = (at: number) => (axis === 2 ? [0, 0, at, 0] : [0, 0, 0, at]);
  const size = (len: number, t: Tensor) => (axis === 2 ? [t.shape[0]!, t.shape[1]!, len, t.shape[3]!] : [t.shape[0]!, t.shape[1]!, t.shape[2]!, len]);
  const [wa, wb] = ramps(e, axis, b);
  const mixed = add(mul(slice(a, begin(n - e), size(e, a)), wa), mul(slice(b, begin(0), size(e, b)), wb));
  const rest = b.shape[axis]! - e;
  return rest === 0 ? mixed : concat([mixed, slice(b, begin(e), size(rest, b))], axis);
}

export function tiledApply(x: Tensor, o: TiledApplyOptions): Tensor {
  if (!Number.isInteger(o.stepIn) || o.stepIn < 1) throw new InvalidArgumentError(`tiled VAE: the tile step must be a positive integer (tile ${o.tileIn}, overlap leaves ${describe(o.stepIn)})`);
  const [b, c, h, w] = x.shape as [number, number, number, number];
  return tidy(() => {
    const rows: Tensor[][] = [];
    for (let i = 0; i < h; i += o.stepIn) {
      const row: Tensor[] = [];
      for (let j = 0; j < w; j += o.stepIn) row.push(o.apply(slice(x, [0, 0, i, j], [b, c, Math.min(o.tileIn, h - i), Math.min(o.tileIn, w - j)])));
      rows.push(row);
    }
    const limit = o.tileOut - o.blend;
    const stitchedRows: Tensor[] = [];
    rows.forEach((row, i) => {
      const crops: Tensor[] = [];
      row.forEach((_, j) => {
        let tile = row[j]!;
        if (i > 0) tile = blend(rows[i - 1]![j]!, tile, o.blend, 2);
        if (j > 0) tile = blend(row[j - 1]!, tile, o.blend, 3);
        row[j] = tile;
        crops.push(slice(tile, [0, 0, 0, 0], [tile.shape[0]!, tile.shape[1]!, Math.min(limit, tile.shape[2]!), Math.min(limit, tile.shape[3]!)]));
      });
      stitchedRows.push(concat(crops, 3));
    });
    return concat(stitchedRows, 2);
  });
}
