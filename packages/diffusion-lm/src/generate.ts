// Decoding Diffusion-LM (Li et al. 2022, section 4.2 and 5): start from Gaussian noise over the
// n x d embedding space, denoise with one of core's samplers (the full T-step chain or fewer
// steps on a respaced ladder; DDPM ancestral or DDIM), optionally with the clamping trick (the
// predicted x0 is mapped to its nearest word embedding at every step), and round the final x0 to
// words with argmax p(w | x0). Infilling fixes some positions to given words at every step;
// minimum-Bayes-risk selection keeps, out of several samples, the one closest (BLEU) to the rest.

import {
  type Denoiser,
  type Tensor,
  Generator,
  InvalidArgumentError,
  add,
  argmax,
  describe,
  embedding,
  engine,
  full,
  getSampler,
  matmul,
  mul,
  randn,
  sample,
  samplingSigmas,
  square,
  sub,
  sum,
  tensor,
  tidy,
  vpDenoiser,
} from '@denoise/core';
import { type Vocabulary } from './data/vocab.js';
import { mbrSelect } from './metrics/text.js';
import { type DiffusionLMConfig, type Params, denoise, embed, roundingLogits } from './model/model.js';
import { type Schedule } from './model/loss.js';

export interface GenerateOptions {
  /** Number of sentences. */
  readonly n: number;
  /** Seed of the generator every draw uses. */
  readonly seed: number;
  /** Denoising steps: T (the full chain) or fewer on an evenly spaced ladder. Default 200. */
  readonly steps?: number;
  /** 'ddpm' (ancestral, the paper's) or 'ddim'. Default 'ddpm'. */
  readonly sampler?: 'ddpm' | 'ddim';
  /** The clamping trick. Default true. */
  readonly clamp?: boolean;
  /**
   * Infilling: one entry per position of the sequence (START and END included, as encoded by
   * the vocabulary), a word to keep fixed or null to generate. Every word must be in the
   * vocabulary.
   */
  readonly infill?: readonly (string | null)[];
  /** Minimum-Bayes-risk selection among this many samples per sentence. Default 1 (none). */
  readonly mbr?: number;
  /** Called after every step. */
  readonly onProgress?: (info: { step: number; total: number }) => void;
  readonly signal?: AbortSignal;
}

export interface Generation {
  /** The sentences (words joined by spaces). */
  readonly texts: string[];
  /** The words of each sentence (between START and END). */
  readonly tokens: string[][];
  /** The full rounded id sequences (length n). */
  readonly ids: Int32Array[];
}

/** The nearest word embedding (L2) of every vector of x [B, n, d]. */
export function clampToEmbeddings(p: Params, x: Tensor): Tensor {
  return tidy(() => {
    const emb = p['word_embedding.weight']!;
    // |x - e|^2 = |x|^2 - 2 x.e + |e|^2; |x|^2 does not change the argmin.
    const scores = sub(mul(matmul(x, emb, { transposeB: true }), 2), sum(square(emb), [1]));
    return embedding(emb, argmax(scores, -1));
  });
}

/** A trained (or fresh) Diffusion-LM with its vocabulary and schedule. */
export class DiffusionLM {
  constructor(
    readonly params: Params,
    readonly config: DiffusionLMConfig,
    readonly vocab: Vocabulary,
    readonly schedule: Schedule,
  ) {
    if (vocab.size !== config.vocabSize) throw new InvalidArgumentError(`DiffusionLM: the vocabulary has ${vocab.size} words but config.vocabSize is ${config.vocabSize}`);
    if (schedule.T !== config.diffusionSteps) throw new InvalidArgumentError(`DiffusionLM: the schedule has T = ${schedule.T} but config.diffusionSteps is ${config.diffusionSteps}`);
  }

  /** Frees the parameters. */
  dispose(): void {
    for (const t of Object.values(this.params)) t.dispose();
  }

  /** The x0 denoiser in core's form (VE sigma in, x0 out), with or without clamping. */
  denoiser(clamp: boolean): Denoiser<unknown> {
    const base = vpDenoiser(
      (xIn: Tensor, t: number) => denoise(this.params, this.config, xIn, full([xIn.shape[0]!], t, 'float32', xIn._backend)),
      { alphasCumprod: this.schedule.alphasCumprod, prediction: 'sample', quantize: true },
    );
    return clamp ? (x, sigma, cond) => tidy(() => clampToEmbeddings(this.params, base(x, sigma, cond))) : base;
  }

