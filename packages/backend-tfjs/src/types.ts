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
  /**
   * Kept tensors derived from this one (e.g. a conv filter in tfjs's layout), created on the
   * second use of the same handle and freed with it, so that constant weights are transformed
   * once and tfjs-backend-wasm's XNNPACK operator cache (keyed by tensor) hits.
   */
  derived: Map<string, TfTensor> | null = null;
  /** Uses per derived key, until it is cached. */
  uses: Map<string, number> | null = null;
  constructor(tensor: TfTensor) {
    this.tensor = tensor;
  }
  /** Frees the tensor and everything derived from it. */
  free(): void {
    this.tensor?.dispose();
    this.tensor = null;
    if (this.derived) for (const t of this.derived.values()) t.dispose();
    this.derived = null;
    this.uses = null;
  }
}
