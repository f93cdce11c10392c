// A restricted unpickler: reads the pickle inside a PyTorch checkpoint (protocols 0-5) into
// plain JS values, and never executes anything.
//
// Security model. Python's pickle is a small stack machine whose GLOBAL / STACK_GLOBAL opcodes
// name any importable callable and whose REDUCE / NEWOBJ / BUILD opcodes call it; that is how
// a checkpoint can run `os.system`. Here no Python exists to call: a global resolves only
// through ALLOWED_GLOBALS below, a table of the few constructors a state dict needs, each
// implemented in JS as a pure data constructor. Any other global is refused with a
// CheckpointError naming it (`posix.system`, `builtins.eval`, `subprocess.Popen`, ...) as soon
// as its opcode is read, before anything it would do could happen. Extension-registry opcodes
// (EXT1/2/4) and out-of-band buffers are refused too. Sizes read from the stream are checked
// against the bytes left, so a hostile length cannot make us allocate.
//
// Output values: None → null, bools, ints (number, or bigint beyond 2^53), floats, str →
// string, bytes → Uint8Array, list / tuple → arrays, dict / OrderedDict → Map (keys may be
// ints), set → Set. Tensors come out as TorchTensorRef records that point into storages named
// by persistent ids; torch-file.ts turns them into data.

import { CheckpointError } from '@denoise/core';

/** A storage as the persistent id names it: `('storage', torch.HalfStorage, key, location, numel)`. */
export interface TorchStorageRef {
  readonly kind: 'storage';
  readonly dtype: TorchStorageDType;
  readonly key: string;
  readonly location: string;
  readonly numel: number;
}

export type TorchStorageDType = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}
}

/** The `_metadata` (or other instance attributes) BUILD attaches to an OrderedDict, kept apart. */
export const PICKLE_STATE = Symbol('@denoise/ldm/pickle-state');

const STORAGE_DTYPES: Readonly<Record<string, TorchStorageDType>> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

// What a resolved global is. Only these four kinds exist; nothing else can be named.
type GlobalRef =
  | { readonly kind: 'function'; readonly name: string; readonly call: (args: unknown[]) => unknown }
  | { readonly kind: 'class'; readonly name: string; readonly construct: (args: unknown[]) => unknown }
  | { readonly kind: 'storage-type'; readonly name: string; readonly dtype: TorchStorageDType };

function isGlobalRef(v: unknown): v is GlobalRef {
  return typeof v === 'object' && v !== null && GLOBAL_REFS.has(v as GlobalRef);
}
const GLOBAL_REFS = new WeakSet<GlobalRef>();
function ref<T extends GlobalRef>(g: T): T {
  GLOBAL_REFS.add(g);
  return g;
}

function expectInt(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw new CheckpointError(`pickle: ${what} must be an integer, got ${typeof v === 'object' ? 'an object' : String(v)}`);
}

function expectIntList(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new CheckpointError(`pickle: ${what} must be a tuple of integers`);
  return v.map((d, i) => expectInt(d, `${what}[${i}]`));
}

function expectStorage(v: unknown): TorchStorageRef {
  if (typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'storage' && STORAGE_REFS.has(v as TorchStorageRef)) return v as TorchStorageRef;
  throw new CheckpointError('pickle: _rebuild_tensor_v2 expects a storage (a persistent id) as its first argument');
}
const STORAGE_REFS = new WeakSet<TorchStorageRef>();

function rebuildTensor(args: unknown[]): TorchTensorRef {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length < 4) throw new CheckpointError(`pickle: _rebuild_tensor_v2 takes at least 4 arguments, got ${args.length}`);
  const shape = expectIntList(args[2], 'tensor size');
  const stride = expectIntList(args[3], 'tensor stride');
  if (shape.length !== stride.length) throw new CheckpointError(`pickle: tensor size and stride differ in rank (${shape.length} vs ${stride.length})`);
  return new TorchTensorRef(expectStorage(args[0]), expectInt(args[1], 'storage offset'), shape, stride, args[4] === true);
}

function rebuildParameter(args: unknown[]): TorchTensorRef {
  // _rebuild_parameter(data, requires_grad, backward_hooks[, state])
  const data = args[0];
  if (!(data instanceof TorchTensorRef)) throw new CheckpointError('pickle: _rebuild_parameter expects a tensor as its first argument');
  return new TorchTensorRef(data.storage, data.storageOffset, data.shape, data.stride, args[1] === true);
}

function makeOrderedDict(args: unknown[]): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  // OrderedDict(iterable of pairs) appears in protocol-0/1 pickles; protocol 2+ uses OrderedDict() then SETITEMS.
  const init = args[0];
  if (Array.isArray(init)) for (const pair of init) if (Array.isArray(pair) && pair.length === 2) m.set(pair[0], pair[1]);
  return m;
}

