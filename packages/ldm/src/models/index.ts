// The latent diffusion models: the conditional UNet, the KL autoencoder, the CLIP text encoder,
// their configs (diffusers' / transformers' config.json fields), weight loading by state-dict
// name, diffusers-layout folders, and the memory estimate.

export { ConfigError } from './config-fields.js';
export { Module, Param, loadWeights, setWeights, initRandom } from './nn/module.js';
export type { LoadWeightsOptions } from './nn/module.js';
export { Attention, slicedAttention, rowsPerSlice } from './nn/attention.js';
export type { AttentionSlicing, AttentionOptions } from './nn/attention.js';
export { activation, mish, DIFFUSERS_ACTIVATIONS, CLIP_ACTIVATIONS } from './nn/layers.js';
export type { DiffusersActivation, ClipActivation } from './nn/layers.js';

export { UNet2DConditionModel } from './unet/unet.js';
export type { UNetForwardOptions, Timestep } from './unet/unet.js';
export {
  SD15_UNET, DIFFUSERS_UNET_DEFAULTS, unetConfig, parseUNetConfig, resolveUNet, DOWN_BLOCK_TYPES, UP_BLOCK_TYPES, MID_BLOCK_TYPES,
} from './unet/config.js';
export type { UNet2DConditionConfig, ResolvedUNet, UNetLevel, DownBlockType, UpBlockType, MidBlockType, ClassEmbedType } from './unet/config.js';
export { timestepEmbedding, timestepFrequencies } from './unet/embeddings.js';

export { AutoencoderKL } from './vae/autoencoder-kl.js';
export { DiagonalGaussianDistribution } from './vae/distribution.js';
export type { TilingOptions } from './vae/tiling.js';
export { SD15_VAE, DIFFUSERS_VAE_DEFAULTS, vaeConfig, parseVAEConfig } from './vae/config.js';
export type { AutoencoderKLConfig } from './vae/config.js';

export { CLIPTextModel } from './clip/clip-text.js';
export type { CLIPTextForwardOptions, CLIPTextOutput, PoolingRule } from './clip/clip-text.js';
export { SD15_TEXT_ENCODER, TRANSFORMERS_CLIP_TEXT_DEFAULTS, clipTextConfig, parseCLIPTextConfig } from './clip/config.js';
export type { CLIPTextConfig } from './clip/config.js';

export {
  loadUNet2DConditionModel, loadAutoencoderKL, loadCLIPTextModel, unetFromStateDict, vaeFromStateDict, clipTextFromStateDict, saveModel, modelConfigJson,
  VAE_LEGACY_ATTENTION_KEYS, CLIP_TEXT_KEYS,
} from './io.js';
export type { LoadModelOptions, SaveModelOptions } from './io.js';

export { estimateUNetMemory } from './memory.js';
export type { UNetMemoryOptions, UNetMemoryEstimate } from './memory.js';
