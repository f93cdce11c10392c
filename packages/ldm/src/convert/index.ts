// Single-file Stable Diffusion checkpoints (CompVis' original key layout) to and from the models.

export {
  SINGLE_FILE_PREFIXES, UNET_RESNET_LEAVES, VAE_RESNET_LEAVES, VAE_ATTENTION_LEAVES, UNET_FIXED, VAE_FIXED, LEGACY_CLIP_PREFIXES,
  unetModuleRenames, vaeModuleRenames, unetSingleFileKeys, vaeSingleFileKeys, clipSingleFileKeys,
} from './keys.js';
export type { SingleFileComponent, SingleFileKey, ModuleRename } from './keys.js';
export {
  SINGLE_FILE_IGNORED, singleFileKeys, emaKey, singleFileModelsFromStateDict, loadSingleFileCheckpoint, saveSingleFileCheckpoint,
} from './single-file.js';
export type { SingleFileOptions, SingleFileModels, LoadedSingleFile, SingleFileModelSet, SaveSingleFileOptions } from './single-file.js';
