// Compares the model's loss gradients on tfjs-wasm with the float64 reference backend.
import { Generator, gradients, mse, registerBackend, setBackend, tensor, tidy, createReferenceBackend } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { createModel, forward } from '../src/model.mjs';
registerTfjsBackends(registerBackend);
const run = async (name) => {
  await setBackend([name]);
  const model = createModel({ channels: [8, 16], groups: 4 }, new Generator(1));
  // Non-zero init for the zero-initialised convs so every gradient is exercised.
  const g = new Generator(9);
  for (const [n, v] of model.params.map) if (v.dataSync().every((x) => x === 0)) v.assign(tensor(Float32Array.from(g.normalArray(v.size, 'float32'), (x) => 0.1 * x), v.shape));
  const gx = new Generator(2);
  const x = tensor(gx.normalArray(2 * 784, 'float32'), [2, 1, 28, 28]);
  const target = tensor(gx.normalArray(2 * 784, 'float32'), [2, 1, 28, 28]);
  const y = tensor(new Int32Array([3, 10]), [2], { dtype: 'int32' });
  const { value, grads } = gradients(() => mse(forward(model, x, [10, 700], y), target), model.params.list());
  return { loss: value.item(), grads: Object.fromEntries(model.params.names().map((n, i) => [n, Array.from(grads[i].dataSync())])) };
};
const a = await run('tfjs-wasm');
const b = await run('reference');
console.log('loss', a.loss, b.loss);
let worst = 0;
for (const n of Object.keys(a.grads)) {
  const ga = a.grads[n], gb = b.grads[n];
  let num = 0, den = 0;
  for (let i = 0; i < ga.length; i++) { num += (ga[i] - gb[i]) ** 2; den += gb[i] ** 2; }
  const rel = Math.sqrt(num / Math.max(den, 1e-30));
  worst = Math.max(worst, rel);
  if (rel > 1e-3) console.log('MISMATCH', n, rel.toExponential(2));
}
console.log('worst relative gradient error', worst.toExponential(2));
