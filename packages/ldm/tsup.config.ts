import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // The typecheck tsconfig maps @denoise/core to core's sources; the build resolves the built
  // package instead (and keeps it external).
  tsconfig: 'tsconfig.build.json',
  // import.meta.url in the CommonJS build (finds the shipped CLIP vocabulary in assets/).
  shims: true,
});
