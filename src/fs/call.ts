/**
 * One fs call on its way through the rings: an atom (opcode and arguments), how its answer becomes
 * Node's (`finish`), and its promise's settle functions. Light on purpose: importing syslet/fs
 * loads this, not the runtime.
 */

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
  /** Numbers for its other parameters, in order; NaN leaves an optional one out. */
  n1: number;
  n2: number;
  n3: number;
  /** Bytes for a buffer parameter (writefile, write). */
  data: Uint8Array | undefined;
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
  args: readonly unknown[] | undefined;

  constructor(
    readonly op: number,
    readonly finish: number,
    p1: string,
    syscall: string,
  ) {
    this.p1 = p1;
    this.p2 = undefined;
    this.n1 = Number.NaN;
    this.n2 = Number.NaN;
    this.n3 = Number.NaN;
    this.data = undefined;
    this.syscall = syscall;
    this.path = p1;
    this.dest = undefined;
    this.extra = undefined;
    this.nodeFn = undefined;
    this.args = undefined;
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
