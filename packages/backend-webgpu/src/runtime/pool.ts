// Storage buffers come from a size-bucketed pool: a request is rounded up to a bucket (four
// buckets per power of two, so at most 25% is wasted) and served from that bucket's free list
// when it can be. A freed tensor's buffer goes back to its free list, so a training loop that
// allocates the same shapes every step stops creating buffers after its first step.
//
// Reuse needs no fences: every kernel call is submitted at once and the queue runs submissions
// and writeBuffer calls in order, so work that reads a buffer always precedes later work that
// overwrites it.

/** GPUBufferUsage flags (spelled out: the constants are globals only where WebGPU is native). */
export const BufferUsage = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const MIN_BUCKET = 16;

/** The bucket a request of `bytes` is served from. */
export function bucketSize(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(octave / 4, 4);
  return Math.ceil(bytes / step) * step;
}

export interface BufferPoolStats {
  /** Buffers this pool created and has not destroyed (in use + free). */
  readonly allocatedBuffers: number;
  readonly allocatedBytes: number;
  /** Free buffers waiting for reuse. */
  readonly pooledBuffers: number;
  readonly pooledBytes: number;
  /** Largest allocatedBytes seen since the pool was created or resetPeak() was called. */
  readonly peakBytes: number;
  /** How many requests were served by creating a new buffer (a growing count means no reuse). */
  readonly created: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private allocatedBuffers = 0;
  private allocatedBytes = 0;
  private pooledBuffers = 0;
  private pooledBytes = 0;
  private peakBytes = 0;
  private created = 0;

  constructor(
    private readonly device: GPUDevice,
    /** Free buffers beyond this many bytes are destroyed instead of kept. */
    private readonly limitBytes: number,
    /** The device's maxBufferSize: no bucket rounds past it. */
    private readonly maxSize: number = Number.MAX_SAFE_INTEGER,
    private readonly usage: number = STORAGE_USAGE,
    private readonly label = 'denoise-storage',
    /** Runs before a buffer is destroyed (the runtime submits work that may still use it). */
    private readonly beforeDestroy: () => void = () => undefined,
  ) {}

  /** A buffer of at least `bytes` (its size is the bucket's). */
  acquire(bytes: number): GPUBuffer {
    const size = Math.max(Math.min(bucketSize(bytes), Math.floor(this.maxSize / 4) * 4), Math.ceil(bytes / 4) * 4);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.pooledBuffers--;
      this.pooledBytes -= size;
      return reused;
    }
    const buffer = this.device.createBuffer({ size, usage: this.usage, label: this.label });
    this.created++;
    this.allocatedBuffers++;
    this.allocatedBytes += size;
    if (this.allocatedBytes > this.peakBytes) this.peakBytes = this.allocatedBytes;
    return buffer;
  }

  /** Returns a buffer obtained from `acquire`. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    if (this.pooledBytes + size > this.limitBytes) {
      this.destroyOne(buffer);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.pooledBuffers++;
    this.pooledBytes += size;
  }

  /** Destroys every free buffer (buffers in use are untouched). */
  drain(): void {
    for (const list of this.free.values()) for (const b of list) this.destroyOne(b);
    this.free.clear();
    this.pooledBuffers = 0;
    this.pooledBytes = 0;
  }

  resetPeak(): void {
    this.peakBytes = this.allocatedBytes;
  }

  stats(): BufferPoolStats {
    return {
      allocatedBuffers: this.allocatedBuffers,
      allocatedBytes: this.allocatedBytes,
      pooledBuffers: this.pooledBuffers,
      pooledBytes: this.pooledBytes,
      peakBytes: this.peakBytes,
      created: this.created,
    };
  }

  private destroyOne(buffer: GPUBuffer): void {
    this.beforeDestroy();
    this.allocatedBuffers--;
    this.allocatedBytes -= buffer.size;
    buffer.destroy();
  }
}
