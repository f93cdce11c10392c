// @denoise/ldm: latent diffusion (the Stable Diffusion architecture) on @denoise/core. This
// entry has no side effects: importing it reads no file and picks no backend.
//
// What exists: the CLIP tokenizer (tokenizer/), checkpoint loading without Python (checkpoint/:
// safetensors, PyTorch zip files through a restricted unpickler, key mapping with shape checks,
// the diffusers directory layout), the TAESD tiny autoencoder (taesd/), image helpers (images/).

// ---- tokenizer
export { ClipTokenizer, CLIP_PATTERN } from './tokenizer/clip-tokenizer.js';
export type { ClipTokenizerOptions, ClipEncoding, EncodeOptions } from './tokenizer/clip-tokenizer.js';
export { loadClipTokenizer, loadClipTokenizerFromDiffusers, CLIP_VOCABULARY_FILE } from './tokenizer/load.js';
export { vocabularyFromBpeText, vocabularyFromVocabMerges, byteSymbols, START_OF_TEXT, END_OF_TEXT, CLIP_MERGES } from './tokenizer/vocabulary.js';
export type { BpeVocabulary } from './tokenizer/vocabulary.js';

// ---- checkpoints
export { loadStateDict, applyStateDict, stateDictShapes, StateDictMismatchError } from './checkpoint/state-dict.js';
export type { StateDict, LoadedStateDict, LoadStateDictOptions, KeyRule, KeyMapping, ParamSpec, ShapeMismatch, ApplyStateDictOptions } from './checkpoint/state-dict.js';
export { TorchCheckpoint, readTorchCheckpoint } from './checkpoint/torch-file.js';
export type { OpenTorchOptions } from './checkpoint/torch-file.js';
export { unpickle, torchPersistentLoad, TorchTensorRef, ALLOWED_PICKLE_GLOBALS, PICKLE_STATE } from './checkpoint/pickle.js';
export type { TorchStorageRef, TorchStorageDType, UnpickleOptions } from './checkpoint/pickle.js';
export { ZipArchive, crc32 } from './checkpoint/zip.js';
export type { ZipEntry } from './checkpoint/zip.js';
export { bytesSource, fileSource } from './checkpoint/source.js';
export type { ByteSource } from './checkpoint/source.js';
export { rawToFloat32, rawToFloat64, rawToInt32, rawToBigInt64, rawToTensor } from './checkpoint/decode.js';
export type { RawToTensorOptions } from './checkpoint/decode.js';
export { readDiffusersPipeline, loadComponentWeights } from './checkpoint/diffusers.js';
export type {
  DiffusersPipeline, DiffusersComponent, DiffusersModelComponent, DiffusersTokenizerComponent, DiffusersSchedulerComponent, DiffusersOtherComponent, DiffusersWeights,
  ReadDiffusersOptions,
} from './checkpoint/diffusers.js';

// ---- TAESD
export { TinyAutoencoder, loadTaesd, randomTaesd } from './taesd/taesd.js';
export type { TaesdLoadOptions } from './taesd/taesd.js';
export { TAESD_SD, TAESD_FLUX2, taesdParamShapes, taesdConfigFromStateDicts } from './taesd/config.js';
export type { TaesdConfig } from './taesd/config.js';

// ---- images
export { decodePng, encodePng, readPng, writePng } from './images/png.js';
export type { RgbaImage } from './images/png.js';
export { imagesToTensor, tensorToImages, psnr } from './images/tensor.js';
export type { PixelRange, ImagesToTensorOptions } from './images/tensor.js';
export * from './models/index.js';
export * from './pipelines/index.js';
// ---- single-file checkpoints (CompVis / SD 1.x layout)
export * from './convert/index.js';
