// Graph -> ONNX ModelProto. Every node of a captured @denoise/core Graph (one primitive kernel
// call, backend/types.ts) becomes one or a few ONNX ops with the primitive's exact semantics.
// The protobuf encoding is done by `onnx-proto` (protobufjs static code generated from onnx.proto).
//
// Besides the bare graph (parameters as inputs), a model can be written the way other tools
// ship theirs (e.g. diffusers' ONNX exports): chosen input / output names, symbolic dimensions,
// float16 / int64 at the boundary, parameters stored as initializers, and large initializers in
// an external data file next to the model (graphToOnnxFiles, exportOnnxModel, saveOnnxModel).

import type { DType, Graph, GraphExternal, GraphNode, Tensor, TypedArray, ValueId } from '@denoise/core';
import { InvalidArgumentError, describe, resizeAxisTaps, writeFileAtomic } from '@denoise/core';
import * as onnxProtoModule from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';

// onnx-proto is CommonJS (`module.exports = { onnx }`): under Node's ESM loader the namespace
// only has `default`; under bundlers / CJS it has `onnx` directly.
type OnnxNs = typeof onnxProtoModule.onnx;
/** @internal The onnx-proto namespace (shared with the model reader). */
export const onnx: OnnxNs =
  (onnxProtoModule as unknown as { onnx?: OnnxNs }).onnx ?? (onnxProtoModule as unknown as { default: { onnx: OnnxNs } }).default.onnx;

/** Element types a model can declare at its boundary in place of the graph's own (OnnxExportOptions.ioTypes). */
export type OnnxBoundaryType = 'float16' | 'int64';

export interface OnnxExternalDataOptions {
  /** File name of the data file, next to the model (e.g. 'weights.pb', 'model.onnx_data'). */
  readonly location: string;
  /** Initializers of at least this many bytes go to the file (default 1024, as in onnx's convert_model_to_external_data). */
  readonly threshold?: number;
}

export interface OnnxExportOptions {
  /** ONNX opset of the default domain; >= 17 (default 17). */
  readonly opset?: number;
  /** The ONNX graph's name (default 'denoise'). */
  readonly name?: string;
  /** ONNX names of the graph's inputs, in order (default `input<i>`). */
  readonly inputNames?: readonly string[];
  /** ONNX names of the graph's outputs, in order (default `output<i>`). */
  readonly outputNames?: readonly string[];
  /**
   * Symbolic dimensions by input / output name and axis, e.g. `{ sample: { 0: 'batch' } }`, like
   * torch.onnx.export's dynamic_axes. Only the declared signature changes: the graph was captured
   * at one shape and ops that carry a shape (reshape, broadcastTo, fill, ...) keep it, so declare
   * an axis symbolic only where every op along it is size-agnostic (conv, elementwise, matmul,
   * transpose, reductions over other axes).
   */
  readonly dynamicAxes?: Readonly<Record<string, Readonly<Record<number, string>>>>;
  /**
   * Element types at the model's boundary by input / output name: 'float16' for a float input or
   * output (fp16 exports), 'int64' for an int32 one (token ids, integer timesteps). A Cast to or
   * from the graph's own type is inserted inside the model.
   */
  readonly ioTypes?: Readonly<Record<string, OnnxBoundaryType>>;
  /**
   * Values of externals (parameters), keyed by the external's tensorId or name: each becomes an
   * initializer named `externalInputName(e)` instead of a model input. Externals without a value
   * stay inputs.
   */
  readonly initializers?: ReadonlyMap<number | string, TypedArray>;
  /** Initializers of at least `threshold` bytes go to an external data file (graphToOnnxFiles only). */
  readonly externalData?: OnnxExternalDataOptions;
}

/** A model and the external data file its initializers point into (null when none is needed). */
export interface OnnxModelFiles {
  readonly model: Uint8Array;
  readonly externalData: { readonly location: string; readonly bytes: Uint8Array } | null;
}

/** A graph uses a kernel (or a kernel variant) the ONNX exporter cannot express, or an export option is malformed. */
export class OnnxExportError extends InvalidArgumentError {}

/** Kernels the exporter maps (every primitive of @denoise/core). */
export const SUPPORTED_KERNELS = [
  'unary', 'binary', 'compare', 'where', 'reduce', 'argmax', 'matmul', 'conv2d', 'conv2dGradInput',
  'conv2dGradFilter', 'gather', 'scatterAdd', 'reshape', 'transpose', 'slice', 'concat', 'pad',
  'broadcastTo', 'resize', 'resizeGrad', 'cast', 'fill',
] as const;

const TP = onnx.TensorProto.DataType;

function onnxType(dtype: DType): number {
  switch (dtype) {
    case 'float32':
      return TP.FLOAT;
    case 'float64':
      return TP.DOUBLE;
    case 'int32':
      return TP.INT32;
    case 'bool':
      return TP.BOOL;
    default:
      throw new OnnxExportError(`graphToOnnx: unsupported dtype ${String(dtype)}`);
  }
}

