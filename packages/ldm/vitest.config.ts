import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  resolve: {
    // Run against the sources of core and of the test-only backends, so that both see one copy
    // of core's engine and the tests need no dist.
    alias: [
      { find: /^@denoise\/core\/testing$/, replacement: path.resolve(here, '../core/src/testing/index.ts') },
      { find: /^@denoise\/core$/, replacement: path.resolve(here, '../core/src/index.ts') },
      { find: /^@denoise\/backend-tfjs$/, replacement: path.resolve(here, '../backend-tfjs/src/index.ts') },
      { find: /^@denoise\/backend-onnx$/, replacement: path.resolve(here, '../backend-onnx/src/index.ts') },
      { find: /^@denoise\/backend-webgpu$/, replacement: path.resolve(here, '../backend-webgpu/src/index.ts') },
    ],
  },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 60000,
    hookTimeout: 60000,
    // tfjs keeps one global engine per process.
    pool: 'forks',
  },
});
