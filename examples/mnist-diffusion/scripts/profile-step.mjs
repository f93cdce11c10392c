// Per-kernel timing of DiffusionTrainer.trainStep (wraps the backend's kernel functions).
import { Generator } from '@denoise/core';
import { initBackend } from '../src/cli.mjs';
import { Batcher, SPLIT_SEED, loadMnist, splitIndices, subset } from '../src/data.mjs';
import { DiffusionTrainer } from '../src/trainer.mjs';
const be = await initBackend(process.env.BACKEND);
const data = loadMnist();
const train = subset(data, splitIndices(data.count, new Generator(SPLIT_SEED)).train);
const trainer = new DiffusionTrainer({ totalSteps: 100 });
const batcher = new Batcher(train, trainer.hparams.batchSize, trainer.dataGen);
const stats = new Map();
let on = false;
for (const group of [be.kernels, be.fused ?? {}]) for (const [k, f] of Object.entries(group)) {
  if (typeof f !== 'function') continue;
  group[k] = (...a) => { const t = performance.now(); const r = f.apply(group, a); if (on) { const s = stats.get(k) ?? { n: 0, ms: 0 }; s.n++; s.ms += performance.now() - t; stats.set(k, s); } return r; };
}
for (let s = 0; s < 4; s++) {
  on = s === 3;
  const t = performance.now();
  const { x, y } = batcher.nextHost();
  const r = trainer.trainStep(x, y);
  console.log(`step ${s} ${((performance.now() - t) / 1000).toFixed(3)} s loss ${r.loss.toFixed(4)}`);
}
let tot = 0; for (const s of stats.values()) tot += s.ms;
console.log('kernel total', tot.toFixed(0), 'ms');
console.log([...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15).map(([k, s]) => `${k.padEnd(22)} n=${String(s.n).padStart(4)} ${s.ms.toFixed(0).padStart(7)} ms`).join('\n'));
