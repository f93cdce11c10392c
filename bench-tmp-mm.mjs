import * as tf from '@tensorflow/tfjs-core';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { Worker as RealWorker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path'; import os from 'node:os';
const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const mainJs = path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
const workerSrc = require(path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')).wasmWorkerContents.replace(/\n/g, '\\n');
const TH = +(process.env.TH||2);
class PatchedWorker extends RealWorker {
  constructor(file, opts) { if (typeof file === 'string' && file.startsWith('blob:')) super(workerSrc, { ...opts, eval: true }); else super(file, opts); }
  postMessage(msg, transfer) { if (msg && msg.cmd === 'load' && typeof msg.urlOrBlob !== 'string') msg = { ...msg, urlOrBlob: mainJs }; return super.postMessage(msg, transfer); }
}
let cur; Object.defineProperty(globalThis, 'Worker', { configurable: true, get(){return cur;}, set(v){ cur = v === RealWorker ? PatchedWorker : v; } });
if (TH > 0) { tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true); wasm.setThreadsCount(TH); }
const realCpus = os.cpus; os.cpus = () => { const c = realCpus.call(os); return Array.from({length: 2*Math.max(TH,1)}, (_, i) => c[i % c.length]); };
try { await tf.setBackend('wasm'); await tf.ready(); } finally { os.cpus = realCpus; }
console.log('threads', wasm.getThreadsCount());
function bench(name, flops, f, n=6) { f(); f(); let best=1e9; for (let i=0;i<n;i++){ const t=performance.now(); f(); best=Math.min(best, performance.now()-t);} console.log(name.padEnd(40), best.toFixed(1)+' ms', flops? (flops/best/1e6).toFixed(1)+' GFLOP/s':''); return best; }
const a = tf.randomNormal([1024,1024]); const b = tf.randomNormal([1024,1024]);
bench('matmul FC 1024', 2*1024**3, ()=>tf.tidy(()=>{tf.matMul(a,b).dataSync()}));
const a4 = tf.reshape(a,[1,1,1024,1024]); const b4 = tf.reshape(b,[1,1,1024,1024]);
bench('matmul conv1x1 1024', 2*1024**3, ()=>tf.tidy(()=>{tf.conv2d(a4,b4,1,'valid').dataSync()}));
const x = tf.randomNormal([1,64,64,128]); const w = tf.randomNormal([3,3,128,128]);
const F = 2*64*64*128*128*9;
const fwd = bench('conv fwd NHWC', F, ()=>tf.tidy(()=>{tf.conv2d(x,w,1,'same').dataSync()}));
const dy = tf.randomNormal([1,64,64,128]);
bench('gradInput via conv (flipped)', F, ()=>tf.tidy(()=>{ const wf = tf.transpose(tf.reverse(w,[0,1]),[0,1,3,2]); tf.conv2d(dy,wf,1,'same').dataSync()}));
// gradFilter im2col + FC
const gfIm2col = (useConv) => tf.tidy(()=>{
  const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]);
  const cols=[]; for (let kh=0;kh<3;kh++) for (let kw=0;kw<3;kw++) cols.push(tf.slice(xp,[0,kh,kw,0],[1,64,64,128]));
  const P = tf.reshape(tf.concat(cols, 3), [4096, 9*128]);
  const dyT = tf.transpose(tf.reshape(dy,[4096,128])); // [128, 4096]
  let r = useConv ? tf.conv2d(tf.reshape(dyT,[1,1,128,4096]), tf.reshape(P,[1,1,4096,9*128]),1,'valid') : tf.matMul(dyT, P);
  tf.transpose(tf.reshape(r,[128,3,3,128]),[0,3,1,2]).dataSync();
});
bench('gradFilter im2col+FC', F, ()=>gfIm2col(false));
bench('gradFilter im2col+conv1x1', F, ()=>gfIm2col(true));
bench('gradFilter conv trick', F, ()=>tf.tidy(()=>{
  const xp = tf.transpose(tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]), [3,1,2,0]); // [Cin,Hp,Wp,N]
  const f = tf.transpose(dy, [1,2,0,3]); // [oH,oW,N,Cout]
  const r = tf.conv2d(xp, f, 1, 'valid'); // [Cin,3,3,Cout]
  tf.transpose(r,[3,0,1,2]).dataSync();
}));
// Conv2DBackpropFilter alt: im2col + FC via batches of [P, K*Cin]
const ab=tf.randomNormal([8,256,512]); const bb=tf.randomNormal([8,512,256]);
bench('batched 8x256x512x256 native', 2*8*256*512*256, ()=>tf.tidy(()=>{tf.matMul(ab,bb).dataSync()}), 2);
bench('batched 8x256x512x256 loop FC', 2*8*256*512*256, ()=>tf.tidy(()=>{ const as=tf.unstack(ab), bs=tf.unstack(bb); tf.stack(as.map((q,i)=>tf.matMul(q,bs[i]))).dataSync()}));
bench('batched 8x256x512x256 loop conv', 2*8*256*512*256, ()=>tf.tidy(()=>{ const as=tf.unstack(ab), bs=tf.unstack(bb); tf.stack(as.map((q,i)=>tf.reshape(tf.conv2d(tf.reshape(q,[1,1,256,512]),tf.reshape(bs[i],[1,1,512,256]),1,'valid'),[256,256]))).dataSync()}));
bench('transposeB 256x512 * (256x512)^T native', 2*256*512*256, ()=>tf.tidy(()=>{tf.matMul(tf.reshape(tf.slice(ab,[0,0,0],[1,256,512]),[256,512]), tf.reshape(tf.slice(ab,[1,0,0],[1,256,512]),[256,512]), false, true).dataSync()}));
bench('transposeB explicit', 2*256*512*256, ()=>tf.tidy(()=>{tf.matMul(tf.reshape(tf.slice(ab,[0,0,0],[1,256,512]),[256,512]), tf.transpose(tf.reshape(tf.slice(ab,[1,0,0],[1,256,512]),[256,512]))).dataSync()}));
process.exit(0);
