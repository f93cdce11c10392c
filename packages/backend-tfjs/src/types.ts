// Types shared by the tfjs backend modules.

import type * as tfc from '@tensorflow/tfjs-core';

/**
 * The tfjs namespace the backend runs on: `@tensorflow/tfjs-core` for the wasm and cpu flavors,
 * or the module of `@tensorflow/tfjs-node(-gpu)` (a superset of tfjs-core) for the node flavors.
 */
export type Tfjs = typeof tfc;
export type TfTensor = tfc.Tensor;

/** Which tfjs engine runs the kernels. Only one flavor can be active in a process. */
export type TfjsFlavor = 'node-gpu' | 'node' | 'wasm' | 'cpu';
export const TFJS_FLAVORS: readonly TfjsFlavor[] = ['node-gpu', 'node', 'wasm', 'cpu'];

/** The backend's storage handle: one kept tf.Tensor. */
export class TfjsHandle {
  /** null once disposed. */
  tensor: TfTensor | null;
  constructor(tensor: TfTensor) {
    this.tensor = tensor;
  }
}