function codecsEncode(args: unknown[]): Uint8Array {
  // Protocol 2 pickles bytes as _codecs.encode(str, 'latin1').
  const [text, encoding] = args;
  if (typeof text !== 'string') throw new CheckpointError('pickle: _codecs.encode expects a string');
  if (encoding === 'latin1' || encoding === 'latin-1' || encoding === 'iso-8859-1') {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0xff) throw new CheckpointError('pickle: _codecs.encode: character outside latin-1');
      out[i] = c;
    }
    return out;
  }
  if (encoding === 'utf-8' || encoding === 'utf8') return new TextEncoder().encode(text);
  throw new CheckpointError(`pickle: _codecs.encode: unsupported encoding ${JSON.stringify(String(encoding))}`);
}

const ALLOWED_GLOBALS: ReadonlyMap<string, GlobalRef> = new Map<string, GlobalRef>([
  ['torch._utils._rebuild_tensor_v2', ref({ kind: 'function', name: 'torch._utils._rebuild_tensor_v2', call: rebuildTensor })],
  ['torch._utils._rebuild_parameter', ref({ kind: 'function', name: 'torch._utils._rebuild_parameter', call: rebuildParameter })],
  ['torch._utils._rebuild_parameter_with_state', ref({ kind: 'function', name: 'torch._utils._rebuild_parameter_with_state', call: rebuildParameter })],
  ['collections.OrderedDict', ref({ kind: 'class', name: 'collections.OrderedDict', construct: makeOrderedDict })],
  ['_codecs.encode', ref({ kind: 'function', name: '_codecs.encode', call: codecsEncode })],
  ['builtins.set', ref({ kind: 'class', name: 'builtins.set', construct: (a) => new Set(Array.isArray(a[0]) ? a[0] : []) })],
  ['builtins.frozenset', ref({ kind: 'class', name: 'builtins.frozenset', construct: (a) => new Set(Array.isArray(a[0]) ? a[0] : []) })],
  ...Object.entries(STORAGE_DTYPES).map(([cls, dtype]): [string, GlobalRef] => [`torch.${cls}`, ref({ kind: 'storage-type', name: `torch.${cls}`, dtype })]),
]);

// Python 2 names used by protocol 0-2 pickles written by Python 2.
const MODULE_ALIASES: Readonly<Record<string, string>> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

/** The fully qualified names the unpickler accepts. */
export const ALLOWED_PICKLE_GLOBALS: readonly string[] = [...ALLOWED_GLOBALS.keys()];

function resolveGlobal(module: string, name: string, source: string): GlobalRef {
  const qualified = `${MODULE_ALIASES[module] ?? module}.${name}`;
  const g = ALLOWED_GLOBALS.get(qualified);
  if (!g) {
    throw new CheckpointError(
      `${source}: refused pickle global ${JSON.stringify(`${module}.${name}`)}: a checkpoint may only reference tensors, storages and containers ` +
        `(allowed: ${ALLOWED_PICKLE_GLOBALS.filter((n) => !n.endsWith('Storage')).join(', ')}, torch.*Storage); nothing was executed`,
    );
  }
  return g;
}

export interface UnpickleOptions {
  /** Name for error messages. */
  source?: string;
  /**
   * Resolves a persistent id (PERSID / BINPERSID). Default: PyTorch's
   * `('storage', torch.XStorage, key, location, numel)`; anything else is refused.
   */
  persistentLoad?: (pid: unknown) => unknown;
}

const MARK = Symbol('mark');

/** The default persistent-id resolver: PyTorch storages. */
export function torchPersistentLoad(pid: unknown): TorchStorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new CheckpointError('pickle: unsupported persistent id (expected a PyTorch storage tuple)');
  const type = pid[1];
  if (!isGlobalRef(type) || type.kind !== 'storage-type') throw new CheckpointError('pickle: persistent id does not name a torch.*Storage type');
  const key = pid[2];
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) throw new CheckpointError(`pickle: bad storage key ${JSON.stringify(String(key))}`);
  const location = typeof pid[3] === 'string' ? pid[3] : 'cpu';
  const s: TorchStorageRef = { kind: 'storage', dtype: type.dtype, key, location, numel: expectInt(pid[4], 'storage size') };
  STORAGE_REFS.add(s);
  return s;
}

