// @denoise/core/testing: the float64 reference backend, the backend conformance suite,
// finite-difference gradient checks and deterministic test inputs. Backend packages run the
// conformance suite in their own tests.
export { createReferenceBackend } from '../backend/reference/backend.js';
export { asyncReadBackend } from './async-read.js';
export { conformanceCases, runConformanceCase, runConformanceSuite } from './conformance.js';
export type { ConformanceCase, ConformanceResult, Tolerance } from './conformance.js';
export { gradcheck } from './gradcheck.js';
export type { GradcheckOptions, GradcheckResult } from './gradcheck.js';
export { randomFloat, randomInt, randomBool, distinctFloat } from './host.js';
export type { HostTensor } from './host.js';
export { trainingLeakCheck } from './leak.js';
export type { LeakCheckResult } from './leak.js';
