/**
 * The node:fs/promises functions over a Backend (the rings). Each function checks that its
 * arguments are of the plain kinds it runs through the rings (a path string, Buffer or file: URL;
 * options it knows); anything else (a wrong type, a FileHandle, an AbortSignal, an encoding other
 * than UTF-8 for names) goes to node:fs/promises itself, so Node's own validation answers with
 * Node's own TypeErrors. Before the backend is up (getBackend() returns undefined) every call goes
 * there too.
 */
import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { errno } from '../syslet/errno.js';
import { Op, openFlagsFromString } from '../syslet/ops.js';
import type { DirentList } from '../syslet/values.js';
import {
  Finish,
  FsCall,
  LOST,
  NOT_RUN,
  makeDirent,
  statsFromTimespecs,
  uvError,
  type AtomValue,
  type Backend,
  type RawAnswer,
} from './call.js';

/** Files larger than this are read in chunks (chunked.ts), not as one value. */
const MAX_INLINE_READ = 1024 * 1024;
/** Data larger than this is written in chunks. */
const MAX_INLINE_WRITE = 1024 * 1024;

type AnyFn = (...args: never[]) => Promise<unknown>;

/** A path argument as the string the atom uses (and Node's errors show), or undefined: let Node handle it. */
export function pathArg(p: unknown): string | undefined {
  if (typeof p === 'string') return p.includes('\u0000') ? undefined : p;
  if (p instanceof URL) {
    if (p.protocol !== 'file:') return undefined;
    let s: string;
    try {
      s = fileURLToPath(p);
    } catch {
      return undefined;
    }
    return s.includes('\u0000') ? undefined : s;
  }
  if (p instanceof Uint8Array) {
    const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    if (b.includes(0)) return undefined;
    const s = b.toString('utf8');
    // Only bytes that are UTF-8 travel as a string unchanged.
    return Buffer.byteLength(s, 'utf8') === b.length && Buffer.from(s, 'utf8').equals(b) ? s : undefined;
  }
  return undefined;
}

function isUtf8(enc: unknown): boolean {
  return enc === undefined || enc === 'utf8' || enc === 'utf-8';
}

/** Only these keys (with undefined for the rest). */
function onlyKeys(o: object, allowed: readonly string[]): boolean {
  for (const k in o) if (!allowed.includes(k) && (o as Record<string, unknown>)[k] !== undefined) return false;
  return true;
}

function isMode(m: unknown): m is number {
  return typeof m === 'number' && Number.isInteger(m) && m >= 0 && m <= 0o777777;
}

/** A call form the rings do not take, on a facade that may not hand it to node:fs/promises. */
function unsupported(fn: string): Error {
  return Object.assign(
    new Error(
      `syslet/fs: ${fn}() with these arguments cannot run under the runtime's policy: only the forms the rings take (string, UTF-8 Buffer or file: URL paths, UTF-8 names, no AbortSignal or FileHandle); node:fs/promises would not be confined`,
    ),
    { code: 'ERR_SYSLET_FS_UNCONFINED' },
  );
}

