// Runs the kernel benchmark (not part of `npm test`): npx vitest run --config bench/vitest.config.ts
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@denoise\/core\/testing$/, replacement: path.resolve(here, '../../core/src/testing/index.ts') },
      { find: /^@denoise\/core$/, replacement: path.resolve(here, '../../core/src/index.ts') },
    ],
  },
  test: {
    root: path.resolve(here, '..'),
    include: [process.env.BENCH_FILE ?? 'bench/kernels.run.ts'],
    testTimeout: 600000,
    pool: 'forks',
  },
});
