// The diffusion training state and one training step: AdamW with warmup + cosine learning
// rate, gradient clipping, an EMA of the weights, label dropout for classifier-free guidance,
// and checkpoints that hold everything needed to resume bit-for-bit.

import {
  AdamW, EMA, Generator, diffusionLoss, loadSafetensors, randn, saveSafetensors, tensor, tidy, trainingStep,
  uniformTimesteps, warmupCosineSchedule,
} from '@denoise/core';
import { HEIGHT, WIDTH } from './data.mjs';
import { corePrediction, cosineAlphasCumprod } from './diffusion.mjs';
import { DEFAULT_CONFIG, NULL_CLASS, createModel, forward } from './model.mjs';

export const DEFAULT_HPARAMS = Object.freeze({
  seed: 0,
  batchSize: 32,
  lr: 3e-3,
  beta2: 0.99,
  minLr: 5e-5,
  warmupSteps: 25,
  weightDecay: 1e-4,
  clipNorm: 1,
  emaDecay: 0.995,
  emaWarmup: 10,
  pUncond: 0.1,
  prediction: 'v_prediction',
  schedule: 'cosine',
});

export class DiffusionTrainer {
  /**
   * @param {object} options config (model), hparams, totalSteps (LR schedule length; may be set
   *   later with setTotalSteps while still in the warmup).
   */
  constructor({ config = DEFAULT_CONFIG, hparams = {}, totalSteps } = {}) {
    this.hparams = { ...DEFAULT_HPARAMS, ...hparams };
    const root = new Generator(this.hparams.seed);
    this.initGen = root.fork();
    this.dataGen = root.fork();
    this.noiseGen = root.fork();
    this.model = createModel(config, this.initGen);
    this.config = this.model.config;
    this.params = this.model.params.list();
    this.names = this.model.params.names();
    this.alphasCumprod = cosineAlphasCumprod(this.config.timesteps);
    this.opt = new AdamW(this.params, { lr: this.hparams.lr, beta2: this.hparams.beta2, weightDecay: this.hparams.weightDecay });
    this.ema = new EMA(this.params, { decay: this.hparams.emaDecay, warmup: this.hparams.emaWarmup });
    this.step = 0;
    this.totalSteps = null;
    this.schedule = null;
    if (totalSteps) this.setTotalSteps(totalSteps);
  }

  setTotalSteps(totalSteps) {
    this.totalSteps = totalSteps;
    const h = this.hparams;
    this.schedule = warmupCosineSchedule({ lr: h.lr, warmupSteps: Math.min(h.warmupSteps, totalSteps - 1), totalSteps, minLr: h.minLr });
  }

  /** Learning rate of the next step (the warmup's, if the length is not fixed yet). */
  currentLr() {
    if (this.schedule) return this.schedule(this.step);
    const h = this.hparams;
    return h.warmupSteps > 0 ? (h.lr * Math.min(this.step + 1, h.warmupSteps)) / h.warmupSteps : h.lr;
  }

  /** One optimisation step on host arrays x (float32 [B * 784], [-1, 1]) and y (int32 [B]). */
  trainStep(xHost, yHost) {
    const n = yHost.length;
    const u = this.noiseGen.uniformArray(n, 'float64');
    const y = Int32Array.from(yHost, (l, k) => (u[k] < this.hparams.pUncond ? NULL_CLASS : l));
    return tidy(() => {
      const x0 = tensor(xHost, [n, 1, HEIGHT, WIDTH]);
      const labels = tensor(y, [n], { dtype: 'int32' });
      const t = uniformTimesteps(n, this.config.timesteps, this.noiseGen);
      const noise = randn(x0.shape, this.noiseGen);
      return this.optimize(() => this.loss(x0, t, noise, labels));
    });
  }

  /** The diffusion loss (MSE to the prediction target) of x0 noised with `noise` at steps t. */
  loss(x0, t, noise, labels) {
    const timesteps = Array.from(t.dataSync()); // the time embedding is computed on the host
    const net = (xt, _t, y) => forward(this.model, xt, timesteps, y);
    return diffusionLoss({ net, x0, t, noise, cond: labels, alphasCumprod: this.alphasCumprod, prediction: corePrediction(this.hparams.prediction) });
  }

