// The backend registry: backends are registered by name with a lazy factory and a priority, and
// resolved by a list of names at run time. Each factory runs at most once (its backend, or its
// failure, is remembered); when no candidate initialises, one error lists why each failed and
// what to install. Registering never imports a heavy engine: factories do, with `await import()`.

import { BackendUnavailableError, InvalidArgumentError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import type { Backend } from './types.js';

export type BackendFactory = () => Backend | Promise<Backend>;

export interface RegisterOptions {
  /** Only used when named explicitly, never picked by priority (e.g. tfjs's slow cpu backend). */
  explicitOnly?: boolean;
  /** Replaces an existing registration of the same name. */
  override?: boolean;
}

interface Entry {
  readonly name: string;
  readonly factory: BackendFactory;
  readonly priority: number;
  readonly explicitOnly: boolean;
  state: { kind: 'idle' } | { kind: 'pending'; promise: Promise<Backend> } | { kind: 'ready'; backend: Backend } | { kind: 'failed'; reason: string };
}

const registry = new Map<string, Entry>();

function ensureReference(): void {
  if (!registry.has('reference')) {
    registry.set('reference', { name: 'reference', factory: () => engine.reference, priority: 0, explicitOnly: false, state: { kind: 'idle' } });
  }
}

/** Registers a backend under `name`. Higher priority wins when no names are given. */
export function registerBackend(name: string, factory: BackendFactory, priority = 0, options: RegisterOptions = {}): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError(`registerBackend: name must be a non-empty string, got ${describe(name)}`);
  if (typeof factory !== 'function') throw new InvalidArgumentError(`registerBackend: factory must be a function, got ${describe(factory)}`);
  if (!Number.isFinite(priority)) throw new InvalidArgumentError(`registerBackend: priority must be a finite number, got ${describe(priority)}`);
  ensureReference();
  if (registry.has(name) && !options.override) {
    const existing = registry.get(name)!;
    // Re-registering the same factory (a module imported twice) is harmless.
    if (existing.factory === factory) return;
    throw new InvalidArgumentError(`registerBackend: a backend named "${name}" is already registered (pass { override: true } to replace it)`);
  }
  registry.set(name, { name, factory, priority, explicitOnly: options.explicitOnly ?? false, state: { kind: 'idle' } });
}

/** Names of registered backends, highest priority first. */
export function listBackends(): string[] {
  ensureReference();
  return [...registry.values()].sort((a, b) => b.priority - a.priority).map((e) => e.name);
}

async function initialise(entry: Entry): Promise<Backend> {
  switch (entry.state.kind) {
    case 'ready':
      return entry.state.backend;
    case 'failed':
      throw new BackendUnavailableError(entry.state.reason);
    case 'pending':
      return entry.state.promise;
    case 'idle': {
      const promise = (async () => {
        try {
          const backend = await entry.factory();
          if (!backend || backend.specVersion !== 1 || typeof backend.kernels !== 'object') {
            throw new Error(`factory returned ${describe(backend && backend.name)}, which does not implement backend spec version 1`);
          }
          entry.state = { kind: 'ready', backend };
          return backend;
        } catch (e) {
          const reason = e instanceof Error ? e.message : String(e);
          entry.state = { kind: 'failed', reason };
          throw e;
        }
      })();
      // A factory that throws synchronously has already marked the entry failed by now: keep
      // that instead of overwriting it with 'pending'.
      if (entry.state.kind === 'idle') entry.state = { kind: 'pending', promise };
      return promise;
    }
  }
}

/**
 * The first of `names` that initialises (default: every registered backend that is not
 * explicit-only, by priority). Throws one BackendUnavailableError listing every failure.
 */
export async function resolveBackend(names?: readonly string[]): Promise<Backend> {
  ensureReference();
  if (names !== undefined && !Array.isArray(names)) throw new InvalidArgumentError(`resolveBackend: names must be an array of backend names, got ${describe(names)}`);
  const candidates = names
    ? names.map((n) => {
        if (typeof n !== 'string') throw new InvalidArgumentError(`resolveBackend: names must be strings, got ${describe(n)}`);
        return n;
      })
    : [...registry.values()].filter((e) => !e.explicitOnly).sort((a, b) => b.priority - a.priority).map((e) => e.name);
  if (candidates.length === 0) throw new InvalidArgumentError('resolveBackend: names must not be empty');
  const failures: Array<{ name: string; reason: string }> = [];
  for (const name of candidates) {
    const entry = registry.get(name);
    if (!entry) {
      failures.push({ name, reason: `not registered (registered: ${listBackends().join(', ')}); import its package and call its register function` });
      continue;
    }
    try {
      return await initialise(entry);
    } catch (e) {
      failures.push({ name, reason: entry.state.kind === 'failed' ? entry.state.reason : e instanceof Error ? e.message : String(e) });
    }
  }
  const lines = failures.map((f) => `  [${f.name}] ${f.reason}`).join('\n');
  throw new BackendUnavailableError(`resolveBackend: no available backend among ${describe(candidates)}:\n${lines}`, failures);
}

/** Resolves a backend (a name, a list of names, or a Backend object) and makes it current. */
export async function setBackend(backend: string | readonly string[] | Backend): Promise<Backend> {
  const b = typeof backend === 'string' ? await resolveBackend([backend]) : Array.isArray(backend) ? await resolveBackend(backend as readonly string[]) : (backend as Backend);
  if (typeof b !== 'object' || b === null || b.specVersion !== 1 || typeof b.kernels !== 'object' || b.kernels === null) {
    throw new InvalidArgumentError(`setBackend: expected a backend name, a list of names or a Backend (spec version 1), got ${describe(backend)}`);
  }
  engine.setBackend(b);
  return b;
}

/** The current backend (the float64 reference backend until another is set). */
export function getBackend(): Backend {
  return engine.backend;
}

/** @internal Test hook: forget registrations (and their initialised backends) except the reference. */
export function _resetRegistryForTests(): void {
  registry.clear();
  ensureReference();
}
