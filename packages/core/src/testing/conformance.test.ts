// The conformance suite on the reference backend itself, storing float32: this checks the op
// layer, the gradient rules and the suite's own plumbing before any other backend runs it.
import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../backend/reference/backend.js';
import { conformanceCases, runConformanceCase } from './conformance.js';

describe('conformance suite on the reference backend (float32 storage)', () => {
  const backend = createReferenceBackend();
  it('covers every primitive kernel and composite', () => {
    const families = new Set(conformanceCases.map((c) => c.name.split('/')[0]));
    for (const name of ['unary', 'binary', 'compare', 'where', 'reduce', 'argmax', 'matmul', 'conv2d', 'gather', 'scatterAdd', 'reshape', 'transpose', 'slice', 'concat', 'pad', 'broadcastTo', 'resize', 'cast', 'fill',
      'linear', 'layerNorm', 'groupNorm', 'softmax', 'logSoftmax', 'attention', 'gelu', 'silu', 'geglu', 'crossEntropy', 'mse']) {
      expect(families.has(name), name).toBe(true);
    }
  });
  for (const c of conformanceCases) {
    it(c.name, async () => {
      const r = await runConformanceCase(c, backend);
      expect(r.message).toBe('ok');
      expect(r.ok).toBe(true);
    });
  }
});

describe('the suite catches a wrong backend', () => {
  it('fails matmul and conv cases when a kernel is off by a small amount', async () => {
    const good = createReferenceBackend();
    const bad = {
      ...good,
      name: 'broken',
      kernels: {
        ...good.kernels,
        // Adds 1e-3 to the output's first element: small, but far outside the tolerance.
        matmul: (a, b, attrs, out) => {
          const h = good.kernels.matmul(a, b, attrs, out);
          const v = good.readSync(h, out.dtype);
          v[0] = (v[0] as number) + 1e-3;
          return good.upload(v, out.shape, out.dtype);
        },
      } as typeof good.kernels,
    };
    const mm = conformanceCases.filter((c) => c.name.startsWith('matmul/'));
    for (const c of mm) expect((await runConformanceCase(c, bad)).ok, c.name).toBe(false);
    const add = conformanceCases.find((c) => c.name === 'binary/add-broadcast')!;
    expect((await runConformanceCase(add, bad)).ok).toBe(true);
  });
});
