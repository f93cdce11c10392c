import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = path.dirname(fileURLToPath(import.meta.url));

// A lavapipe unpacked at the repository root (.ci/setup-webgpu.sh) gives Node's `webgpu` package
// an adapter on machines without a GPU; without one the GPU tests skip with the reason.
const lavapipe = path.resolve(here, '../../.lavapipe/lvp_icd.json');
if (!process.env.VK_ICD_FILENAMES && existsSync(lavapipe)) process.env.VK_ICD_FILENAMES = lavapipe;

export default defineConfig({
  resolve: {
    // Run against core's sources, so the tests do not need core's dist.
    alias: [
      { find: /^@denoise\/core\/testing$/, replacement: path.resolve(here, '../core/src/testing/index.ts') },
      { find: /^@denoise\/core$/, replacement: path.resolve(here, '../core/src/index.ts') },
    ],
  },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file opens its own device; on a software adapter (lavapipe) the files share two cores,
    // so they run one after another instead of fighting for them.
    pool: 'forks',
    fileParallelism: false,
  },
});
