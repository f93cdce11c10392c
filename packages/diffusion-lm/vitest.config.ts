import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Small models, but the CI machine is shared by every package's tests at once.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
