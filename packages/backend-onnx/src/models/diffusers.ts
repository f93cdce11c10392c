// Stable-Diffusion-style pipelines exported to ONNX by Hugging Face diffusers
// (scripts/convert_stable_diffusion_checkpoint_to_onnx.py, optimum's exporter), read from
// their folder layout into typed components:
//
//   model_index.json                    which components the pipeline has
//   text_encoder/model.onnx             input_ids [B, T] int32 (int64 in some exports)
//                                       -> last_hidden_state [B, T, D], pooler_output [B, D]
//   unet/model.onnx (+ weights.pb / model.onnx_data: external data)
//                                       sample [B, 4, h, w], timestep [B] (float or int64),
//                                       encoder_hidden_states [B, T, D] -> out_sample
//   vae_decoder/model.onnx              latent_sample [B, 4, h, w] -> sample [B, 3, 8h, 8w]
//   vae_encoder/model.onnx (optional)   sample [B, 3, H, W] -> latent_sample
//   scheduler/scheduler_config.json     the training schedule and prediction type
//   tokenizer/, safety_checker/, feature_extractor/: not read here
//
// Every missing or malformed part is found before anything is loaded into ONNX Runtime and
// reported in one CheckpointError. The unet adapts to core's samplers through asNetwork() and
// denoiserOptions(): `vpDenoiserAsync(unet.asNetwork(), pipeline.denoiserOptions())`.

import {
  type AnyDiffusersScheduler,
  type AsyncVPNetwork,
  CheckpointError,
  type CreateSchedulerOptions,
  DTypeError,
  type DiffusersSchedulerConfig,
  InvalidArgumentError,
  type Prediction,
  SCHEDULER_CLASSES,
  Tensor,
  type VPDenoiserOptions,
  createScheduler,
  describe,
} from '@denoise/core';
import type { OnnxSessionOptions } from '../run.js';
import { checkOnnxFile, errnoCode } from './onnx-file.js';
import { type OnnxModel, type OnnxModelPort, loadOnnxModel } from './onnx-model.js';

/** The ONNX components of a diffusers pipeline folder, by folder name. */
export const DIFFUSERS_ONNX_COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;
export type DiffusersOnnxComponent = (typeof DIFFUSERS_ONNX_COMPONENTS)[number];

export interface LoadDiffusersOnnxOptions extends OnnxSessionOptions {
  /** Load vae_encoder/model.onnx when the pipeline has one (default true; false saves its memory for text-to-image). */
  readonly vaeEncoder?: boolean;
}

const FLOAT_TYPES = ['float32', 'float16'];
const TIMESTEP_TYPES = ['float32', 'float16', 'float64', 'int64', 'int32'];

/** What a component must declare: inputs and outputs by name, with the element types and rank accepted. */
interface PortSpec {
  readonly name: string;
  readonly types: readonly string[];
  /** Accepted ranks (an unknown rank is accepted). */
  readonly ranks: readonly number[];
  readonly optional?: boolean;
}

const SIGNATURES: Readonly<Record<DiffusersOnnxComponent, { inputs: readonly PortSpec[]; outputs: readonly PortSpec[] }>> = {
  text_encoder: {
    inputs: [{ name: 'input_ids', types: ['int32', 'int64'], ranks: [2] }],
    outputs: [
      { name: 'last_hidden_state', types: FLOAT_TYPES, ranks: [3] },
      { name: 'pooler_output', types: FLOAT_TYPES, ranks: [2], optional: true },
    ],
  },
  unet: {
    inputs: [
      { name: 'sample', types: FLOAT_TYPES, ranks: [4] },
      { name: 'timestep', types: TIMESTEP_TYPES, ranks: [0, 1] },
      { name: 'encoder_hidden_states', types: FLOAT_TYPES, ranks: [3] },
    ],
    outputs: [{ name: 'out_sample', types: FLOAT_TYPES, ranks: [4] }],
  },
  vae_decoder: {
    inputs: [{ name: 'latent_sample', types: FLOAT_TYPES, ranks: [4] }],
    outputs: [{ name: 'sample', types: FLOAT_TYPES, ranks: [4] }],
  },
  vae_encoder: {
    inputs: [{ name: 'sample', types: FLOAT_TYPES, ranks: [4] }],
    outputs: [{ name: 'latent_sample', types: FLOAT_TYPES, ranks: [4] }],
  },
};

