// The conditional UNet's configuration: the fields (and snake_case names) of diffusers'
// UNet2DConditionModel config.json, with Rombach et al.'s names in the comments. Two ways in:
//   unetConfig(partial)        missing fields take Stable Diffusion 1.x's values (below);
//   parseUNetConfig(json)      missing fields take diffusers' class defaults, because that is
//                              what a config.json without them means to diffusers (they differ
//                              from SD 1.x in cross_attention_dim, 1280, and sample_size, null).
// Both validate every field and throw one ConfigError listing every problem. resolveUNet()
// turns the per-model / per-block fields into one record per level.

import { ConfigError, FieldReader } from '../config-fields.js';
import { DIFFUSERS_ACTIVATIONS, type DiffusersActivation } from '../nn/layers.js';

export const DOWN_BLOCK_TYPES = ['CrossAttnDownBlock2D', 'DownBlock2D'] as const;
export const UP_BLOCK_TYPES = ['CrossAttnUpBlock2D', 'UpBlock2D'] as const;
export const MID_BLOCK_TYPES = ['UNetMidBlock2DCrossAttn', 'UNetMidBlock2D', null] as const;
export type DownBlockType = (typeof DOWN_BLOCK_TYPES)[number];
export type UpBlockType = (typeof UP_BLOCK_TYPES)[number];
export type MidBlockType = (typeof MID_BLOCK_TYPES)[number];
export type ClassEmbedType = null | 'timestep' | 'identity' | 'projection' | 'simple_projection';

/** Per block: an integer for every layer of the block, or one per layer. */
export type LayersSpec = number | number[];

