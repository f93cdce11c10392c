import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // The public types name WebGPU's (GPUDevice, GPUAdapter): consumers get them from @webgpu/types.
  dts: { banner: '/// <reference types="@webgpu/types" />' },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // The typecheck tsconfig maps @denoise/core to core's sources; the build resolves the built
  // package instead (and keeps it external).
  tsconfig: 'tsconfig.build.json',
});
