// Training loop building blocks.
export { trainingStep, trainingStepAsync } from './step.js';
export type { TrainingStepOptions, TrainingStepResult } from './step.js';