export interface UNet2DConditionConfig {
  /** Latent height / width the model was trained at (64 for SD 1.x at 512 px); only informative. */
  sample_size: number | [number, number] | null;
  /** Channels of z_t (4), plus the concatenated conditioning: 9 for inpainting (z, mask, masked z), 7 for the x4 upscaler (z, low-res image). */
  in_channels: number;
  /** Channels of the prediction (epsilon or v): 4. */
  out_channels: number;
  /** Map the input from [0, 1] to [-1, 1] first (false). */
  center_input_sample: boolean;
  /** Sinusoidal timestep embedding as [cos, sin] instead of [sin, cos] (true for SD). */
  flip_sin_to_cos: boolean;
  /** Frequency shift of the timestep embedding: frequencies exp(-ln(10^4) i / (half - shift)) (0 for SD). */
  freq_shift: number;
  /** Encoder levels: ['CrossAttnDownBlock2D' x3, 'DownBlock2D'] for SD 1.x. */
  down_block_types: DownBlockType[];
  /** Bottleneck: 'UNetMidBlock2DCrossAttn' (ResNet, transformer, ResNet), 'UNetMidBlock2D' (one ResNet) or null (none). */
  mid_block_type: MidBlockType;
  /** Decoder levels, deepest first: ['UpBlock2D', 'CrossAttnUpBlock2D' x3]. */
  up_block_types: UpBlockType[];
  /** Transformer blocks whose first attention also attends to the context instead of itself (false), per level or for all. */
  only_cross_attention: boolean | boolean[];
  /** Channels per level: [320, 640, 1280, 1280]. */
  block_out_channels: number[];
  /** ResNet (+ transformer) layers per encoder level, decoder levels get one more: 2. */
  layers_per_block: number | number[];
  /** Padding of the stride-2 downsampling convolutions (1). */
  downsample_padding: number;
  /** The mid block's ResNet output divisor (1). */
  mid_block_scale_factor: number;
  /** Dropout probability (training only; ignored here). */
  dropout: number;
  /** Nonlinearity of the ResNets and the time embedding MLP: 'silu'. */
  act_fn: DiffusersActivation;
  /** Groups of every GroupNorm: 32. */
  norm_num_groups: number;
  /** Epsilon of the ResNets' and the output GroupNorms: 1e-5. */
  norm_eps: number;
  /** Width of the conditioning tau_theta(y) attended to by cross-attention: 768 (CLIP ViT-L/14) for SD 1.x, 1024 for SD 2.x. */
  cross_attention_dim: number | number[];
  /** Transformer blocks per spatial transformer (1), per level (or per level and layer). */
  transformer_layers_per_block: LayersSpec | LayersSpec[];
  /** Per decoder level, for asymmetric nested transformer_layers_per_block (null: the encoder's, reversed). */
  reverse_transformer_layers_per_block: LayersSpec[] | null;
  /** Input width of a projection of the context to cross_attention_dim (null: none). */
  encoder_hid_dim: number | null;
  /** 'text_proj' (a linear map) when encoder_hid_dim is set; null otherwise. */
  encoder_hid_dim_type: 'text_proj' | null;
  /**
   * Historically misnamed: the NUMBER OF HEADS of each spatial transformer (8 for SD 1.x;
   * SD 2.x gives a per-level list [5, 10, 20, 20], i.e. 64-channel heads). diffusers keeps the
   * name for compatibility and reads it as heads when num_attention_heads is null.
   */
  attention_head_dim: number | number[];
  /** The number of heads, when given, overrides attention_head_dim (current diffusers refuses to build with it set). */
  num_attention_heads: number | number[] | null;
  /** Two transformers over two contexts (Versatile Diffusion): not supported, must be false. */
  dual_cross_attention: boolean;
  /** Linear instead of 1x1-conv proj_in / proj_out in the spatial transformers (true for SD 2.x). */
  use_linear_projection: boolean;
  /** Compute attention in float32 under half precision (SD 2.1); every computation here is float32 already. */
  upcast_attention: boolean;
  /** Class conditioning added to the time embedding: null (a table when num_class_embeds is set), 'timestep', 'identity', 'projection', 'simple_projection'. */
  class_embed_type: ClassEmbedType;
  /** Size of the class embedding table (1000 noise levels for the x4 upscaler); null: no table. */
  num_class_embeds: number | null;
  /** Input width for the 'projection' / 'simple_projection' class embeddings. */
  projection_class_embeddings_input_dim: number | null;
  /** Concatenate the class embedding to the time embedding instead of adding it (doubles the blocks' embedding width). */
  class_embeddings_concat: boolean;
  /** SDXL-style added embeddings: not supported, must be null. */
  addition_embed_type: null;
  /** How the time embedding enters the ResNets: 'default' (added) or 'scale_shift' (FiLM). */
  resnet_time_scale_shift: 'default' | 'scale_shift';
  /** Skip the activation on the time embedding inside the ResNets (false); only read by block types not supported here, so it has no effect (as in diffusers for these blocks). */
  resnet_skip_time_act: boolean;
  /** Output divisor of the ResNets of ResnetDownsampleBlock2D-style blocks (1); no effect on the supported block types, as in diffusers. */
  resnet_out_scale_factor: number;
  /** Only 'positional' (sinusoidal) is supported. */
  time_embedding_type: 'positional';
  /** Width of the time embedding MLP (null: 4 * block_out_channels[0], 1280 for SD). */
  time_embedding_dim: number | null;
  /** An activation applied once to the summed embedding before the blocks (null). */
  time_embedding_act_fn: DiffusersActivation | null;
  /** An activation after the time embedding MLP's second layer (null). */
  timestep_post_act: DiffusersActivation | null;
  /** Width of an extra timestep condition projected into the sinusoid (LCM's w embedding; null: none). */
  time_cond_proj_dim: number | null;
  /** Kernel of conv_in (3) and conv_out (3). */
  conv_in_kernel: number;
  conv_out_kernel: number;
  /** Only 'default' (no GLIGEN gating). */
  attention_type: 'default';
}