/** The name an external takes as an ONNX graph input. */
export function externalInputName(e: { readonly name?: string; readonly tensorId: number }): string {
  return `ext.${e.name ?? e.tensorId}`;
}

type Attr = number | string | readonly number[] | { tensor: P.ITensorProto };

function makeAttr(name: string, v: Attr): P.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return { name, type: A.INT, i: v };
    return { name, type: A.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v as number[] };
  return { name, type: A.TENSOR, t: (v as { tensor: P.ITensorProto }).tensor };
}

function tensorProto(name: string, dtype: DType, dims: readonly number[], values: ArrayLike<number>): P.ITensorProto {
  const t: P.ITensorProto = { name, dims: [...dims], dataType: onnxType(dtype) };
  const n = values.length;
  if (dtype === 'float32') t.rawData = new Uint8Array(Float32Array.from(values).buffer);
  else if (dtype === 'float64') t.rawData = new Uint8Array(Float64Array.from(values).buffer);
  else if (dtype === 'int32') t.rawData = new Uint8Array(Int32Array.from(values).buffer);
  else t.rawData = Uint8Array.from({ length: n }, (_, i) => (values[i] ? 1 : 0));
  return t;
}

function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): P.ITensorProto {
  return { name, dims: [...dims], dataType: TP.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer) };
}

class Builder {
  readonly nodes: P.INodeProto[] = [];
  readonly initializers: P.ITensorProto[] = [];
  private counter = 0;
  readonly names = new Map<ValueId, string>();
  readonly dtypes = new Map<ValueId, DType>();
  readonly shapes = new Map<ValueId, readonly number[]>();

  constructor(readonly opset: number) {}

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      name: this.fresh(`n_${opType}`),
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
    });
    return out;
  }

  const(dtype: DType, dims: readonly number[], values: ArrayLike<number>, hint = 'const'): string {
    const name = this.fresh(hint);
    this.initializers.push(tensorProto(name, dtype, dims, values));
    return name;
  }

  scalar(dtype: DType, value: number): string {
    return this.const(dtype, [], [value], 'scalar');
  }

  ints(values: readonly number[], hint = 'ints'): string {
    const name = this.fresh(hint);
    this.initializers.push(int64Tensor(name, [values.length], values));
    return name;
  }

  name(id: ValueId): string {
    const n = this.names.get(id);
    if (n === undefined) throw new OnnxExportError(`graphToOnnx: value v${id} is used before it is defined`);
    return n;
  }
}

function unsupported(node: GraphNode, why: string): never {
  throw new OnnxExportError(`graphToOnnx: kernel '${node.kernel}' ${why}`);
}

function lastTwoSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function emitNode(b: Builder, node: GraphNode, out: string): void {
  const inNames = node.inputs.map((id) => b.name(id));
  const inDTypes = node.inputs.map((id) => b.dtypes.get(id)!);
  const inShapes = node.inputs.map((id) => b.shapes.get(id)!);
  const a = node.attrs as Record<string, any>;
  const od = node.output.dtype;
  const oshape = node.output.shape;
  const x = inNames[0]!;
  const xd = inDTypes[0]!;
  switch (node.kernel) {
    case 'unary': {
      const simple: Record<string, string> = {
        neg: 'Neg', abs: 'Abs', sign: 'Sign', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', reciprocal: 'Reciprocal', sin: 'Sin', cos: 'Cos',
        tanh: 'Tanh', sigmoid: 'Sigmoid', relu: 'Relu', erf: 'Erf', floor: 'Floor', ceil: 'Ceil', round: 'Round', logicalNot: 'Not',
      };
      const opName = a.op as string;
      if (xd === 'int32' && ['floor', 'ceil', 'round'].includes(opName)) {
        b.op('Identity', [x], {}, out);
      } else if (xd === 'int32' && opName === 'relu') {
        b.op('Max', [x, b.scalar('int32', 0)], {}, out);
      } else if (simple[opName]) {
        b.op(simple[opName]!, [x], {}, out);
      } else if (opName === 'expm1') {
        b.op('Sub', [b.op('Exp', [x]), b.scalar(xd, 1)], {}, out);
      } else if (opName === 'log1p') {
        b.op('Log', [b.op('Add', [x, b.scalar(xd, 1)])], {}, out);
      } else if (opName === 'rsqrt') {
        b.op('Reciprocal', [b.op('Sqrt', [x])], {}, out);
      } else if (opName === 'square') {
        b.op('Mul', [x, x], {}, out);
      } else {
        unsupported(node, `has no ONNX mapping for op '${opName}'`);
      }
      return;
    }
    case 'binary': {
      const y = inNames[1]!;
      const opName = a.op as string;
      const simple: Record<string, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', pow: 'Pow', maximum: 'Max', minimum: 'Min', logicalAnd: 'And', logicalOr: 'Or' };
      if (simple[opName]) {
        b.op(simple[opName]!, [x, y], {}, out);
      } else if (opName === 'div') {
        if (od === 'int32') {
          // floor(a / b) = (a - floormod(a, b)) / b, exact in integers (ONNX Mod fmod=0 is floored).
          const r = b.op('Mod', [x, y], { fmod: 0 });
          b.op('Div', [b.op('Sub', [x, r]), y], {}, out);
        } else {
          b.op('Div', [x, y], {}, out);
        }
      } else if (opName === 'mod') {
        if (od === 'int32') {
          b.op('Mod', [x, y], { fmod: 0 }, out);
        } else {
          // Floored modulo: a - b * floor(a / b).
          const q = b.op('Floor', [b.op('Div', [x, y])]);
          b.op('Sub', [x, b.op('Mul', [y, q])], {}, out);
        }
      } else {
        unsupported(node, `has no ONNX mapping for op '${opName}'`);
      }
      return;
    }
    case 'compare': {
      let [p, q] = [x, inNames[1]!];
      const opName = a.op as string;
      if (xd === 'bool' && opName !== 'equal' && opName !== 'notEqual') {
        p = b.op('Cast', [p], { to: TP.INT32 });
        q = b.op('Cast', [q], { to: TP.INT32 });
      }
      const map: Record<string, string> = { equal: 'Equal', less: 'Less', lessEqual: 'LessOrEqual', greater: 'Greater', greaterEqual: 'GreaterOrEqual' };
      if (opName === 'notEqual') b.op('Not', [b.op('Equal', [p, q])], {}, out);
      else if (map[opName]) b.op(map[opName]!, [p, q], {}, out);
      else unsupported(node, `has no ONNX mapping for op '${opName}'`);
      return;
    }
    case 'where':
      b.op('Where', inNames, {}, out);
      return;
    case 'reduce': {
      const axes = a.axes as number[];
      const keepdims = a.keepDims ? 1 : 0;
      let src = x;
      if (xd !== od) src = b.op('Cast', [x], { to: onnxType(od) }); // sum of bool -> int32
      const opName = a.op as string;
      const map: Record<string, string> = { sum: 'ReduceSum', max: 'ReduceMax', min: 'ReduceMin', prod: 'ReduceProd' };
      const onnxOp = map[opName] ?? unsupported(node, `has no ONNX mapping for op '${opName}'`);
      if (onnxOp === 'ReduceSum' || b.opset >= 18) b.op(onnxOp, [src, b.ints(axes, 'axes')], { keepdims }, out);
      else b.op(onnxOp, [src], { axes, keepdims }, out);
      return;
    }
    case 'argmax': {
      const i64 = b.op('ArgMax', [x], { axis: a.axis as number, keepdims: 0, select_last_index: 0 });
      b.op('Cast', [i64], { to: TP.INT32 }, out);
      return;
    }
    case 'matmul': {
      let p = x;
      let q = inNames[1]!;
      if (a.transposeA) p = b.op('Transpose', [p], { perm: lastTwoSwapped(inShapes[0]!.length) });
      if (a.transposeB) q = b.op('Transpose', [q], { perm: lastTwoSwapped(inShapes[1]!.length) });
      b.op('MatMul', [p, q], {}, out);
      return;
    }
    case 'conv2d': {
      const [t, bo, l, r] = a.padding as number[];
      const w = inShapes[1]!;
      b.op('Conv', [x, inNames[1]!], {
        kernel_shape: [w[2]!, w[3]!], pads: [t!, l!, bo!, r!], strides: a.stride as number[], dilations: a.dilation as number[], group: a.groups as number,
      }, out);
      return;
    }
    case 'conv2dGradInput': {
      // The transpose of conv2d: ConvTranspose with the same weight (OIHW reads as ONNX's
      // [C_in_of_transpose, C_out/group, kH, kW]), the same pads, and output_padding for the rows /
      // columns the forward conv never reached.
      const [t, bo, l, r] = a.padding as number[];
      const [sh, sw] = a.stride as number[];
      const [dh, dw] = a.dilation as number[];
      const dy = inShapes[0]!;
      const w = inShapes[1]!;
      const full = (i: number, s: number, d: number, k: number, p0: number, p1: number) => s * (i - 1) + (k - 1) * d + 1 - p0 - p1;
      const opH = oshape[2]! - full(dy[2]!, sh!, dh!, w[2]!, t!, bo!);
      const opW = oshape[3]! - full(dy[3]!, sw!, dw!, w[3]!, l!, r!);
      if (opH < 0 || opW < 0) unsupported(node, `cannot express output shape ${oshape.join('x')} as a ConvTranspose`);
      b.op('ConvTranspose', [x, inNames[1]!], {
        kernel_shape: [w[2]!, w[3]!], pads: [t!, l!, bo!, r!], strides: [sh!, sw!], dilations: [dh!, dw!], group: a.groups as number, output_padding: [opH, opW],
      }, out);
      return;
    }
    case 'conv2dGradFilter': {
      // dw[o, i, kh, kw] = sum_{n,oh,ow} xpad[n, i, oh*s + kh*d, ow*s + kw*d] dy[n, o, oh, ow]:
      // a conv of x (channels as batch) with dy (channels as output channels, batch as input
      // channels), stride = the forward dilation, dilation = the forward stride; per group.
      const [t, bo, l, r] = a.padding as number[];
      const [sh, sw] = a.stride as number[];
      const [dh, dw] = a.dilation as number[];
      const groups = a.groups as number;
      const xs = inShapes[0]!;
      const dys = inShapes[1]!;
      const [cout, cinG, kh, kw] = oshape as [number, number, number, number];
      const coutG = cout / groups;
      const xT = b.op('Transpose', [x], { perm: [1, 0, 2, 3] }); // [Cin, N, H, W]
      const dyT = b.op('Transpose', [inNames[1]!], { perm: [1, 0, 2, 3] }); // [Cout, N, oH, oW]
      const parts: string[] = [];
      for (let g = 0; g < groups; g++) {
        const xg = groups === 1 ? xT : b.op('Slice', [xT, b.ints([g * cinG]), b.ints([(g + 1) * cinG]), b.ints([0])]);
        const dyg = groups === 1 ? dyT : b.op('Slice', [dyT, b.ints([g * coutG]), b.ints([(g + 1) * coutG]), b.ints([0])]);
        const c = b.op('Conv', [xg, dyg], {
          kernel_shape: [dys[2]!, dys[3]!], pads: [t!, l!, bo!, r!], strides: [dh!, dw!], dilations: [sh!, sw!], group: 1,
        }); // [Cin/g, Cout/g, >=kH, >=kW]
        const cropped = b.op('Slice', [c, b.ints([0, 0]), b.ints([kh, kw]), b.ints([2, 3])]);
        parts.push(b.op('Transpose', [cropped], { perm: [1, 0, 2, 3] }));
      }
      void xs;
      if (parts.length === 1) b.op('Identity', parts, {}, out);
      else b.op('Concat', parts, { axis: 0 }, out);
      return;
    }
    case 'gather':
      b.op('Gather', [x, inNames[1]!], { axis: a.axis as number }, out);
      return;
    case 'scatterAdd': {
      const axis = a.axis as number;
      const [idx, upd] = inNames as [string, string];
      const idxSize = inShapes[0]!.reduce((p, d) => p * d, 1);
      const pre = oshape.slice(0, axis).reduce((p, d) => p * d, 1);
      const post = oshape.slice(axis + 1).reduce((p, d) => p * d, 1);
      const dim = oshape[axis]!;
      const upd3 = b.op('Reshape', [upd, b.ints([pre, idxSize, post])]);
      const idx3 = b.op('Expand', [b.op('Reshape', [idx, b.ints([1, idxSize, 1])]), b.ints([pre, idxSize, post])]);
      const zeros = b.op('ConstantOfShape', [b.ints([pre, dim, post])], { value: { tensor: tensorProto('value', od, [1], [0]) } });
      const sc = b.op('ScatterElements', [zeros, idx3, upd3], { axis: 1, reduction: 'add' });
      b.op('Reshape', [sc, b.ints(oshape)], { allowzero: 1 }, out);
      return;
    }
    case 'reshape':
      b.op('Reshape', [x, b.ints(oshape, 'shape')], { allowzero: 1 }, out);
      return;
    case 'transpose':
      b.op('Transpose', [x], { perm: a.perm as number[] }, out);
      return;
    case 'slice': {
      const begin = a.begin as number[];
      if (begin.length === 0) {
        b.op('Identity', [x], {}, out);
        return;
      }
      const axes = begin.map((_, i) => i);
      b.op('Slice', [x, b.ints(begin, 'starts'), b.ints(begin.map((s, i) => s + oshape[i]!), 'ends'), b.ints(axes, 'axes')], {}, out);
      return;
    }
    case 'concat':
      b.op('Concat', inNames, { axis: a.axis as number }, out);
      return;
    case 'pad': {
      const pads = a.pads as Array<[number, number]>;
      const onnxPads = [...pads.map((p) => p[0]), ...pads.map((p) => p[1])];
      b.op('Pad', [x, b.ints(onnxPads, 'pads'), b.scalar(od, a.value as number)], { mode: 'constant' }, out);
      return;
    }
    case 'broadcastTo':
      b.op('Expand', [x, b.ints(oshape, 'shape')], {}, out);
      return;
    case 'resize': {
      const mode = a.mode as 'nearest' | 'bilinear';
      const [outH, outW] = a.size as [number, number];
      const sizes = b.ints([oshape[0]!, oshape[1]!, outH, outW], 'sizes');
      if (mode === 'nearest') {
        b.op('Resize', [x, '', '', sizes], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, out);
      } else if (mode === 'bilinear') {
        // PyTorch align_corners=False is 'pytorch_half_pixel' except for a length-1 output, where
        // PyTorch still uses max(0, 0.5 * in - 0.5): plain 'half_pixel' (ORT clamps below at 0).
        const ctm = a.alignCorners ? 'align_corners' : outH === 1 || outW === 1 ? 'half_pixel' : 'pytorch_half_pixel';
        b.op('Resize', [x, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: ctm }, out);
      } else {
        unsupported(node, `has no ONNX mapping for mode '${String(mode)}'`);
      }
      return;
    }
    case 'resizeGrad': {
      // resize is separable and linear: y = Ah x Aw^T per plane, so dx = Ah^T dy Aw, with the
      // tap matrices (the exact PyTorch taps of core's reference) as constants.
      const [inH, inW] = [oshape[2]!, oshape[3]!];
      const [outH, outW] = [inShapes[0]![2]!, inShapes[0]![3]!];
      const mode = a.mode as 'nearest' | 'bilinear';
      const ac = Boolean(a.alignCorners);
      const hT = new Float64Array(inH * outH); // AhT [inH, outH]
      resizeAxisTaps(mode, ac, inH, outH).forEach((taps, o) => taps.forEach(({ index: i, weight: wgt }) => (hT[i * outH + o] = hT[i * outH + o]! + wgt)));
      const wM = new Float64Array(outW * inW); // Aw [outW, inW]
      resizeAxisTaps(mode, ac, inW, outW).forEach((taps, o) => taps.forEach(({ index: i, weight: wgt }) => (wM[o * inW + i] = wM[o * inW + i]! + wgt)));
      const t1 = b.op('MatMul', [x, b.const(od, [outW, inW], wM, 'resize_w')]);
      b.op('MatMul', [b.const(od, [inH, outH], hT, 'resize_h'), t1], {}, out);
      return;
    }
    case 'cast': {
      if (xd === od) b.op('Identity', [x], {}, out);
      else if (od === 'bool') b.op('Not', [b.op('Equal', [x, b.scalar(xd, 0)])], {}, out);
      else b.op('Cast', [x], { to: onnxType(od) }, out);
      return;
    }
    case 'fill':
      b.op('ConstantOfShape', [b.ints(oshape, 'shape')], { value: { tensor: tensorProto('value', od, [1], [a.value as number]) } }, out);
      return;
    default:
      unsupported(node, 'is not a known primitive');
  }
}

