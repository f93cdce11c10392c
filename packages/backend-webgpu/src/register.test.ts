// Registration and the errors of a machine without WebGPU; no adapter needed.
import { BackendUnavailableError, registerBackend, resolveBackend, type Backend } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { createWebGPUBackend, listKernels, registerWebGPUBackend, WEBGPU_PRIORITY } from './index.js';

describe('registerWebGPUBackend', () => {
  it('registers "webgpu" lazily at priority 35 (between tfjs-node and tfjs-node-gpu), with a stable factory', () => {
    const calls: Array<{ name: string; factory: () => Promise<Backend>; priority: number }> = [];
    const register = (name: 'webgpu', factory: () => Promise<Backend>, priority: number) => void calls.push({ name, factory, priority });
    registerWebGPUBackend(register);
    registerWebGPUBackend(register);
    expect(calls.map((c) => [c.name, c.priority])).toEqual([['webgpu', 35], ['webgpu', 35]]);
    expect(WEBGPU_PRIORITY).toBe(35);
    expect(calls[0]!.factory).toBe(calls[1]!.factory);
  });

  it('resolves through core, and a machine without an adapter gets one error saying why', async () => {
    const gpu = { requestAdapter: async () => null } as unknown as GPU;
    registerWebGPUBackend((name, factory, priority) => registerBackend(name, factory, priority, { override: true }), { gpu });
    const error = await resolveBackend(['webgpu']).catch((e: unknown) => e);
    expect(BackendUnavailableError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/\[webgpu\] webgpu: no WebGPU adapter is available/);
  });
});

describe('createWebGPUBackend without WebGPU', () => {
  it('names the missing `webgpu` package and how to install it', async () => {
    const importer = () => Promise.reject(new Error("Cannot find package 'webgpu'"));
    const error = await createWebGPUBackend({ importer }).catch((e: unknown) => e);
    expect(BackendUnavailableError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/Cannot find package 'webgpu'.*npm install webgpu/);
  });

  it('explains a null adapter (lavapipe and VK_ICD_FILENAMES in Node)', async () => {
    const error = await createWebGPUBackend({ gpu: { requestAdapter: async () => null } as unknown as GPU }).catch((e: unknown) => e);
    expect(BackendUnavailableError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/requestAdapter\(\) returned null.*VK_ICD_FILENAMES/);
  });

  it('rejects limits that are not positive integers', async () => {
    const device = { limits: { maxComputeWorkgroupsPerDimension: 65535 }, lost: new Promise(() => undefined) } as unknown as GPUDevice;
    await expect(createWebGPUBackend({ device, limits: { maxComputeWorkgroupsPerDimension: 0 } })).rejects.toThrow(/limits.maxComputeWorkgroupsPerDimension must be a positive integer/);
  });
});

describe('listKernels', () => {
  it('lists every WGSL kernel once, with its bindings', () => {
    const kernels = listKernels();
    const names = kernels.map((k) => k.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of ['unary', 'binary', 'matmul', 'conv2d', 'conv2dGradInput', 'conv2dGradFilter', 'scatterSum', 'attention', 'norm', 'softmax']) expect(names).toContain(name);
    for (const k of kernels) expect(k.workgroupSize[0] * k.workgroupSize[1] * k.workgroupSize[2]).toBeLessThanOrEqual(256);
  });
});
