/**
 * One fs call on its way through the rings, and Node's shapes for its answer.
 *
 * A call: an atom (opcode and arguments), how its answer becomes Node's (`finish`), and its
 * promise's settle functions. The shapes: errors as node:fs/promises rejects with them (message
 * `CODE: description, syscall 'path' -> 'dest'`, and errno, code, syscall, path, dest in that
 * order), and real fs.Stats, fs.BigIntStats and fs.Dirent instances. The classes are Node's own,
 * taken from instances Node made (its constructors are not public API: `new fs.Stats()` is
 * deprecated), so every getter and predicate is Node's.
 *
 * Light on purpose (importing syslet/fs loads this, not the runtime): one file, few imports.
 */
import * as fs from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { errnoName } from '../syslet/errno.js';

/** libuv's error names and descriptions, by (negative) libuv error number. */
let systemErrors: Map<number, [string, string]> | undefined;

/** Linux errno names (atoms' results use Linux numbers on every platform), for other platforms. */
let byName: Map<string, number> | undefined;

function uvErrno(result: number): number {
  if (process.platform === 'linux') return result;
  const name = errnoName(result);
  if (name === undefined) return result;
  if (byName === undefined) {
    byName = new Map();
    for (const [n, [code]] of systemErrorMap()) byName.set(code, n);
  }
  return byName.get(name) ?? result;
}

function systemErrorMap(): Map<number, [string, string]> {
  return (systemErrors ??= getSystemErrorMap() as Map<number, [string, string]>);
}

/**
 * The error node:fs/promises rejects with when `syscall` fails with `result` (-errno, Linux
 * numbers) on `path` (and `dest`): an Error with Node's message and fields.
 */