/** Mismatches between a loaded model and the signature diffusers' exporter gives that component. */
function signatureProblems(component: DiffusersOnnxComponent, model: OnnxModel): string[] {
  const spec = SIGNATURES[component];
  const problems: string[] = [];
  const check = (kind: 'input' | 'output', ports: readonly OnnxModelPort[], specs: readonly PortSpec[]) => {
    for (const s of specs) {
      const p = ports.find((x) => x.name === s.name);
      if (!p) {
        if (!s.optional) problems.push(`${component}/model.onnx has no ${kind} '${s.name}' (its ${kind}s: ${ports.map((x) => x.name).join(', ') || 'none'})`);
        continue;
      }
      if (!s.types.includes(p.dtype)) problems.push(`${component}/model.onnx ${kind} '${s.name}' must be ${s.types.join(' or ')}, it is ${p.dtype}`);
      if (p.shape !== null && !s.ranks.includes(p.shape.length)) {
        problems.push(`${component}/model.onnx ${kind} '${s.name}' must have rank ${s.ranks.join(' or ')}, it is [${p.shape.map((d) => d ?? '?').join(', ')}]`);
      }
    }
  };
  check('input', model.inputs, spec.inputs);
  check('output', model.outputs, spec.outputs);
  return problems;
}

function checkTensor(op: string, arg: string, v: unknown, what: string): Tensor {
  if (!(v instanceof Tensor)) throw new InvalidArgumentError(`${op}: ${arg} must be a Tensor (${what}), got ${describe(v)}`);
  v._check(op);
  return v;
}

/** text_encoder/model.onnx: token ids to hidden states (CLIP's text model in Stable Diffusion). */
export class DiffusersTextEncoder {
  constructor(readonly model: OnnxModel) {}

  /**
   * ids: int32 token ids [B, T] (T is usually 77; converted to int64 when the export takes
   * int64). Returns last_hidden_state [B, T, D] and pooler_output [B, D] (null when the export
   * has none), as float32.
   */
  async encode(ids: Tensor): Promise<{ lastHiddenState: Tensor; poolerOutput: Tensor | null }> {
    const op = 'textEncoder.encode';
    checkTensor(op, 'ids', ids, 'int32 token ids [B, T]');
    if (ids.dtype !== 'int32') throw new DTypeError(`${op}: ids must be int32 token ids, got ${ids.dtype}`);
    const out = await this.model.run({ input_ids: ids });
    return { lastHiddenState: out.last_hidden_state!, poolerOutput: out.pooler_output ?? null };
  }
}

/** The condition the unet network takes: the text encoder's last_hidden_state. */
export interface DiffusersUnetCond {
  readonly context: Tensor;
}

/** unet/model.onnx: the noise (or v) prediction network. */
export class DiffusersUnet {
  constructor(
    readonly model: OnnxModel,
    /** What the network predicts (scheduler_config.json's prediction_type). */
    readonly prediction: Prediction,
  ) {}

  /** The element type of the export's timestep input ('float32', 'int64', ...). */
  get timestepDType(): string {
    return this.model.input('timestep')!.dtype;
  }

  /** True when the export takes integer timesteps (samplers must round t: denoiserOptions().quantize). */
  get integerTimesteps(): boolean {
    return this.timestepDType.startsWith('int');
  }

