// @denoise/backend-onnx: export captured @denoise/core graphs to ONNX and run them with onnxruntime-node.
export { graphToOnnx, externalInputName, OnnxExportError, SUPPORTED_KERNELS } from './export.js';
export type { OnnxExportOptions } from './export.js';
export { createOnnxSession, runOnnx } from './run.js';
export type { OnnxSession, OnnxSessionOptions, OnnxTensorData, OnnxTypedArray } from './run.js';
