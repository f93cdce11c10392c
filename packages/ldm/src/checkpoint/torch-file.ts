// PyTorch checkpoints (`.pth`, `.ckpt`, `.pt`, `pytorch_model.bin`) read without Python: the
// zip archive (zip.ts), its `data.pkl` through the restricted unpickler (pickle.ts), and the
// tensors it names gathered from `data/<key>` storages into contiguous little-endian bytes
// (core's RawTensor, the same form safetensors entries take). Strided views, storage offsets,
// stride-0 expansions, shared storages and big-endian archives are handled here.

import { CheckpointError, sizeOf, type RawTensor } from '@denoise/core';
import { TorchTensorRef, unpickle, type TorchStorageDType } from './pickle.js';
import { bytesSource, fileSource, type ByteSource } from './source.js';
import { ZipArchive } from './zip.js';

const STORED_AS: Readonly<Record<TorchStorageDType, RawTensor['dtype']>> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const ITEM_SIZE: Readonly<Record<TorchStorageDType, number>> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};
/** How many times larger than its storage a (stride-0) view may be. */
const MAX_EXPANSION = 64;
/** How deep containers may nest around tensors (a hostile pickle could nest millions deep). */
const MAX_DEPTH = 256;
/** The magic number the legacy (before torch 1.6) format starts with. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

export interface OpenTorchOptions {
  /** Check every entry's CRC-32 (default true; costs about a second per gigabyte). */
  verifyCrc?: boolean;
}

/** An opened PyTorch checkpoint: the unpickled object tree and its storages, read on demand. */
export class TorchCheckpoint {
  private readonly storages = new Map<string, Uint8Array>();

  private constructor(
    readonly source: string,
    /** The unpickled object: Maps, arrays, numbers, strings, with TorchTensorRef leaves. */
    readonly root: unknown,
    private readonly archive: ZipArchive,
    private readonly prefix: string,
    private readonly bigEndian: boolean,
    private readonly verifyCrc: boolean,
  ) {}

  /** Opens a checkpoint from a path (Node), bytes or a ByteSource; refuses unsafe pickles. */
  static async open(input: string | Uint8Array | ByteSource, options: OpenTorchOptions = {}): Promise<TorchCheckpoint> {
    const source = typeof input === 'string' ? await fileSource(input) : input instanceof Uint8Array ? bytesSource(input) : input;
    try {
      const head = await source.read(0, Math.min(4, source.size));
      if (head[0] === 0x80) await refuseBarePickle(source);
      if (!(head[0] === 0x50 && head[1] === 0x4b)) throw new CheckpointError(`${source.name}: not a PyTorch checkpoint (expected a zip archive, found bytes ${hex(head)})`);
      const archive = await ZipArchive.open(source);
      const pkl = [...archive.entries.keys()].filter((n) => n.endsWith('data.pkl') && n.split('/').length === 2);
      if (pkl.length !== 1) throw new CheckpointError(`${source.name}: not a PyTorch checkpoint: expected one <archive>/data.pkl, found ${pkl.length}`);
      const prefix = pkl[0]!.slice(0, -'data.pkl'.length);
      const verifyCrc = options.verifyCrc ?? true;
      let bigEndian = false;
      if (archive.entries.has(`${prefix}byteorder`)) {
        const order = new TextDecoder().decode(await archive.read(`${prefix}byteorder`, { verifyCrc })).trim();
        if (order !== 'little' && order !== 'big') throw new CheckpointError(`${source.name}: unknown byteorder ${JSON.stringify(order)}`);
        bigEndian = order === 'big';
      }
      const root = unpickle(await archive.read(pkl[0]!, { verifyCrc }), { source: `${source.name}: ${pkl[0]}` });
      return new TorchCheckpoint(source.name, root, archive, prefix, bigEndian, verifyCrc);
    } catch (e) {
      await source.close();
      throw e;
    }
  }

  /** The bytes of one tensor, contiguous in C order, little-endian. */
  async tensor(ref: TorchTensorRef, name = 'tensor'): Promise<RawTensor> {
    const storage = await this.storageBytes(ref, name);
    const raw = gather(ref, storage, `${this.source}: ${name}`);
    if (this.bigEndian) swapBytes(raw.data, ITEM_SIZE[ref.storage.dtype]);
    return raw;
  }

  /**
   * Every tensor leaf below `root` (default: the checkpoint's root) by dotted path, as
   * `model.state_dict()` would name them. Shared storages are read once.
   */
  async tensors(root: unknown = this.root): Promise<Map<string, RawTensor>> {
    const refs = new Map<string, TorchTensorRef>();
    collectTensors(root, '', refs, new Set());
    // Keep a storage in memory only while tensors still need it.
    const uses = new Map<string, number>();
    for (const r of refs.values()) uses.set(r.storage.key, (uses.get(r.storage.key) ?? 0) + 1);
    const out = new Map<string, RawTensor>();
    for (const [name, r] of refs) {
      out.set(name, await this.tensor(r, name));
      const left = uses.get(r.storage.key)! - 1;
      uses.set(r.storage.key, left);
      if (left === 0) this.storages.delete(r.storage.key);
    }
    return out;
  }