type DimSpec = number | string;

function valueInfo(name: string, elemType: number, dims: readonly DimSpec[]): P.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

const BOUNDARY: Readonly<Record<OnnxBoundaryType, { elemType: number; from: readonly DType[] }>> = {
  float16: { elemType: TP.FLOAT16, from: ['float32', 'float64'] },
  int64: { elemType: TP.INT64, from: ['int32'] },
};

const TYPED: Readonly<Record<DType, string>> = { float32: 'Float32Array', float64: 'Float64Array', int32: 'Int32Array', bool: 'Uint8Array' };

function isTypedFor(values: unknown, dtype: DType): values is TypedArray {
  return ArrayBuffer.isView(values) && (values as object).constructor.name === TYPED[dtype];
}

/** A graph value at the model boundary: its ONNX name, graph dtype and shape. */
interface Port {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

function checkNames(op: string, arg: string, names: unknown, count: number): string[] | undefined {
  if (names === undefined) return undefined;
  if (!Array.isArray(names) || names.length !== count || names.some((n) => typeof n !== 'string' || n.length === 0)) {
    throw new OnnxExportError(`${op}: options.${arg} must be ${count} non-empty strings (one per graph ${arg === 'inputNames' ? 'input' : 'output'}), got ${describe(names)}`);
  }
  return names as string[];
}

/** The declared dims of a boundary value: numbers, with the dynamicAxes names in place. */
function declaredDims(op: string, port: Port, axes: Readonly<Record<number, string>> | undefined): DimSpec[] {
  const dims: DimSpec[] = [...port.shape];
  if (axes === undefined) return dims;
  if (typeof axes !== 'object' || axes === null) throw new OnnxExportError(`${op}: options.dynamicAxes['${port.name}'] must map axes to names, got ${describe(axes)}`);
  for (const [k, sym] of Object.entries(axes)) {
    const axis = Number(k);
    if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
      throw new OnnxExportError(`${op}: options.dynamicAxes['${port.name}'] names axis ${k}, but '${port.name}' has shape ${describe(port.shape)}`);
    }
    if (typeof sym !== 'string' || sym.length === 0) throw new OnnxExportError(`${op}: options.dynamicAxes['${port.name}'][${k}] must be a non-empty string, got ${describe(sym)}`);
    dims[axis] = sym;
  }
  return dims;
}

