/**
 * syslet/fs: node:fs/promises, batched through the rings. Change the import, nothing else:
 *
 *   import { stat, readFile } from 'syslet/fs';   // was: from 'node:fs/promises'
 *
 * The functions in ACCELERATED (access appendFile chmod copyFile link lstat mkdir mkdtemp readdir
 * readFile readlink realpath rename rm rmdir stat symlink truncate unlink utimes writeFile) run as
 * atoms; the calls of a tick, and those made while earlier batches are in flight, share one chain
 * (one ring slot, one completion per batch), and each settles on its own with Node's answer: the
 * same values (real fs.Stats, fs.BigIntStats, fs.Dirent, Buffers, strings) and the same errors
 * (code, errno, syscall, path, dest, message). Everything else node:fs/promises exports (open and
 * FileHandle, opendir, cp, watch, constants, ...) is re-exported unchanged.
 *
 * Start-up: importing this module loads only node:fs/promises and this room's small files. The
 * runtime (its worker pool) starts on demand, when calls come in bursts (BURST_START calls in one
 * tick, or TOTAL_START in all); until its workers run, calls go to node:fs/promises. An idle runtime
 * holds no handle: a script exits when its work is done. `createFs(rt)` gives the same functions
 * over a runtime you made (and its policy), at once.
 */
import * as fsp from 'node:fs/promises';
import type { Runtime } from '../runtime.js';
import { makeFs, settle, ACCELERATED, type AcceleratedFs } from './api.js';
import type { Backend } from './call.js';
import type { Engine, EngineOptions } from './engine.js';

export * from 'node:fs/promises';
export { ACCELERATED };
export type { AcceleratedFs };

/** Calls in one synchronous burst that start the runtime. */
const BURST_START = 8;
/** Calls in all that start it. */
const TOTAL_START = 256;

let engine: Engine | undefined;
let starting: Promise<void> | undefined;
let burst = 0;
let burstReset = false;
let total = 0;

function resetBurst(): void {
  burst = 0;
  burstReset = false;
}

/** The default backend: the rings once they run, undefined (node:fs/promises) until then. */
function defaultBackend(): Backend | undefined {
  if (engine !== undefined) return engine;
  if (starting === undefined) {
    burst++;
    total++;
    if (!burstReset) {
      burstReset = true;
      queueMicrotask(resetBurst);
    }
    if (burst >= BURST_START || total >= TOTAL_START) void start();
  }
  return undefined;
}

/** Start the default runtime; its start-up holds no handle (a script done before it exits). */
function start(): Promise<void> {
  starting ??= (async () => {
    const [{ Runtime }, { Engine }] = await Promise.all([import('../runtime.js'), import('./engine.js')]);
    const rt = Runtime._startUnwaited({ slotBytes: 64 * 1024, ringSize: 256 });
    await workersUp(rt);
    engine = new Engine(rt, settle, { ownsRuntime: true, loneToNode: true });
  })();
  return starting;
}

/**
 * Start the default runtime now (instead of on demand) and resolve once calls go through the
 * rings. Its workers hold no handle once it runs: an idle process still exits.
 */
export async function ready(): Promise<void> {
  // The caller waits for it: hold the process meanwhile (loaded here: importing this module loads
  // only this room's files; the import's own file reads hold the process until it resolves).
  const hold = new (await import('atomics-sync')).Keepalive();
  hold.hold();
  try {
    await start();
  } finally {
    hold.dispose();
  }
}

/**
 * Resolve when `rt`'s workers run, polling on an unref'd timer (Runtime.ready() keeps the process
 * alive while it waits; a script that is done before the pool is should exit anyway).
 */
function workersUp(rt: Runtime): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      const running = rt.stats().workers.filter((w) => w.state === 'running').length;
      if (running >= rt.workers) resolve();
      else setTimeout(check, 2).unref();
    };
    check();
  });
}

const fs = makeFs(defaultBackend);

/**
 * The same functions bound to `rt`, a runtime you created (its workers, its policy: a path the
 * policy refuses fails with EACCES, shaped as Node's errors are). Ready at once.
 */
export async function createFs(rt: Runtime, opts: EngineOptions = {}): Promise<typeof fsp & AcceleratedFs> {
  const { Engine } = await import('./engine.js');
  const e = new Engine(rt, settle, opts);
  const policy = rt.share().policy;
  // A runtime with a policy: every call through its rings, none to node:fs/promises.
  const confined = policy.root !== '' || policy.mask !== -1;
  const accelerated = makeFs(() => e, { confined });
  if (!confined) return { ...fsp, ...accelerated } as typeof fsp & AcceleratedFs;
  const refused: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fsp)) {
    if (typeof v === 'function' && !(k in accelerated)) {
      refused[k] = () => Promise.reject(Object.assign(new Error(`syslet/fs: ${k}() does not run under the runtime's policy (node:fs/promises would not be confined)`), { code: 'ERR_SYSLET_FS_UNCONFINED' }));
    }
  }
  return { ...fsp, ...refused, ...accelerated } as typeof fsp & AcceleratedFs;
}

export const {
  access, appendFile, chmod, copyFile, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink,
  realpath, rename, rm, rmdir, stat, symlink, truncate, unlink, utimes, writeFile,
} = fs;

const promises: typeof fsp = { ...fsp, ...fs } as typeof fsp;
export default promises;
