/**
 * Interception of the blocking calls a threadlet makes: the `fs`, `child_process`, `zlib` and slow
 * `crypto` sync calls, and `Atomics.wait` (Node's sleep).
 *
 * Each function is replaced, on the builtin module object itself, by a wrapper; then
 * `module.syncBuiltinESMExports()` makes ESM named imports (`import { readFileSync } from 'node:fs'`)
 * see the wrapper too, and CommonJS code sees it through `require('fs')`, which is the same object.
 * Outside a threadlet the wrapper tests one word (`state.ctx === null`) and calls the original with
 * the same `this` and `arguments`: nothing else changes, not even `arguments.length`.
 *
 * Not intercepted (documented in the threadlet contract): a function captured before
 * installInterception() ran (`const { readFileSync } = require('fs')` in a module loaded earlier;
 * preload `--import syslet/register` to install first), Node's own internal I/O (module loading),
 * native addons, and nondeterminism that is not a call (Date.now, Math.random).
 *
 * Each spec says whether a call may run inline (timed against the budget, journaled) or must run on
 * a worker: sleeps, flushes, child processes, tree walks, and reads, writes or CPU work whose size
 * says they would take long.
 */
import childProcess from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import zlib from 'node:zlib';
import { installNativeInterception } from './native.js';
import { ORIGINAL, bytesOf, original, state, type AnyFunction, type CallSpec, type OutputRange } from './original.js';

// ---- sizes and estimates -----------------------------------------------------------------------

function byteSize(x: unknown): number {
  if (typeof x === 'string') return x.length;
  if (ArrayBuffer.isView(x)) return x.byteLength;
  if (x instanceof ArrayBuffer || x instanceof SharedArrayBuffer) return x.byteLength;
  return 0;
}

function totalSize(list: unknown): number {
  if (!Array.isArray(list)) return 0;
  let n = 0;
  for (const b of list) n += byteSize(b);
  return n;
}

function opt(o: unknown, k: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined;
}

/** Is `fd` something other than a regular file (a pipe, socket or terminal a read may wait on)? */
function fdMayWait(fd: unknown): boolean {
  if (typeof fd !== 'number') return false;
  try {
    return !original(fs.fstatSync)(fd).isFile();
  } catch {
    return false; // A bad fd: the call itself fails at once.
  }
}

const NEVER = (): string => '';
const always =
  (reason: string) =>
  (): string =>
    reason;

/**
 * A CPU-bound call on `args[0]` bytes at about `bytesPerUs`: blocks when its input is large, or
 * when it would overrun what is left of the budget.
 */
const cpu =
  (bytesPerUs: number, what: string) =>
  (args: unknown[], budgetLeftUs: number, largeBytes: number): string => {
    if (opt(args[1], 'info') === true) return `${what} with { info: true } (returns its engine)`;
    const n = byteSize(args[0]);
    const us = n / bytesPerUs;
    return n > largeBytes || us > budgetLeftUs ? `${what} of ${n} bytes (about ${Math.round(us)} µs)` : '';
  };

// ---- fs ------------------------------------------------------------------------------------------

/** readSync(fd, buffer, offset?, length?, position?) or readSync(fd, buffer, options?). */
function readSyncRange(args: unknown[]): { offset: number; length: number } {
  const buf = args[1];
  const size = byteSize(buf);
  if (args.length <= 3 || (typeof args[2] === 'object' && args[2] !== null)) {
    const offset = Number(opt(args[2], 'offset') ?? 0);
    return { offset, length: Number(opt(args[2], 'length') ?? size - offset) };
  }
  const offset = Number(args[2] ?? 0);
  return { offset, length: Number(args[3] ?? size - offset) };
}

