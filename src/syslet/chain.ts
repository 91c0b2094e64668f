/**
 * Chains are plain data: JSON-serialisable objects that say which atoms run, with which arguments,
 * where results go and where control goes next. The builder below produces exactly this data.
 *
 * ```json
 * { "vars": { "total": 0 },
 *   "buffers": { "b": 65536 },
 *   "atoms": [
 *     { "op": "open",  "args": ["in.txt", "r"], "into": "fd", "flags": 32 },
 *     { "op": "read",  "args": [{ "var": "fd" }, { "buf": "b" }, 65536], "into": "n", "flags": 96 },
 *     { "op": "umem_add", "args": [{ "var": "total" }, { "var": "n" }], "next": 1 },
 *     { "op": "close", "args": [{ "var": "fd" }] } ] }
 * ```
 */
import {
  SysletFlag,
  type SysletFlagName,
} from './flags.js';
import type { OpName } from './ops.js';

/** A variable's value, read when the atom runs. */
export interface VarRef {
  var: string;
}

/**
 * A buffer: a name declared in `chain.buffers`, or an arena address (the `byteOffset` of a Buffer
 * from `rt.alloc()`). `offset` moves into the buffer; `length` limits it (default: to its end).
 */
export interface BufRef {
  buf: string | number;
  offset?: number;
  length?: number;
}

/** An argument: a number, a path (a string, or a Buffer of its bytes when they are not UTF-8), a variable or a buffer reference. */
export type Arg = number | string | Uint8Array | VarRef | BufRef;

export interface Atom {
  op: OpName;
  args?: Arg[];
  /** Variable that receives the result (and the value, where the operation has one). */
  into?: string;
  /** SYSLET_* bits. */
  flags?: number;
  /** Index of the next atom; absent: the following atom; null: the chain ends here. */
  next?: number | null;
}

/** A declared buffer: its size in bytes, or a size with initial contents. */
export type BufferDecl =
  | number
  | { size?: number; data: string; encoding?: 'utf8' | 'base64' | 'hex' };

export interface Chain {
  atoms: Atom[];
  /** Variables with initial values. Variables assigned by `into` need no declaration. */
  vars?: Record<string, number>;
  /** Buffers the runtime allocates in the arena for this chain; returned in the completion. */
  buffers?: Record<string, BufferDecl>;
}

/** Where the builder recorded arena Buffers, so submit can check they belong to its runtime. */
export const kBufferOrigins: unique symbol = Symbol('syslet.bufferOrigins');

/** `{ var: name }`. */
export function v(name: string): VarRef {
  return { var: name };
}

/** `{ buf: name | address, offset?, length? }`. */
export function buf(ref: string | number, offset?: number, length?: number): BufRef {
  const r: BufRef = { buf: ref };
  if (offset !== undefined) r.offset = offset;
  if (length !== undefined) r.length = length;
  return r;
}

/** Options accepted by every builder method. */
export interface AtomOptions {
  into?: string;
  /** A number, or flag names without the SYSLET_ prefix (`['STOP_ON_NEGATIVE']`). */
  flags?: number | readonly SysletFlagName[];
  /** An atom index, a label set with `.label()`, or null to end the chain. */
  next?: number | string | null;
}

type Num = number | VarRef;
type BufArg = BufRef | Buffer | Uint8Array;

/**
 * A typed chain builder. Each method appends one atom; `build()` returns the chain as plain data.
 *
 * ```ts
 * const c = chain()
 *   .open('/etc/hostname', 'r', undefined, { into: 'fd', flags: ['STOP_ON_NEGATIVE'] })
 *   .read(v('fd'), b, 4096, { into: 'n' })
 *   .close(v('fd'))
 *   .build();
 * ```
 */
export class ChainBuilder {
  readonly #atoms: Atom[] = [];
  readonly #labels = new Map<string, number>();
  readonly #pendingNext: { atom: number; label: string }[] = [];
  readonly #vars: Record<string, number> = {};
  readonly #buffers: Record<string, BufferDecl> = {};
  readonly #origins = new Set<ArrayBufferLike>();

