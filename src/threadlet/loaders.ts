/**
 * Module customization hooks registered at run time (`module.register()` on the calling thread),
 * replayed on the workers before they import a threadlet's module. Node runs a worker's `--import`
 * and `--loader` itself (from Node 22; worker-run.ts runs them on Node 20), but hooks registered at
 * run time stay on the thread that registered them, on every line: a threadlet module that needs
 * them (a `.ts` file, a virtual specifier) would not import on a worker.
 *
 * How: importing syslet wraps `module.register` (and syncs the ESM named export), recording each
 * registration in order: specifier and parent URL as strings, and `data` when it can be cloned
 * without a transferList. A request carries the list when it is not empty; a worker registers the
 * entries it has not registered yet, in order, before its next import. A registration made before
 * syslet was imported (a `--import` preload: workers run those themselves), or one whose `data`
 * needs a transferList (MessagePorts), is not replayed; the import error says so.
 */
import module from 'node:module';

/** One registration, as it travels. */
export interface LoaderEntry {
  /** Specifier (a URL's href when given a URL). */
  s: string;
  /** Parent URL, or undefined. */
  p: string | undefined;
  /** `data`, structured-cloned; undefined when none was given. */
  d: unknown;
}

const entries: LoaderEntry[] = [];
/** Registrations that could not be recorded (data with a transferList): named in import errors. */
export const unreplayable: string[] = [];

function href(x: unknown): string | undefined {
  if (x === undefined) return undefined;
  return x instanceof URL ? x.href : String(x);
}

function record(specifier: unknown, parentURL: unknown, options: unknown): void {
  // register(specifier, parentURL?, options?) or register(specifier, options?).
  let opts = options as { parentURL?: unknown; data?: unknown; transferList?: unknown[] } | undefined;
  let parent = parentURL;
  if (typeof parentURL === 'object' && parentURL !== null && !(parentURL instanceof URL)) {
    opts = parentURL as typeof opts;
    parent = opts?.parentURL;
  }
  const s = href(specifier)!;
  if (opts?.transferList !== undefined && opts.transferList.length > 0) {
    unreplayable.push(s);
    return;
  }
  let d: unknown;
  try {
    d = opts !== undefined && 'data' in opts ? structuredClone(opts.data) : undefined;
  } catch {
    unreplayable.push(s);
    return;
  }
  entries.push({ s, p: href(parent), d });
}

/** The registrations so far (append-only), or undefined when there are none (most programs). */
export function registeredLoaders(): LoaderEntry[] | undefined {
  return entries.length === 0 ? undefined : entries;
}

const WRAPPED = Symbol.for('syslet.threadlet.register');

/** Record this thread's module.register() calls from now on (idempotent; a no-op where it cannot). */
export function recordRegistrations(): void {
  const m = module as unknown as Record<string | symbol, unknown>;
  const register = m.register as ((...a: unknown[]) => unknown) | undefined;
  if (typeof register !== 'function' || (register as unknown as Record<symbol, unknown>)[WRAPPED] === true) return;
  const wrapper = function (this: unknown, specifier: unknown, parentURL?: unknown, options?: unknown): unknown {
    const r = register.apply(this, arguments as unknown as unknown[]);
    record(specifier, parentURL, options);
    return r;
  };
  Object.defineProperty(wrapper, WRAPPED, { value: true });
  Object.defineProperty(wrapper, 'name', { value: 'register', configurable: true });
  try {
    m.register = wrapper;
    module.syncBuiltinESMExports();
  } catch {
    // A read-only export (some Node lines): registrations are then not replayed on workers.
  }
}

/** Worker side: how many of the caller's entries this worker registered already. */
let applied = 0;

/** Register on this worker the entries it has not yet (they only grow, in order). */
export function applyRegistrations(list: readonly LoaderEntry[] | undefined): void {
  if (list === undefined) return;
  for (; applied < list.length; applied++) {
    const e = list[applied]!;
    const options = e.d === undefined ? undefined : { data: e.d };
    if (e.p === undefined) module.register(e.s, options as never);
    else module.register(e.s, e.p, options);
  }
}
