// Measures one training step (forward + backward + AdamW) of the UNet on a backend, to size the
// model and batch for the time budget:  CH=32,64 B=32 HEADS=0 PIX=8 node scripts/bench.mjs
import { AdamW, Generator, gradients, mse, randn, registerBackend, setBackend, tensor, tidy, memory } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { createModel, forward, forwardMacs } from '../src/model.mjs';
registerTfjsBackends(registerBackend);
const be = await setBackend([process.env.BACKEND ?? 'tfjs-wasm']);
const channels = (process.env.CH ?? '32,64').split(',').map(Number);
const B = Number(process.env.B ?? 32);
const gen = new Generator(0);
const config = { channels, attnHeads: Number(process.env.HEADS ?? 0), pixelChannels: Number(process.env.PIX ?? 8) };
const model = createModel(config, gen);
const params = model.params.list();
console.log(be.name, 'params', model.params.count(), 'fwd MMAC/sample', (forwardMacs(config) / 1e6).toFixed(1));
const opt = new AdamW(params, { lr: 1e-3 });
const x = randn([B, 1, 28, 28], gen);
const y = tensor(Int32Array.from({ length: B }, (_, i) => i % 11), [B], { dtype: 'int32' });
const ts = Array.from({ length: B }, (_, i) => (i * 37) % 1000);
for (let s = 0; s < 6; s++) {
  const t0 = performance.now();
  const { value, grads } = gradients(() => mse(forward(model, x, ts, y), x), params);
  const loss = value.item();
  opt.step(grads);
  value.dispose(); for (const g of grads) g.dispose();
  const dt = (performance.now() - t0) / 1000;
  const gflops = (3 * 2 * forwardMacs(config) * B) / dt / 1e9;
  console.log(`step ${s} ${dt.toFixed(3)} s  loss ${loss.toFixed(4)}  ~${gflops.toFixed(1)} GFLOP/s  tensors ${memory().numTensors}`);
}
const t0 = performance.now();
tidy(() => forward(model, x, ts, y).dataSync());
console.log('forward only', ((performance.now() - t0) / 1000).toFixed(3), 's');
