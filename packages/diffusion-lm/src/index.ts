// @denoise/diffusion-lm: Diffusion-LM (Li et al., NeurIPS 2022) on @denoise/core.
export { tokenizeWords } from './data/tokenize.js';
export { parseCsv } from './data/csv.js';
export { e2eFromCsv, loadE2E, parseMeaningRepresentation } from './data/e2e.js';
export type { E2EExample, E2ESplit } from './data/e2e.js';
export { END, PAD, SPECIALS, START, UNK, Vocabulary } from './data/vocab.js';
export type { EncodeOptions } from './data/vocab.js';
export { E2E_SMALL, checkConfig, denoise, embed, initParams, parameterShapes, roundingLogits, timestepEmbedding } from './model/model.js';
export type { DiffusionLMConfig, Params } from './model/model.js';
export { diffusionLMLoss, disposeBatch, lossTerms, makeBatch, sqrtSchedule } from './model/loss.js';
export type { DiffusionLMBatch, LossTerms, Schedule } from './model/loss.js';
export { DiffusionLM, clampToEmbeddings } from './generate.js';
export type { GenerateOptions, Generation } from './generate.js';
export { distinctN, mbrSelect, sentenceBleu } from './metrics/text.js';
export { FORMAT, FORMAT_VERSION, deserializeDiffusionLM, loadDiffusionLM, saveDiffusionLM, serializeDiffusionLM } from './checkpoint.js';
export type { LoadModelOptions, LoadedDiffusionLM, SaveModelOptions } from './checkpoint.js';
export { TEACHER_SMALL, initTeacher, perplexity, teacherLogits, teacherLoss, teacherShapes } from './teacher.js';
export type { TeacherConfig } from './teacher.js';