function boundaryType(op: string, port: Port, t: unknown): number {
  if (t === undefined) return onnxType(port.dtype);
  const spec = BOUNDARY[t as OnnxBoundaryType];
  if (!spec) throw new OnnxExportError(`${op}: options.ioTypes['${port.name}'] must be 'float16' or 'int64', got ${describe(t)}`);
  if (!spec.from.includes(port.dtype)) {
    throw new OnnxExportError(`${op}: options.ioTypes['${port.name}'] is '${String(t)}', which needs a ${spec.from.join(' / ')} value, but '${port.name}' is ${port.dtype}`);
  }
  return spec.elemType;
}

/** Finds, for every key of `initializers`, the external it names (tensorId or name). */
function bindInitializers(op: string, graph: Graph, initializers: unknown): Map<GraphExternal, TypedArray> {
  const bound = new Map<GraphExternal, TypedArray>();
  if (initializers === undefined) return bound;
  if (!(initializers instanceof Map)) throw new OnnxExportError(`${op}: options.initializers must be a Map from tensorId or name to a typed array, got ${describe(initializers)}`);
  for (const [key, values] of initializers as Map<unknown, unknown>) {
    const e = graph.externals.find((x) => (typeof key === 'number' ? x.tensorId === key : x.name === key));
    if (!e) throw new OnnxExportError(`${op}: options.initializers has ${describe(key)}, which is no external of the graph (externals: ${graph.externals.map((x) => x.name ?? x.tensorId).join(', ') || 'none'})`);
    if (bound.has(e)) throw new OnnxExportError(`${op}: options.initializers gives external ${externalInputName(e)} twice (by tensorId and by name)`);
    const size = e.shape.reduce((p, d) => p * d, 1);
    if (!isTypedFor(values, e.dtype) || values.length !== size) {
      throw new OnnxExportError(`${op}: options.initializers[${describe(key)}] must be a ${TYPED[e.dtype]} of ${size} values (${e.dtype} ${describe(e.shape)}), got ${describe(values)}`);
    }
    bound.set(e, values);
  }
  return bound;
}

