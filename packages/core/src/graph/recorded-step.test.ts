// Whole training steps recorded as graphs: the optimizer's `assign`s become state updates and its
// per-step host work (step counter, learning rate, bias corrections, EMA warmup) runs before each
// replay. A replayed run must give the eager run's losses, parameters and optimizer state on the
// float64 reference backend, for every optimizer, with a learning rate that changes every step.
import { afterEach, describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { gradients } from '../autograd/index.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { Tensor } from '../tensor/tensor.js';
import * as op from '../ops/index.js';
import { Adagrad, Adam, AdamW, SGD, type Optimizer } from '../optim/optimizers.js';
import { EMA } from '../optim/utils.js';
import { GraphCache, GraphCaptureError, captureGraphWithExternals, executeGraph, hostStepCount } from './index.js';

const backend = engine.reference;
const STEPS = 6;

interface Model {
  readonly params: Tensor[];
  loss(x: Tensor, y: Tensor): Tensor;
}

function makeModel(seed: number): Model {
  const gen = new Generator(seed);
  const [w1, b1, w2] = engine.tidy(() => [
    op.variable(op.mul(randn([3, 8], gen, { dtype: 'float64', backend }), 0.5), 'w1'),
    op.variable(op.zeros([8], 'float64', backend), 'b1'),
    op.variable(op.mul(randn([8, 2], gen, { dtype: 'float64', backend }), 0.5), 'w2'),
  ]) as [Tensor, Tensor, Tensor];
  return {
    params: [w1, b1, w2],
    loss: (x, y) => op.mean(op.square(op.sub(op.matmul(op.tanh(op.add(op.matmul(x, w1), b1)), w2), y))),
  };
}

const optimizers: Record<string, (p: Tensor[]) => Optimizer> = {
  'SGD momentum nesterov wd': (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
  'SGD plain': (p) => new SGD(p, { lr: 0.1 }),
  'Adam wd': (p) => new Adam(p, { lr: 0.05, weightDecay: 0.02 }),
  AdamW: (p) => new AdamW(p, { lr: 0.05, weightDecay: 0.1 }),
  'Adagrad lrDecay': (p) => new Adagrad(p, { lr: 0.2, lrDecay: 0.05, weightDecay: 0.01, initialAccumulator: 0.1 }),
};

function data(): { x: Tensor; y: Tensor } {
  const gen = new Generator(99);
  return { x: randn([16, 3], gen, { dtype: 'float64', backend }), y: randn([16, 2], gen, { dtype: 'float64', backend }) };
}

const lrAt = (base: number, k: number): number => base * (1 - k / (2 * STEPS));

function run(recorded: boolean, makeOpt: (p: Tensor[]) => Optimizer): { losses: number[]; params: number[][]; state: Record<string, number[]>; steps: number; emaSteps: number; shadow: number[][]; captures: number } {
  const prev = engine.backend;
  engine.setBackend(backend);
  const m = makeModel(5);
  const opt = makeOpt(m.params);
  const ema = new EMA(m.params, { decay: 0.99, warmup: 3 });
  const { x, y } = data();
  const base = opt.lr;
  const stepFn = (xb: Tensor, yb: Tensor): Tensor => {
    const { value, grads } = gradients(() => m.loss(xb, yb), m.params);
    opt.step(grads);
    ema.update();
    for (const g of grads) g.dispose();
    return value;
  };
  const cache = new GraphCache({ backend });
  const compiled = cache.compile(stepFn);
  const losses: number[] = [];
  for (let k = 0; k < STEPS; k++) {
    opt.lr = lrAt(base, k);
    const loss = (recorded ? compiled(x, y) : stepFn(x, y)) as Tensor;
    losses.push(loss.dataSync()[0] as number);
    loss.dispose();
  }
  const read = (t: Tensor): number[] => Array.from(t.dataSync() as Float64Array);
  const out = {
    losses,
    params: m.params.map(read),
    state: Object.fromEntries(Object.entries(opt.state()).map(([k, t]) => [k, read(t)])),
    steps: opt.stepCount,
    emaSteps: ema.stepCount,
    shadow: ema.shadow.map(read),
    captures: cache.captures,
  };
  opt.dispose();
  ema.dispose();
  for (const t of [...m.params, x, y]) t.dispose();
  engine.setBackend(prev);
  return out;
}

function expectClose(got: number[], want: number[], label: string): void {
  expect(got.length, label).toBe(want.length);
  got.forEach((g, i) => {
    if (!(Math.abs(g - want[i]!) <= 1e-12 * (1 + Math.abs(want[i]!)))) expect.fail(`${label}[${i}]: recorded ${g}, eager ${want[i]}`);
  });
}

describe('recorded training steps', () => {
  afterEach(() => expect(engine.capturing).toBe(false));

  for (const [name, make] of Object.entries(optimizers)) {
    it(`${name} + EMA warmup: replays give the eager losses, parameters and state`, () => {
      const before = engine.memory().numTensors;
      const eager = run(false, make);
      const rec = run(true, make);
      expect(rec.captures).toBe(1);
      expectClose(rec.losses, eager.losses, 'loss');
      rec.params.forEach((p, i) => expectClose(p, eager.params[i]!, `param ${i}`));
      expect(Object.keys(rec.state).sort()).toEqual(Object.keys(eager.state).sort());
      for (const k of Object.keys(eager.state)) expectClose(rec.state[k]!, eager.state[k]!, `state ${k}`);
      rec.shadow.forEach((s, i) => expectClose(s, eager.shadow[i]!, `ema ${i}`));
      expect(rec.steps).toBe(STEPS);
      expect(rec.emaSteps).toBe(STEPS);
      // The loss went down, so the comparison is of a run that trains.
      expect(eager.losses[STEPS - 1]!).toBeLessThan(eager.losses[0]!);
      expect(engine.memory().numTensors).toBe(before);
    });
  }

  it('records assignments as updates and host steps without running them during capture', () => {
    engine.setBackend(backend);
    const v = engine.tidy(() => op.variable(op.tensor([1, 2], [2], { dtype: 'float64', backend }), 'v'));
    let hostRuns = 0;
    const { graph } = captureGraphWithExternals(
      (x) => {
        engine.hostStep(() => hostRuns++);
        v.assign(op.add(v, x));
        v.assign(op.mul(v, 2)); // a later read sees the first assignment
        return op.sum(v);
      },
      [{ shape: [2], dtype: 'float64' }],
      { backend },
    );
    expect(hostRuns).toBe(0);
    expect(hostStepCount(graph)).toBe(1);
    expect(graph.updates?.length).toBe(1);
    expect(Array.from(v.dataSync())).toEqual([1, 2]); // capture changed nothing
    const x = op.tensor([10, 20], [2], { dtype: 'float64', backend });
    const s = executeGraph(graph, backend, [x]) as Tensor;
    expect(hostRuns).toBe(1);
    expect(Array.from(v.dataSync())).toEqual([22, 44]);
    expect(s.dataSync()[0]).toBe(66);
    const s2 = executeGraph(graph, backend, [x]) as Tensor;
    expect(Array.from(v.dataSync())).toEqual([64, 128]);
    expect(s2.dataSync()[0]).toBe(192);
    expect(hostRuns).toBe(2);
    for (const t of [v, x, s, s2]) t.dispose();
  });

  it('an updated value that is also returned is copied, so the output and the variable stay independent', () => {
    engine.setBackend(backend);
    const v = engine.tidy(() => op.variable(op.tensor([1, 2], [2], { dtype: 'float64', backend }), 'v'));
    const { graph } = captureGraphWithExternals(
      (x) => {
        const next = op.add(v, x);
        v.assign(next);
        return next;
      },
      [{ shape: [2], dtype: 'float64' }],
      { backend },
    );
    const x = op.tensor([1, 1], [2], { dtype: 'float64', backend });
    const out = executeGraph(graph, backend, [x]) as Tensor;
    expect(Array.from(out.dataSync())).toEqual([2, 3]);
    out.dispose();
    expect(Array.from(v.dataSync())).toEqual([2, 3]);
    const out2 = executeGraph(graph, backend, [x]) as Tensor;
    expect(Array.from(out2.dataSync())).toEqual([3, 4]);
    for (const t of [v, x, out2]) t.dispose();
  });

  it('a variable created inside the recorded function cannot be assigned', () => {
    engine.setBackend(backend);
    expect(() =>
      captureGraphWithExternals(
        (x) => {
          const w = op.variable(op.mul(x, 2), 'inner');
          w.assign(op.add(w, 1));
          return w;
        },
        [{ shape: [2], dtype: 'float64' }],
        { backend },
      ),
    ).toThrow(GraphCaptureError);
  });
});