  /**
   * One evaluation: sample [B, 4, h, w], a timestep (a number, broadcast to the batch, or a
   * Tensor [B]) and encoder_hidden_states [B, T, D] -> out_sample, shaped like sample.
   */
  async predict(sample: Tensor, timestep: number | Tensor, encoderHiddenStates: Tensor): Promise<Tensor> {
    const op = 'unet.predict';
    checkTensor(op, 'sample', sample, 'latents [B, 4, h, w]');
    checkTensor(op, 'encoderHiddenStates', encoderHiddenStates, "the text encoder's last_hidden_state [B, T, D]");
    if (typeof timestep !== 'number') checkTensor(op, 'timestep', timestep, 'a number or a Tensor [B]');
    const out = await this.model.run({ sample, timestep, encoder_hidden_states: encoderHiddenStates });
    return out.out_sample!;
  }

  /**
   * The unet as core's async VP network `(xIn, t, cond: { context }) => Promise<Tensor>`, for
   * `vpDenoiserAsync(net, pipeline.denoiserOptions())`. It predicts what `prediction` says.
   */
  asNetwork(): AsyncVPNetwork<DiffusersUnetCond> {
    const op = 'unet.asNetwork';
    const extra = this.model.inputs.filter((p) => !['sample', 'timestep', 'encoder_hidden_states'].includes(p.name));
    if (extra.length > 0) {
      throw new InvalidArgumentError(`${op}: this unet also takes ${extra.map((p) => `'${p.name}'`).join(', ')} (an SDXL-style export?); call unet.model.run with every input instead`);
    }
    return async (xIn: Tensor, t: number, cond: DiffusersUnetCond) => {
      if (typeof cond !== 'object' || cond === null || !(cond.context instanceof Tensor)) {
        throw new InvalidArgumentError(`${op}: cond must be { context: Tensor } (the text encoder's last_hidden_state [B, T, D]), got ${describe(cond)}`);
      }
      if (typeof t !== 'number' || !Number.isFinite(t)) throw new InvalidArgumentError(`${op}: t must be a finite number, got ${describe(t)}`);
      if (this.integerTimesteps && !Number.isInteger(t)) {
        throw new DTypeError(`${op}: this unet takes ${this.timestepDType} timesteps, so t must be an integer, got ${t}; wrap it with quantize: true (pipeline.denoiserOptions() sets it)`);
      }
      return this.predict(xIn, t, cond.context);
    };
  }
}

/** vae_decoder/model.onnx: latents to images. */
export class DiffusersVaeDecoder {
  constructor(readonly model: OnnxModel) {}

  /**
   * latents [B, 4, h, w] -> images [B, 3, 8h, 8w] in [-1, 1] (roughly). The latents are used as
   * given: Stable Diffusion pipelines divide by the VAE's scaling factor (0.18215 for SD 1.x)
   * first.
   */
  async decode(latents: Tensor): Promise<Tensor> {
    checkTensor('vaeDecoder.decode', 'latents', latents, 'latents [B, 4, h, w]');
    return (await this.model.run({ latent_sample: latents })).sample!;
  }
}

/** vae_encoder/model.onnx: images to latents. */
export class DiffusersVaeEncoder {
  constructor(readonly model: OnnxModel) {}

  /**
   * images [B, 3, H, W] in [-1, 1] -> latent_sample [B, 4, H/8, W/8]. diffusers' exporter bakes
   * a draw from the latent distribution into the graph; scale by the VAE's scaling factor before
   * diffusion, as the pipelines do.
   */
  async encode(images: Tensor): Promise<Tensor> {
    checkTensor('vaeEncoder.encode', 'images', images, 'images [B, 3, H, W]');
    return (await this.model.run({ sample: images })).latent_sample!;
  }
}

