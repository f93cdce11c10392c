// The backend contract: the one interface every execution engine implements. Core owns it; a
// backend package only supplies storage and the primitive kernels below. The op layer in core
// checks every argument and computes every output shape and dtype before a kernel runs, so
// kernels trust their inputs (contiguous, row-major, shapes already consistent).
//
// Layout conventions: images and feature maps are NCHW, conv filters OIHW (PyTorch's), matmul
// operates on the last two axes with the leading (batch) axes broadcast.

import type { DType, TypedArray } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';

/** A backend's own handle to a tensor's storage. Core never looks inside. */
export type DataHandle = object;

/** What a kernel sees of one input tensor. */
export interface TensorInfo {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly handle: DataHandle;
}

/** The output a kernel must produce: core has already computed its shape and dtype. */
export interface OutputInfo {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'expm1' | 'log' | 'log1p' | 'sqrt' | 'rsqrt' | 'square'
  | 'reciprocal' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'erf' | 'floor' | 'ceil' | 'round'
  | 'logicalNot';
export const UNARY_OPS: readonly UnaryOp[] = [
  'neg', 'abs', 'sign', 'exp', 'expm1', 'log', 'log1p', 'sqrt', 'rsqrt', 'square', 'reciprocal',
  'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'erf', 'floor', 'ceil', 'round', 'logicalNot',
];

/** `mod` is the floored modulo (sign of the divisor, like Python and NumPy). `pow` is real power. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'mod' | 'logicalAnd' | 'logicalOr';
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'mod', 'logicalAnd', 'logicalOr'];

export type CompareOp = 'equal' | 'notEqual' | 'less' | 'lessEqual' | 'greater' | 'greaterEqual';
export const COMPARE_OPS: readonly CompareOp[] = ['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual'];

export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'max', 'min', 'prod'];

export interface Conv2dAttrs {
  /** [strideH, strideW] */
  readonly stride: readonly [number, number];
  /** [top, bottom, left, right], zero padding */
  readonly padding: readonly [number, number, number, number];
  /** [dilationH, dilationW] */
  readonly dilation: readonly [number, number];
  /** Input and output channels are split into `groups` independent convolutions. */
  readonly groups: number;
}

export type ResizeMode = 'nearest' | 'bilinear';
export interface ResizeAttrs {
  readonly mode: ResizeMode;
  /** [outH, outW] */
  readonly size: readonly [number, number];
  /**
   * Bilinear only. false (default): half-pixel centres, src = (dst + 0.5) * in / out - 0.5,
   * clamped below at 0 (PyTorch's align_corners=False). true: src = dst * (in - 1) / (out - 1).
   * Nearest always uses src = floor(dst * in / out) (PyTorch's mode='nearest').
   */
  readonly alignCorners: boolean;
}

/**
 * The primitive kernels. Every backend implements every one of them; anything else core needs
 * is composed from these. Each receives its inputs, its attributes and the output's shape and
 * dtype, and returns a new handle (never one of its inputs' handles, unless the backend
 * reference-counts storage itself).
 */