  /** The ids of a template for infilling; throws for words outside the vocabulary. */
  private infillTemplate(infill: readonly (string | null)[]): { mask: Float32Array; ids: Int32Array } {
    const n = this.config.seqLen;
    if (!Array.isArray(infill) || infill.length !== n) throw new InvalidArgumentError(`generate: options.infill must have one entry per position (${n}), got ${describe(Array.isArray(infill) ? infill.length : infill)}`);
    const unknown = infill.filter((w): w is string => w !== null && !this.vocab.has(w));
    if (unknown.length) throw new InvalidArgumentError(`generate: options.infill has words outside the vocabulary: ${describe([...new Set(unknown)])}`);
    const mask = new Float32Array(n);
    const ids = new Int32Array(n);
    infill.forEach((w, i) => {
      if (w !== null) {
        mask[i] = 1;
        ids[i] = this.vocab.id(w);
      }
    });
    return { mask, ids };
  }

  /** Samples `n` sentences (see GenerateOptions). */
  async generate(options: GenerateOptions): Promise<Generation> {
    const op = 'generate';
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
    const { n, seed } = options;
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${op}: options.n must be a positive integer, got ${describe(n)}`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError(`${op}: options.seed must be a non-negative integer, got ${describe(seed)}`);
    const T = this.schedule.T;
    const steps = options.steps ?? Math.min(200, T);
    if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new InvalidArgumentError(`${op}: options.steps must be an integer in [1, ${T}], got ${describe(steps)}`);
    const samplerName = options.sampler ?? 'ddpm';
    if (samplerName !== 'ddpm' && samplerName !== 'ddim') throw new InvalidArgumentError(`${op}: options.sampler must be 'ddpm' or 'ddim', got ${describe(samplerName)}`);
    const k = options.mbr ?? 1;
    if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`${op}: options.mbr must be a positive integer, got ${describe(k)}`);
    const clamp = options.clamp ?? true;
    const template = options.infill ? this.infillTemplate(options.infill) : null;

    const { seqLen, embedDim } = this.config;
    const B = n * k;
    const backend = engine.backend;
    const gen = new Generator(seed);
    const sigmas = samplingSigmas({ alphasCumprod: this.schedule.alphasCumprod, steps, spacing: 'linspace' });
    // x_T ~ N(0, I) in the VP box is x = x_T / sqrt(abar) = N(0, 1 + sigma^2) in VE form.
    const x = tidy(() => mul(randn([B, seqLen, embedDim], gen, { backend }), Math.sqrt(1 + sigmas[0]! ** 2)));
    let known: { mask: Tensor; emb: Tensor } | null = null;
    if (template) {
      known = tidy(() => ({
        mask: tensor(template.mask, [1, seqLen, 1], { backend }),
        emb: embed(this.params, tensor(template.ids, [1, seqLen], { dtype: 'int32', backend })),
      }));
    }
    let step = 0;
    let final: Tensor;
    try {
      final = await sample(getSampler(samplerName), this.denoiser(clamp), x, {
        sigmas,
        gen,
        ...(options.signal ? { signal: options.signal } : {}),
        onStep: known
          ? ({ x: xs, sigmaNext, gen: g }) => {
              // Known positions: their embedding, noised to the next level.
              const noisy = add(known!.emb, mul(randn(xs.shape, g, { backend: xs._backend }), sigmaNext));
              return add(mul(noisy, known!.mask), mul(xs, sub(1, known!.mask)));
            }
          : undefined,
        onProgress: () => options.onProgress?.({ step: ++step, total: sigmas.length - 1 }),
      });
    } finally {
      x.dispose();
      if (known) {
        known.mask.dispose();
        known.emb.dispose();
      }
    }
    const idsT = tidy(() => argmax(roundingLogits(this.params, final), -1));
    final.dispose();
    const flat = (await idsT.data()) as Int32Array;
    idsT.dispose();
    const all = Array.from({ length: B }, (_, i) => {
      const row = flat.slice(i * seqLen, (i + 1) * seqLen);
      // Infilled positions keep their given words.
      if (template) template.mask.forEach((m, j) => m && (row[j] = template.ids[j]!));
      return row;
    });
    const ids: Int32Array[] = [];
    for (let i = 0; i < n; i++) {
      const cands = all.slice(i * k, (i + 1) * k);
      ids.push(cands[k > 1 ? mbrSelect(cands.map((c) => this.vocab.decode(c))) : 0]!);
    }
    const tokens = ids.map((s) => this.vocab.decode(s));
    return { ids, tokens, texts: tokens.map((t) => t.join(' ')) };
  }
}