export interface DiffusersOnnxPipeline {
  readonly dir: string;
  readonly modelIndex: Readonly<Record<string, unknown>>;
  readonly textEncoder: DiffusersTextEncoder;
  readonly unet: DiffusersUnet;
  readonly vaeDecoder: DiffusersVaeDecoder;
  /** null when the pipeline has no vae_encoder (or options.vaeEncoder is false). */
  readonly vaeEncoder: DiffusersVaeEncoder | null;
  /** scheduler/scheduler_config.json as saved. */
  readonly schedulerConfig: Readonly<DiffusersSchedulerConfig>;
  /** The training schedule's alphas-cumprod (from the scheduler config's betas). */
  readonly alphasCumprod: readonly number[];
  /** A fresh scheduler of the config's class (core's createScheduler; throws for classes it does not implement). */
  createScheduler(options?: CreateSchedulerOptions): AnyDiffusersScheduler;
  /** Options for core's vpDenoiser / vpDenoiserAsync: alphas-cumprod, prediction, and quantize for integer-timestep exports. */
  denoiserOptions(): VPDenoiserOptions;
  /** Releases every ONNX Runtime session. */
  release(): Promise<void>;
}

const PREDICTIONS: readonly Prediction[] = ['epsilon', 'v_prediction', 'sample'];

/** Reads a JSON object file: the object, or 'missing', or a problem string. */
async function readJsonObject(path: string, label: string): Promise<Record<string, unknown> | 'missing' | string> {
  const fs = await import('node:fs/promises');
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return 'missing';
    return `${label} cannot be read: ${e instanceof Error ? e.message : String(e)}`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `${label} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${label} must hold a JSON object, it holds ${describe(value)}`;
  return value as Record<string, unknown>;
}

/** Whether model_index.json lists a component (diffusers writes [null, null] for absent ones). */
function listed(index: Record<string, unknown> | null, component: string): boolean | undefined {
  if (!index || !(component in index)) return undefined;
  const v = index[component];
  return Array.isArray(v) ? v.some((x) => x !== null) : v !== null;
}

