// Checks an .onnx file before ONNX Runtime sees it: that it parses as a ModelProto, and that
// every external data file its initializers point into exists next to it and is long enough.
// ONNX Runtime stops at the first such problem with a terse message; the loaders here report
// every problem of a model, and of every model of a pipeline, in one error.
//
// The scan walks the protobuf wire format directly and descends only into ModelProto.graph and
// GraphProto.initializer; nodes and inline tensor bytes are skipped by length, so a 500 MB model
// with inline weights costs a few reads of its headers, not a decode of the whole file.

/** One initializer stored in an external data file. */
export interface ExternalDataRef {
  readonly tensor: string;
  readonly location: string;
  readonly offset: number;
  /** null when the entry omits it (the tensor runs to the end of the file). */
  readonly length: number | null;
}

export interface OnnxFileSummary {
  readonly irVersion: number;
  readonly externalData: readonly ExternalDataRef[];
}

/** Random access to the bytes of a model (a file or an in-memory buffer). */
interface ByteSource {
  readonly size: number;
  /** `length` bytes at `pos` (fewer only past the end). */
  read(pos: number, length: number): Uint8Array;
}

/** A malformed protobuf; `offset` is where the walk gave up. */
export class OnnxParseError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const WINDOW = 1 << 16;

/** Reads a file through one 64 KiB window (the scan reads small pieces, mostly in order). */
function fileSource(fs: typeof import('node:fs'), fd: number, size: number): ByteSource {
  let start = 0;
  let buf = new Uint8Array(0);
  return {
    size,
    read(pos, length) {
      if (pos < start || pos + length > start + buf.length) {
        const n = Math.min(Math.max(length, WINDOW), size - pos);
        buf = new Uint8Array(Math.max(n, 0));
        const got = n > 0 ? fs.readSync(fd, buf, 0, n, pos) : 0;
        buf = buf.subarray(0, got);
        start = pos;
      }
      return buf.subarray(pos - start, pos - start + length);
    },
  };
}

function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (pos, length) => bytes.subarray(pos, pos + length) };
}

interface Field {
  readonly num: number;
  readonly wire: number;
  readonly body: Cursor | null;
  readonly value: number;
}

/** A cursor over [pos, end) of a source: varints, tags, length-delimited fields. */
class Cursor {
  constructor(
    private readonly src: ByteSource,
    public pos: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    const bytes = this.src.read(this.pos, Math.min(10, this.end - this.pos));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) {
        this.pos += i + 1;
        return value;
      }
    }
    throw new OnnxParseError('truncated or overlong varint', this.pos);
  }

  /** The next field: its number, wire type, its value (varints) or a sub-cursor (length-delimited). */
  field(): Field {
    const at = this.pos;
    const key = this.varint();
    const num = Math.floor(key / 8);
    const wire = key % 8;
    if (num === 0) throw new OnnxParseError('field number 0', at);
    switch (wire) {
      case 0:
        return { num, wire, body: null, value: this.varint() };
      case 1:
        return this.skip(at, num, wire, 8);
      case 5:
        return this.skip(at, num, wire, 4);
      case 2: {
        const len = this.varint();
        const body = new Cursor(this.src, this.pos, this.pos + len);
        this.skip(at, num, wire, len);
        return { num, wire, body, value: len };
      }
      default:
        throw new OnnxParseError(`field ${num} has wire type ${wire}, which ONNX files do not use`, at);
    }
  }

  private skip(at: number, num: number, wire: number, n: number): Field {
    if (this.pos + n > this.end) throw new OnnxParseError(`field ${num} runs past the end of its message (${n} bytes at ${this.pos}, message ends at ${this.end})`, at);
    this.pos += n;
    return { num, wire, body: null, value: n };
  }

  string(): string {
    return new TextDecoder().decode(this.src.read(this.pos, this.end - this.pos));
  }
}

// Field numbers of onnx.proto.
const MODEL_IR_VERSION = 1;
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_NAME = 8;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1;

function scanTensor(c: Cursor): ExternalDataRef | null {
  let name = '';
  let external = false;
  const entries: Record<string, string> = {};
  while (!c.done) {
    const f = c.field();
    if (f.num === TENSOR_NAME && f.body) name = f.body.string();
    else if (f.num === TENSOR_DATA_LOCATION && f.wire === 0) external = f.value === DATA_LOCATION_EXTERNAL;
    else if (f.num === TENSOR_EXTERNAL_DATA && f.body) {
      let key = '';
      let value = '';
      while (!f.body.done) {
        const e = f.body.field();
        if (e.num === 1 && e.body) key = e.body.string();
        else if (e.num === 2 && e.body) value = e.body.string();
      }
      entries[key] = value;
    }
  }
  if (!external) return null;
  const num = (k: string): number | null => {
    const v = entries[k];
    if (v === undefined) return null;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new OnnxParseError(`initializer '${name}': external_data ${k} is ${JSON.stringify(v)}, not a byte count`, c.pos);
    return n;
  };
  const location = entries.location;
  if (location === undefined || location === '') throw new OnnxParseError(`initializer '${name}' is marked EXTERNAL but has no external_data location`, c.pos);
  return { tensor: name, location, offset: num('offset') ?? 0, length: num('length') };
}