function fsSpec(name: string): Omit<CallSpec, 'key'> {
  switch (name) {
    case 'fsyncSync':
    case 'fdatasyncSync':
      return { blocks: always('flushes to the disk') };
    case 'opendirSync':
      return { blocks: always('returns a directory handle') };
    case 'cpSync':
      return { blocks: always('copies a tree') };
    case 'globSync':
      return { blocks: always('walks a tree') };
    case 'rmSync':
    case 'rmdirSync':
      return { blocks: (a) => (opt(a[1], 'recursive') === true ? 'removes a tree' : '') };
    case 'readdirSync':
      return { blocks: (a) => (opt(a[1], 'recursive') === true ? 'walks a tree' : '') };
    case 'readFileSync':
      return {
        blocks: (a, _left, large) => {
          let st: fs.Stats | undefined;
          try {
            st =
              typeof a[0] === 'number'
                ? original(fs.fstatSync)(a[0])
                : original(fs.statSync)(a[0] as fs.PathLike, { throwIfNoEntry: false });
          } catch {
            return ''; // The call itself fails at once.
          }
          if (st === undefined) return '';
          if (!st.isFile()) return 'reads a pipe, socket, device or terminal';
          return st.size > large ? `large read (${st.size} bytes)` : '';
        },
      };
    case 'readSync':
      return {
        outArgs: [1],
        blocks: (a, _left, large) => {
          const { length } = readSyncRange(a);
          if (length > large) return `large read (${length} bytes)`;
          return fdMayWait(a[0]) ? 'reads a pipe, socket or terminal' : '';
        },
        outputs: (a, n) => {
          const bytes = bytesOf(a[1]);
          if (bytes === undefined || typeof n !== 'number' || n <= 0) return [];
          const { offset } = readSyncRange(a);
          return [{ arg: 1, item: -1, offset, bytes: bytes.slice(offset, offset + n) }];
        },
      };
    case 'readvSync':
      return {
        outArgs: [1],
        blocks: (a, _left, large) => {
          const n = totalSize(a[1]);
          if (n > large) return `large read (${n} bytes)`;
          return fdMayWait(a[0]) ? 'reads a pipe, socket or terminal' : '';
        },
        outputs: (a, n) => {
          const out: OutputRange[] = [];
          if (!Array.isArray(a[1]) || typeof n !== 'number') return out;
          let left = n;
          for (let i = 0; i < a[1].length && left > 0; i++) {
            const bytes = bytesOf(a[1][i]);
            if (bytes === undefined) continue;
            const k = Math.min(left, bytes.byteLength);
            out.push({ arg: 1, item: i, offset: 0, bytes: bytes.slice(0, k) });
            left -= k;
          }
          return out;
        },
      };
    case 'writeFileSync':
    case 'appendFileSync':
    case 'writeSync':
      return { blocks: (a, _l, large) => (byteSize(a[1]) > large ? `large write (${byteSize(a[1])} bytes)` : '') };
    case 'writevSync':
      return { blocks: (a, _l, large) => (totalSize(a[1]) > large ? `large write (${totalSize(a[1])} bytes)` : '') };
    case 'copyFileSync':
      return {
        blocks: (a, _l, large) => {
          try {
            const st = original(fs.statSync)(a[0] as fs.PathLike, { throwIfNoEntry: false });
            return st !== undefined && st.size > large ? `large copy (${st.size} bytes)` : '';
          } catch {
            return '';
          }
        },
      };
    default:
      return { blocks: NEVER };
  }
}

// ---- the others ------------------------------------------------------------------------------------

function zlibSpec(name: string): Omit<CallSpec, 'key'> {
  if (name === 'brotliCompressSync') return { blocks: cpu(5, 'brotli compression') };
  if (/^(deflate|deflateRaw|gzip)Sync$/.test(name)) return { blocks: cpu(50, 'compression') };
  return { blocks: cpu(100, 'zlib work') };
}

const hasCallback = (args: unknown[]): boolean => typeof args[args.length - 1] === 'function';

