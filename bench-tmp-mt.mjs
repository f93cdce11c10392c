import * as tf from '@tensorflow/tfjs-core';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { Worker as RealWorker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const mainJs = path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
const workerSrc = require(path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')).wasmWorkerContents.replace(/\n/g, '\\n');
const TH = +(process.env.TH||2);
class PatchedWorker extends RealWorker {
  constructor(file, opts) {
    if (typeof file === 'string' && file.startsWith('blob:')) super(workerSrc, { ...opts, eval: true });
    else super(file, opts);
    this.on('error', e => console.log('worker error', e));
    if (process.env.DBG) { this.on('online', () => console.log('worker online')); this.on('message', m => console.log('msg', m && m.cmd)); }
  }
  postMessage(msg, transfer) {
    if (process.env.DBG) console.log('post', msg && msg.cmd);
    if (msg && msg.cmd === 'load' && typeof msg.urlOrBlob !== 'string') msg = { ...msg, urlOrBlob: mainJs };
    return super.postMessage(msg, transfer);
  }
}
let cur;
Object.defineProperty(globalThis, 'Worker', { configurable: true, get(){return cur;}, set(v){ cur = v === RealWorker ? PatchedWorker : v; } });
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
wasm.setThreadsCount(TH);
import os from 'node:os';
const realCpus = os.cpus;
if (process.env.FAKE) os.cpus = () => { const c = realCpus.call(os); return Array.from({length: 2*TH}, (_, i) => c[i % c.length]); };
try { await tf.setBackend('wasm'); await tf.ready(); } finally { os.cpus = realCpus; }
console.log('backend', tf.getBackend(), 'threads', wasm.getThreadsCount());
const a = tf.randomNormal([1024,1024]); const b = tf.randomNormal([1024,1024]);
for (let i=0;i<2;i++) tf.tidy(()=>tf.matMul(a,b).dataSync());
let t=performance.now(); const n=5; for (let i=0;i<n;i++) tf.tidy(()=>{tf.matMul(a,b).dataSync()}); let dt=(performance.now()-t)/n;
console.log('matmul ms', dt.toFixed(1), 'GFLOP/s', (2*1024**3/dt/1e6).toFixed(1));
const x = tf.randomNormal([1,64,64,128]); const w = tf.randomNormal([3,3,128,128]);
const f=()=>tf.tidy(()=>{tf.conv2d(x,w,1,'same').dataSync()});
f();f(); t=performance.now(); for(let i=0;i<5;i++) f(); dt=(performance.now()-t)/5;
console.log('conv fwd ms',dt.toFixed(1),'GFLOP/s',(2*64*64*128*128*9/dt/1e6).toFixed(1));
console.log('done');
{
const a3 = tf.reshape(a,[1,1,1024,1024]); const b4 = tf.reshape(b,[1,1,1024,1024]);
const g=()=>tf.tidy(()=>{tf.conv2d(a3,b4,1,'valid').dataSync()});
g();g(); let t=performance.now(); for(let i=0;i<5;i++) g(); let dt=(performance.now()-t)/5;
console.log('matmul-as-conv1x1 ms',dt.toFixed(1),'GFLOP/s',(2*1024**3/dt/1e6).toFixed(1));
const h=()=>tf.tidy(()=>{tf.fused.matMul({a,b}).dataSync()});
h();h(); t=performance.now(); for(let i=0;i<5;i++) h(); dt=(performance.now()-t)/5;
console.log('fused matmul ms',dt.toFixed(1),'GFLOP/s',(2*1024**3/dt/1e6).toFixed(1));
const ab=tf.randomNormal([8,256,512]); const bb=tf.randomNormal([8,512,256]);
const k=()=>tf.tidy(()=>{tf.matMul(ab,bb).dataSync()});
k();k(); t=performance.now(); for(let i=0;i<5;i++) k(); dt=(performance.now()-t)/5;
console.log('batched matmul 8x256x512x256 ms',dt.toFixed(1),'GFLOP/s',(2*8*256*512*256/dt/1e6).toFixed(1));
}
process.exit(0);