function scanModel(src: ByteSource): OnnxFileSummary {
  const top = new Cursor(src, 0, src.size);
  let irVersion = 0;
  let graphs = 0;
  const externalData: ExternalDataRef[] = [];
  while (!top.done) {
    const f = top.field();
    if (f.num === MODEL_IR_VERSION && f.wire === 0) irVersion = f.value;
    else if (f.num === MODEL_GRAPH && f.body) {
      graphs++;
      while (!f.body.done) {
        const g = f.body.field();
        if (g.num === GRAPH_INITIALIZER && g.body) {
          const ref = scanTensor(g.body);
          if (ref) externalData.push(ref);
        }
      }
    }
  }
  if (irVersion <= 0) throw new OnnxParseError('no ir_version (field 1) at the top level', 0);
  if (graphs !== 1) throw new OnnxParseError(graphs === 0 ? 'no graph (field 7)' : `${graphs} graphs at the top level`, 0);
  return { irVersion, externalData };
}

function parseFailure(what: string, head: Uint8Array, e: unknown): string {
  const text = new TextDecoder().decode(head);
  if (text.startsWith('version https://git-lfs')) return `${what} is a Git LFS pointer file, not the model (fetch it with \`git lfs pull\`)`;
  const reason = e instanceof OnnxParseError ? `${e.message} (byte ${e.offset})` : e instanceof Error ? e.message : String(e);
  return `${what} is not a valid ONNX model: ${reason}`;
}

/** Parses ModelProto bytes far enough to list their external data; a reason string when malformed. */
export function scanOnnxBytes(bytes: Uint8Array, what = 'the model'): OnnxFileSummary | string {
  try {
    return scanModel(bufferSource(bytes));
  } catch (e) {
    return parseFailure(what, bytes.subarray(0, 64), e);
  }
}

/** What is wrong with one .onnx file, file by file. */
export interface OnnxFileCheck {
  /** Files that should exist and do not: the model itself, or external data files. */
  readonly missing: readonly string[];
  /** Everything else: unparsable bytes, a short data file, a location outside the model's folder. */
  readonly problems: readonly string[];
  readonly summary: OnnxFileSummary | null;
}

/** The `code` of a Node system error (ENOENT, ...). */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

/**
 * Checks one model file: it exists, parses as a ModelProto, and every external data file it
 * names exists next to it and holds every byte range its initializers point at. `label` is how
 * messages name the model (e.g. 'unet/model.onnx'). Node only.
 */
export async function checkOnnxFile(path: string, label: string): Promise<OnnxFileCheck> {
  const fs = await import('node:fs');
  const nodePath = await import('node:path');
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return { missing: [label], problems: [], summary: null };
    return { missing: [], problems: [`${label} cannot be opened: ${e instanceof Error ? e.message : String(e)}`], summary: null };
  }
  let summary: OnnxFileSummary;
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return { missing: [], problems: [`${label} is not a file`], summary: null };
    const src = fileSource(fs, fd, stat.size);
    try {
      summary = scanModel(src);
    } catch (e) {
      return { missing: [], problems: [parseFailure(label, src.read(0, 64), e)], summary: null };
    }
  } finally {
    fs.closeSync(fd);
  }
  const missing: string[] = [];
  const problems: string[] = [];
  const dir = nodePath.dirname(path);
  const labelDir = nodePath.posix.dirname(label.split(nodePath.sep).join('/'));
  const byLocation = new Map<string, ExternalDataRef[]>();
  for (const ref of summary.externalData) byLocation.set(ref.location, [...(byLocation.get(ref.location) ?? []), ref]);
  for (const [location, refs] of byLocation) {
    const shown = labelDir === '.' ? location : `${labelDir}/${location}`;
    const target = nodePath.resolve(dir, location);
    if (nodePath.isAbsolute(location) || nodePath.relative(dir, target).startsWith('..')) {
      problems.push(`${label} points at external data '${location}' outside its folder (ONNX Runtime only reads files next to the model)`);
      continue;
    }
    let size: number;
    try {
      const st = fs.statSync(target);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      size = st.size;
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
      missing.push(`${shown} (external data of ${label}: ${refs.length} tensor${refs.length === 1 ? '' : 's'}, e.g. '${refs[0]!.tensor}')`);
      continue;
    }
    const short = refs.filter((r) => r.offset + (r.length ?? 0) > size);
    if (short.length > 0) {
      const r = short[0]!;
      problems.push(`${shown} is truncated: it has ${size} bytes, but ${short.length} tensor(s) of ${label} read past its end (e.g. '${r.tensor}' at bytes ${r.offset}..${r.offset + (r.length ?? 0)})`);
    }
  }
  return { missing, problems, summary };
}
