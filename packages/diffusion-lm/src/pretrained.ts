// The models this package ships (assets/, float16 safetensors): a Diffusion-LM trained on the
// E2E restaurant corpus with examples/diffusion-lm/train.mjs (the small configuration), and the
// teacher language model trained by examples/diffusion-lm/train-teacher.mjs that scores fluency.
// Both share one word vocabulary (in their metadata). Also the teacher's own file format:
// safetensors with metadata { format: 'denoise.teacher-lm', config, vocab }.

import {
  CheckpointError, InvalidArgumentError, deserializeTensors, describe, loadSafetensors, shapesEqual, type Backend, type Tensor,
} from '@denoise/core';
import { Vocabulary } from './data/vocab.js';
import { deserializeDiffusionLM, type LoadedDiffusionLM, type LoadModelOptions } from './checkpoint.js';
import { perplexity, teacherShapes, type TeacherConfig } from './teacher.js';

/** File names of the shipped models in the package's assets/ folder. */
export const PRETRAINED_FILES = Object.freeze({ model: 'e2e-small.safetensors', teacher: 'e2e-teacher.safetensors' });

export const TEACHER_FORMAT = 'denoise.teacher-lm';

/** A teacher language model: parameters, config and vocabulary. */
export interface LoadedTeacher {
  readonly params: Readonly<Record<string, Tensor>>;
  readonly config: TeacherConfig;
  readonly vocab: Vocabulary;
  readonly metadata: Readonly<Record<string, string>>;
  /** Teacher perplexity of sentences (word lists): see `perplexity`. */
  perplexity(sentences: readonly (readonly string[])[], batchSize?: number): Promise<number>;
  dispose(): void;
}

function teacherFrom(tensors: Map<string, Tensor>, metadata: Record<string, string>, source: string): LoadedTeacher {
  const fail = (msg: string): never => {
    for (const t of tensors.values()) t.dispose();
    throw new CheckpointError(`loadTeacher: ${source}: ${msg}`);
  };
  if (metadata.format !== TEACHER_FORMAT) fail(`not a teacher model (metadata.format is ${describe(metadata.format)}, expected '${TEACHER_FORMAT}')`);
  let config: TeacherConfig;
  let words: unknown;
  try {
    config = JSON.parse(metadata.config ?? '') as TeacherConfig;
    words = JSON.parse(metadata.vocab ?? '');
  } catch (e) {
    return fail(`metadata.config and metadata.vocab must be JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  for (const k of ['vocabSize', 'seqLen', 'width', 'layers', 'heads'] as const) {
    if (!Number.isInteger(config[k]) || config[k] < 1) fail(`config.${k} must be a positive integer, got ${describe(config[k])}`);
  }
  if (!Array.isArray(words) || !words.every((w) => typeof w === 'string')) fail(`metadata.vocab must be a list of words`);
  const vocab = new Vocabulary(words as string[]);
  if (vocab.size !== config.vocabSize) fail(`the vocabulary has ${vocab.size} words, config.vocabSize is ${config.vocabSize}`);
  const expected = teacherShapes(config);
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) problems.push(`missing ${name}`);
    else if (!shapesEqual(t.shape, shape)) problems.push(`${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const known = new Set(expected.map(([n]) => n));
  for (const name of tensors.keys()) if (!known.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) fail(problems.join('; '));
  const params = Object.fromEntries(tensors);
  return {
    params, config, vocab, metadata,
    perplexity: (sentences, batchSize = 64) => perplexity(params, config, vocab, sentences, batchSize),
    dispose: () => { for (const t of tensors.values()) t.dispose(); },
  };
}

/** Reads a teacher written by examples/diffusion-lm/train-teacher.mjs; every problem is one CheckpointError. Node only. */
export async function loadTeacher(path: string, options: { backend?: Backend } = {}): Promise<LoadedTeacher> {
  if (typeof path !== 'string') throw new InvalidArgumentError(`loadTeacher: path must be a string, got ${describe(path)}`);
  const { tensors, metadata } = await loadSafetensors(path, options.backend ? { backend: options.backend } : {});
  return teacherFrom(tensors, metadata, path);
}

/** loadTeacher over bytes. */
export function deserializeTeacher(bytes: Uint8Array, options: { backend?: Backend } = {}): LoadedTeacher {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`deserializeTeacher: bytes must be a Uint8Array, got ${describe(bytes)}`);
  const { tensors, metadata } = deserializeTensors(bytes, options.backend ? { backend: options.backend } : {});
  return teacherFrom(tensors, metadata, '<bytes>');
}

/** The bytes of a shipped asset: next to dist/ in the package, or two levels up from src/. */
async function readAsset(op: string, file: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const errors: string[] = [];
  for (const dir of ['../assets/', '../../assets/']) {
    const url = new URL(dir + file, import.meta.url);
    try {
      return new Uint8Array(await readFile(fileURLToPath(url)));
    } catch (e) {
      errors.push(`${url.href}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new CheckpointError(`${op}: cannot read the shipped ${file} (${errors.join('; ')})`);
}

/**
 * The Diffusion-LM trained on E2E that ships with this package (Node; browsers fetch
 * `assets/e2e-small.safetensors` and call deserializeDiffusionLM). Its metadata says how long it
 * was trained (`trained_steps`).
 */
export async function loadPretrainedDiffusionLM(options: LoadModelOptions = {}): Promise<LoadedDiffusionLM> {
  return deserializeDiffusionLM(await readAsset('loadPretrainedDiffusionLM', PRETRAINED_FILES.model), options);
}

/** The shipped teacher language model (same vocabulary as the shipped Diffusion-LM). Node only. */
export async function loadPretrainedTeacher(options: { backend?: Backend } = {}): Promise<LoadedTeacher> {
  return deserializeTeacher(await readAsset('loadPretrainedTeacher', PRETRAINED_FILES.teacher), options);
}