  /** Name the position of the next atom, for `next: 'name'`. */
  label(name: string): this {
    if (this.#labels.has(name)) throw new TypeError(`chain builder: label "${name}" is defined twice`);
    this.#labels.set(name, this.#atoms.length);
    return this;
  }

  /** Declare a variable with an initial value. */
  var(name: string, initial: number): this {
    refuseProtoName(name, 'var');
    this.#vars[name] = initial;
    return this;
  }

  /** Declare a buffer the runtime allocates for this chain. */
  buffer(name: string, decl: BufferDecl): this {
    refuseProtoName(name, 'buffer');
    this.#buffers[name] = decl;
    return this;
  }

  /** Append an atom given as data. */
  atom(op: OpName, args: readonly (Arg | BufArg)[], opts: AtomOptions = {}): this {
    const a: Atom = { op, args: args.map((x) => this.#arg(x)) };
    if (opts.into !== undefined) a.into = opts.into;
    if (opts.flags !== undefined) a.flags = flagsOf(opts.flags);
    if (typeof opts.next === 'string') {
      this.#pendingNext.push({ atom: this.#atoms.length, label: opts.next });
    } else if (opts.next !== undefined) {
      a.next = opts.next;
    }
    this.#atoms.push(a);
    return this;
  }

  nop(result?: Num, o?: AtomOptions): this {
    return this.atom('nop', result === undefined ? [] : [result], o);
  }
  open(path: string, flags: number | string, mode?: Num, o?: AtomOptions): this {
    return this.atom('open', mode === undefined ? [path, flags] : [path, flags, mode], o);
  }
  close(fd: Num, o?: AtomOptions): this {
    return this.atom('close', [fd], o);
  }
  read(fd: Num, b: BufArg, count: Num, o?: AtomOptions): this {
    return this.atom('read', [fd, b, count], o);
  }
  pread(fd: Num, b: BufArg, count: Num, offset: Num, o?: AtomOptions): this {
    return this.atom('pread', [fd, b, count, offset], o);
  }
  write(fd: Num, b: BufArg, count: Num, o?: AtomOptions): this {
    return this.atom('write', [fd, b, count], o);
  }
  pwrite(fd: Num, b: BufArg, count: Num, offset: Num, o?: AtomOptions): this {
    return this.atom('pwrite', [fd, b, count, offset], o);
  }
  fstat(fd: Num, o?: AtomOptions): this {
    return this.atom('fstat', [fd], o);
  }
  stat(path: string, o?: AtomOptions): this {
    return this.atom('stat', [path], o);
  }
  lstat(path: string, o?: AtomOptions): this {
    return this.atom('lstat', [path], o);
  }
  fsync(fd: Num, o?: AtomOptions): this {
    return this.atom('fsync', [fd], o);
  }
  fdatasync(fd: Num, o?: AtomOptions): this {
    return this.atom('fdatasync', [fd], o);
  }
  ftruncate(fd: Num, length?: Num, o?: AtomOptions): this {
    return this.atom('ftruncate', length === undefined ? [fd] : [fd, length], o);
  }
  rename(oldPath: string, newPath: string, o?: AtomOptions): this {
    return this.atom('rename', [oldPath, newPath], o);
  }
  unlink(path: string, o?: AtomOptions): this {
    return this.atom('unlink', [path], o);
  }
  mkdir(path: string, mode?: Num, o?: AtomOptions): this {
    return this.atom('mkdir', mode === undefined ? [path] : [path, mode], o);
  }
  rmdir(path: string, o?: AtomOptions): this {
    return this.atom('rmdir', [path], o);
  }
  readdir(path: string, o?: AtomOptions): this {
    return this.atom('readdir', [path], o);
  }
  readlink(path: string, o?: AtomOptions): this {
    return this.atom('readlink', [path], o);
  }
  symlink(target: string, path: string, o?: AtomOptions): this {
    return this.atom('symlink', [target, path], o);
  }
  link(existingPath: string, newPath: string, o?: AtomOptions): this {
    return this.atom('link', [existingPath, newPath], o);
  }
  chmod(path: string, mode: Num, o?: AtomOptions): this {
    return this.atom('chmod', [path, mode], o);
  }
  utimes(path: string, atime: Num, mtime: Num, o?: AtomOptions): this {
    return this.atom('utimes', [path, atime, mtime], o);
  }
  access(path: string, mode?: Num, o?: AtomOptions): this {
    return this.atom('access', mode === undefined ? [path] : [path, mode], o);
  }
  copyfile(src: string, dest: string, flags?: Num, o?: AtomOptions): this {
    return this.atom('copyfile', flags === undefined ? [src, dest] : [src, dest, flags], o);
  }
  realpath(path: string, o?: AtomOptions): this {
    return this.atom('realpath', [path], o);
  }
  nanosleep(ns: Num, o?: AtomOptions): this {
    return this.atom('nanosleep', [ns], o);
  }
  umem_add(variable: string | VarRef, increment: Num, o?: AtomOptions): this {
    return this.atom('umem_add', [typeof variable === 'string' ? v(variable) : variable, increment], o);
  }
  getpid(o?: AtomOptions): this {
    return this.atom('getpid', [], o);
  }

  /** The chain as plain data (a fresh object: the builder can go on). */
  build(): Chain {
    for (const { atom, label } of this.#pendingNext) {
      const at = this.#labels.get(label);
      if (at === undefined) {
        throw new TypeError(`chain builder: atom ${atom} jumps to label "${label}", which is not defined`);
      }
      this.#atoms[atom]!.next = at;
    }
    const c: Chain = { atoms: this.#atoms.map((a) => ({ ...a })) };
    if (Object.keys(this.#vars).length > 0) c.vars = { ...this.#vars };
    if (Object.keys(this.#buffers).length > 0) c.buffers = { ...this.#buffers };
    if (this.#origins.size > 0) {
      Object.defineProperty(c, kBufferOrigins, { value: [...this.#origins], enumerable: false });
    }
    return c;
  }

  #arg(x: Arg | BufArg): Arg {
    if (x instanceof Uint8Array) {
      this.#origins.add(x.buffer);
      return { buf: x.byteOffset, length: x.byteLength };
    }
    return x;
  }
}

/** Start a chain. */
export function chain(): ChainBuilder {
  return new ChainBuilder();
}

/** Flag names or a number → the number. */
export function flagsOf(flags: number | readonly SysletFlagName[]): number {
  if (typeof flags === 'number') return flags;
  let n = 0;
  for (const name of flags) {
    const bit = SysletFlag[name];
    if (bit === undefined) {
      throw new TypeError(
        `chain builder: unknown flag "${String(name)}"; expected one of ${Object.keys(SysletFlag).join(', ')}`,
      );
    }
    n |= bit;
  }
  return n;
}

/** `__proto__` would set a plain object's prototype instead of a property: the name would vanish. */
function refuseProtoName(name: string, call: string): void {
  if (name === '__proto__') throw new TypeError(`chain builder: ${call}: "__proto__" cannot name a variable or buffer`);
}
