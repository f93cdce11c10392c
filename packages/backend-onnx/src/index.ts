// @denoise/backend-onnx: export captured @denoise/core graphs to ONNX and run them with ONNX Runtime.
export { graphToOnnx, externalInputName, OnnxExportError, SUPPORTED_KERNELS } from './export.js';
export type { OnnxExportOptions } from './export.js';
export { loadOrt, ORT_RUNTIMES } from './ort.js';
export type { LoadOrtOptions, Ort, OrtRuntime, OrtRuntimeName } from './ort.js';
export { OnnxSession, createOnnxSession, runOnnx, toOrtTensor } from './run.js';
export type { OnnxExecutionProvider, OnnxSessionOptions, OnnxTensorData, OnnxTypedArray, OnnxValueInfo } from './run.js';
export { OnnxBackend, OnnxHandle, compileOnnx, createOnnxBackend, registerOnnxBackend } from './backend.js';
export type { CompileOptions, OnnxBackendOptions, OnnxCompiledFunction, OnnxProgram } from './backend.js';
export { graphToOnnxFiles, exportOnnxModel, saveOnnxModel } from './export.js';
export type { ExportOnnxModelOptions, OnnxBoundaryType, OnnxExternalDataOptions, OnnxModelFiles, SaveOnnxModelOptions } from './export.js';
export { OnnxModel, loadOnnxModel } from './models/onnx-model.js';
export type { LoadOnnxModelOptions, OnnxModelInput, OnnxModelPort, OnnxModelRunOptions } from './models/onnx-model.js';
export { DIFFUSERS_ONNX_COMPONENTS, DiffusersTextEncoder, DiffusersUnet, DiffusersVaeDecoder, DiffusersVaeEncoder, loadDiffusersOnnx } from './models/diffusers.js';
export type { DiffusersOnnxComponent, DiffusersOnnxPipeline, DiffusersUnetCond, LoadDiffusersOnnxOptions } from './models/diffusers.js';