/** The model before encoding: every option applied, initializers still inline. */
function buildModel(op: string, graph: Graph, options: OnnxExportOptions): P.IModelProto {
  if (typeof options !== 'object' || options === null) throw new OnnxExportError(`${op}: options must be an object, got ${describe(options)}`);
  const opset = options.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 17) throw new OnnxExportError(`${op}: opset must be an integer >= 17, got ${String(opset)}`);
  if (!graph || graph.version !== 1) throw new OnnxExportError(`${op}: not a @denoise/core graph (version 1)`);
  const inNames = checkNames(op, 'inputNames', options.inputNames, graph.inputs.length) ?? graph.inputs.map((i) => i.name);
  const outNames = checkNames(op, 'outputNames', options.outputNames, graph.outputs.length) ?? graph.outputs.map((_, i) => `output${i}`);
  const values = bindInitializers(op, graph, options.initializers);
  const ports = new Map<string, Port>();
  const addPort = (port: Port, what: string) => {
    if (ports.has(port.name)) throw new OnnxExportError(`${op}: two model inputs / outputs share the name '${port.name}' (${what})`);
    ports.set(port.name, port);
  };
  graph.inputs.forEach((inp, i) => addPort({ name: inNames[i]!, dtype: inp.dtype, shape: inp.shape }, `input ${i}`));
  graph.outputs.forEach((o, i) => addPort({ name: outNames[i]!, dtype: o.dtype, shape: o.shape }, `output ${i}`));
  for (const e of graph.externals) if (!values.has(e)) addPort({ name: externalInputName(e), dtype: e.dtype, shape: e.shape }, 'an external');
  const dynamicAxes = options.dynamicAxes ?? {};
  const ioTypes = options.ioTypes ?? {};
  for (const [what, rec] of [['dynamicAxes', dynamicAxes], ['ioTypes', ioTypes]] as const) {
    if (typeof rec !== 'object' || rec === null) throw new OnnxExportError(`${op}: options.${what} must be an object keyed by input / output name, got ${describe(rec)}`);
    for (const k of Object.keys(rec)) {
      if (!ports.has(k)) throw new OnnxExportError(`${op}: options.${what} names '${k}', which is no input or output of the model (it has ${[...ports.keys()].join(', ')})`);
    }
  }
  const declare = (port: Port) => valueInfo(port.name, boundaryType(op, port, ioTypes[port.name]), declaredDims(op, port, dynamicAxes[port.name]));

  const b = new Builder(opset);
  const inputs: P.IValueInfoProto[] = [];
  const define = (id: ValueId, name: string, dtype: DType, shape: readonly number[]) => {
    b.names.set(id, name);
    b.dtypes.set(id, dtype);
    b.shapes.set(id, shape);
  };
  graph.inputs.forEach((inp, i) => {
    const port = ports.get(inNames[i]!)!;
    inputs.push(declare(port));
    // A boundary type is cast to the graph's own type on the way in.
    const name = ioTypes[port.name] ? b.op('Cast', [port.name], { to: onnxType(inp.dtype) }) : port.name;
    define(inp.id, name, inp.dtype, inp.shape);
  });
  for (const e of graph.externals) {
    const name = externalInputName(e);
    const v = values.get(e);
    if (v) b.initializers.push(tensorProto(name, e.dtype, e.shape, v));
    else inputs.push(declare(ports.get(name)!));
    define(e.id, name, e.dtype, e.shape);
  }
  for (const c of graph.constants) {
    const name = `const.v${c.id}`;
    define(c.id, name, c.dtype, c.shape);
    b.initializers.push(tensorProto(name, c.dtype, c.shape, c.values as ArrayLike<number>));
  }
  // Only the nodes the outputs depend on.
  const needed = new Set<ValueId>(graph.outputs.map((o) => o.id));
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k]!;
    if (needed.has(n.output.id)) for (const i of n.inputs) needed.add(i);
  }
  for (const node of graph.nodes) {
    if (!needed.has(node.output.id)) continue;
    const name = `v${node.output.id}`;
    emitNode(b, node, name);
    define(node.output.id, name, node.output.dtype, node.output.shape);
  }
  const outputs = graph.outputs.map((o, i) => {
    const port = ports.get(outNames[i]!)!;
    const t = ioTypes[port.name];
    if (t) b.op('Cast', [b.name(o.id)], { to: BOUNDARY[t].elemType }, port.name);
    else b.op('Identity', [b.name(o.id)], {}, port.name);
    return declare(port);
  });
  return {
    irVersion: 8,
    producerName: '@denoise/backend-onnx',
    producerVersion: '0.0.0',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: options.name ?? 'denoise',
      node: b.nodes,
      initializer: b.initializers,
      input: inputs,
      output: outputs,
    },
  };
}

