/**
 * Worker side of threadlets, the part that runs them: imported by worker.ts on a worker's first
 * threadlet request, never by caller-side code.
 *
 * Importing it installs the interception, before any threadlet module is imported on this thread,
 * so every blocking call a threadlet makes here goes through a wrapper however its module captured
 * it. Then, for each THREADLET entry: read the request, import the threadlet's module (once: Node
 * caches it; the handler is synchronous once it is loaded), find the function in the registry,
 * re-run it with the journal answering the calls already made inline (journal.ts, Replayer), and
 * write the result or error record and the completion fields. The pump posts the completion.
 */
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { RequestContext } from '../syslet/kinds.js';
import { Stamp, Status, entryCancelled, entryId, entryProgressSet, entryStampSet, entryStatusSet } from '../syslet/entry.js';
import { errno, resultOfCode } from '../syslet/errno.js';
import type { SharedState } from '../syslet/shared.js';
import { ThreadletCancelledError, ThreadletError } from './errors.js';
import { installInterception } from './intercept.js';
import { applyRegistrations, type LoaderEntry } from './loaders.js';
import { Replayer, closeLeftOpen, outcomeToWire, runUnder, settledOutcome } from './journal.js';
import { THREADLET_THREW, THREADLET_UNRUNNABLE, recordBytes, writeRecord, type ThreadletRequest } from './protocol.js';
import { lookup, type Registered } from './registry.js';
import { pack, unpack, unpackedGraph } from './pack.js';
import { fromWire } from './wire.js';

installInterception();

/**
 * Intercepted calls that compute rather than wait (compression, key derivation, hashing): a worker
 * inside one is busy, not blocked, so the pool does not grow for it (pool.ts).
 */
const COMPUTES = /^(zlib|crypto)\./;

/** The worker's BlockMarker, applied to the calls that wait (fs, child processes, Atomics.wait). */
function blockingOf(ctx: RequestContext): { enter(key: string): void; leave(): void } {
  const b = ctx.blocking;
  return {
    enter: (key) => {
      if (!COMPUTES.test(key)) b.enter();
    },
    // Clearing a mark that was never set is harmless.
    leave: () => b.leave(),
  };
}

/** Write the completion: status, result, and the value or error record. */
function complete(s: SharedState, idx: number, name: string, status: number, result: number, threw: boolean, v: unknown): void {
  let w = outcomeToWire(name, { threw, value: v });
  if (w.unsendable) {
    status = Status.FAILED;
    result = THREADLET_UNRUNNABLE;
  }
  let bytes = pack(w.wire, w.graph);
  if (writeRecord(s, idx, 'res', bytes) < 0) {
    // No room for it: the caller gets an error that says which limit and how to raise it instead.
    const a = s.arena.stats();
    const err = Object.assign(
      new ThreadletError(
        name,
        `${threw ? 'threw' : 'returned'} a value of ${bytes.byteLength} bytes (packed), which does not fit in the` +
          ` runtime's arena (${a.bytes} bytes, ${a.inUse} in use): raise Runtime.create({ arenaBytes })` +
          ` (a power of two, at most ${2 ** 30}), or return less (a path, a range) and read the rest outside`,
      ),
      { code: 'ENOMEM' },
    );
    w = outcomeToWire(name, { threw: true, value: err });
    bytes = pack(w.wire, w.graph);
    status = Status.FAILED;
    result = -errno.ENOMEM;
    if (writeRecord(s, idx, 'res', bytes) < 0) result = -errno.ENOMEM; // Not even that: the bare errno.
  }
  entryStatusSet(s, idx, status, result);
}

function fail(s: SharedState, idx: number, name: string, e: unknown): void {
  const status = e instanceof ThreadletCancelledError ? Status.CANCELLED : Status.FAILED;
  const result =
    e instanceof ThreadletCancelledError
      ? -errno.ECANCELED
      : e instanceof ThreadletError
        ? THREADLET_UNRUNNABLE
        : (resultOfCode(e) ?? THREADLET_THREW);
  complete(s, idx, name, status, result, true, e);
}