/** Stable Diffusion 1.x (v1-5): the values of its unet/config.json. */
export const SD15_UNET: Readonly<UNet2DConditionConfig> = Object.freeze({
  sample_size: 64,
  in_channels: 4,
  out_channels: 4,
  center_input_sample: false,
  flip_sin_to_cos: true,
  freq_shift: 0,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  mid_block_type: 'UNetMidBlock2DCrossAttn',
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  only_cross_attention: false,
  block_out_channels: [320, 640, 1280, 1280],
  layers_per_block: 2,
  downsample_padding: 1,
  mid_block_scale_factor: 1,
  dropout: 0,
  act_fn: 'silu',
  norm_num_groups: 32,
  norm_eps: 1e-5,
  cross_attention_dim: 768,
  transformer_layers_per_block: 1,
  reverse_transformer_layers_per_block: null,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  attention_head_dim: 8,
  num_attention_heads: null,
  dual_cross_attention: false,
  use_linear_projection: false,
  upcast_attention: false,
  class_embed_type: null,
  num_class_embeds: null,
  projection_class_embeddings_input_dim: null,
  class_embeddings_concat: false,
  addition_embed_type: null,
  resnet_time_scale_shift: 'default',
  resnet_skip_time_act: false,
  resnet_out_scale_factor: 1,
  time_embedding_type: 'positional',
  time_embedding_dim: null,
  time_embedding_act_fn: null,
  timestep_post_act: null,
  time_cond_proj_dim: null,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  attention_type: 'default',
} as UNet2DConditionConfig);

/** diffusers' UNet2DConditionModel.__init__ defaults (what a missing config.json field means). */
export const DIFFUSERS_UNET_DEFAULTS: Readonly<UNet2DConditionConfig> = Object.freeze({ ...SD15_UNET, sample_size: null, cross_attention_dim: 1280 });

const COMPONENT = 'UNet2DConditionModel';
const UNSUPPORTED_BLOCK = (s: string) => /Block2D$|^UNetMidBlock/.test(s);

function layersSpec(r: FieldReader, name: string, dflt: LayersSpec | LayersSpec[] | null, length: number, nullable: boolean): LayersSpec | LayersSpec[] | null {
  if (!r.has(name)) return dflt;
  const v = r.get(name);
  if (v === null && nullable) return null;
  const ok = (x: unknown) => Number.isInteger(x) && (x as number) >= 1;
  if (!nullable && ok(v)) return v as number;
  if (Array.isArray(v) && v.length === length && v.every((x) => ok(x) || (Array.isArray(x) && x.length > 0 && x.every(ok)))) {
    return v.map((x) => (Array.isArray(x) ? [...(x as number[])] : (x as number)));
  }
  r.problem(name, `${nullable ? 'null or ' : 'an integer >= 1 or '}a list of ${length} entries (integers or lists of integers)`);
  return dflt;
}

