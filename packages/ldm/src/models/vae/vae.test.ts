// AutoencoderKL against diffusers' AutoencoderKL (fixtures from test-fixtures/models/generate.py):
// the posterior (mean, clamped logvar, std, a sample with given noise), decoding, and tiled
// encoding / decoding with blended seams, max |diff| <= 1e-4.

import { Generator, tensor, tidy, zeros } from '@denoise/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config-fields.js';
import { vaeFromStateDict } from '../io.js';
import { io, loadFixture, maxAbsDiff, measured, report } from '../test-utils.js';
import { parseVAEConfig, vaeConfig } from './config.js';
import { DiagonalGaussianDistribution } from './distribution.js';
import { blend } from './tiling.js';

const TOL = 1e-4;

describe('AutoencoderKL vs diffusers', () => {
  afterAll(() => report('AutoencoderKL'));
  for (const name of ['two-level', 'three-level', 'no-post-quant']) {
    it(`${name}: posterior, sample and decoding`, async () => {
      const f = await loadFixture(`vae-${name}`);
      const vae = vaeFromStateDict(f.config, f.weights);
      const post = vae.encode(io(f, 'in.sample'));
      const diffs = {
        mean: maxAbsDiff(post.mean, io(f, 'out.mean')),
        logvar: maxAbsDiff(post.logvar, io(f, 'out.logvar')),
        std: maxAbsDiff(post.std, io(f, 'out.std')),
        sample: maxAbsDiff(post.sampleWith(io(f, 'in.noise')), io(f, 'out.posterior_sample')),
        decoded: maxAbsDiff(vae.decode(io(f, 'in.latents')), io(f, 'out.decoded')),
      };
      for (const [k, v] of Object.entries(diffs)) {
        measured[`${name} ${k}`] = v;
        expect(v, k).toBeLessThanOrEqual(TOL);
      }
      vae.dispose();
    });
  }

  it('tiled encoding and decoding (40x28 image, 20x14 latents, 16-pixel tiles) blend seams as diffusers does', async () => {
    const f = await loadFixture('vae-two-level');
    const vae = vaeFromStateDict(f.config, f.weights);
    vae.enableTiling();
    const post = vae.encode(io(f, 'in.tiled_sample'));
    const mean = maxAbsDiff(post.mean, io(f, 'out.tiled_mean'));
    const logvar = maxAbsDiff(post.logvar, io(f, 'out.tiled_logvar'));
    const decoded = maxAbsDiff(vae.decode(io(f, 'in.tiled_latents')), io(f, 'out.tiled_decoded'));
    Object.assign(measured, { 'tiled mean': mean, 'tiled logvar': logvar, 'tiled decoded': decoded });
    expect(Math.max(mean, logvar, decoded)).toBeLessThanOrEqual(TOL);
    // Tiling only kicks in above a tile: a 16x12 image encodes in one piece, as without tiling.
    expect(maxAbsDiff(vae.encode(io(f, 'in.sample')).mean, io(f, 'out.mean'))).toBeLessThanOrEqual(TOL);
    vae.disableTiling();
    // Explicit tiled calls work whatever the setting; untiled results differ (tiles see less context).
    const untiled = vae.decode(io(f, 'in.tiled_latents'));
    expect(maxAbsDiff(vae.tiledDecode(io(f, 'in.tiled_latents')), io(f, 'out.tiled_decoded'))).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(untiled, io(f, 'out.tiled_decoded'))).toBeGreaterThan(1e-3);
    vae.dispose();
  });
});

describe('VAE parts', () => {
  it('blend: linear ramps over the overlap, clipped to the smaller tile', () => {
    tidy(() => {
      const a = tensor([1, 2, 3, 4], [1, 1, 4, 1]);
      const b = tensor([10, 20, 30], [1, 1, 3, 1]);
      // e = 2: row 0 = a[2] * 1 + b[0] * 0, row 1 = a[3] * 0.5 + b[1] * 0.5, row 2 = b[2].
      expect([...blend(a, b, 2, 2).dataSync()]).toEqual([3, 12, 30]);
      expect([...blend(a, b, 9, 2).dataSync()].map((v) => +v.toFixed(5))).toEqual([2, +(3 * 2 / 3 + 20 / 3).toFixed(5), +(4 / 3 + 30 * 2 / 3).toFixed(5)]);
      expect(blend(a, b, 0, 2)).toBe(b);
    });
  });

  it('the posterior clamps logvar to [-30, 20]; sample(gen) is mean + std * N(0, 1); KL', () => {
    tidy(() => {
      const moments = tensor([0.5, -1, 100, -100], [1, 4, 1, 1]);
      const d = new DiagonalGaussianDistribution(moments);
      expect([...d.logvar.dataSync()]).toEqual([20, -30]);
      const z1 = d.sample(new Generator(7)).dataSync();
      const z2 = d.sample(new Generator(7)).dataSync();
      expect([...z1]).toEqual([...z2]);
      const std = d.std.dataSync();
      expect(std[0]).toBeCloseTo(Math.exp(10), 0);
      const kl = d.kl().dataSync()[0]!;
      expect(kl).toBeCloseTo(0.5 * (0.25 + 1 + Math.exp(20) - 1 - 20 + Math.exp(-30) - 1 + 30), -3);
      expect(() => d.sampleWith(zeros([1, 2, 2, 1]))).toThrow(/noise must be \[1, 2, 1, 1\]/);
    });
  });

  it('configs: SD 1.x defaults, diffusers defaults, typed errors', () => {
    const sd = vaeConfig();
    expect([sd.block_out_channels, sd.scaling_factor, sd.latent_channels, sd.sample_size]).toEqual([[128, 256, 512, 512], 0.18215, 4, 512]);
    expect(parseVAEConfig({}).block_out_channels).toEqual([64]);
    expect(() => parseVAEConfig({ down_block_types: ['AttnDownEncoderBlock2D'], block_out_channels: [64], norm_num_groups: 3, scaling_factor: -1 })).toThrow(ConfigError);
    try {
      parseVAEConfig({ down_block_types: ['AttnDownEncoderBlock2D'], norm_num_groups: 3, scaling_factor: -1 });
    } catch (e) {
      const p = (e as ConfigError).problems.join('\n');
      expect(p).toContain('"AttnDownEncoderBlock2D" is not supported');
      expect(p).toContain('norm_num_groups: 3 does not divide 64');
      expect(p).toContain('scaling_factor: expected a positive number');
    }
  });
});