/** The scheduler config's training schedule, whatever its class (the betas keys are shared). */
function trainingSchedule(config: DiffusersSchedulerConfig): { alphasCumprod: readonly number[]; prediction: Prediction } | string {
  const prediction = (config.prediction_type ?? 'epsilon') as Prediction;
  if (!PREDICTIONS.includes(prediction)) return `scheduler/scheduler_config.json prediction_type must be one of ${PREDICTIONS.join(', ')}, got ${describe(config.prediction_type)}`;
  const known = typeof config._class_name === 'string' && (SCHEDULER_CLASSES as readonly string[]).includes(config._class_name);
  try {
    // A class core does not implement (e.g. LMSDiscreteScheduler) shares the betas keys with
    // DDIM; only the training table is needed here.
    const s = createScheduler(config, known ? {} : { className: 'DDIMScheduler' });
    return { alphasCumprod: s.alphasCumprod, prediction };
  } catch (e) {
    return `scheduler/scheduler_config.json: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Loads a diffusers ONNX export (the folder OnnxStableDiffusionPipeline.save_pretrained or
 * diffusers' convert_stable_diffusion_checkpoint_to_onnx.py writes). Every required file is
 * looked for first: model_index.json, scheduler/scheduler_config.json, text_encoder/model.onnx,
 * unet/model.onnx, vae_decoder/model.onnx (and vae_encoder/model.onnx when model_index.json
 * lists it), with every external data file the models point at. Missing files, unparsable
 * models or JSON, short data files, and models whose inputs / outputs are not diffusers' are
 * reported together in one CheckpointError. Session options (threads, executionProviders,
 * runtime) apply to every component.
 */
export async function loadDiffusersOnnx(dir: string, options: LoadDiffusersOnnxOptions = {}): Promise<DiffusersOnnxPipeline> {
  const op = 'loadDiffusersOnnx';
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError(`${op}: dir must be a non-empty path, got ${describe(dir)}`);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const { vaeEncoder: wantEncoder = true, ...sessionOptions } = options;
  if (typeof wantEncoder !== 'boolean') throw new InvalidArgumentError(`${op}: options.vaeEncoder must be a boolean, got ${describe(wantEncoder)}`);
  const path = await import('node:path');
  const fs = await import('node:fs/promises');
  const stat = await fs.stat(dir).catch(() => null);
  if (!stat || !stat.isDirectory()) throw new CheckpointError(`${op}: ${dir} is not a directory`);

  const missing: string[] = [];
  const problems: string[] = [];
  const index = await readJsonObject(path.join(dir, 'model_index.json'), 'model_index.json');
  const modelIndex = typeof index === 'object' ? index : null;
  if (index === 'missing') missing.push('model_index.json');
  else if (typeof index === 'string') problems.push(index);
  const sched = await readJsonObject(path.join(dir, 'scheduler', 'scheduler_config.json'), 'scheduler/scheduler_config.json');
  if (sched === 'missing') missing.push('scheduler/scheduler_config.json');
  else if (typeof sched === 'string') problems.push(sched);
  const schedule = typeof sched === 'object' ? trainingSchedule(sched as DiffusersSchedulerConfig) : null;
  if (typeof schedule === 'string') problems.push(schedule);

  const encoderFile = path.join(dir, 'vae_encoder', 'model.onnx');
  const hasEncoder = listed(modelIndex, 'vae_encoder') ?? (await fs.stat(encoderFile).then(() => true, () => false));
  const components: DiffusersOnnxComponent[] = ['text_encoder', 'unet', 'vae_decoder'];
  if (wantEncoder && hasEncoder) components.push('vae_encoder');
  for (const c of components) {
    const check = await checkOnnxFile(path.join(dir, c, 'model.onnx'), `${c}/model.onnx`);
    missing.push(...check.missing);
    problems.push(...check.problems);
  }
  if (missing.length > 0 || problems.length > 0) {
    const cls = modelIndex?._class_name;
    const hint = typeof cls === 'string' && !cls.startsWith('Onnx') ? ` (model_index.json names ${cls}, a PyTorch pipeline; export it to ONNX first)` : '';
    const parts = [...(missing.length > 0 ? [`missing ${missing.join(', ')}`] : []), ...problems];
    throw new CheckpointError(`${op}: ${dir} is not a complete diffusers ONNX export${hint}: ${parts.join('; ')}`);
  }

  const loaded = new Map<DiffusersOnnxComponent, OnnxModel>();
  const releaseAll = () => Promise.all([...loaded.values()].map((m) => m.release().catch(() => undefined)));
  try {
    for (const c of components) loaded.set(c, await loadOnnxModel(path.join(dir, c, 'model.onnx'), { ...sessionOptions, name: c }));
  } catch (e) {
    await releaseAll();
    throw e;
  }
  const mismatches = components.flatMap((c) => signatureProblems(c, loaded.get(c)!));
  if (mismatches.length > 0) {
    await releaseAll();
    throw new CheckpointError(`${op}: ${dir} does not have diffusers' ONNX signatures: ${mismatches.join('; ')}`);
  }
  const { alphasCumprod, prediction } = schedule as { alphasCumprod: readonly number[]; prediction: Prediction };
  const schedulerConfig = Object.freeze({ ...(sched as DiffusersSchedulerConfig) });
  const unet = new DiffusersUnet(loaded.get('unet')!, prediction);
  const encoder = loaded.get('vae_encoder');
  return {
    dir,
    modelIndex: modelIndex!,
    textEncoder: new DiffusersTextEncoder(loaded.get('text_encoder')!),
    unet,
    vaeDecoder: new DiffusersVaeDecoder(loaded.get('vae_decoder')!),
    vaeEncoder: encoder ? new DiffusersVaeEncoder(encoder) : null,
    schedulerConfig,
    alphasCumprod,
    createScheduler: (schedulerOptions?: CreateSchedulerOptions) => createScheduler(schedulerConfig, schedulerOptions),
    denoiserOptions: () => ({ alphasCumprod, prediction, quantize: unet.integerTimesteps }),
    release: async () => {
      await releaseAll();
    },
  };
}
