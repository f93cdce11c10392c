// Graph replay: runs a captured Graph's nodes through the engine (so on any backend, with
// autograd and scopes working as in eager mode), and a cache that captures a function once per
// distinct input signature and replays the graph afterwards.

import type { Backend, OutputInfo } from '../backend/types.js';
import { engine } from '../engine/engine.js';
import { InvalidArgumentError, DTypeError, ShapeError, describe } from '../errors/index.js';
import { shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { type CaptureOptions, captureGraphWithExternals, externalsOf, runHostSteps } from './capture.js';
import type { Graph, ValueId } from './types.js';

/** Tensors bound to a graph's externals: keyed by the captured tensor id, or by its name. */
export type ExternalBindings = ReadonlyMap<number | string, Tensor>;

function bindExternal(graph: Graph, i: number, externals: ExternalBindings | undefined): Tensor {
  const e = graph.externals[i]!;
  const t = externals?.get(e.tensorId) ?? (e.name !== undefined ? externals?.get(e.name) : undefined) ?? externalsOf(graph)?.get(e.tensorId);
  if (!t) throw new InvalidArgumentError(`executeGraph: no tensor bound to external #${e.tensorId}${e.name ? ` (${e.name})` : ''}; pass it in the externals map`);
  return t;
}

function checkBinding(what: string, t: Tensor, shape: readonly number[], dtype: string, backend: Backend): void {
  if (!(t instanceof Tensor)) throw new InvalidArgumentError(`executeGraph: ${what} must be a Tensor, got ${describe(t)}`);
  t._check(`executeGraph (${what})`);
  if (!shapesEqual(t.shape, shape)) throw new ShapeError(`executeGraph: ${what} must have shape ${describe(shape)}, got ${describe(t.shape)}`);
  if (t.dtype !== dtype) throw new DTypeError(`executeGraph: ${what} must have dtype ${dtype}, got ${t.dtype}`);
  if (t._backend !== backend) throw new InvalidArgumentError(`executeGraph: ${what} lives on backend "${t._backend.name}", not "${backend.name}" (move it with toBackend())`);
}

/**
 * Replays `graph` on `backend` with `inputs` bound to its positional inputs and `externals` to
 * the tensors it closed over (default: the very tensors seen at capture, when the graph came
 * from captureGraph in this process). Returns the outputs (an array when the captured function
 * returned one); every intermediate is freed as soon as its last consumer has run. Host steps
 * recorded with the graph run first; variables the function assigned receive their new values
 * after the outputs are computed (all or none: a failure before that leaves them unchanged).
 */
export function executeGraph(graph: Graph, backend: Backend, inputs: readonly Tensor[], externals?: ExternalBindings): Tensor | Tensor[] {
  if (!graph || graph.version !== 1) throw new InvalidArgumentError(`executeGraph: not a graph (version 1), got ${describe(graph)}`);
  if (!Array.isArray(inputs) || inputs.length !== graph.inputs.length) {
    throw new InvalidArgumentError(`executeGraph: the graph takes ${graph.inputs.length} inputs, got ${Array.isArray(inputs) ? inputs.length : describe(inputs)}`);
  }
  runHostSteps(graph);
  const values = new Map<ValueId, Tensor>();
  const borrowed = new Set<ValueId>(); // caller-owned: never disposed here
  const externalById = new Map<ValueId, Tensor>();
  graph.inputs.forEach((spec, i) => {
    const t = inputs[i]!;
    checkBinding(`inputs[${i}]`, t, spec.shape, spec.dtype, backend);
    values.set(spec.id, t);
    borrowed.add(spec.id);
  });
  graph.externals.forEach((spec, i) => {
    const t = bindExternal(graph, i, externals);
    checkBinding(`external #${spec.tensorId}${spec.name ? ` (${spec.name})` : ''}`, t, spec.shape, spec.dtype, backend);
    values.set(spec.id, t);
    borrowed.add(spec.id);
    externalById.set(spec.id, t);
  });
  const updates = graph.updates ?? [];
  for (const u of updates) {
    const t = externalById.get(u.target);
    if (!t || !t.isVariable) throw new InvalidArgumentError(`executeGraph: the graph assigns value v${u.target}, which is not bound to a variable`);
  }

  // Only nodes the outputs depend on run (kernels are pure; capture also records work whose
  // result the function discarded). Then: the last consumer of each value (outputs never freed).
  const outputIds = new Set(graph.outputs.map((o) => o.id));
  const updateIds = new Set(updates.map((u) => u.value));
  const needed = new Set<ValueId>([...outputIds, ...updateIds]);
  const live = new Array<boolean>(graph.nodes.length).fill(false);
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k]!;
    if (!needed.has(n.output.id)) continue;
    live[k] = true;
    for (const id of n.inputs) needed.add(id);
  }
  const lastUse = new Map<ValueId, number>();
  graph.nodes.forEach((n, k) => {
    if (live[k]) for (const id of n.inputs) lastUse.set(id, k);
  });

  const prevBackend = engine.backend;
  engine.setBackend(backend); // kernels without inputs (fill) run on the current backend
  const owned: Tensor[] = [];
  try {
    for (const c of graph.constants) {
      if (!needed.has(c.id)) continue;
      const t = engine.upload(c.values, c.shape, c.dtype, backend);
      values.set(c.id, t);
      owned.push(t);
    }
    graph.nodes.forEach((n, k) => {
      if (!live[k]) return;
      const xs = n.inputs.map((id) => {
        const t = values.get(id);
        if (!t) throw new InvalidArgumentError(`executeGraph: node ${k} (${n.kernel}) reads value v${id}, which is not defined before it`);
        return t;
      });
      const out: OutputInfo = { shape: n.output.shape, dtype: n.output.dtype };
      const y = engine.runKernel(n.kernel, xs, n.attrs, out, n.kernel);
      values.set(n.output.id, y);
      owned.push(y);
      for (const id of new Set(n.inputs)) {
        if (lastUse.get(id) === k && !borrowed.has(id) && !outputIds.has(id) && !updateIds.has(id)) values.get(id)!.dispose();
      }
    });
    const copy = (t: Tensor): Tensor => engine.runKernel('reshape', [t], {}, { shape: t.shape, dtype: t.dtype }, 'executeGraph');
    const result = graph.outputs.map((o) => {
      const t = values.get(o.id)!;
      // Never hand the caller its own input (or a parameter) as a fresh result: copy it.
      return borrowed.has(o.id) ? copy(t) : t;
    });
    // New variable values: storage shared with an output, an input or another variable is copied
    // first (every copy is made before any variable changes).
    const taken = new Set<ValueId>();
    const fresh = updates.map((u) => {
      const t = values.get(u.value)!;
      const shared = borrowed.has(u.value) || outputIds.has(u.value) || taken.has(u.value);
      taken.add(u.value);
      if (!shared) return t;
      const c = copy(t);
      owned.push(c);
      return c;
    });
    engine.noGrad(() => updates.forEach((u, i) => externalById.get(u.target)!.assign(fresh[i]!)));
    return graph.returnsArray ? result : result[0]!;
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  } finally {
    engine.setBackend(prevBackend);
  }
}