/** Reads and checks a config object, filling missing fields from `defaults`. */
export function readUNetConfig(json: Readonly<Record<string, unknown>>, defaults: Readonly<UNet2DConditionConfig>): UNet2DConditionConfig {
  const r = new FieldReader(COMPONENT, json);
  const acts = DIFFUSERS_ACTIVATIONS as readonly DiffusersActivation[];
  const down = r.stringList('down_block_types', DOWN_BLOCK_TYPES, [...defaults.down_block_types], UNSUPPORTED_BLOCK);
  const n = down.length;
  const c: UNet2DConditionConfig = {
    sample_size: null,
    in_channels: r.int('in_channels', defaults.in_channels, 1),
    out_channels: r.int('out_channels', defaults.out_channels, 1),
    center_input_sample: r.bool('center_input_sample', defaults.center_input_sample),
    flip_sin_to_cos: r.bool('flip_sin_to_cos', defaults.flip_sin_to_cos),
    freq_shift: r.number('freq_shift', defaults.freq_shift),
    down_block_types: down,
    mid_block_type: r.oneOf('mid_block_type', MID_BLOCK_TYPES, defaults.mid_block_type, ['UNetMidBlock2DSimpleCrossAttn']),
    up_block_types: r.stringList('up_block_types', UP_BLOCK_TYPES, [...defaults.up_block_types], UNSUPPORTED_BLOCK),
    only_cross_attention: r.boolOrList('only_cross_attention', defaults.only_cross_attention, n),
    block_out_channels: r.intList('block_out_channels', [...defaults.block_out_channels]),
    layers_per_block: r.intOrList('layers_per_block', defaults.layers_per_block, n),
    downsample_padding: r.int('downsample_padding', defaults.downsample_padding, 0),
    mid_block_scale_factor: r.number('mid_block_scale_factor', defaults.mid_block_scale_factor, true),
    dropout: r.number('dropout', defaults.dropout),
    act_fn: r.oneOf('act_fn', acts, defaults.act_fn),
    norm_num_groups: r.int('norm_num_groups', defaults.norm_num_groups, 1),
    norm_eps: r.number('norm_eps', defaults.norm_eps, true),
    cross_attention_dim: r.intOrList('cross_attention_dim', defaults.cross_attention_dim, n),
    transformer_layers_per_block: layersSpec(r, 'transformer_layers_per_block', defaults.transformer_layers_per_block, n, false) as LayersSpec | LayersSpec[],
    reverse_transformer_layers_per_block: layersSpec(r, 'reverse_transformer_layers_per_block', defaults.reverse_transformer_layers_per_block, n, true) as LayersSpec[] | null,
    encoder_hid_dim: r.nullableInt('encoder_hid_dim', defaults.encoder_hid_dim),
    encoder_hid_dim_type: r.oneOf('encoder_hid_dim_type', ['text_proj', null] as const, defaults.encoder_hid_dim_type, ['text_image_proj', 'image_proj', 'ip_image_proj']),
    attention_head_dim: r.intOrList('attention_head_dim', defaults.attention_head_dim, n),
    num_attention_heads: r.has('num_attention_heads') && r.get('num_attention_heads') !== null ? r.intOrList('num_attention_heads', 1, n) : defaults.num_attention_heads,
    dual_cross_attention: r.bool('dual_cross_attention', defaults.dual_cross_attention),
    use_linear_projection: r.bool('use_linear_projection', defaults.use_linear_projection),
    upcast_attention: r.bool('upcast_attention', defaults.upcast_attention),
    class_embed_type: r.oneOf('class_embed_type', [null, 'timestep', 'identity', 'projection', 'simple_projection'] as const, defaults.class_embed_type),
    num_class_embeds: r.nullableInt('num_class_embeds', defaults.num_class_embeds),
    projection_class_embeddings_input_dim: r.nullableInt('projection_class_embeddings_input_dim', defaults.projection_class_embeddings_input_dim),
    class_embeddings_concat: r.bool('class_embeddings_concat', defaults.class_embeddings_concat),
    addition_embed_type: null,
    resnet_time_scale_shift: r.oneOf('resnet_time_scale_shift', ['default', 'scale_shift'] as const, defaults.resnet_time_scale_shift, ['spatial', 'ada_group']),
    resnet_skip_time_act: r.bool('resnet_skip_time_act', defaults.resnet_skip_time_act),
    resnet_out_scale_factor: r.number('resnet_out_scale_factor', defaults.resnet_out_scale_factor, true),
    time_embedding_type: r.oneOf('time_embedding_type', ['positional'] as const, defaults.time_embedding_type, ['fourier']),
    time_embedding_dim: r.nullableInt('time_embedding_dim', defaults.time_embedding_dim),
    time_embedding_act_fn: r.oneOf('time_embedding_act_fn', [...acts, null], defaults.time_embedding_act_fn),
    timestep_post_act: r.oneOf('timestep_post_act', [...acts, null], defaults.timestep_post_act),
    time_cond_proj_dim: r.nullableInt('time_cond_proj_dim', defaults.time_cond_proj_dim),
    conv_in_kernel: r.int('conv_in_kernel', defaults.conv_in_kernel, 1),
    conv_out_kernel: r.int('conv_out_kernel', defaults.conv_out_kernel, 1),
    attention_type: r.oneOf('attention_type', ['default'] as const, defaults.attention_type, ['gated', 'gated-text-image']),
  };
  // sample_size: an int, a pair, or null.
  if (r.has('sample_size')) {
    const s = r.get('sample_size');
    if (s === null || (Number.isInteger(s) && (s as number) > 0)) c.sample_size = s as number | null;
    else if (Array.isArray(s) && s.length === 2 && s.every((x) => Number.isInteger(x) && x > 0)) c.sample_size = [s[0] as number, s[1] as number];
    else r.problem('sample_size', 'null, a positive integer or [height, width]');
  } else c.sample_size = Array.isArray(defaults.sample_size) ? [...defaults.sample_size] as [number, number] : defaults.sample_size;

  // Features this implementation rejects rather than computes differently.
  if (c.dual_cross_attention) r.problems.push('dual_cross_attention: true is not supported (two transformers over two contexts, Versatile Diffusion)');
  r.onlyDefault('addition_embed_type', null, 'added text / time / image embeddings (SDXL, Kandinsky) are not implemented');
  if (c.encoder_hid_dim_type === 'text_proj' && c.encoder_hid_dim === null) r.problems.push('encoder_hid_dim_type: "text_proj" needs encoder_hid_dim');
  if (r.has('norm_num_groups') && r.get('norm_num_groups') === null) r.problems.push('norm_num_groups: null (no output norm) is not supported');

  // diffusers' _check_config, and the shapes the blocks need.
  const m = c.block_out_channels.length;
  if (c.up_block_types.length !== n) r.problems.push(`up_block_types: expected ${n} entries (as down_block_types), got ${c.up_block_types.length}`);
  if (m !== n) r.problems.push(`block_out_channels: expected ${n} entries (as down_block_types), got ${m}`);
  if (Array.isArray(c.only_cross_attention) && c.only_cross_attention.length !== n) r.problems.push(`only_cross_attention: expected ${n} entries`);
  if (c.class_embed_type === 'projection' || c.class_embed_type === 'simple_projection') {
    if (c.projection_class_embeddings_input_dim === null) r.problems.push(`class_embed_type: ${JSON.stringify(c.class_embed_type)} needs projection_class_embeddings_input_dim`);
  }
  if (c.conv_in_kernel % 2 === 0) r.problem('conv_in_kernel', 'an odd kernel size', c.conv_in_kernel);
  if (c.conv_out_kernel % 2 === 0) r.problem('conv_out_kernel', 'an odd kernel size', c.conv_out_kernel);
  if (Array.isArray(c.transformer_layers_per_block) && c.transformer_layers_per_block.some(Array.isArray) && c.reverse_transformer_layers_per_block === null) {
    r.problems.push("transformer_layers_per_block: per-layer lists need reverse_transformer_layers_per_block (diffusers: 'Must provide reverse_transformer_layers_per_block if using asymmetrical UNet')");
  }
  if (r.problems.length === 0) {
    const resolved = resolveUNet(c, false);
    for (const lv of [...resolved.down, ...resolved.up]) {
      if (lv.channels % c.norm_num_groups !== 0) r.problems.push(`norm_num_groups: ${c.norm_num_groups} does not divide level ${lv.index}'s ${lv.channels} channels`);
      if (lv.attention && lv.channels % lv.heads !== 0) r.problems.push(`attention_head_dim / num_attention_heads: ${lv.heads} heads do not divide level ${lv.index}'s ${lv.channels} channels`);
      if (lv.attention && lv.transformerLayers.length < lv.layers) r.problems.push(`transformer_layers_per_block: level ${lv.index} has ${lv.layers} layers but ${lv.transformerLayers.length} entries`);
    }
    if (resolved.mid && resolved.mid.attention && resolved.mid.channels % resolved.mid.heads !== 0) r.problems.push(`attention_head_dim: ${resolved.mid.heads} heads do not divide the mid block's ${resolved.mid.channels} channels`);
  }
  r.finish();
  return c;
}