export function uvError(result: number, syscall: string, path?: string, dest?: string): Error {
  const errnum = uvErrno(result);
  const [code, desc] = systemErrorMap().get(errnum) ?? ['UNKNOWN', 'unknown error'];
  let message = `${code}: ${desc}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const err = new Error(message) as Error & { errno: number; code: string; syscall: string; path?: string; dest?: string };
  err.errno = errnum;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  if (dest !== undefined) err.dest = dest;
  return err;
}

type StatsCtor = new (...fields: number[]) => fs.Stats;
type BigIntStatsCtor = new (...fields: bigint[]) => fs.BigIntStats;
type DirentCtor = new (name: string, type: number, path: string) => fs.Dirent;

let statsCtor: StatsCtor | undefined;
let bigIntStatsCtor: BigIntStatsCtor | undefined;
let direntCtor: DirentCtor | undefined;

function classOf<T>(instance: object): T {
  return Object.getPrototypeOf(instance).constructor as T;
}

/**
 * Whether Node builds fs.Stats from timespecs (Node 26: seconds and nanoseconds, which only a
 * nanosecond stat carries) rather than from milliseconds (up to 24: a plain stat carries them).
 */
export function statsFromTimespecs(): boolean {
  statsCtor ??= classOf<StatsCtor>(fs.statSync('/'));
  return statsCtor.length === 18;
}

/**
 * An fs.Stats from a STAT record (values.ts: dev ino mode nlink uid gid rdev size blksize blocks
 * atimeMs mtimeMs ctimeMs birthtimeMs) at Float64 index `f`: for the Node lines whose Stats take
 * milliseconds, the same doubles Node computed on the worker.
 */
export function makeStatsMs(f64: Float64Array, f: number): fs.Stats {
  const C = (statsCtor ??= classOf<StatsCtor>(fs.statSync('/')));
  return new C(
    f64[f]!, f64[f + 2]!, f64[f + 3]!, f64[f + 4]!, f64[f + 5]!, f64[f + 6]!, f64[f + 8]!,
    f64[f + 1]!, f64[f + 7]!, f64[f + 9]!, f64[f + 10]!, f64[f + 11]!, f64[f + 12]!, f64[f + 13]!,
  );
}

/** An unsigned 64-bit field (two Int32 words, little-endian) as Node's Float64 stat array has it. */
function u64(i32: Int32Array, w: number): number {
  return (i32[w + 1]! >>> 0) * 4294967296 + (i32[w]! >>> 0);
}

/** A signed 64-bit field (seconds of a timespec, nanoseconds). */
function i64(i32: Int32Array, w: number): number {
  return i32[w + 1]! * 4294967296 + (i32[w]! >>> 0);
}

/**
 * An fs.Stats from a BIGSTAT record at Int32 index `w` of `i32` (values.ts: dev ino mode nlink uid
 * gid rdev size blksize blocks, then seconds and nanoseconds of atime mtime ctime birthtime). Node
 * up to 24 builds Stats from milliseconds it computes as `sec * 1e3 + nsec / 1e6`; Node 26 from the
 * timespecs themselves: both are done here as Node does them, so every field is bit-identical.
 */
export function makeStats(i32: Int32Array, w: number): fs.Stats {
  const C = (statsCtor ??= classOf<StatsCtor>(fs.statSync('/')));
  const dev = u64(i32, w);
  const ino = u64(i32, w + 2);
  const mode = u64(i32, w + 4);
  const nlink = u64(i32, w + 6);
  const uid = u64(i32, w + 8);
  const gid = u64(i32, w + 10);
  const rdev = u64(i32, w + 12);
  const size = u64(i32, w + 14);
  const blksize = u64(i32, w + 16);
  const blocks = u64(i32, w + 18);
  const as = i64(i32, w + 20);
  const an = i64(i32, w + 22);
  const ms = i64(i32, w + 24);
  const mn = i64(i32, w + 26);
  const cs = i64(i32, w + 28);
  const cn = i64(i32, w + 30);
  const bs = i64(i32, w + 32);
  const bn = i64(i32, w + 34);
  if (C.length === 18) {
    return new C(dev, mode, nlink, uid, gid, rdev, blksize, ino, size, blocks, as, an, ms, mn, cs, cn, bs, bn);
  }
  return new C(
    dev, mode, nlink, uid, gid, rdev, blksize, ino, size, blocks,
    as * 1e3 + an / 1e6, ms * 1e3 + mn / 1e6, cs * 1e3 + cn / 1e6, bs * 1e3 + bn / 1e6,
  );
}

const NS_PER_S = 1_000_000_000n;

/** An fs.BigIntStats from a BIGSTAT record at BigInt64 index `f` of `b64`. */
export function makeBigIntStats(b64: BigInt64Array, f: number): fs.BigIntStats {
  const C = (bigIntStatsCtor ??= classOf<BigIntStatsCtor>(fs.statSync('/', { bigint: true })));
  return new C(
    b64[f]!, b64[f + 2]!, b64[f + 3]!, b64[f + 4]!, b64[f + 5]!, b64[f + 6]!, b64[f + 8]!,
    b64[f + 1]!, b64[f + 7]!, b64[f + 9]!,
    b64[f + 10]! * NS_PER_S + b64[f + 11]!,
    b64[f + 12]! * NS_PER_S + b64[f + 13]!,
    b64[f + 14]! * NS_PER_S + b64[f + 15]!,
    b64[f + 16]! * NS_PER_S + b64[f + 17]!,
  );
}

/** An fs.Dirent: `name` in directory `parent`, `type` a UV_DIRENT_* number. */
export function makeDirent(name: string, type: number, parent: string): fs.Dirent {
  const C = (direntCtor ??= fs.Dirent as unknown as DirentCtor);
  return new C(name, type, parent);
}

/** libuv's directory entry types (fs.constants has them; its typings leave them out). */
export const DirentType = fs.constants as unknown as Readonly<
  Record<'UV_DIRENT_UNKNOWN' | 'UV_DIRENT_FILE' | 'UV_DIRENT_DIR' | 'UV_DIRENT_LINK', number>
>;


/** How an atom's result and value become the call's answer (api.ts reads it). */
export const Finish = {
  /** Resolve undefined, or reject with the uvError. */
  VOID: 0,
  /** fs.Stats / fs.BigIntStats. */
  STAT: 1,
  /** readFile: the bytes, or a string in `encoding`. */
  BYTES: 2,
  /** readdir: the names. */
  NAMES: 3,
  /** readdir withFileTypes: Dirents in `path`. */
  DIRENTS: 4,
  /** readlink, realpath, mkdtemp: the string value. */
  STRING: 5,
  /** mkdir recursive: the first directory made, or undefined. */
  MKDIRP: 6,
  /** Internal steps (walks, chunked reads and writes): resolve with the RawAnswer itself. */
  RAW: 7,
} as const;

/** A value read back from a completion: a Stats, a string, bytes, entries; LOST when it could not travel. */
export type AtomValue = unknown;
export const LOST: unique symbol = Symbol('syslet/fs: value lost');
/** The atom never ran (its batch found no room, was cancelled, or its worker died): see the result. */
export const NOT_RUN: unique symbol = Symbol('syslet/fs: atom not run');

/** What a RAW call resolves with. */
export interface RawAnswer {
  result: number;
  value: AtomValue;
}

export class FsCall {
  /** Strings for the atom's path parameters, in order. */
  p1: string;
  p2: string | undefined;
  /**
   * Numbers for its other parameters, in order; undefined leaves an optional one out (not NaN: a
   * double field would cost every call a heap number).
   */
  n1: number | undefined;
  n2: number | undefined;
  n3: number | undefined;
  /** Bytes for a buffer parameter (writefile, write). */
  data: Uint8Array | undefined;
  /** For a read into a buffer parameter: where the bytes read go (its length is the count). */
  out: Uint8Array | undefined;
  /** readFile: the backend, for a file too large for one value (read in chunks through it). */
  via: Backend | undefined;
  resolve: (v: unknown) => void = noop;
  reject: (e: unknown) => void = noop;
  /** For errors and answers: Node's syscall name, the path and dest it shows. */
  syscall: string;
  path: string | undefined;
  dest: string | undefined;
  /** Finish-specific: readFile's encoding, readdir's directory, stat's bigint flag. */
  extra: unknown;
  /**
   * The node:fs/promises function and arguments of the same call: it runs there instead when its
   * atom never ran, or (read-only calls) when the answer could not travel back whole.
   */
  nodeFn: ((...args: never[]) => Promise<unknown>) | undefined;
  a0: unknown;
  a1: unknown;
  a2: unknown;

  constructor(
    readonly op: number,
    readonly finish: number,
    p1: string,
    syscall: string,
  ) {
    this.p1 = p1;
    this.p2 = undefined;
    this.n1 = undefined;
    this.n2 = undefined;
    this.n3 = undefined;
    this.data = undefined;
    this.out = undefined;
    this.via = undefined;
    this.syscall = syscall;
    this.path = p1;
    this.dest = undefined;
    this.extra = undefined;
    this.nodeFn = undefined;
    this.a0 = undefined;
    this.a1 = undefined;
    this.a2 = undefined;
  }
}

function noop(): void {}

/** Where calls go: the rings (engine.ts). */
export interface Backend {
  /** Queue a call; it settles through `settle`. */
  submit(c: FsCall): void;
}

/** The answer maker (api.ts): turns a finished atom into the call's settlement. */
export type Settle = (c: FsCall, result: number, value: AtomValue) => void;