/** Settle a call from its atom's result and value (engine.ts calls it for every call). */
export function settle(c: FsCall, r: number, v: AtomValue): void {
  if (v === NOT_RUN) {
    // Nothing ran: run it through Node instead (unless its worker died in the middle of it).
    if (r !== -errno.EOWNERDEAD && c.nodeFn !== undefined) c.resolve(c.nodeFn(c.a0 as never, c.a1 as never, c.a2 as never));
    else c.reject(uvError(r, c.syscall, c.path, c.dest));
    return;
  }
  if (c.finish === Finish.RAW) {
    c.resolve({ result: r, value: v } satisfies RawAnswer);
    return;
  }
  if (v === LOST && r >= 0 && c.finish !== Finish.VOID) {
    // The answer did not fit the arena: read-only calls run again through Node.
    if (c.nodeFn !== undefined) c.resolve(c.nodeFn(c.a0 as never, c.a1 as never, c.a2 as never));
    else c.reject(uvError(-errno.ENOMEM, c.syscall, c.path, c.dest));
    return;
  }
  if (r < 0) {
    if (c.op === Op.READFILE && v === 'size' && c.via !== undefined) {
      // Larger than one value may be: read it in chunks through the rings.
      const via = c.via;
      c.resolve(
        import('./chunked.js').then((m) =>
          m.readFileChunked(via, c.p1, c.n1!, c.extra as BufferEncoding | undefined, c.nodeFn === undefined ? undefined : () => c.nodeFn!(c.a0 as never, c.a1 as never)),
        ),
      );
      return;
    }
    if (c.op === Op.READFILE && v !== 'open' && c.nodeFn !== undefined) {
      // Failed after open (a directory, a read error) or too large for one value: reading has no
      // effect, so Node reads it again and answers (its messages for these differ across lines).
      c.resolve(c.nodeFn(c.a0 as never, c.a1 as never, c.a2 as never));
      return;
    }
    c.reject(failure(c, r, v));
    return;
  }
  switch (c.finish) {
    case Finish.VOID:
      c.resolve(undefined);
      return;
    case Finish.STAT:
    case Finish.STRING:
      c.resolve(v);
      return;
    case Finish.MKDIRP:
      c.resolve(typeof v === 'string' ? v : undefined);
      return;
    case Finish.BYTES: {
      const enc = c.extra as BufferEncoding | undefined;
      c.resolve(enc === undefined ? v : (v as Buffer).toString(enc));
      return;
    }
    case Finish.NAMES:
      c.resolve((v as DirentList).names);
      return;
    case Finish.DIRENTS: {
      const d = v as DirentList;
      const parent = c.extra as string;
      const out = new Array<unknown>(d.names.length);
      for (let k = 0; k < out.length; k++) out[k] = makeDirent(d.names[k]!, d.types[k]!, parent);
      c.resolve(out);
      return;
    }
    default:
      c.reject(new Error(`syslet/fs: unknown finish ${c.finish}`));
  }
}

/** The error Node gives for this call's failure `r` (the value names the step that failed). */
function failure(c: FsCall, r: number, v: AtomValue): Error {
  switch (c.op) {
    case Op.READFILE:
    case Op.WRITEFILE:
    case Op.TRUNCATE:
      // Steps after open: Node's errors for read/write/ftruncate/close carry no path (up to 24).
      if (typeof v === 'string' && v !== 'open') return uvError(r, v);
      return uvError(r, 'open', c.path);
    case Op.MKDTEMP:
      return uvError(r, 'mkdtemp', typeof v === 'string' ? v : `${c.path}XXXXXX`);
    default:
      return uvError(r, c.syscall, c.path, c.dest);
  }
}

/** The fs.promises functions this module runs through the rings. */
export interface AcceleratedFs {
  access: typeof fsp.access;
  appendFile: typeof fsp.appendFile;
  chmod: typeof fsp.chmod;
  copyFile: typeof fsp.copyFile;
  link: typeof fsp.link;
  lstat: typeof fsp.lstat;
  mkdir: typeof fsp.mkdir;
  mkdtemp: typeof fsp.mkdtemp;
  readdir: typeof fsp.readdir;
  readFile: typeof fsp.readFile;
  readlink: typeof fsp.readlink;
  realpath: typeof fsp.realpath;
  rename: typeof fsp.rename;
  rm: typeof fsp.rm;
  rmdir: typeof fsp.rmdir;
  stat: typeof fsp.stat;
  symlink: typeof fsp.symlink;
  truncate: typeof fsp.truncate;
  unlink: typeof fsp.unlink;
  utimes: typeof fsp.utimes;
  writeFile: typeof fsp.writeFile;
}

/** The names of AcceleratedFs, for the README and the door. */
export const ACCELERATED = [
  'access', 'appendFile', 'chmod', 'copyFile', 'link', 'lstat', 'mkdir', 'mkdtemp', 'readdir',
  'readFile', 'readlink', 'realpath', 'rename', 'rm', 'rmdir', 'stat', 'symlink', 'truncate',
  'unlink', 'utimes', 'writeFile',
] as const;

