// Core's backend conformance suite (every primitive and composite, with gradients, against the
// float64 reference backend) on the WebGPU backend. Skips where no WebGPU adapter exists.
import { conformanceCases } from '@denoise/core/testing';
import { describeGpu, itMatchesReference } from './test-utils/gpu.js';

await describeGpu('core conformance suite on webgpu', (backend) => itMatchesReference(backend, conformanceCases));