function cryptoSpec(name: string): (Omit<CallSpec, 'key'> & { passthrough?: (args: unknown[]) => boolean }) | undefined {
  switch (name) {
    case 'pbkdf2Sync':
    case 'scryptSync':
      return { blocks: always('key derivation') };
    case 'generateKeyPairSync':
      return { blocks: always('key generation') };
    case 'generatePrimeSync':
    case 'checkPrimeSync':
      return { blocks: always('prime search') };
    case 'randomFillSync':
      return {
        outArgs: [0],
        returnsArg: 0,
        blocks: (a, left, large) => {
          const n = byteSize(a[0]);
          return n > large || n / 300 > left ? `large random fill (${n} bytes)` : '';
        },
        outputs: (a) => {
          const bytes = bytesOf(a[0]);
          return bytes === undefined ? [] : [{ arg: 0, item: -1, offset: 0, bytes: bytes.slice() }];
        },
      };
    case 'randomBytes':
      return {
        passthrough: hasCallback,
        blocks: (a, left, large) => {
          const n = Number(a[0]);
          return n > large || n / 300 > left ? `large random read (${n} bytes)` : '';
        },
      };
    case 'randomInt':
      return { passthrough: hasCallback, blocks: NEVER };
    case 'randomUUID':
      return { blocks: NEVER };
    default:
      return undefined;
  }
}

const atomicsWaitSpec: Omit<CallSpec, 'key'> = {
  // A zero timeout only looks: it returns at once, so it may run inline (and is journaled).
  blocks: (a) => (a[3] === 0 ? '' : 'sleeps (Atomics.wait)'),
};

// ---- installation ----------------------------------------------------------------------------------

/** Extra properties of a spec that decide, per call, whether it is intercepted at all. */
interface Passthrough {
  passthrough?: (args: unknown[]) => boolean;
}

function makeWrapper(spec: CallSpec & Passthrough, orig: AnyFunction): AnyFunction {
  const passthrough = spec.passthrough;
  // The fast path is the first line: outside a threadlet, one load and one compare, then the
  // original with this call's own `this` and `arguments` (V8 forwards them without copying).
  const wrapper =
    passthrough === undefined
      ? function (this: unknown): unknown {
          const ctx = state.ctx;
          if (ctx === null) return orig.apply(this, arguments as unknown as unknown[]);
          return ctx.intercept(spec, orig, this, arguments);
        }
      : function (this: unknown): unknown {
          const ctx = state.ctx;
          if (ctx === null || passthrough(Array.prototype.slice.call(arguments))) {
            return orig.apply(this, arguments as unknown as unknown[]);
          }
          return ctx.intercept(spec, orig, this, arguments);
        };
  Object.defineProperty(wrapper, 'name', { value: orig.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: orig.length, configurable: true });
  Object.defineProperty(wrapper, ORIGINAL, { value: orig });
  return wrapper;
}

/**
 * Replace `target[key]` by its wrapper, and say how: '' when it was replaced (assigned when
 * writable; redefined with its own attributes when read-only but configurable, as zlib's exports
 * are on Node 26), or why it was left alone (read-only and not configurable, an accessor, absent).
 * Never throws because of a builtin's shape.
 */
function patch(target: object, key: string, spec: CallSpec & Passthrough): string {
  const d = Object.getOwnPropertyDescriptor(target, key);
  if (d === undefined) return 'absent';
  // An accessor (a lazy getter) is not called here: calling it may load a module, and replacing it
  // with a value would change what later reads see.
  if (!('value' in d)) return 'an accessor (getter) property';
  const orig: unknown = d.value;
  if (typeof orig !== 'function') return 'not a function';
  if ((orig as unknown as Record<symbol, unknown>)[ORIGINAL] !== undefined) return ''; // Already a wrapper.
  if (!d.writable && !d.configurable) return 'read-only and not configurable';
  const wrapper = makeWrapper(spec, orig as AnyFunction);
  // Properties hung on the function (fs.realpathSync.native) stay reachable, wrapped in turn below.
  for (const k of Object.getOwnPropertyNames(orig)) {
    if (k === 'length' || k === 'name' || k === 'prototype' || k === 'arguments' || k === 'caller') continue;
    const pd = Object.getOwnPropertyDescriptor(orig, k);
    if (pd !== undefined) Object.defineProperty(wrapper, k, pd);
  }
  if (d.writable) (target as Record<string, unknown>)[key] = wrapper;
  else Object.defineProperty(target, key, { value: wrapper, writable: false, enumerable: d.enumerable, configurable: true });
  return '';
}