/** A config with Stable Diffusion 1.x's values for every field not given. */
export function unetConfig(partial: Partial<UNet2DConditionConfig> = {}): UNet2DConditionConfig {
  return readUNetConfig(partial as Record<string, unknown>, SD15_UNET);
}

/** A diffusers config.json object (missing fields take diffusers' class defaults). */
export function parseUNetConfig(json: Readonly<Record<string, unknown>>): UNet2DConditionConfig {
  return readUNetConfig(json, DIFFUSERS_UNET_DEFAULTS);
}

export interface UNetLevel {
  index: number;
  type: DownBlockType | UpBlockType;
  attention: boolean;
  /** Output channels of the level. */
  channels: number;
  /** Input channels (encoder: previous level; decoder: the matching encoder level's input). */
  inChannels: number;
  /** Decoder: channels coming up from the level below. */
  prevChannels: number;
  /** ResNet layers. */
  layers: number;
  /** Transformer blocks per layer. */
  transformerLayers: number[];
  heads: number;
  crossAttentionDim: number;
  onlyCrossAttention: boolean;
  /** Encoder: downsample after; decoder: upsample after. */
  resample: boolean;
}

export interface ResolvedUNet {
  timeEmbedDim: number;
  /** Width of the embedding the blocks receive (doubled by class_embeddings_concat). */
  blocksTimeEmbedDim: number;
  down: UNetLevel[];
  mid: { type: 'UNetMidBlock2DCrossAttn' | 'UNetMidBlock2D'; attention: boolean; channels: number; heads: number; crossAttentionDim: number; transformerLayers: number[] } | null;
  up: UNetLevel[];
}