export interface PrimitiveKernels {
  /** Elementwise; out dtype = x dtype, except logicalNot which is bool -> bool. */
  unary(x: TensorInfo, attrs: { readonly op: UnaryOp }, out: OutputInfo): DataHandle;
  /**
   * Elementwise with NumPy broadcasting of a and b to out.shape. Both inputs have out.dtype
   * (core casts first), except logicalAnd / logicalOr, which take and give bool. On int32,
   * `div` is floor division and `pow` takes a non-negative exponent.
   */
  binary(a: TensorInfo, b: TensorInfo, attrs: { readonly op: BinaryOp }, out: OutputInfo): DataHandle;
  /** Elementwise comparison with broadcasting; a and b share a dtype; out dtype is bool. */
  compare(a: TensorInfo, b: TensorInfo, attrs: { readonly op: CompareOp }, out: OutputInfo): DataHandle;
  /** out = cond ? a : b with broadcasting of all three; cond is bool, a and b have out.dtype. */
  where(cond: TensorInfo, a: TensorInfo, b: TensorInfo, out: OutputInfo): DataHandle;
  /**
   * Reduces over `axes` (sorted, distinct, non-empty). keepDims is already reflected in
   * out.shape; the kernel may ignore it. Sum of bool/int32 is int32.
   */
  reduce(x: TensorInfo, attrs: { readonly op: ReduceOp; readonly axes: readonly number[]; readonly keepDims: boolean }, out: OutputInfo): DataHandle;
  /** Index of the largest value along `axis` (first one on ties), int32, axis removed. */
  argmax(x: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): DataHandle;
  /**
   * Batched matrix product over the last two axes; a is [...batchA, M, K] (or [..., K, M] when
   * transposeA), b is [...batchB, K, N] (or [..., N, K] when transposeB); batch axes broadcast;
   * both operands have rank >= 2 and the same float dtype.
   */
  matmul(a: TensorInfo, b: TensorInfo, attrs: { readonly transposeA: boolean; readonly transposeB: boolean }, out: OutputInfo): DataHandle;
  /** x [N, Cin, H, W], w [Cout, Cin/groups, kH, kW] -> [N, Cout, outH, outW]. Cross-correlation, like PyTorch. */
  conv2d(x: TensorInfo, w: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): DataHandle;
  /** Gradient of conv2d w.r.t. its input: dy [N, Cout, outH, outW], w -> dx with out.shape = x's shape. */
  conv2dGradInput(dy: TensorInfo, w: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): DataHandle;
  /** Gradient of conv2d w.r.t. its filter: x, dy -> dw with out.shape = w's shape. */
  conv2dGradFilter(x: TensorInfo, dy: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): DataHandle;
  /**
   * out = x.shape[:axis] ++ indices.shape ++ x.shape[axis+1:], taking x's entries at the int32
   * `indices` along `axis` (indices are in range: core checks when it can read them).
   */
  gather(x: TensorInfo, indices: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): DataHandle;
  /**
   * The adjoint of gather: a zero tensor of out.shape into which `updates` (shaped like a
   * gather result along `axis`) are added at `indices`; repeated indices accumulate.
   */
  scatterAdd(indices: TensorInfo, updates: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): DataHandle;
  /** Same data, new shape (same size). */
  reshape(x: TensorInfo, out: OutputInfo): DataHandle;
  /** out axis i = x axis perm[i]. */
  transpose(x: TensorInfo, attrs: { readonly perm: readonly number[] }, out: OutputInfo): DataHandle;
  /** Contiguous block starting at `begin` with extent out.shape (no steps). */
  slice(x: TensorInfo, attrs: { readonly begin: readonly number[] }, out: OutputInfo): DataHandle;
  /** Joins inputs (same dtype, equal shapes but for `axis`) along `axis`. */
  concat(xs: readonly TensorInfo[], attrs: { readonly axis: number }, out: OutputInfo): DataHandle;
  /** Constant padding: pads[i] = [before, after] for axis i (non-negative). */
  pad(x: TensorInfo, attrs: { readonly pads: ReadonlyArray<readonly [number, number]>; readonly value: number }, out: OutputInfo): DataHandle;
  /** Broadcasts x to out.shape (NumPy rules). */
  broadcastTo(x: TensorInfo, out: OutputInfo): DataHandle;
  /** x [N, C, H, W] -> [N, C, size[0], size[1]]. */
  resize(x: TensorInfo, attrs: ResizeAttrs, out: OutputInfo): DataHandle;
  /** Gradient of resize: dy [N, C, outH, outW] -> dx with out.shape = x's shape. */
  resizeGrad(dy: TensorInfo, attrs: ResizeAttrs, out: OutputInfo): DataHandle;
  /** Converts dtype. float -> int32 truncates toward zero; anything -> bool is (x != 0). */
  cast(x: TensorInfo, out: OutputInfo): DataHandle;
  /** A tensor of out.shape and out.dtype filled with `value`. */
  fill(attrs: { readonly value: number }, out: OutputInfo): DataHandle;
}

