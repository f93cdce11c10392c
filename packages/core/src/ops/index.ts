// The public op surface of @denoise/core.
export * from './creation.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './reduce.js';
export * from './linalg.js';
export * from './indexing.js';
export * from './resize.js';
export * from './nn.js';
export { conv2dGradInput, conv2dGradFilter, resizeGrad } from './grad-ops.js';
export type { TensorLike } from './util.js';