/** Fail a request whose re-run never took over the inline run's journal: close what that left open. */
function failUntaken(s: SharedState, idx: number, req: ThreadletRequest, e: unknown): void {
  closeLeftOpen(req.j);
  fail(s, idx, req.n, e);
}

function cancelCheck(s: SharedState, idx: number, name: string): () => Error | undefined {
  const id = entryId(s, idx);
  // Acquire load: pairs with entryCancel's store of CANCEL = ID on the submitting thread.
  return () => (entryCancelled(s, idx, id) ? new ThreadletCancelledError(name, 'cancelled while running on a worker') : undefined);
}

/**
 * Run `f` with process.cwd() answering the caller's directory at the call. The process has one
 * directory, but a worker's process.cwd() may answer from a cache the caller's chdir() does not
 * clear (graceful-fs, under fs-extra, replaces process.cwd with one that caches until a chdir on
 * its own thread, and workers cannot chdir).
 */
function underCwd<T>(cwd: string, f: () => T): T {
  // Most runs: it answers right already (redefining a property of process costs microseconds).
  if (typeof cwd !== 'string' || process.cwd() === cwd) return f();
  const saved = Object.getOwnPropertyDescriptor(process, 'cwd');
  if (saved === undefined || !('value' in saved) || saved.configurable !== true) return f();
  Object.defineProperty(process, 'cwd', { ...saved, value: () => cwd });
  try {
    return f();
  } finally {
    Object.defineProperty(process, 'cwd', saved);
  }
}

function run(ctx: RequestContext, idx: number, req: ThreadletRequest, r: Registered): void {
  const s = ctx.s;
  const name = req.n;
  const cancelled = cancelCheck(s, idx, name);
  const early = cancelled();
  if (early !== undefined) {
    failUntaken(s, idx, req, early);
    return;
  }
  let args: unknown[];
  try {
    args = fromWire(req.a, r.errorClasses, req.g === true) as unknown[];
  } catch (e) {
    failUntaken(s, idx, req, new ThreadletError(name, 'its arguments could not be read', { cause: e }));
    return;
  }
  const replay = new Replayer({
    threadlet: name,
    journal: req.j,
    pending: req.p ?? undefined,
    classes: r.errorClasses,
    graph: req.g === true,
    cancelled,
    blocking: blockingOf(ctx),
  });
  const ran = underCwd(req.c, () => runUnder(replay, r.fn, args));
  entryProgressSet(s, idx, 0, replay.real);
  entryStampSet(s, idx, Stamp.REPLAYED, replay.replayedAt);
  // A divergence or cancellation decides first, whatever the function returned or threw.
  const bad = replay.finish();
  if (bad !== undefined) {
    if (!replay.tookOver) closeLeftOpen(req.j);
    fail(s, idx, name, bad);
    return;
  }
  const { threw, value } = settledOutcome(name, ran);
  if (threw) fail(s, idx, name, value);
  else complete(s, idx, name, Status.DONE, 0, false, value);
}

/**
 * Refusal of Runtime.create() on this worker (runtime.ts reads it under this registered symbol): a
 * module imported here to find a threadlet that starts a Runtime, at its top level or later (a
 * timer, a server's callback), would start workers that import it again, without end. Set while the
 * import runs, and kept once a module was imported: a worker has no use for a Runtime of its own
 * (Runtime.attach() joins the caller's).
 */
const STARTING_REFUSED = Symbol.for('syslet.runtime.refuse');

const FIX =
  ' The module that defines a threadlet is imported on every worker, so it must not start a Runtime' +
  ' (each worker would start workers of its own, without end). Define the threadlet in a module of its' +
  " own (the README's config.ts), or start the program only on the main thread:" +
  ' `if (isMainThread) { ... }` (node:worker_threads)';