  async close(): Promise<void> {
    this.storages.clear();
    await this.archive.close();
  }

  private async storageBytes(ref: TorchTensorRef, name: string): Promise<Uint8Array> {
    const { key, dtype, numel } = ref.storage;
    let bytes = this.storages.get(key);
    if (!bytes) {
      const entry = `${this.prefix}data/${key}`;
      if (!this.archive.entries.has(entry)) throw new CheckpointError(`${this.source}: tensor ${JSON.stringify(name)} needs storage ${entry}, which the archive lacks`);
      bytes = await this.archive.read(entry, { verifyCrc: this.verifyCrc });
      if (bytes.length !== numel * ITEM_SIZE[dtype]) {
        throw new CheckpointError(`${this.source}: storage ${entry} has ${bytes.length} bytes, the pickle says ${numel} x ${dtype} (${numel * ITEM_SIZE[dtype]} bytes)`);
      }
      this.storages.set(key, bytes);
    }
    return bytes;
  }
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * A file that is one bare pickle: either the legacy torch.save format or a plain pickle. The
 * restricted unpickler still reads it, so that a malicious global is refused by name.
 */
async function refuseBarePickle(source: ByteSource): Promise<never> {
  const bytes = await source.read(0, source.size);
  let first: unknown;
  try {
    first = unpickle(bytes, { source: source.name, persistentLoad: () => null });
  } catch (e) {
    if (e instanceof CheckpointError && /refused/.test(e.message)) throw e;
    first = undefined;
  }
  if (first === LEGACY_MAGIC) {
    throw new CheckpointError(`${source.name}: legacy torch.save format (before torch 1.6) is not supported; re-save it with a newer torch, or convert it to safetensors`);
  }
  throw new CheckpointError(`${source.name}: a bare pickle, not a PyTorch zip checkpoint`);
}

function collectTensors(value: unknown, path: string, out: Map<string, TorchTensorRef>, seen: Set<unknown>, depth = 0): void {
  if (value instanceof TorchTensorRef) {
    out.set(path, value);
    return;
  }
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  if (depth > MAX_DEPTH) throw new CheckpointError(`checkpoint: containers nest deeper than ${MAX_DEPTH} levels at ${JSON.stringify(path.slice(0, 80))}`);
  seen.add(value);
  const join = (k: unknown) => (path ? `${path}.${String(k)}` : String(k));
  if (value instanceof Map) for (const [k, v] of value) collectTensors(v, join(k), out, seen, depth + 1);
  else if (Array.isArray(value)) value.forEach((v, i) => collectTensors(v, join(i), out, seen, depth + 1));
}

/** Copies a strided view of `storage` into a contiguous C-order tensor. */
function gather(ref: TorchTensorRef, storage: Uint8Array, name: string): RawTensor {
  const { shape, stride, storageOffset } = ref;
  const dtype = ref.storage.dtype;
  const item = ITEM_SIZE[dtype];
  const n = sizeOf(shape);
  if (shape.some((d) => d < 0) || stride.some((s) => s < 0) || storageOffset < 0) throw new CheckpointError(`${name}: negative size, stride or offset`);
  if (n === 0) return { dtype: STORED_AS[dtype], shape: [...shape], data: new Uint8Array(0) };
  let last = storageOffset;
  for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
  if (last >= ref.storage.numel) {
    throw new CheckpointError(`${name}: view of shape [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${storageOffset} reaches element ${last} of a ${ref.storage.numel}-element storage`);
  }
  // Stride-0 views (expand) are legitimate, but a tiny storage expanded to gigabytes is a bomb.
  if (n > MAX_EXPANSION * ref.storage.numel + (1 << 20)) {
    throw new CheckpointError(`${name}: a view of ${n} elements over a ${ref.storage.numel}-element storage (stride-0 expansion) is refused`);
  }
  const out = new Uint8Array(n * item);
  // Contiguous (C order) views are one copy.
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i]!;
  }
  if (contiguous) {
    out.set(storage.subarray(storageOffset * item, (storageOffset + n) * item));
    return { dtype: STORED_AS[dtype], shape: [...shape], data: out };
  }
  // Otherwise walk the index with a counter, innermost axis fastest.
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = storageOffset;
  for (let k = 0; k < n; k++) {
    const s = src * item;
    for (let b = 0; b < item; b++) out[k * item + b] = storage[s + b]!;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      src += stride[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      src -= idx[ax]! * stride[ax]!;
      idx[ax] = 0;
    }
  }
  return { dtype: STORED_AS[dtype], shape: [...shape], data: out };
}

function swapBytes(data: Uint8Array, item: number): void {
  if (item === 1) return;
  for (let i = 0; i < data.length; i += item) data.subarray(i, i + item).reverse();
}

/** Opens a PyTorch checkpoint, reads every tensor below `root` and closes it again. */
export async function readTorchCheckpoint(
  input: string | Uint8Array | ByteSource,
  options: OpenTorchOptions = {},
): Promise<{ root: unknown; tensors: Map<string, RawTensor> }> {
  const ckpt = await TorchCheckpoint.open(input, options);
  try {
    return { root: ckpt.root, tensors: await ckpt.tensors() };
  } finally {
    await ckpt.close();
  }
}
