// @denoise/backend-onnx: export captured @denoise/core graphs to ONNX and run them with ONNX Runtime.
export { graphToOnnx, externalInputName, OnnxExportError, SUPPORTED_KERNELS } from './export.js';
export type { OnnxExportOptions } from './export.js';
export { loadOrt, ORT_RUNTIMES } from './ort.js';
export type { LoadOrtOptions, Ort, OrtRuntime, OrtRuntimeName } from './ort.js';
export { OnnxSession, createOnnxSession, runOnnx, toOrtTensor } from './run.js';
export type { OnnxExecutionProvider, OnnxSessionOptions, OnnxTensorData, OnnxTypedArray, OnnxValueInfo } from './run.js';
export { OnnxBackend, OnnxHandle, compileOnnx, createOnnxBackend, registerOnnxBackend } from './backend.js';
export type { CompileOptions, OnnxBackendOptions, OnnxCompiledFunction, OnnxProgram } from './backend.js';