/**
 * Unpickles `bytes` with the restricted set of globals. Throws a CheckpointError for any
 * global outside the allow-list, any opcode it does not know, and any malformed stream.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  const source = options.source ?? '<pickle>';
  const persistentLoad = options.persistentLoad ?? torchPersistentLoad;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): never => {
    throw new CheckpointError(`${source}: corrupt pickle at byte ${pos}: ${msg}`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) fail(`needs ${n} more bytes, ${bytes.length - pos} left (truncated?)`);
    const at = pos;
    pos += n;
    return at;
  };
  const take = (n: number): Uint8Array => {
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const readLine = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const u8 = () => view.getUint8(need(1));
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the pickle's size`);
    return Number(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) fail('MARK expected');
    stack = prev!;
    return items;
  };
  const utf8Decode = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  };
  const decodeLong = (b: Uint8Array): number | bigint => {
    // Little-endian two's complement of any length.
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return normInt(v);
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (kv.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) (target as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const call = (fn: unknown, args: unknown, how: string): unknown => {
    if (!isGlobalRef(fn)) fail(`${how} on something that is not an allowed global`);
    const g = fn as GlobalRef;
    if (!Array.isArray(args)) fail(`${how} arguments must be a tuple`);
    if (g.kind === 'function') return g.call(args as unknown[]);
    if (g.kind === 'class') return g.construct(args as unknown[]);
    return fail(`${how}: ${g.name} cannot be called`);
  };

  while (true) {
    if (pos >= bytes.length) fail('the pickle ends without STOP (truncated?)');
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      // ---- constants and numbers
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x8a: stack.push(decodeLong(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: { // INT (text; "01"/"00" are bools)
        const s = readLine().trim();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else stack.push(parseIntText(s, fail));
        break;
      }
      case 0x4c: stack.push(parseIntText(readLine().trim().replace(/L$/, ''), fail)); break; // LONG (text)
      case 0x46: { // FLOAT (text)
        const v = Number(readLine().trim());
        if (Number.isNaN(v)) fail('bad FLOAT');
        stack.push(v);
        break;
      }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      // ---- strings and bytes
      case 0x58: stack.push(utf8Decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8Decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8Decode(take(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(rawUnicodeEscape(readLine())); break; // UNICODE (text)
      case 0x54: stack.push(latin1.decode(take(view.getInt32(need(4), true)))); break; // BINSTRING (py2 str)
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x53: stack.push(pythonStringLiteral(readLine(), fail)); break; // STRING (text repr)
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      // ---- containers
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST (popMark swaps `stack`: call it first)
      case 0x74: { const items = popMark(); stack.push(items); break; } // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail('APPEND to a non-list'); (l as unknown[]).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); const l = top(); if (!Array.isArray(l)) fail('APPENDS to a non-list'); for (const v of items) (l as unknown[]).push(v); break; } // APPENDS
      case 0x64: { const items = popMark(); const m = new Map(); setItems(m, items); stack.push(m); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) fail('ADDITEMS to a non-set'); for (const v of items) (s as Set<unknown>).add(v); break; } // ADDITEMS
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      // ---- stack
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      // ---- memo
      case 0x70: memo.set(parseIntText(readLine(), fail) as number, top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: stack.push(memoGet(memo, parseIntText(readLine(), fail) as number, fail)); break; // GET
      case 0x68: stack.push(memoGet(memo, u8(), fail)); break; // BINGET
      case 0x6a: stack.push(memoGet(memo, u32(), fail)); break; // LONG_BINGET
      // ---- globals and calls: only through the allow-list
      case 0x63: { // GLOBAL "module\nname\n"
        const module = readLine();
        const name = readLine();
        stack.push(resolveGlobal(module, name, source));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string, source));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args, 'REDUCE')); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args, 'NEWOBJ')); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(); const cls = pop(); stack.push(call(cls, args, 'NEWOBJ_EX')); break; } // NEWOBJ_EX
      case 0x69: { // INST "module\nname\n" (protocol 0)
        const module = readLine();
        const name = readLine();
        const cls = resolveGlobal(module, name, source);
        const args = popMark();
        stack.push(call(cls, args, 'INST'));
        break;
      }
      case 0x6f: { const items = popMark(); const cls = items.shift(); stack.push(call(cls, items, 'OBJ')); break; } // OBJ
      case 0x62: { // BUILD: instance state; kept aside on dicts (OrderedDict._metadata), refused elsewhere
        const state = pop();
        const obj = top();
        if (obj instanceof Map) (obj as Map<unknown, unknown> & { [PICKLE_STATE]?: unknown })[PICKLE_STATE] = state;
        else if (!(obj instanceof TorchTensorRef)) fail('BUILD on an object that takes no state');
        break;
      }
      case 0x50: stack.push(persistentLoad(readLine())); break; // PERSID (text)
      case 0x51: stack.push(persistentLoad(pop())); break; // BINPERSID
      case 0x82: case 0x83: case 0x84: // EXT1/2/4
        throw new CheckpointError(`${source}: refused pickle opcode EXT${op - 0x81} (the extension registry names arbitrary globals); nothing was executed`);
      case 0x97: case 0x98: // NEXT_BUFFER, READONLY_BUFFER
        throw new CheckpointError(`${source}: refused pickle opcode for out-of-band buffers; checkpoints keep data in storages`);
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function normInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(s: string, fail: (m: string) => never): number | bigint {
  if (!/^[+-]?\d+$/.test(s.trim())) fail(`bad integer ${JSON.stringify(s)}`);
  return normInt(BigInt(s.trim()));
}

function memoGet(memo: Map<number, unknown>, key: number, fail: (m: string) => never): unknown {
  if (!memo.has(key)) fail(`memo key ${key} is not set`);
  return memo.get(key);
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string | undefined, b: string | undefined) => String.fromCodePoint(parseInt((a ?? b)!, 16)));
}

function pythonStringLiteral(line: string, fail: (m: string) => never): string {
  const s = line.trim();
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q || s.length < 2) fail('bad STRING literal');
  const body = s.slice(1, -1);
  const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return simple[e] ?? `\\${e}`;
  });
}
