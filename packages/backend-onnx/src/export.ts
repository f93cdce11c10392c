// Graph -> ONNX ModelProto. Every node of a captured @denoise/core Graph (one primitive kernel
// call, backend/types.ts) becomes one or a few ONNX ops with the primitive's exact semantics.
// The protobuf encoding is done by `onnx-proto` (protobufjs static code generated from onnx.proto).

import type { DType, Graph, GraphNode, ValueId } from '@denoise/core';
import { resizeAxisTaps } from '@denoise/core';
import * as onnxProtoModule from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';

// onnx-proto is CommonJS (`module.exports = { onnx }`): under Node's ESM loader the namespace
// only has `default`; under bundlers / CJS it has `onnx` directly.
type OnnxNs = typeof onnxProtoModule.onnx;
const onnx: OnnxNs =
  (onnxProtoModule as unknown as { onnx?: OnnxNs }).onnx ?? (onnxProtoModule as unknown as { default: { onnx: OnnxNs } }).default.onnx;

export interface OnnxExportOptions {
  /** ONNX opset of the default domain; >= 17 (default 17). */
  readonly opset?: number;
  /** The ONNX graph's name (default 'denoise'). */
  readonly name?: string;
}

/** A graph uses a kernel (or a kernel variant) the ONNX exporter cannot express. */
export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

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

function valueInfo(name: string, dtype: DType, shape: readonly number[]): P.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: onnxType(dtype), shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
  };
}

/**
 * Exports a captured graph as an ONNX model (ModelProto bytes, opset 17 by default). Graph
 * inputs become ONNX inputs `input<i>`, externals become inputs `ext.<name or tensorId>`
 * (parameters stay outside the model), constants become initializers, outputs are `output<i>`.
 * Nodes the outputs do not depend on are dropped. Throws OnnxExportError for anything it cannot
 * express exactly.
 */
export function graphToOnnx(graph: Graph, options: OnnxExportOptions = {}): Uint8Array {
  const opset = options.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 17) throw new OnnxExportError(`graphToOnnx: opset must be an integer >= 17, got ${String(opset)}`);
  if (!graph || graph.version !== 1) throw new OnnxExportError('graphToOnnx: not a @denoise/core graph (version 1)');
  const b = new Builder(opset);
  const inputs: P.IValueInfoProto[] = [];
  const define = (id: ValueId, name: string, dtype: DType, shape: readonly number[]) => {
    b.names.set(id, name);
    b.dtypes.set(id, dtype);
    b.shapes.set(id, shape);
  };
  for (const inp of graph.inputs) {
    define(inp.id, inp.name, inp.dtype, inp.shape);
    inputs.push(valueInfo(inp.name, inp.dtype, inp.shape));
  }
  const extNames = new Set<string>();
  for (const e of graph.externals) {
    const name = externalInputName(e);
    if (extNames.has(name)) throw new OnnxExportError(`graphToOnnx: two externals share the input name '${name}'`);
    extNames.add(name);
    define(e.id, name, e.dtype, e.shape);
    inputs.push(valueInfo(name, e.dtype, e.shape));
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
    const name = `output${i}`;
    b.op('Identity', [b.name(o.id)], {}, name);
    return valueInfo(name, o.dtype, o.shape);
  });
  const model = onnx.ModelProto.create({
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
  });
  return onnx.ModelProto.encode(model).finish();
}