  /**
   * One AdamW step on the scalar loss `lossFn()` (core's trainingStep): scheduled learning
   * rate, gradient clipping, EMA update. Returns the loss before the step and the gradient norm.
   */
  optimize(lossFn) {
    const lr = this.currentLr();
    const result = tidy(() => trainingStep({ optimizer: this.opt, lossFn, ema: this.ema, clipNorm: this.hparams.clipNorm, lr }));
    this.step++;
    return { ...result, lr };
  }

  /** Full training state: params, EMA, optimizer state, counters and generator states. */
  async saveState(file, extraMeta = {}) {
    const tensors = {};
    this.names.forEach((name, i) => {
      tensors[`param.${name}`] = this.params[i];
      tensors[`ema.${name}`] = this.ema.shadow[i];
    });
    for (const [k, v] of Object.entries(this.opt.state())) tensors[`opt.${k}`] = v;
    const metadata = {
      format: 'mnist-diffusion-train-state',
      config: JSON.stringify(this.config),
      hparams: JSON.stringify(this.hparams),
      step: String(this.step),
      totalSteps: String(this.totalSteps ?? ''),
      optSteps: String(this.opt.stepCount),
      emaSteps: String(this.ema.stepCount),
      dataGen: JSON.stringify(this.dataGen.state),
      noiseGen: JSON.stringify(this.noiseGen.state),
      ...extraMeta,
    };
    await saveSafetensors(file, tensors, { metadata });
  }

  /** Restores a state written by saveState (same config and hparams). Returns its metadata. */
  async loadState(file) {
    const { tensors, metadata } = await loadSafetensors(file);
    if (metadata.format !== 'mnist-diffusion-train-state') throw new Error(`${file} is not a training state`);
    if (metadata.config !== JSON.stringify(this.config)) throw new Error(`${file}: model config differs: ${metadata.config}`);
    try {
      this.names.forEach((name, i) => {
        this.params[i].assign(tensors.get(`param.${name}`));
      });
      const optState = {};
      for (const [k, v] of tensors) if (k.startsWith('opt.')) optState[k.slice(4)] = v;
      this.opt.loadState(optState, Number(metadata.optSteps));
      this.ema.loadState(this.names.map((name) => tensors.get(`ema.${name}`)), Number(metadata.emaSteps));
      this.step = Number(metadata.step);
      if (metadata.totalSteps) this.setTotalSteps(Number(metadata.totalSteps));
      this.dataGen = Generator.fromState(JSON.parse(metadata.dataGen));
      this.noiseGen = Generator.fromState(JSON.parse(metadata.noiseGen));
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
    return metadata;
  }

  /** Writes the EMA weights (the shipped model), float16 by default. */
  async saveEma(file, extraMeta = {}, { float16 = true } = {}) {
    const tensors = {};
    this.names.forEach((name, i) => (tensors[name] = this.ema.shadow[i]));
    const metadata = {
      format: 'mnist-diffusion',
      config: JSON.stringify(this.config),
      prediction: this.hparams.prediction,
      schedule: this.hparams.schedule,
      step: String(this.step),
      ...extraMeta,
    };
    await saveSafetensors(file, tensors, { metadata, float16 });
  }

  dispose() {
    this.model.params.dispose();
    this.ema.dispose();
    this.opt.dispose();
  }
}

/** Loads a shipped (EMA) checkpoint: { model, alphasCumprod, prediction, metadata }. */
export async function loadDiffusionModel(file) {
  const { tensors, metadata } = await loadSafetensors(file);
  if (metadata.format !== 'mnist-diffusion') throw new Error(`${file} is not an mnist-diffusion checkpoint`);
  // Checkpoints from before the pixel-level stem / head have no pixelChannels.
  const config = { pixelChannels: 0, ...JSON.parse(metadata.config) };
  const model = createModel(config, new Generator(0));
  model.params.load(tensors);
  for (const t of tensors.values()) t.dispose();
  if (metadata.schedule !== 'cosine') throw new Error(`unsupported schedule ${metadata.schedule}`);
  return { model, alphasCumprod: cosineAlphasCumprod(config.timesteps), prediction: corePrediction(metadata.prediction), metadata };
}