/** A module's own data properties whose name ends in `Sync` and whose value is a function (no getter is called). */
function syncFunctions(m: object): string[] {
  const out: string[] = [];
  for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(m))) {
    if (!d.enumerable || !k.endsWith('Sync')) continue;
    // A getter is listed, so that the status names it as skipped, not silently left out.
    if (!('value' in d) || typeof d.value === 'function') out.push(k);
  }
  return out;
}

/** Every intercepted function: [module object, property, spec]. Built once, when installing. */
function plan(): [object, string, CallSpec & Passthrough][] {
  const out: [object, string, CallSpec & Passthrough][] = [];
  for (const k of syncFunctions(fs)) out.push([fs, k, { key: `fs.${k}`, ...fsSpec(k) }]);
  for (const k of ['execSync', 'execFileSync', 'spawnSync']) {
    out.push([childProcess, k, { key: `child_process.${k}`, blocks: always('runs a child process') }]);
  }
  for (const k of syncFunctions(zlib)) out.push([zlib, k, { key: `zlib.${k}`, ...zlibSpec(k) }]);
  for (const k of Object.keys(crypto)) {
    const spec = cryptoSpec(k);
    if (spec !== undefined) out.push([crypto, k, { key: `crypto.${k}`, ...spec }]);
  }
  out.push([Atomics, 'wait', { key: 'Atomics.wait', ...atomicsWaitSpec }]);
  return out;
}

/** What installInterception() did on this thread: see interceptionStatus(). */
export interface InterceptionStatus {
  /** Whether installInterception() has run on this thread (the first threadlet() call, or the preload). */
  readonly installed: boolean;
  /** The calls that are wrapped: 'fs.readFileSync', 'zlib.gzipSync', 'Atomics.wait', ... */
  readonly intercepted: readonly string[];
  /**
   * The calls left as they were, each with why (read-only and not configurable, an accessor): a
   * threadlet's call of one of these runs inline, unjournaled, like any uninstrumented code.
   */
  readonly skipped: readonly { readonly key: string; readonly reason: string }[];
}

// Shared by the copies of syslet loaded in one thread, like `state` (original.ts).
const STATUS_KEY = Symbol.for('syslet.threadlet.interception');
const status = ((globalThis as Record<symbol, unknown>)[STATUS_KEY] ??= {
  intercepted: [] as string[],
  skipped: [] as { key: string; reason: string }[],
}) as { intercepted: string[]; skipped: { key: string; reason: string }[] };

function install(target: object, key: string, spec: CallSpec & Passthrough): void {
  const why = patch(target, key, spec);
  if (why === '') status.intercepted.push(spec.key);
  else status.skipped.push({ key: spec.key, reason: why });
}

/**
 * Install the interception on this thread (idempotent). The first threadlet() call installs it
 * (importing syslet changes nothing), and so does every worker when it starts, before it imports
 * any threadlet module. `--import syslet/register` installs it before any other module loads, so
 * that functions that modules loaded before captured (`const { readFileSync } = require('fs')`)
 * are the wrappers too.
 *
 * A builtin export that cannot be replaced (read-only and not configurable, or an accessor) is
 * left as it is and listed in interceptionStatus().skipped; this never throws because of the
 * shape of a builtin module.
 */
export function installInterception(): void {
  if (state.installed) return;
  state.installed = true;
  for (const [target, key, spec] of plan()) install(target, key, spec);
  // fs.realpathSync.native is a function of its own, copied onto the wrapper above.
  const native = Object.getOwnPropertyDescriptor(fs.realpathSync, 'native');
  if (native !== undefined && typeof native.value === 'function') {
    install(fs.realpathSync, 'native', { key: 'fs.realpathSync.native', blocks: NEVER });
  }
  syncBuiltinESMExports();
  installNativeInterception();
}

/** Whether this thread's builtins are intercepted (installInterception() has run). */
export function interceptionInstalled(): boolean {
  return state.installed;
}

/** What is intercepted on this thread and what could not be (see InterceptionStatus). Copies. */
export function interceptionStatus(): InterceptionStatus {
  return { installed: state.installed, intercepted: [...status.intercepted], skipped: status.skipped.map((s) => ({ ...s })) };
}
