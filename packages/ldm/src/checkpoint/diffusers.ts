// The diffusers directory layout, read into typed descriptors (no model classes: those come
// with the models). A pipeline folder holds `model_index.json` ({"_class_name", component:
// [library, class]}) and one folder per component: models with `config.json` and weights
// (`diffusion_pytorch_model[.fp16].safetensors`, `model[.fp16].safetensors`, sharded
// `*.safetensors.index[.fp16].json`, or `.bin` PyTorch files), the tokenizer (`vocab.json` +
// `merges.txt`), the scheduler (`scheduler_config.json`). Every problem found is reported in one
// CheckpointError. Node only (reads directories).

import { CheckpointError, InvalidArgumentError, describe } from '@denoise/core';
import { loadStateDict, type LoadedStateDict, type StateDict } from './state-dict.js';

export interface DiffusersWeights {
  /** Weight files, in load order (several when sharded). */
  readonly files: readonly string[];
  readonly format: 'safetensors' | 'pytorch';
  /** 'fp16' when a `.fp16.` variant was chosen. */
  readonly variant: string | null;
  /** For sharded weights: tensor name → shard file (from the index). */
  readonly weightMap: Readonly<Record<string, string>> | null;
}

interface ComponentBase {
  /** Component name in model_index.json (unet, vae, text_encoder, ...). */
  readonly name: string;
  /** [library, class] from model_index.json, e.g. ['diffusers', 'UNet2DConditionModel']. */
  readonly library: string;
  readonly className: string;
  readonly dir: string;
}

export interface DiffusersModelComponent extends ComponentBase {
  readonly kind: 'model';
  readonly config: Readonly<Record<string, unknown>>;
  readonly weights: DiffusersWeights;
}

export interface DiffusersTokenizerComponent extends ComponentBase {
  readonly kind: 'tokenizer';
  readonly vocabFile: string;
  readonly mergesFile: string;
  /** tokenizer_config.json, when present. */
  readonly config: Readonly<Record<string, unknown>>;
  /** special_tokens_map.json, when present. */
  readonly specialTokens: Readonly<Record<string, unknown>>;
}

export interface DiffusersSchedulerComponent extends ComponentBase {
  readonly kind: 'scheduler';
  readonly config: Readonly<Record<string, unknown>>;
}

/** A component this reader has no descriptor for (feature extractors, safety checkers, ...). */
export interface DiffusersOtherComponent extends ComponentBase {
  readonly kind: 'other';
}

export type DiffusersComponent = DiffusersModelComponent | DiffusersTokenizerComponent | DiffusersSchedulerComponent | DiffusersOtherComponent;

export interface DiffusersPipeline {
  readonly dir: string;
  /** `_class_name`, e.g. 'StableDiffusionPipeline'. */
  readonly className: string;
  readonly diffusersVersion: string | null;
  /** Present components (entries set to [null, null] are left out). */
  readonly components: Readonly<Record<string, DiffusersComponent>>;
  readonly modelIndex: Readonly<Record<string, unknown>>;
}

export interface ReadDiffusersOptions {
  /** Prefer this weight variant ('fp16'); default: the plain files, falling back to a variant when only it exists. */
  variant?: string;
}

type Fs = typeof import('node:fs/promises');

async function fsModule(): Promise<Fs> {
  return import('node:fs/promises');
}

const join = (...parts: string[]) => parts.join('/').replace(/\/+/g, '/');