/** Offsets in the external data file are multiples of this (aligned typed-array views, cheap mmaps). */
const EXTERNAL_ALIGN = 64;

/** Moves initializers of at least `threshold` bytes into one data buffer (ONNX external data). */
function moveToExternalData(op: string, model: P.IModelProto, ext: OnnxExternalDataOptions): OnnxModelFiles['externalData'] {
  if (typeof ext !== 'object' || ext === null) throw new OnnxExportError(`${op}: options.externalData must be { location, threshold? }, got ${describe(ext)}`);
  const { location, threshold = 1024 } = ext;
  if (typeof location !== 'string' || !/^[^/\\]+$/.test(location) || location === '.' || location === '..') {
    throw new OnnxExportError(`${op}: options.externalData.location must be a plain file name (the file sits next to the model), got ${describe(location)}`);
  }
  if (!Number.isInteger(threshold) || threshold < 0) throw new OnnxExportError(`${op}: options.externalData.threshold must be an integer >= 0 (bytes), got ${describe(threshold)}`);
  const moved: { t: P.ITensorProto; raw: Uint8Array; offset: number }[] = [];
  let end = 0;
  for (const t of model.graph!.initializer!) {
    const raw = t.rawData;
    if (!raw || raw.length < threshold || raw.length === 0) continue;
    const offset = Math.ceil(end / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
    moved.push({ t, raw, offset });
    end = offset + raw.length;
  }
  if (moved.length === 0) return null;
  const bytes = new Uint8Array(end);
  for (const { t, raw, offset } of moved) {
    bytes.set(raw, offset);
    t.rawData = null;
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
  }
  return { location, bytes };
}

/**
 * Exports a captured graph as an ONNX model (ModelProto bytes, opset 17 by default). By default
 * graph inputs become ONNX inputs `input<i>`, externals become inputs `ext.<name or tensorId>`
 * (parameters stay outside the model), constants become initializers, outputs are `output<i>`;
 * options rename inputs and outputs, declare symbolic dims and boundary types, and store
 * externals as initializers (see OnnxExportOptions). Nodes the outputs do not depend on are
 * dropped. Throws OnnxExportError for anything it cannot express exactly. Use graphToOnnxFiles
 * for a model with external data.
 */
export function graphToOnnx(graph: Graph, options: OnnxExportOptions = {}): Uint8Array {
  if (options?.externalData !== undefined) throw new OnnxExportError('graphToOnnx: options.externalData needs a second file; use graphToOnnxFiles (or exportOnnxModel) instead');
  return onnx.ModelProto.encode(onnx.ModelProto.create(buildModel('graphToOnnx', graph, options))).finish();
}

/**
 * graphToOnnx, with initializers of at least `options.externalData.threshold` bytes written to
 * an external data buffer (ONNX external data: `data_location = EXTERNAL`, entries `location`,
 * `offset`, `length`). `externalData` is null when no option asks for it or nothing is that large.
 */
export function graphToOnnxFiles(graph: Graph, options: OnnxExportOptions = {}): OnnxModelFiles {
  const op = 'graphToOnnxFiles';
  const model = buildModel(op, graph, options);
  const externalData = options.externalData === undefined ? null : moveToExternalData(op, model, options.externalData);
  return { model: onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish(), externalData };
}

export interface ExportOnnxModelOptions extends Omit<OnnxExportOptions, 'initializers'> {
  /**
   * The tensor behind every external, keyed by tensorId or name: `captureGraphWithExternals(...)`
   * returns exactly this map as `externals`.
   */
  readonly weights: ReadonlyMap<number | string, Tensor>;
}

/**
 * Exports a self-contained model: every external (parameter) is stored as an initializer with
 * the current value of its tensor in `options.weights` (read with `await t.data()`), large ones
 * in external data when `options.externalData` is given. Throws OnnxExportError listing every
 * external without a tensor.
 */
export async function exportOnnxModel(graph: Graph, options: ExportOnnxModelOptions): Promise<OnnxModelFiles> {
  const op = 'exportOnnxModel';
  if (typeof options !== 'object' || options === null || !(options.weights instanceof Map)) {
    throw new OnnxExportError(`${op}: options.weights must be a Map from tensorId or name to Tensor (captureGraphWithExternals(...).externals), got ${describe(options?.weights)}`);
  }
  if (!graph || graph.version !== 1) throw new OnnxExportError(`${op}: not a @denoise/core graph (version 1)`);
  const initializers = new Map<number, TypedArray>();
  const missing: string[] = [];
  for (const e of graph.externals) {
    const t: Tensor | undefined = options.weights.get(e.tensorId) ?? (e.name !== undefined ? options.weights.get(e.name) : undefined);
    if (t === undefined) {
      missing.push(e.name ?? `#${e.tensorId}`);
      continue;
    }
    if (t.dtype !== e.dtype || t.shape.length !== e.shape.length || t.shape.some((d, k) => d !== e.shape[k])) {
      throw new OnnxExportError(`${op}: options.weights for external ${externalInputName(e)} must be ${e.dtype} ${describe(e.shape)}, got ${String(t)}`);
    }
    const data = await t.data();
    initializers.set(e.tensorId, isTypedFor(data, e.dtype) ? data : toTyped(e.dtype, data));
  }
  if (missing.length > 0) throw new OnnxExportError(`${op}: options.weights has no tensor for external(s) ${missing.join(', ')}`);
  const { weights: _weights, ...rest } = options;
  return graphToOnnxFiles(graph, { ...rest, initializers });
}

function toTyped(dtype: DType, data: ArrayLike<number>): TypedArray {
  if (dtype === 'float32') return Float32Array.from(data);
  if (dtype === 'float64') return Float64Array.from(data);
  if (dtype === 'int32') return Int32Array.from(data);
  return Uint8Array.from(data);
}

export interface SaveOnnxModelOptions {
  /** The model's file name in the directory (default 'model.onnx'). */
  readonly fileName?: string;
  /** fsync files and the directory before returning (default true). */
  readonly fsync?: boolean;
}

/**
 * Writes a model (and its external data file) into `dir`, creating the directory. Each file is
 * written to a temporary name in `dir` and renamed into place; the data file goes first, so a
 * model file that is in place never points at a missing or partial data file. Temporary files
 * are removed on failure. Node only (node:fs is loaded when called).
 */
export async function saveOnnxModel(dir: string, files: OnnxModelFiles, options: SaveOnnxModelOptions = {}): Promise<{ modelPath: string; externalDataPath: string | null }> {
  const op = 'saveOnnxModel';
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError(`${op}: dir must be a non-empty string, got ${describe(dir)}`);
  if (typeof files !== 'object' || files === null || !(files.model instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${op}: files must be { model: Uint8Array, externalData } (from graphToOnnxFiles / exportOnnxModel), got ${describe(files)}`);
  }
  const fileName = options.fileName ?? 'model.onnx';
  if (typeof fileName !== 'string' || !/^[^/\\]+$/.test(fileName) || fileName === '.' || fileName === '..') {
    throw new InvalidArgumentError(`${op}: options.fileName must be a plain file name, got ${describe(fileName)}`);
  }
  const ext = files.externalData;
  if (ext !== null && (typeof ext !== 'object' || typeof ext.location !== 'string' || !(ext.bytes instanceof Uint8Array))) {
    throw new InvalidArgumentError(`${op}: files.externalData must be null or { location, bytes }, got ${describe(ext)}`);
  }
  if (ext && ext.location === fileName) throw new InvalidArgumentError(`${op}: the external data file and the model are both named '${fileName}'`);
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const fsync = options.fsync ?? true;
  await fs.mkdir(dir, { recursive: true });
  const write = async (name: string, bytes: Uint8Array): Promise<string> => {
    const target = path.resolve(dir, name);
    await writeFileAtomic(target, bytes, { fsync });
    return target;
  };
  // The data file first: a model file in place never points at a missing or partial data file.
  const externalDataPath = ext ? await write(ext.location, ext.bytes) : null;
  const modelPath = await write(fileName, files.model);
  return { modelPath, externalDataPath };
}
