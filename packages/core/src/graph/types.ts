// The graph IR: a plain-data record of the primitive kernel calls a function makes, captured by
// `captureGraph` (capture.ts) and replayed by `executeGraph` (execute.ts) on any backend. It is
// the first brick of the ONNX export: every node is one core primitive (backend/types.ts), with
// the attributes the op layer passed and the output shape/dtype it computed.
//
// Values are numbered (ValueId). A value is exactly one of:
//  - a graph input     (`inputs[i]`: the i-th positional argument of the captured function),
//  - a constant        (`constants`: host values uploaded while capturing, e.g. `tensor([...])`),
//  - an external       (`externals`: a tensor that existed before capture began and that the
//                       function closed over, typically a parameter. It is NOT baked into the
//                       graph: it is a named, late-bound input identified by the tensor's id
//                       (and name, when it has one), so replays see the tensor's current value,
//                       e.g. after an optimizer `assign`ed it),
//  - a node output     (`nodes[k].output`).
// Everything is JSON-like data (typed arrays aside); no Tensor or backend handle is referenced.

import { InvalidArgumentError } from '../errors/index.js';
import type { PrimitiveName } from '../backend/types.js';
import type { DType, TypedArray } from '../tensor/dtype.js';

export type ValueId = number;

export interface ValueInfo {
  readonly id: ValueId;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** A positional input of the captured function. */
export interface GraphInput extends ValueInfo {
  /** `input<i>`. */
  readonly name: string;
  readonly index: number;
}

/** Host values uploaded during capture (a private copy). */
export interface GraphConstant extends ValueInfo {
  readonly values: TypedArray;
}

/** A tensor created before capture that the function used (a parameter): bound at replay. */
export interface GraphExternal extends ValueInfo {
  /** The captured tensor's id: the key `executeGraph`'s `externals` map uses. */
  readonly tensorId: number;
  /** The tensor's name, when it had one (also accepted as a key at replay). */
  readonly name?: string;
  readonly isVariable: boolean;
}

export interface GraphNode {
  readonly kernel: PrimitiveName;
  readonly inputs: readonly ValueId[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly output: ValueInfo;
}

/**
 * A variable the function assigned (an optimizer's parameter or moment): after a replay the
 * external `target` takes the value `value` (the last one assigned during capture).
 */
export interface GraphUpdate {
  /** The value id of the assigned variable's external (its value before the function ran). */
  readonly target: ValueId;
  readonly value: ValueId;
}

export interface Graph {
  readonly version: 1;
  readonly inputs: readonly GraphInput[];
  readonly constants: readonly GraphConstant[];
  readonly externals: readonly GraphExternal[];
  /** In execution order (the order the kernels ran during capture). */
  readonly nodes: readonly GraphNode[];
  /** The function's result values, in order. */
  readonly outputs: readonly ValueInfo[];
  /** Whether the function returned an array (else a single tensor: outputs has one entry). */
  readonly returnsArray: boolean;
  /** Variables assigned by the function, applied after each replay (absent: none). */
  readonly updates?: readonly GraphUpdate[];
}

/** Something needed real values (or real storage) while a graph was being captured. */
export class GraphCaptureError extends InvalidArgumentError {}