/**
 * A failure's stack, taken again where the caller's await resumes: the error was made on the reap
 * loop, whose stack says nothing of the caller. Rethrown from a reaction whose promise the caller
 * awaits, V8 adds the caller's async frames (`at async userFn (app.mjs:3)`), as Node's own
 * fs.promises does (lib/internal/fs/promises.js, handleErrorFromBinding).
 */
function recapture(err: unknown): never {
  if (err instanceof Error) Error.captureStackTrace(err, recapture);
  throw err;
}

/** Run `c` on `b`: a promise of its answer. */
export function run(b: Backend, c: FsCall): Promise<unknown> {
  return new Promise((resolve, reject) => {
    c.resolve = resolve;
    c.reject = reject;
    b.submit(c);
  }).then(undefined, recapture);
}

/** The time argument of utimes in seconds, as Node's toUnixTimestamp has it, or undefined. */
function unixTime(t: unknown): number | undefined {
  if (typeof t === 'number' && Number.isFinite(t) && t >= 0) return t;
  if (t instanceof Date && Number.isFinite(t.getTime())) return t.getTime() / 1000;
  return undefined;
}

/** readFile / writeFile's `flag` as open flags, or undefined. */
function flagOf(flag: unknown, fallback: string): number | undefined {
  if (flag === undefined) return openFlagsFromString(fallback, constants);
  return typeof flag === 'string' ? openFlagsFromString(flag, constants) : undefined;
}

/**
 * The accelerated functions over `getBackend()` (undefined: not up yet, use node:fs/promises).
 * `mutating` calls have no node fallback: an atom that may have run is never run twice.
 */