function importModule(url: string, name: string, registered: LoaderEntry[] | undefined): Promise<unknown> {
  const g = globalThis as Record<symbol, unknown>;
  g[STARTING_REFUSED] = `Runtime.create() ran on a syslet worker while it imported ${url} to find threadlet '${name}'.${FIX}`;
  return loaders()
    .then(() => {
      applyRegistrations(registered);
      return import(url);
    })
    .finally(() => {
      g[STARTING_REFUSED] =
        `Runtime.create() ran on a syslet worker, which imported ${url} to find threadlet '${name}'` +
        ` (code it runs there started one later: a timer, a callback).${FIX}`;
    });
}

/**
 * The caller's loaders, on Node lines whose workers do not run them: since Node 22 a worker runs
 * the `--import` and `--loader` of its execArgv (inherited from the caller's) itself; Node 20
 * ignores them in workers, so they are run here, before the first threadlet module is imported.
 */
let loaded: Promise<void> | undefined;

function loaders(): Promise<void> {
  return (loaded ??= (async () => {
    if (Number(process.versions.node.split('.')[0]) >= 22) return;
    const argv = process.execArgv;
    const base = pathToFileURL(`${process.cwd()}/`).href;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      const eq = a.indexOf('=');
      const flag = eq < 0 ? a : a.slice(0, eq);
      if (flag !== '--import' && flag !== '--loader' && flag !== '--experimental-loader') continue;
      const spec = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (spec === undefined) continue;
      // As Node resolves them: paths against the working directory, packages from there up.
      const url = /^\.{0,2}\//.test(spec) ? new URL(spec, base).href : spec;
      if (flag === '--import') await import(url);
      else register(url, base);
    }
  })());
}

/** What a failed import says, plus why a loader the caller uses may not be there. */
function importFailure(url: string, e: unknown): string {
  let why = `could not import ${url}: ${(e as Error)?.message ?? String(e)}`;
  const code = (e as { code?: unknown })?.code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_ESM_URL_SCHEME') {
    why +=
      '. Workers start with the caller\'s execArgv (--import, --loader), which Node 22 and later run on each' +
      ' worker; on Node 20 syslet runs them on the worker itself, but a loader that registers its hooks only' +
      ' on the main thread (tsx does) is not active there. Hooks registered at run time with' +
      ' module.register() on the calling thread after syslet was imported are registered on the workers' +
      ' too; ones registered before it, or with a transferList, are not. Preload the loader with' +
      ' --import on Node 22 or later, or import a build (.js) of the module';
  }
  return why;
}

/** The THREADLET request handler (see worker.ts). */
export function handle(ctx: RequestContext, idx: number): void | Promise<void> {
  const s = ctx.s;
  entryStampSet(s, idx, Stamp.REPLAYED, 0);
  let req: ThreadletRequest;
  try {
    req = unpack(recordBytes(s, idx, 'req') ?? new Uint8Array(0)) as ThreadletRequest;
    req.g = unpackedGraph();
  } catch (e) {
    fail(s, idx, '?', new ThreadletError('?', 'its request could not be read', { cause: e }));
    return;
  }
  const r = lookup(req.u, req.n);
  if (r !== undefined) {
    run(ctx, idx, req, r);
    return;
  }
  return importModule(req.u, req.n, req.l).then(
    () => {
      const loaded = lookup(req.u, req.n);
      if (loaded !== undefined) run(ctx, idx, req, loaded);
      else {
        failUntaken(
          s,
          idx,
          req,
          new ThreadletError(
            req.n,
            `${req.u} does not define it: threadlet(import.meta.url, '${req.n}', fn) must run when the module is imported (at its top level)`,
          ),
        );
      }
    },
    (e: unknown) => failUntaken(s, idx, req, new ThreadletError(req.n, importFailure(req.u, e), { cause: e })),
  );
}