export type PrimitiveName = keyof PrimitiveKernels;
export const PRIMITIVE_NAMES: readonly PrimitiveName[] = [
  'unary', 'binary', 'compare', 'where', 'reduce', 'argmax', 'matmul', 'conv2d', 'conv2dGradInput',
  'conv2dGradFilter', 'gather', 'scatterAdd', 'reshape', 'transpose', 'slice', 'concat', 'pad',
  'broadcastTo', 'resize', 'resizeGrad', 'cast', 'fill',
];

/**
 * Optional fused versions of composite ops. Core calls one only when no input needs a gradient
 * (autograd differentiates the composite written from primitives); results must match the
 * composite within the conformance tolerance.
 */
export interface FusedKernels {
  /** softmax along the last axis. */
  softmax?(x: TensorInfo, out: OutputInfo): DataHandle;
  /** log-softmax along the last axis. */
  logSoftmax?(x: TensorInfo, out: OutputInfo): DataHandle;
  /** Layer norm over the last axis with affine gamma, beta of shape [C]. */
  layerNorm?(x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, attrs: { readonly eps: number }, out: OutputInfo): DataHandle;
  /** Group norm of x [N, C, ...] with affine gamma, beta of shape [C]. */
  groupNorm?(x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, attrs: { readonly groups: number; readonly eps: number }, out: OutputInfo): DataHandle;
  /**
   * softmax(q k^T * scale + mask) v for q [B, H, Tq, D], k and v [B, H, Tk, D(v)], and an
   * optional additive float mask broadcastable to [B, H, Tq, Tk].
   */
  attention?(q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo | null, attrs: { readonly scale: number }, out: OutputInfo): DataHandle;
}
export type FusedName = keyof FusedKernels;

export interface BackendCapabilities {
  /** Dtypes this backend stores natively. float64 only on the reference backend. */
  readonly dtypes: readonly DType[];
  /** Whether readSync works (false on GPU backends in browsers). */
  readonly syncRead: boolean;
}

export interface BackendMemory {
  /** Bytes held by live tensors on this backend. */
  readonly bytes: number;
  /** Number of live storage buffers. */
  readonly buffers: number;
}

export interface Backend {
  readonly name: string;
  /** Version of this contract the backend implements. */
  readonly specVersion: 1;
  readonly capabilities: BackendCapabilities;
  readonly kernels: PrimitiveKernels;
  readonly fused?: FusedKernels;
  /** Copies host values into a new handle. `values` has the typed array of `dtype`. */
  upload(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle;
  /** Reads a handle back into a new typed array of `dtype` (only where capabilities.syncRead). */
  readSync(handle: DataHandle, dtype: DType): TypedArray;
  read(handle: DataHandle, dtype: DType): Promise<TypedArray>;
  /** Frees the storage; the handle is not used again. */
  dispose(handle: DataHandle): void;
  memory(): BackendMemory;
  /** Releases everything (device, worker threads). Optional. */
  destroy?(): void;
  /**
   * Records `fn` as a whole graph and runs it as one program (the onnx backend: an ONNX Runtime
   * session per input signature). Optional: backends without it run everything eagerly. Models
   * use it where one call is a large fixed graph (a UNet evaluation, a VAE decode).
   */
  compile?(fn: (...xs: Tensor[]) => Tensor | Tensor[], options?: BackendCompileOptions): CompiledFunction;
}

export interface BackendCompileOptions {
  /** A name for the recorded program (diagnostics, exported model names). */
  readonly name?: string;
}

/** What Backend.compile returns: async, the same arguments and results as the function it records. */
export interface CompiledFunction {
  (...xs: Tensor[]): Promise<Tensor | Tensor[]>;
  /** Releases the recorded programs (sessions). */
  dispose(): Promise<void>;
}
