// Micro-benchmarks on tfjs-wasm of ops the model uses, forward and backward: depth-to-space vs
// nearest resize, and core's groupNorm vs groupNormMM (reductions as matmuls).
import { Generator, randn, registerBackend, setBackend, tidy, reshape, transpose, resize, gradients, sum, mul, groupNorm, ones, zeros } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { groupNormMM } from '../src/model.mjs';
registerTfjsBackends(registerBackend);
await setBackend(['tfjs-wasm']);
const gen = new Generator(0);
const time = (name, f) => { tidy(f); const t0 = performance.now(); for (let i = 0; i < 3; i++) tidy(f); console.log(name.padEnd(40), ((performance.now() - t0) / 3).toFixed(1), 'ms'); };
const B = 64, C = 32;
const x = randn([B, 4 * C, 7, 7], gen);
const s = randn([B, C, 14, 14], gen);
const d2s = (t) => { const [b, c4, h, w] = t.shape; const c = c4 / 4; return reshape(transpose(reshape(t, [b, c, 2, 2, h, w]), [0, 1, 4, 2, 5, 3]), [b, c, 2 * h, 2 * w]); };
time('d2s fwd [64,128,7,7]', () => d2s(x).dataSync());
time('d2s fwd+bwd', () => { const { value, grads } = gradients(() => sum(mul(d2s(x), s)), [x]); grads[0].dataSync(); });
const y = randn([B, C, 7, 7], gen);
time('resize fwd [64,32,7,7] x2', () => resize(y, { scaleFactor: 2 }).dataSync());
time('resize fwd+bwd', () => { const { grads } = gradients(() => sum(mul(resize(y, { scaleFactor: 2 }), s)), [y]); grads[0].dataSync(); });
const g = ones([C]), bta = zeros([C]);
const h = randn([B, C, 14, 14], gen);
time('groupNorm fwd+bwd core', () => { const { grads } = gradients(() => sum(mul(groupNorm(h, 8, g, bta), s)), [h]); grads[0].dataSync(); });
time('groupNorm fwd+bwd mm', () => { const { grads } = gradients(() => sum(mul(groupNormMM(h, 8, g, bta), s)), [h]); grads[0].dataSync(); });
const a1 = tidy(() => groupNorm(h, 8, g, bta).dataSync()), a2 = tidy(() => groupNormMM(h, 8, g, bta).dataSync());
let md = 0; for (let i = 0; i < a1.length; i++) md = Math.max(md, Math.abs(a1[i] - a2[i])); console.log('max diff', md);