const perBlock = <T>(v: T | T[], n: number): T[] => (Array.isArray(v) ? [...v] : new Array<T>(n).fill(v));

function perLayer(spec: LayersSpec, layers: number): number[] {
  return Array.isArray(spec) ? [...spec] : new Array<number>(layers).fill(spec);
}

/** Per-level structure, exactly as UNet2DConditionModel.__init__ derives it. */
export function resolveUNet(c: UNet2DConditionConfig, check = true): ResolvedUNet {
  if (check) readUNetConfig(c as unknown as Record<string, unknown>, c);
  const n = c.down_block_types.length;
  const heads = perBlock(c.num_attention_heads ?? c.attention_head_dim, n);
  const cross = perBlock(c.cross_attention_dim, n);
  const lpb = perBlock(c.layers_per_block, n);
  const tlpb = perBlock<LayersSpec>(c.transformer_layers_per_block as LayersSpec, n);
  const onlyCross = perBlock(c.only_cross_attention, n);
  const boc = c.block_out_channels;
  const timeEmbedDim = c.time_embedding_dim ?? boc[0]! * 4;
  const down: UNetLevel[] = c.down_block_types.map((type, i) => ({
    index: i,
    type,
    attention: type === 'CrossAttnDownBlock2D',
    channels: boc[i]!,
    inChannels: i === 0 ? boc[0]! : boc[i - 1]!,
    prevChannels: 0,
    layers: lpb[i]!,
    transformerLayers: perLayer(tlpb[i]!, lpb[i]!),
    heads: heads[i]!,
    crossAttentionDim: cross[i]!,
    onlyCrossAttention: onlyCross[i]!,
    resample: i < n - 1,
  }));
  const rBoc = [...boc].reverse();
  const rHeads = [...heads].reverse();
  const rLpb = [...lpb].reverse();
  const rCross = [...cross].reverse();
  const rTlpb = c.reverse_transformer_layers_per_block ?? [...tlpb].reverse();
  const rOnly = [...onlyCross].reverse();
  const up: UNetLevel[] = c.up_block_types.map((type, i) => ({
    index: i,
    type,
    attention: type === 'CrossAttnUpBlock2D',
    channels: rBoc[i]!,
    inChannels: rBoc[Math.min(i + 1, n - 1)]!,
    prevChannels: i === 0 ? rBoc[0]! : rBoc[i - 1]!,
    layers: rLpb[i]! + 1,
    transformerLayers: perLayer(rTlpb[i]!, rLpb[i]! + 1),
    heads: rHeads[i]!,
    crossAttentionDim: rCross[i]!,
    onlyCrossAttention: rOnly[i]!,
    resample: i < n - 1,
  }));
  const mid =
    c.mid_block_type === null
      ? null
      : {
          type: c.mid_block_type,
          attention: c.mid_block_type === 'UNetMidBlock2DCrossAttn',
          channels: boc[n - 1]!,
          heads: heads[n - 1]!,
          crossAttentionDim: cross[n - 1]!,
          transformerLayers: perLayer(tlpb[n - 1]!, 1),
        };
  return { timeEmbedDim, blocksTimeEmbedDim: c.class_embeddings_concat ? 2 * timeEmbedDim : timeEmbedDim, down, mid, up };
}

export { ConfigError };