async function exists(fs: Fs, path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(fs: Fs, path: string, problems: string[]): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch {
    problems.push(`${path} is missing`);
    return null;
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    problems.push(`${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
}

const TOKENIZER_CLASSES = /Tokenizer/;
const SCHEDULER_CLASSES = /Scheduler/;

/** Finds a model folder's weights: safetensors first, then .bin; sharded indexes; variants. */
async function findWeights(fs: Fs, dir: string, variant: string | undefined, problems: string[]): Promise<DiffusersWeights | null> {
  const bases = ['diffusion_pytorch_model', 'model', 'pytorch_model'];
  const variants = variant ? [variant, null] : [null, 'fp16'];
  for (const v of variants) {
    for (const [ext, format] of [['safetensors', 'safetensors'], ['bin', 'pytorch']] as const) {
      for (const base of bases) {
        const single = join(dir, v ? `${base}.${v}.${ext}` : `${base}.${ext}`);
        if (await exists(fs, single)) return { files: [single], format, variant: v, weightMap: null };
        const index = join(dir, v ? `${base}.${ext}.index.${v}.json` : `${base}.${ext}.index.json`);
        if (await exists(fs, index)) {
          const json = await readJson(fs, index, problems);
          const map = json?.weight_map;
          if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((f) => typeof f === 'string' && !f.includes('/') && !f.includes('\\'))) {
            problems.push(`${index}: weight_map must map tensor names to shard file names`);
            return null;
          }
          const shards = [...new Set(Object.values(map as Record<string, string>))].sort();
          for (const s of shards) if (!(await exists(fs, join(dir, s)))) problems.push(`${join(dir, s)} (a shard named by ${index}) is missing`);
          return { files: shards.map((s) => join(dir, s)), format, variant: v, weightMap: map as Record<string, string> };
        }
      }
    }
  }
  problems.push(`${dir} has no weights (looked for ${bases.map((b) => `${b}${variant ? `.${variant}` : ''}.safetensors`).join(', ')}, sharded indexes and .bin files)`);
  return null;
}

/** Reads a diffusers pipeline folder into descriptors; one CheckpointError lists every problem. */
export async function readDiffusersPipeline(dir: string, options: ReadDiffusersOptions = {}): Promise<DiffusersPipeline> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError(`readDiffusersPipeline: dir must be a non-empty string, got ${describe(dir)}`);
  if (options.variant !== undefined && !/^[A-Za-z0-9_-]+$/.test(options.variant)) throw new InvalidArgumentError(`readDiffusersPipeline: options.variant must be a name like 'fp16', got ${describe(options.variant)}`);
  const fs = await fsModule();
  const problems: string[] = [];
  const index = await readJson(fs, join(dir, 'model_index.json'), problems);
  if (!index) throw new CheckpointError(`readDiffusersPipeline: ${dir} is not a diffusers pipeline: ${problems.join('; ')}`);
  const className = index._class_name;
  if (typeof className !== 'string') problems.push(`${join(dir, 'model_index.json')}: _class_name must be a string`);
  const components: Record<string, DiffusersComponent> = {};
  for (const [name, entry] of Object.entries(index)) {
    if (name.startsWith('_')) continue;
    if (!Array.isArray(entry) || entry.length !== 2) {
      problems.push(`model_index.json: ${name} must be [library, class], got ${describe(entry)}`);
      continue;
    }
    const [library, cls] = entry as unknown[];
    if (library === null && cls === null) continue; // a component left out (e.g. safety_checker)
    if (typeof library !== 'string' || typeof cls !== 'string') {
      problems.push(`model_index.json: ${name} must be [library, class] strings, got ${describe(entry)}`);
      continue;
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      problems.push(`model_index.json: component name ${describe(name)} is not a folder name`);
      continue;
    }
    const cdir = join(dir, name);
    if (!(await exists(fs, cdir))) {
      problems.push(`${cdir} (component ${name}: ${library}.${cls}) is missing`);
      continue;
    }
    const base = { name, library, className: cls, dir: cdir };
    if (TOKENIZER_CLASSES.test(cls)) {
      const vocabFile = join(cdir, 'vocab.json');
      const mergesFile = join(cdir, 'merges.txt');
      for (const f of [vocabFile, mergesFile]) if (!(await exists(fs, f))) problems.push(`${f} is missing`);
      const config = (await exists(fs, join(cdir, 'tokenizer_config.json'))) ? await readJson(fs, join(cdir, 'tokenizer_config.json'), problems) : {};
      const special = (await exists(fs, join(cdir, 'special_tokens_map.json'))) ? await readJson(fs, join(cdir, 'special_tokens_map.json'), problems) : {};
      components[name] = { ...base, kind: 'tokenizer', vocabFile, mergesFile, config: config ?? {}, specialTokens: special ?? {} };
    } else if (SCHEDULER_CLASSES.test(cls)) {
      const config = await readJson(fs, join(cdir, 'scheduler_config.json'), problems);
      if (config) components[name] = { ...base, kind: 'scheduler', config };
    } else if ((await exists(fs, join(cdir, 'config.json'))) && !/FeatureExtractor|ImageProcessor/.test(cls)) {
      const config = await readJson(fs, join(cdir, 'config.json'), problems);
      const weights = await findWeights(fs, cdir, options.variant, problems);
      if (config && weights) components[name] = { ...base, kind: 'model', config, weights };
    } else {
      components[name] = { ...base, kind: 'other' };
    }
  }
  if (problems.length) throw new CheckpointError(`readDiffusersPipeline: ${dir}: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`);
  return {
    dir,
    className: className as string,
    diffusersVersion: typeof index._diffusers_version === 'string' ? index._diffusers_version : null,
    components,
    modelIndex: index,
  };
}

/** Loads a model component's weights, merging shards and checking them against the index. */
export async function loadComponentWeights(component: DiffusersModelComponent): Promise<LoadedStateDict> {
  const tensors: StateDict = new Map();
  const metadata: Record<string, string> = {};
  const { weights } = component;
  for (const file of weights.files) {
    const part = await loadStateDict(file);
    Object.assign(metadata, part.metadata);
    for (const [k, v] of part.tensors) {
      if (tensors.has(k)) throw new CheckpointError(`${component.name}: tensor ${JSON.stringify(k)} appears in more than one shard (${file})`);
      if (weights.weightMap) {
        const expected = weights.weightMap[k];
        if (expected === undefined || !file.endsWith(`/${expected}`)) throw new CheckpointError(`${component.name}: tensor ${JSON.stringify(k)} found in ${file}, the index says ${expected ?? 'nothing'}`);
      }
      tensors.set(k, v);
    }
  }
  if (weights.weightMap) {
    const absent = Object.keys(weights.weightMap).filter((k) => !tensors.has(k));
    if (absent.length) throw new CheckpointError(`${component.name}: ${absent.length} tensors named by the shard index are in no shard: ${absent.slice(0, 10).join(', ')}${absent.length > 10 ? ', ...' : ''}`);
  }
  return { tensors, metadata, format: weights.format };
}
