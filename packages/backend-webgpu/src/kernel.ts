// A WGSL compute kernel is plain data: a name, a workgroup size, its storage bindings, the
// uniform fields it reads, a cache key and a source builder, all functions of one named-parameter
// object. The runtime (runtime/runtime.ts) compiles a pipeline per distinct cache key, builds the
// bind group layout from `bindings`, packs the uniform values by field name and dispatches. The
// helpers below write the parts of WGSL every kernel shares (declarations, entry points) so a
// kernel file holds only its own arithmetic.
//
// Shapes and strides travel in uniforms, not in the source: one pipeline serves every shape of
// the same rank, dtype and variant, which keeps the number of compiled pipelines small.

import type { DType } from '@denoise/core';

export type StorageAccess = 'read' | 'read_write';

/** One storage buffer binding, in binding order (the uniform block, if any, binds after them). */
export interface KernelBinding {
  readonly name: string;
  readonly access: StorageAccess;
}

export type ScalarType = 'u32' | 'i32' | 'f32';

/** One scalar field of a kernel's uniform block (`u.<name>` in WGSL). */
export interface UniformField {
  readonly name: string;
  readonly type: ScalarType;
}

export interface Kernel<P> {
  /** Unique; names the kernel in errors, labels and the kernel listing. */
  readonly name: string;
  /** Invocations per workgroup along x, y, z. Every kernel stays within 256 invocations. */
  readonly workgroupSize: readonly [number, number, number];
  readonly bindings: readonly KernelBinding[];
  /** Uniform fields for these parameters (names must match what `source` reads). */
  uniforms(params: P): readonly UniformField[];
  /** Everything `source` depends on; pipelines are cached by name + key. */
  cacheKey(params: P): string;
  source(params: P): string;
}

/** What the kernel listing shows of a kernel. */
export interface KernelInfo {
  readonly name: string;
  readonly workgroupSize: readonly [number, number, number];
  readonly bindings: readonly KernelBinding[];
}

/** The WGSL scalar a dtype is stored as: bool is one u32 per element (0 or 1). */
export function storageType(dtype: DType): ScalarType {
  switch (dtype) {
    case 'float32':
      return 'f32';
    case 'int32':
      return 'i32';
    default:
      return 'u32';
  }
}

/** Bindings in order: the read-only `reads`, then the read-write `writes`. */
export function io(reads: readonly string[], writes: readonly string[]): readonly KernelBinding[] {
  return [...reads.map((name) => ({ name, access: 'read' as const })), ...writes.map((name) => ({ name, access: 'read_write' as const }))];
}

export const u32 = (name: string): UniformField => ({ name, type: 'u32' });
export const f32 = (name: string): UniformField => ({ name, type: 'f32' });

/**
 * The binding and uniform declarations of `kernel` for `params`. `elements` gives each binding's
 * array element type (default u32: raw 32-bit words, for kernels that only move data).
 */
export function declarations<P>(kernel: Kernel<P>, params: P, elements: Readonly<Record<string, string>> = {}): string {
  const lines = [
    // Infinities cannot be spelled as WGSL constants; a private variable makes them run-time values.
    'var<private> infBits_: u32 = 0x7f800000u;',
    // x != x may be folded away by drivers that assume no NaNs; the bit pattern cannot be.
    'fn isNan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
    ...kernel.bindings.map(
      (b, i) => `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${elements[b.name] ?? 'u32'}>;`,
    ),
  ];
  const fields = kernel.uniforms(params);
  if (fields.length > 0) {
    lines.push(`struct Uniforms {\n${fields.map((f) => `  ${f.name}: ${f.type},`).join('\n')}\n}`);
    lines.push(`@group(0) @binding(${kernel.bindings.length}) var<uniform> u: Uniforms;`);
  }
  return lines.join('\n');
}

const BUILTINS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';

/**
 * Entry point with one invocation per element: `i` is the flat index over a grid of any shape
 * (the runtime splits large dispatches over y and z); invocations at or past u.size return.
 */
export function elementwiseMain(workgroupSize: number, body: string): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(${BUILTINS}) {
  let i = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * ${workgroupSize}u + lid;
  if (i >= u.size) { return; }
${body}
}`;
}

/**
 * Entry point with one workgroup per row: `row` is the flat workgroup index, `lid` the
 * invocation within it; workgroups at or past u.rows return (uniformly, so barriers stay legal).
 */
export function rowMain(workgroupSize: number, body: string): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(${BUILTINS}) {
  let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
  if (row >= u.rows) { return; }
${body}
}`;
}

/** WGSL for -infinity, +infinity and NaN (valid after `declarations`). */
export const NEG_INF = '(-bitcast<f32>(infBits_))';
export const POS_INF = 'bitcast<f32>(infBits_)';
export const NAN = 'bitcast<f32>(infBits_ | 0x400000u)';

/** The bit pattern of `value` stored as `dtype` (for kernels that write raw u32 words). */
export function bitsOf(value: number, dtype: DType): number {
  if (dtype === 'float32') return new Uint32Array(Float32Array.of(value).buffer)[0]!;
  if (dtype === 'int32') return Math.trunc(value) >>> 0;
  return value !== 0 ? 1 : 0;
}
