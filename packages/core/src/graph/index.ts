// Graph capture and replay (the first brick of the ONNX export).
export type { Graph, GraphConstant, GraphExternal, GraphInput, GraphNode, GraphUpdate, ValueId, ValueInfo } from './types.js';
export { GraphCaptureError } from './types.js';
export { captureGraph, captureGraphWithExternals, hostStepCount, isSymbolic, isSymbolicHandle, runHostSteps, SymbolicHandle } from './capture.js';
export type { CaptureOptions, CaptureResult, InputSpec } from './capture.js';
export { executeGraph, GraphCache } from './execute.js';
export type { CompiledFunction, ExternalBindings } from './execute.js';