export function makeFs(getBackend: () => Backend | undefined, opts: { confined?: boolean } = {}): AcceleratedFs {
  // Bound to a runtime with a policy, nothing may reach the file system but through its rings:
  // no call goes to node:fs/promises (not unusual arguments, not a retry), it is refused instead.
  const confined = opts.confined === true;
  function viaNode(fn: AnyFn, a0: unknown, a1: unknown, a2: unknown): Promise<unknown> {
    if (confined) return Promise.reject(unsupported(fn.name));
    return fn(a0 as never, a1 as never, a2 as never);
  }
  function call(op: number, finish: number, p1: string, syscall: string, fn: AnyFn, a0: unknown, a1: unknown, a2: unknown): FsCall {
    const c = new FsCall(op, finish, p1, syscall);
    if (!confined) {
      c.nodeFn = fn;
      c.a0 = a0;
      c.a1 = a1;
      c.a2 = a2;
    }
    return c;
  }

  // A plain stat carries Node's milliseconds; Node 26 builds Stats from timespecs, which only the
  // nanosecond stat carries (it costs the worker BigInts: used only where needed).
  const timespecs = statsFromTimespecs();
  function stat(this: unknown, a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return statLike(false, fsp.stat as AnyFn, a0, a1, a2);
  }
  function lstat(this: unknown, a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return statLike(true, fsp.lstat as AnyFn, a0, a1, a2);
  }
  function statLike(l: boolean, fn: AnyFn, a0: unknown, a1: unknown, a2: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    const o = a1 as { bigint?: unknown } | undefined;
    if (p === undefined || (o !== undefined && (typeof o !== 'object' || o === null))) return viaNode(fn, a0, a1, a2);
    const big = o?.bigint === true;
    const op = big || timespecs ? (l ? Op.LSTAT_NS : Op.STAT_NS) : l ? Op.LSTAT : Op.STAT;
    const c = call(op, Finish.STAT, p, l ? 'lstat' : 'stat', fn, a0, a1, a2);
    c.extra = big;
    return run(b!, c);
  }

  function access(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    const mode = a1;
    if (p === undefined || (mode !== undefined && !(Number.isInteger(mode) && (mode as number) >= 0 && (mode as number) <= 7))) {
      return viaNode(fsp.access as AnyFn, a0, a1, a2);
    }
    const c = call(Op.ACCESS, Finish.VOID, p, 'access', fsp.access as AnyFn, a0, a1, a2);
    c.n1 = mode === undefined ? constants.F_OK : (mode as number);
    return run(b!, c);
  }

  function readFile(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    let o = a1;
    if (typeof o === 'string') o = { encoding: o };
    const opts = (o ?? {}) as { encoding?: unknown; flag?: unknown };
    const flags = flagOf(opts.flag, 'r');
    const enc = opts.encoding ?? undefined;
    if (
      p === undefined ||
      typeof opts !== 'object' ||
      !onlyKeys(opts, ['encoding', 'flag']) ||
      flags === undefined ||
      (enc !== undefined && (typeof enc !== 'string' || !Buffer.isEncoding(enc)))
    ) {
      return viaNode(fsp.readFile as AnyFn, a0, a1, a2);
    }
    const c = call(Op.READFILE, Finish.BYTES, p, 'open', fsp.readFile as AnyFn, a0, a1, a2);
    c.n1 = flags;
    c.n2 = MAX_INLINE_READ;
    c.extra = enc;
    c.via = b;
    return run(b!, c);
  }

  function readdir(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    let o = a1;
    if (typeof o === 'string') o = { encoding: o };
    const opts = (o ?? {}) as { encoding?: unknown; withFileTypes?: unknown; recursive?: unknown };
    if (
      p === undefined ||
      typeof opts !== 'object' ||
      !onlyKeys(opts, ['encoding', 'withFileTypes', 'recursive']) ||
      !isUtf8(opts.encoding ?? undefined) ||
      (opts.recursive !== undefined && typeof opts.recursive !== 'boolean')
    ) {
      return viaNode(fsp.readdir as AnyFn, a0, a1, a2);
    }
    const types = opts.withFileTypes === true;
    if (opts.withFileTypes !== undefined && typeof opts.withFileTypes !== 'boolean') return viaNode(fsp.readdir as AnyFn, a0, a1, a2);
    if (opts.recursive === true) return import('./walk.js').then((w) => w.readdirRecursive(b!, p, types, typeof a0 === 'string', () => viaNode(fsp.readdir as AnyFn, a0, a1, a2)));
    const c = call(Op.SCANDIR, types ? Finish.DIRENTS : Finish.NAMES, p, 'scandir', fsp.readdir as AnyFn, a0, a1, a2);
    c.extra = p;
    return run(b!, c);
  }

  function stringOp(op: number, syscall: string, fn: AnyFn, a0: unknown, a1: unknown, a2: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    let o = a1;
    if (typeof o === 'string') o = { encoding: o };
    const opts = (o ?? {}) as { encoding?: unknown };
    if (p === undefined || typeof opts !== 'object' || !onlyKeys(opts, ['encoding']) || !isUtf8(opts.encoding ?? undefined)) {
      return viaNode(fn, a0, a1, a2);
    }
    return run(b!, call(op, Finish.STRING, p, syscall, fn, a0, a1, a2));
  }
  function readlink(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return stringOp(Op.READLINK, 'readlink', fsp.readlink as AnyFn, a0, a1, a2);
  }
  function realpath(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return stringOp(Op.REALPATH, 'realpath', fsp.realpath as AnyFn, a0, a1, a2);
  }

  /** A one-path call that changes the tree: no Node fallback once it may have run. */
  function onePath(op: number, syscall: string, fn: AnyFn, a0: unknown, a1: unknown, a2: unknown, extraOk: boolean, finish: number = Finish.VOID): FsCall | undefined {
    if (!extraOk) return undefined;
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    if (p === undefined) return undefined;
    return call(op, finish, p, syscall, fn, a0, a1, a2);
  }

  function unlink(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const c = onePath(Op.UNLINK, 'unlink', fsp.unlink as AnyFn, a0, a1, a2, true);
    return c === undefined ? viaNode(fsp.unlink as AnyFn, a0, a1, a2) : run(getBackend()!, c);
  }

  function rmdir(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const o = a1;
    const ok = o === undefined || (typeof o === 'object' && o !== null && onlyKeys(o, []));
    const c = onePath(Op.RMDIR, 'rmdir', fsp.rmdir as AnyFn, a0, a1, a2, ok);
    return c === undefined ? viaNode(fsp.rmdir as AnyFn, a0, a1, a2) : run(getBackend()!, c);
  }

  function mkdir(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    let o = a1;
    if (typeof o === 'number') o = { mode: o };
    const opts = (o ?? {}) as { recursive?: unknown; mode?: unknown };
    const ok =
      typeof opts === 'object' &&
      onlyKeys(opts, ['recursive', 'mode']) &&
      (opts.recursive === undefined || typeof opts.recursive === 'boolean') &&
      (opts.mode === undefined || isMode(opts.mode));
    const recursive = opts.recursive === true;
    const c = onePath(recursive ? Op.MKDIRP : Op.MKDIR, 'mkdir', fsp.mkdir as AnyFn, a0, a1, a2, ok, recursive ? Finish.MKDIRP : Finish.VOID);
    if (c === undefined) return viaNode(fsp.mkdir as AnyFn, a0, a1, a2);
    c.n1 = opts.mode === undefined ? 0o777 : (opts.mode as number);
    return run(getBackend()!, c);
  }

  function chmod(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const c = onePath(Op.CHMOD, 'chmod', fsp.chmod as AnyFn, a0, a1, a2, isMode(a1));
    if (c === undefined) return viaNode(fsp.chmod as AnyFn, a0, a1, a2);
    c.n1 = a1 as number;
    return run(getBackend()!, c);
  }

  function utimes(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const at = unixTime(a1);
    const mt = unixTime(a2);
    const c = onePath(Op.UTIMES, 'utime', fsp.utimes as AnyFn, a0, a1, a2, at !== undefined && mt !== undefined);
    if (c === undefined) return viaNode(fsp.utimes as AnyFn, a0, a1, a2);
    c.n1 = at!;
    c.n2 = mt!;
    return run(getBackend()!, c);
  }

  function truncate(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const len = a1;
    const ok = len === undefined || (typeof len === 'number' && Number.isSafeInteger(len));
    const c = onePath(Op.TRUNCATE, 'open', fsp.truncate as AnyFn, a0, a1, a2, ok);
    if (c === undefined) return viaNode(fsp.truncate as AnyFn, a0, a1, a2);
    c.n1 = len === undefined ? 0 : Math.max(0, len as number);
    return run(getBackend()!, c);
  }

  function mkdtemp(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    let o = a1;
    if (typeof o === 'string') o = { encoding: o };
    const opts = (o ?? {}) as { encoding?: unknown };
    const ok = typeof a0 === 'string' && typeof opts === 'object' && onlyKeys(opts, ['encoding']) && isUtf8(opts.encoding ?? undefined);
    const c = onePath(Op.MKDTEMP, 'mkdtemp', fsp.mkdtemp as AnyFn, a0, a1, a2, ok, Finish.STRING);
    if (c === undefined) return viaNode(fsp.mkdtemp as AnyFn, a0, a1, a2);
    return run(getBackend()!, c);
  }

  /** rename, link, copyFile, symlink: two paths, errors show both. */
  function twoPath(op: number, syscall: string, fn: AnyFn, a0: unknown, a1: unknown, a2: unknown, ok: boolean, n1?: number): Promise<unknown> {
    const b = ok ? getBackend() : undefined;
    const p1 = b === undefined ? undefined : pathArg(a0);
    const p2 = p1 === undefined ? undefined : pathArg(a1);
    if (p2 === undefined) return viaNode(fn, a0, a1, a2);
    const c = call(op, Finish.VOID, p1!, syscall, fn, a0, a1, a2);
    c.p2 = p2;
    c.dest = p2;
    c.n1 = n1;
    return run(b!, c);
  }
  function rename(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return twoPath(Op.RENAME, 'rename', fsp.rename as AnyFn, a0, a1, a2, true);
  }
  function link(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return twoPath(Op.LINK, 'link', fsp.link as AnyFn, a0, a1, a2, true);
  }
  function symlink(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const type = a2;
    const ok = type === undefined || type === null || type === 'file' || type === 'dir' || type === 'junction';
    return twoPath(Op.SYMLINK, 'symlink', fsp.symlink as AnyFn, a0, a1, a2, ok && typeof a0 === 'string');
  }
  function copyFile(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const mode = a2;
    const ok = mode === undefined || (Number.isInteger(mode) && (mode as number) >= 0 && (mode as number) <= 7);
    return twoPath(Op.COPYFILE, 'copyfile', fsp.copyFile as AnyFn, a0, a1, a2, ok, mode === undefined ? 0 : (mode as number));
  }

  function writeLike(fallbackFlag: string, fn: AnyFn, a0: unknown, a1: unknown, a2: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    let o = a2;
    if (typeof o === 'string') o = { encoding: o };
    const opts = (o ?? {}) as { encoding?: unknown; mode?: unknown; flag?: unknown };
    const data = a1;
    const enc = opts.encoding ?? 'utf8';
    const flags = flagOf(opts.flag, fallbackFlag);
    if (
      p === undefined ||
      typeof opts !== 'object' ||
      !onlyKeys(opts, ['encoding', 'mode', 'flag']) ||
      flags === undefined ||
      (opts.mode !== undefined && !isMode(opts.mode)) ||
      typeof enc !== 'string' ||
      !Buffer.isEncoding(enc) ||
      !(typeof data === 'string' || ArrayBuffer.isView(data))
    ) {
      return viaNode(fn, a0, a1, a2);
    }
    const bytes =
      typeof data === 'string'
        ? Buffer.from(data, enc)
        : new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength);
    const mode = opts.mode === undefined ? 0o666 : (opts.mode as number);
    if (bytes.byteLength > MAX_INLINE_WRITE) {
      return import('./chunked.js').then((m) => m.writeFileChunked(b!, p, flags, mode, bytes));
    }
    const c = new FsCall(Op.WRITEFILE, Finish.VOID, p, 'open');
    c.n1 = flags;
    c.n2 = mode;
    c.data = bytes;
    if (!confined) {
      c.nodeFn = fn;
      c.a0 = a0;
      c.a1 = a1;
      c.a2 = a2;
    }
    return run(b!, c);
  }
  function writeFile(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return writeLike('w', fsp.writeFile as AnyFn, a0, a1, a2);
  }
  function appendFile(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    return writeLike('a', fsp.appendFile as AnyFn, a0, a1, a2);
  }

  function rm(a0?: unknown, a1?: unknown, a2?: unknown): Promise<unknown> {
    const b = getBackend();
    const p = b === undefined ? undefined : pathArg(a0);
    const o = a1;
    const opts = (o ?? {}) as { recursive?: unknown; force?: unknown };
    if (
      p === undefined ||
      typeof opts !== 'object' ||
      !onlyKeys(opts, ['recursive', 'force']) ||
      (opts.recursive !== undefined && typeof opts.recursive !== 'boolean') ||
      (opts.force !== undefined && typeof opts.force !== 'boolean')
    ) {
      return viaNode(fsp.rm as AnyFn, a0, a1, a2);
    }
    // The walks load on first use (importing syslet/fs stays small).
    return import('./walk.js').then((w) => w.rmRecursive(b!, p, opts.recursive === true, opts.force === true, () => viaNode(fsp.rm as AnyFn, a0, a1, a2)));
  }

  return {
    access, appendFile, chmod, copyFile, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink,
    realpath, rename, rm, rmdir, stat, symlink, truncate, unlink, utimes, writeFile,
  } as unknown as AcceleratedFs;
}

