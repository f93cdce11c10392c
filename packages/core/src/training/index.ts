// Training loop building blocks.
export { trainingStep } from './step.js';
export type { TrainingStepOptions, TrainingStepResult } from './step.js';