export interface CompiledFunction {
  (...xs: Tensor[]): Tensor | Tensor[];
  /** Number of graphs captured so far (one per distinct input signature). */
  readonly captures: number;
}

function signature(xs: readonly Tensor[]): string {
  return xs.map((x) => `${x.dtype}[${x.shape.join(',')}]`).join(';');
}

/** Captures each compiled function once per distinct (input shapes, dtypes) key, then replays. */
export class GraphCache {
  private readonly graphs = new Set<Graph>();
  private capturesValue = 0;

  constructor(private readonly options: CaptureOptions = {}) {}

  /** Graphs captured by this cache so far. */
  get captures(): number {
    return this.capturesValue;
  }

  /** Graphs this cache holds (over every compiled function). */
  get size(): number {
    return this.graphs.size;
  }

  /**
   * A callable that behaves like `fn`: the first call with a given input signature captures a
   * graph (with the inputs' backend), every call replays it on the inputs' backend.
   */
  compile(fn: (...xs: Tensor[]) => Tensor | Tensor[]): CompiledFunction {
    const own = new Map<string, Graph>();
    let captures = 0;
    const call = (...xs: Tensor[]): Tensor | Tensor[] => {
      xs.forEach((x, i) => {
        if (!(x instanceof Tensor)) throw new InvalidArgumentError(`compiled function: argument ${i} must be a Tensor, got ${describe(x)}`);
        x._check('compiled function');
      });
      const backend = this.options.backend ?? xs[0]?._backend ?? engine.backend;
      const key = signature(xs);
      let graph = own.get(key);
      if (!graph) {
        graph = captureGraphWithExternals(fn, xs.map((x) => ({ shape: x.shape, dtype: x.dtype })), { backend }).graph;
        own.set(key, graph);
        this.graphs.add(graph);
        captures++;
        this.capturesValue++;
      }
      return executeGraph(graph, backend, xs);
    };
    Object.defineProperty(call, 'captures', { get: () => captures, enumerable: true });
    return call as CompiledFunction;
  }
}
