/**
 * Policies: which operations chains may run, a root directory that confines every path, and the
 * descriptors and memory a confined chain may name.
 *
 * Chains are code. A chain from an untrusted source must run under a policy; it then reaches
 * nothing outside what the policy and the submitter gave it, by any name (README, "Reliability
 * and security"):
 * - paths: only inside the root, checked when each atom runs (not only at submission). On Linux
 *   every component is resolved by this module, one at a time, relative to a directory descriptor
 *   it holds (O_PATH | O_NOFOLLOW, through /proc/self/fd/N), symlinks expanded here and `..` never
 *   above the root; the object reached is verified by its real path (readlink /proc/self/fd/N)
 *   before the atom uses it. A rename or symlink swapped in by another chain mid-walk cannot
 *   redirect it. (A path of plain names takes one O_PATH open instead, kept only when the real
 *   path proves no component was a symlink: Resolver#direct.) Elsewhere (no /proc) the older
 *   check by real path applies, with its race.
 * - descriptors: only those the same chain opened, and those the submitter granted
 *   (SubmitOptions.grant.fds); others are -EBADF. A chain holds at most `maxFds` at once (-EMFILE
 *   past it), and what it did not close is closed when it ends.
 * - memory: only the buffers it declares and those the submitter granted; any other arena address
 *   is refused at submission (ChainError).
 * A violation is the atom's result (-EACCES for paths and operations, -EBADF for descriptors),
 * not an exception, so a chain can branch on it like on any failed syscall.
 *
 * Policies live in a small shared table so a worker can look one up by id from the request it
 * runs; id 0 is "no policy". The same shared memory holds the descriptor table: which chain opened
 * each descriptor (see FdTable).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Arena, SharedMutex, WORD_BYTES } from 'atomics-sync';
import { errno, resultOfError } from './errno.js';
import { OP_BY_NAME, OP_NEED_MASK, OPS, type OpName, type PathResolve } from './ops.js';

export type { PathResolve };

export interface Policy {
  /** Operations chains may run; any other atom ends with -EACCES. @default every operation */
  allow?: readonly OpName[];
  /**
   * A directory every path argument must stay inside: absolute paths must lie in it, relative
   * ones resolve against `cwd` (by default the root itself), and no `..` or symlink (followed when
   * the atom runs) may lead out of it. A submission's root must resolve (real path) inside the
   * runtime's.
   */
  root?: string;
  /** The directory relative paths resolve against. @default the root */
  cwd?: string;
  /**
   * Most descriptors one chain may hold open at once; an `open` past it ends with -EMFILE. A
   * submission may lower it, not raise it. @default 64
   */
  maxFds?: number;
}

/** Default of Policy.maxFds. */
export const DEFAULT_MAX_FDS = 64;
/** Largest Policy.maxFds. */
export const MAX_FDS = 4096;

/** Shared table layout (Int32 words). */
const P_COUNT = 0;
/** The SharedMutex word of register() and release(). */
const P_LOCK = 1;
/** One past the highest descriptor the descriptor table has recorded (see FdTable). */
const P_FD_HWM = 2;
const P_HEADER = 16;
const MAX_POLICIES = 64;
/** Room for the root's and the cwd's UTF-8 bytes. */
const PATH_BYTES = 8192;
/**
 * Per policy: allow mask, root byte length, cwd byte length, maxFds, flags (P_REAL_ROOT),
 * references (registrations not yet released: 0 means the record is free for another policy),
 * generation (bumped when the record is reused, so threads drop what they cached for the old one),
 * then the bytes (root, then cwd).
 */
const R_REFS = 5;
const R_GEN = 6;
const P_META = 7;
/** The root was registered as its real path and must still be one when a chain runs. */
const P_REAL_ROOT = 1;
const P_WORDS = P_META + PATH_BYTES / WORD_BYTES;
/**
 * Descriptors the table tracks: 0 .. FD_SLOTS - 1. A confined chain's `open` that gets a higher
 * number closes it again and ends with -EMFILE; unconfined chains' higher descriptors are not
 * tracked (and may be closed by any unconfined chain: Node's own descriptors are low numbers).
 */
export const FD_SLOTS = 32768;
/** Word index of the descriptor table's owner words, then its state words. */
const FD_OWNER = P_HEADER + MAX_POLICIES * P_WORDS;
const FD_STATE = FD_OWNER + FD_SLOTS;

export const POLICY_TABLE_BYTES = (FD_STATE + FD_SLOTS) * WORD_BYTES;
const ALL_OPS = OPS.length >= 32 ? -1 : (2 ** OPS.length - 1) | 0;

/** FdTable state words. */
const FD_FREE = 0;
/** Opened by an unconfined chain: any unconfined chain may close it. */
const FD_CHAIN = 1;
/** Held by a confined chain: the owner word is its request id. */
const FD_HELD = 2;

/** A policy in the form the interpreter applies. */
export interface CompiledPolicy {
  readonly id: number;
  /** Bit per opcode. */
  readonly mask: number;
  /** The root as given (absolute, normalized), and its real path; '' without a root. */
  readonly root: string;
  readonly realRoot: string;
  /** Where relative paths resolve (absolute): the root unless the policy says otherwise. */
  readonly cwd: string;
  /** Most descriptors a chain may hold at once. */
  readonly maxFds: number;
}

export class PolicyTable {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly #cache = new Map<number, { gen: number; p: CompiledPolicy }>();
  /**
   * Guards the records' words and the count for register() and release() (rare: a policy object's
   * first submission, and its release once idle); lookup() reads without it, ordered by the
   * generation and count words.
   */
  readonly #lock: SharedMutex;

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
    this.#lock = new SharedMutex(this.i32, P_LOCK);
  }

  static create(): PolicyTable {
    return new PolicyTable(new SharedArrayBuffer(POLICY_TABLE_BYTES));
  }

  /**
   * Register a policy (the caller validated it) and return its id (>= 1). Equal policies share an
   * id. Each registration holds a reference until release(id); a record nobody references is
   * reused. Throws RangeError when all records are referenced.
   */
  register(spec: PolicySpec): number {
    const { mask, root, cwd, maxFds } = spec;
    const flags = spec.realRoot === true ? P_REAL_ROOT : 0;
    const rootBytes = Buffer.from(root, 'utf8');
    const cwdBytes = Buffer.from(cwd, 'utf8');
    if (rootBytes.length + cwdBytes.length > PATH_BYTES) {
      throw new RangeError(`policy: root and cwd together longer than ${PATH_BYTES} bytes`);
    }
    this.#lock.lock();
    try {
      const n = this.i32[P_COUNT]!;
      let free = 0;
      for (let id = 1; id <= n; id++) {
        const b = P_HEADER + (id - 1) * P_WORDS;
        if (
          this.i32[b] === mask &&
          this.i32[b + 3] === maxFds &&
          this.i32[b + 4] === flags &&
          this.#root(b) === root &&
          this.#cwd(b) === cwd
        ) {
          this.i32[b + R_REFS]!++;
          return id;
        }
        if (free === 0 && this.i32[b + R_REFS] === 0) free = id;
      }
      if (free === 0 && n >= MAX_POLICIES) {
        throw new RangeError(`policy: more than ${MAX_POLICIES} distinct policies in use at once`);
      }
      const id = free !== 0 ? free : n + 1;
      const b = P_HEADER + (id - 1) * P_WORDS;
      this.i32[b] = mask;
      this.i32[b + 1] = rootBytes.length;
      this.i32[b + 2] = cwdBytes.length;
      this.i32[b + 3] = maxFds;
      this.i32[b + 4] = flags;
      this.i32[b + R_REFS] = 1;
      this.u8.set(rootBytes, (b + P_META) * WORD_BYTES);
      this.u8.set(cwdBytes, (b + P_META) * WORD_BYTES + rootBytes.length);
      // Pairs with lookup()'s load of the generation: a thread that cached the record's old policy
      // compiles it again. No chain runs under a record while it has no references.
      Atomics.add(this.i32, b + R_GEN, 1);
      // Publishes a new record: pairs with lookup()'s load of the count.
      if (id > n) Atomics.store(this.i32, P_COUNT, id);
      return id;
    } finally {
      this.#lock.unlock();
    }
  }

  /** Drop one registration of policy `id` (from register()); its record is reused once none is left. */
  release(id: number): void {
    if (id < 1 || id > MAX_POLICIES) return;
    this.#lock.lock();
    try {
      const b = P_HEADER + (id - 1) * P_WORDS;
      if (this.i32[b + R_REFS]! > 0) this.i32[b + R_REFS]!--;
    } finally {
      this.#lock.unlock();
    }
  }

  /** Registrations policy `id` holds (0: its record is free). */
  references(id: number): number {
    return Atomics.load(this.i32, P_HEADER + (id - 1) * P_WORDS + R_REFS);
  }

  /** The compiled policy `id` (cached per thread), or undefined for 0. */
  lookup(id: number): CompiledPolicy | undefined {
    if (id === 0) return undefined;
    if (id > Atomics.load(this.i32, P_COUNT)) return undefined;
    const b = P_HEADER + (id - 1) * P_WORDS;
    const gen = Atomics.load(this.i32, b + R_GEN);
    const cached = this.#cache.get(id);
    let p = cached !== undefined && cached.gen === gen ? cached.p : undefined;
    if (p === undefined) {
      const root = this.#root(b);
      let realRoot = '';
      if (root !== '' && (this.i32[b + 4]! & P_REAL_ROOT) !== 0) {
        // Resolved when it was registered; the walk verifies every object against it, so a
        // component swapped for a symlink since then confines to nothing rather than to elsewhere.
        realRoot = root;
      } else if (root !== '') {
        try {
          realRoot = fs.realpathSync.native(root);
        } catch {
          // A root that does not exist (any more) confines to nothing: every path is refused.
          realRoot = '\0';
        }
      }
      const cwd = this.#cwd(b);
      p = { id, mask: this.i32[b]!, root, realRoot, cwd: cwd === '' ? root : cwd, maxFds: this.i32[b + 3]! };
      this.#cache.set(id, { gen, p });
    }
    return p;
  }

  #root(b: number): string {
    const len = this.i32[b + 1]!;
    return len === 0 ? '' : Buffer.from(this.u8.buffer, (b + P_META) * WORD_BYTES, len).toString('utf8');
  }

  #cwd(b: number): string {
    const len = this.i32[b + 2]!;
    const at = (b + P_META) * WORD_BYTES + this.i32[b + 1]!;
    return len === 0 ? '' : Buffer.from(this.u8.buffer, at, len).toString('utf8');
  }

  // The descriptor table: for each descriptor below FD_SLOTS, whether a chain of this runtime
  // opened it and, for a confined chain, which (its request id). A descriptor is written only by
  // the thread that holds it open (the one that opened it, or closes it), so two threads never
  // write one slot at once: the kernel hands a number to one open at a time.

  /**
   * Record that a chain opened `fd`: `owner` is the confined chain's request id, or 0 for an
   * unconfined chain. False when `fd` is past the table (not recorded).
   */
  recordOpen(fd: number, owner: number): boolean {
    if (fd >= FD_SLOTS) return false;
    const i32 = this.i32;
    Atomics.store(i32, FD_OWNER + fd, owner);
    // Release: pairs with the acquire loads in holds(), chainOpened() and held() on other threads.
    Atomics.store(i32, FD_STATE + fd, owner === 0 ? FD_CHAIN : FD_HELD);
    for (let hwm = Atomics.load(i32, P_FD_HWM); hwm <= fd; hwm = Atomics.load(i32, P_FD_HWM)) {
      if (Atomics.compareExchange(i32, P_FD_HWM, hwm, fd + 1) === hwm) break;
    }
    return true;
  }

  /**
   * Forget `fd`; called before closing it (once closed, another thread's open may get the number
   * and record it).
   */
  recordClose(fd: number): void {
    if (fd >= FD_SLOTS) return;
    Atomics.store(this.i32, FD_STATE + fd, FD_FREE);
    Atomics.store(this.i32, FD_OWNER + fd, 0);
  }

  /** Whether the confined chain `owner` holds `fd` (opened it and has not closed it). */
  holds(fd: number, owner: number): boolean {
    return fd < FD_SLOTS && Atomics.load(this.i32, FD_STATE + fd) === FD_HELD && Atomics.load(this.i32, FD_OWNER + fd) === owner;
  }

  /**
   * Whether an unconfined chain may close `fd`: some chain opened it (and no chain closed it
   * since), or it is past the table. The runtime's and Node's own descriptors never are.
   */
  chainOpened(fd: number): boolean {
    return fd >= FD_SLOTS || Atomics.load(this.i32, FD_STATE + fd) !== FD_FREE;
  }

  /** How many descriptors the confined chain `owner` holds. */
  held(owner: number): number {
    return this.#eachHeld(owner, undefined);
  }

  /**
   * Hand every descriptor the confined chain `owner` still holds to its submitter (it ended with
   * grant.keepFds): they stay open, as if an unconfined chain had opened them.
   */
  releaseHeld(owner: number): number {
    return this.#eachHeld(owner, this.#handOver);
  }

  /** Close every descriptor the confined chain `owner` still holds (it ended). Returns how many. */
  closeHeld(owner: number): number {
    return this.#eachHeld(owner, this.#closeOne);
  }

  readonly #handOver = (fd: number): void => {
    this.recordOpen(fd, 0);
  };

  readonly #closeOne = (fd: number): void => {
    this.recordClose(fd);
    try {
      fs.closeSync(fd);
    } catch {
      // Closed behind the chain's back (not by a chain): nothing left to release.
    }
  };

  /** Apply `act` (if any) to each descriptor the confined chain `owner` holds; returns how many. */
  #eachHeld(owner: number, act: ((fd: number) => void) | undefined): number {
    const i32 = this.i32;
    const hwm = Math.min(Atomics.load(i32, P_FD_HWM), FD_SLOTS);
    let n = 0;
    for (let fd = 0; fd < hwm; fd++) {
      // Acquire load of the state: pairs with recordOpen()'s release store.
      if (i32[FD_OWNER + fd] !== owner || Atomics.load(i32, FD_STATE + fd) !== FD_HELD) continue;
      if (act !== undefined) act(fd);
      n++;
    }
    return n;
  }
}

/** A validated policy: opcode mask, absolute root ('' for none), absolute cwd ('' for the root). */
export interface PolicySpec {
  mask: number;
  root: string;
  cwd: string;
  maxFds: number;
  /** The root is a real path (a submission's, resolved at narrowing) and must stay one. */
  realRoot?: boolean;
}

/** No restriction: every operation, no root (a cwd means nothing without a root). */
export const NO_POLICY: PolicySpec = Object.freeze({ mask: ALL_OPS, root: '', cwd: '', maxFds: DEFAULT_MAX_FDS });

/** Whether `p` restricts nothing (chains under it need no policy lookup or check). */
export function unrestricted(p: PolicySpec): boolean {
  return (p.mask & ALL_OPS) === ALL_OPS && p.root === '';
}

/** Validate a policy given by a user: its opcode mask, normalized root and cwd. */
export function compilePolicy(p: Policy, where: string): PolicySpec {
  if (typeof p !== 'object' || p === null) throw new TypeError(`${where}: expected { allow?, root?, cwd?, maxFds? }, got ${String(p)}`);
  for (const k of Object.keys(p)) {
    if (k !== 'allow' && k !== 'root' && k !== 'cwd' && k !== 'maxFds') {
      throw new TypeError(`${where}.${k}: unknown field; expected allow, root, cwd, maxFds`);
    }
  }
  let mask = ALL_OPS;
  if (p.allow !== undefined) {
    if (!Array.isArray(p.allow)) throw new TypeError(`${where}.allow: expected an array of operation names`);
    mask = 0;
    for (const name of p.allow) {
      const op = OP_BY_NAME.get(name as string);
      if (op === undefined) {
        throw new TypeError(`${where}.allow: unknown operation ${JSON.stringify(name)}; expected one of ${OPS.map((o) => o.name).join(', ')}`);
      }
      if (op.code >= 32) {
        throw new TypeError(
          `${where}.allow: ${op.name} runs under the permission of ${op.needs.join(', ')}: allow ${op.needs.length === 1 ? 'that' : 'those'} instead`,
        );
      }
      mask |= 1 << op.code;
    }
  }
  let root = '';
  if (p.root !== undefined) {
    if (typeof p.root !== 'string' || p.root === '') throw new TypeError(`${where}.root: expected a directory path`);
    root = path.resolve(p.root);
  }
  let cwd = '';
  if (p.cwd !== undefined) {
    if (typeof p.cwd !== 'string' || p.cwd === '') throw new TypeError(`${where}.cwd: expected a directory path`);
    cwd = path.resolve(p.cwd);
  }
  let maxFds = DEFAULT_MAX_FDS;
  if (p.maxFds !== undefined) {
    const m = p.maxFds;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > MAX_FDS) {
      throw new TypeError(`${where}.maxFds: expected an integer from 0 to ${MAX_FDS}, got ${String(m)}`);
    }
    maxFds = m;
  }
  return { mask, root, cwd, maxFds };
}

/**
 * Combine a runtime policy with a submission's: operations both allow, the narrower root, the
 * lower maxFds. The submission's root is compared by real path and registered as its real path, so
 * a symlink planted inside the runtime's root cannot make it lead out (and a later swap of any of
 * its components is refused when the chain runs: the real path no longer matches).
 */
export function narrowPolicy(outer: PolicySpec, inner: PolicySpec, where: string): PolicySpec {
  let root = outer.root;
  if (inner.root !== '') {
    let real: string;
    try {
      real = fs.realpathSync.native(inner.root);
    } catch (e) {
      throw new TypeError(`${where}.root: ${inner.root}: cannot resolve it (${(e as { code?: string }).code ?? String(e)})`);
    }
    if (outer.root !== '') {
      let outerReal = outer.root;
      try {
        outerReal = fs.realpathSync.native(outer.root);
      } catch {
        // The runtime's root is gone: nothing is inside it.
        outerReal = '\0';
      }
      if (!isInside(real, outerReal)) {
        const via = real === inner.root ? '' : ` (it resolves to ${real})`;
        throw new TypeError(`${where}.root: ${inner.root} is outside the runtime's root ${outer.root}${via}`);
      }
    }
    root = real;
  }
  return {
    mask: outer.mask & inner.mask,
    root,
    realRoot: inner.root !== '' || outer.realRoot === true,
    cwd: inner.cwd !== '' ? inner.cwd : inner.root !== '' ? '' : outer.cwd,
    maxFds: Math.min(outer.maxFds, inner.maxFds),
  };
}

export function isInside(p: string, root: string): boolean {
  if (p === root) return true;
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export function allowsOp(policy: CompiledPolicy, opcode: number): boolean {
  const need = OP_NEED_MASK[opcode] ?? -1;
  return (policy.mask & need) === need;
}

/**
 * Submission grants: descriptors and arena buffers the submitter lets a chain use beside those it
 * opens and declares (SubmitOptions.grant).
 */
export interface Grant {
  /** Descriptors the chain may use (and close) though it did not open them. */
  fds?: readonly number[];
  /** Buffers from rt.alloc() whose addresses the chain may name. */
  buffers?: readonly Uint8Array[];
  /**
   * Under a policy: the descriptors the chain opens and leaves open are not closed when it ends
   * but handed to the submitter (grant them to later chains with `fds`, close them there or with
   * fs.closeSync). The maxFds bound holds while it runs. @default false
   */
  keepFds?: boolean;
}

/** A validated grant: descriptors, and arena byte ranges [start, end). */
export interface GrantSpec {
  readonly fds: readonly number[];
  readonly keepFds: boolean;
  readonly ranges: readonly (readonly [number, number])[];
}

export const NO_GRANT: GrantSpec = Object.freeze({ fds: Object.freeze([]), ranges: Object.freeze([]), keepFds: false });
/** Most descriptors one submission may grant. */
export const MAX_GRANTED_FDS = 64;

/**
 * Validate a grant. A granted Buffer covers its bytes to the end of its arena allocation (the
 * same bound validation gives a bare address: rt.alloc() rounds blocks up; the rest is its own).
 */
export function compileGrant(g: Grant, arena: Arena, where: string): GrantSpec {
  if (typeof g !== 'object' || g === null) throw new TypeError(`${where}: expected { fds?, buffers? }, got ${String(g)}`);
  for (const k of Object.keys(g)) {
    if (k !== 'fds' && k !== 'buffers' && k !== 'keepFds') {
      throw new TypeError(`${where}.${k}: unknown field; expected fds, buffers, keepFds`);
    }
  }
  const fds: number[] = [];
  if (g.fds !== undefined) {
    if (!Array.isArray(g.fds)) throw new TypeError(`${where}.fds: expected an array of descriptors`);
    if (g.fds.length > MAX_GRANTED_FDS) {
      throw new TypeError(`${where}.fds: ${g.fds.length} descriptors, more than the ${MAX_GRANTED_FDS} one submission may grant`);
    }
    for (const fd of g.fds as unknown[]) {
      if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
        throw new TypeError(`${where}.fds: expected descriptors (integers >= 0), got ${String(fd)}`);
      }
      fds.push(fd);
    }
  }
  const ranges: [number, number][] = [];
  if (g.buffers !== undefined) {
    if (!Array.isArray(g.buffers)) throw new TypeError(`${where}.buffers: expected an array of Buffers from rt.alloc()`);
    for (const b of g.buffers as unknown[]) {
      if (!(b instanceof Uint8Array)) throw new TypeError(`${where}.buffers: expected Buffers from rt.alloc(), got ${String(b)}`);
      const block = b.buffer === arena.sab ? arena.blockContaining(b.byteOffset) : undefined;
      if (block === undefined) {
        throw new TypeError(`${where}.buffers: expected Buffers from rt.alloc(), got a buffer rt.alloc() did not return (or one freed)`);
      }
      ranges.push([b.byteOffset, block.end]);
    }
  }
  if (g.keepFds !== undefined && typeof g.keepFds !== 'boolean') {
    throw new TypeError(`${where}.keepFds: expected a boolean, got ${String(g.keepFds)}`);
  }
  const keepFds = g.keepFds === true;
  return fds.length === 0 && ranges.length === 0 && !keepFds ? NO_GRANT : { fds, ranges, keepFds };
}

/** Whether [start, start + length) lies inside one granted range. */
export function granted(g: GrantSpec, start: number, length: number): boolean {
  for (const [s, e] of g.ranges) if (start >= s && start + length <= e) return true;
  return false;
}

const MAX_LINKS = 40;

/** Linux: O_PATH (asm-generic value; the architectures Node ships for on Linux use it). */
const O_PATH = 0o10000000;
const LINUX_ARCHES = new Set(['x64', 'arm64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64']);
/**
 * Whether paths are resolved beneath the root by held directory descriptors (Linux with /proc),
 * or by real path with the remaining race (elsewhere). SYSLET_RESOLVE_BY_REALPATH=1 forces the
 * latter, to test it on Linux.
 */
export const RESOLVE_BENEATH: boolean =
  process.platform === 'linux' &&
  LINUX_ARCHES.has(process.arch) &&
  fs.existsSync('/proc/self/fd') &&
  process.env.SYSLET_RESOLVE_BY_REALPATH !== '1';
const C = fs.constants;
const O_DIR_PIN = O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW;
const O_PIN = O_PATH | C.O_NOFOLLOW;
const PROC_FD = '/proc/self/fd/';

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/**
 * Resolves path arguments under a policy's root, for one thread. Descriptors it holds for an
 * atom (the directories walked, the object reached) stay open until release(), after the atom's
 * system call, so the `/proc/self/fd/N` paths it returns stay pinned to what it verified.
 */
export class Resolver {
  readonly #pins: number[] = [];
  /** The last resolve() in 'create' mode created the file (it did not exist). */
  created = false;
  /** What it created: its held directory, name and descriptor. */
  #createdAt: [number, string, number] | undefined;

  /**
   * `p` with a leading /proc/self/fd/N (a path this resolver returned) replaced by the real path
   * of what N holds: how an operation's value shows a path to the chain.
   */
  shown(p: string): string {
    if (!p.startsWith(PROC_FD)) return p;
    const slash = p.indexOf('/', PROC_FD.length);
    const fd = p.slice(PROC_FD.length, slash < 0 ? p.length : slash);
    try {
      const real = fs.readlinkSync(`${PROC_FD}${fd}`);
      return slash < 0 ? real : path.join(real, p.slice(slash));
    } catch {
      return p;
    }
  }

  /** Close what the last atom's resolutions held. */
  release(): void {
    const pins = this.#pins;
    for (let i = 0; i < pins.length; i++) {
      try {
        fs.closeSync(pins[i]!);
      } catch {
        // Already closed: nothing to release.
      }
    }
    pins.length = 0;
  }

  /** The path an atom may pass to its system call for `p` under `policy`, or -errno. */
  resolve(policy: CompiledPolicy, p: string, mode: PathResolve): string | number {
    this.created = false;
    this.#createdAt = undefined;
    if (policy.root === '' || mode === 'none' || mode === 'open') return p;
    if (!RESOLVE_BENEATH) return confine(policy, p, mode !== 'nofollow');
    const w = this.#walk(policy, p, mode !== 'nofollow');
    if (typeof w === 'number') return w;
    const [dir, name] = w;
    if (name === '') {
      // The directory itself ('.', the root, 'a/..'). With '/.' so lstat and friends see the
      // directory, not the /proc magic link.
      return mode === 'nofollow' ? `${PROC_FD}${dir}/.` : `${PROC_FD}${dir}`;
    }
    if (mode === 'nofollow') return `${PROC_FD}${dir}/${name}`;
    // The walk ended at a name that does not exist (it expands symlinks itself).
    if (mode !== 'create') return -errno.ENOENT;
    let fd: number;
    try {
      fd = fs.openSync(`${PROC_FD}${dir}/${name}`, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o666);
    } catch (e) {
      return resultOfError(e);
    }
    this.#pins.push(fd);
    this.created = true;
    this.#createdAt = [dir, name, fd];
    return `${PROC_FD}${fd}`;
  }

  /**
   * The operation failed after resolve() created its file: remove it again (if the name still
   * holds that file), so a failed atom leaves nothing behind, as the system call would.
   */
  undoCreate(): void {
    const c = this.#createdAt;
    if (!this.created || c === undefined) return;
    const [dir, name, fd] = c;
    this.created = false;
    this.#createdAt = undefined;
    try {
      const at = `${PROC_FD}${dir}/${name}`;
      if (fs.lstatSync(at).ino === fs.fstatSync(fd).ino) fs.unlinkSync(at);
    } catch {
      // Gone or replaced already: nothing of ours to remove.
    }
  }

  /**
   * open(2) under `policy`: the descriptor, or -errno. Follows a symlink in the last component
   * unless `flags` has O_NOFOLLOW; creates (O_CREAT) only inside a held directory, never through
   * a symlink.
   */
  open(policy: CompiledPolicy, p: string, flags: number, mode: number): number {
    if (policy.root === '') return fs.openSync(p, flags, mode);
    if (!RESOLVE_BENEATH) {
      const c = confine(policy, p, true);
      return typeof c === 'number' ? c : fs.openSync(c, flags, mode);
    }
    const nofollow = (flags & C.O_NOFOLLOW) !== 0;
    const w = this.#walk(policy, p, !nofollow);
    if (typeof w === 'number') return w;
    const [dir, name] = w;
    // An existing object was pinned by the walk (or the name is the directory itself): reopen it
    // through its descriptor ('/.' when the caller's O_NOFOLLOW would refuse the /proc link).
    // Otherwise open or create the name in its held directory, never following a symlink.
    const target = name !== '' ? `${PROC_FD}${dir}/${name}` : nofollow ? `${PROC_FD}${dir}/.` : `${PROC_FD}${dir}`;
    const fd = fs.openSync(target, name === '' ? flags : flags | C.O_NOFOLLOW, mode);
    // Reopened through a verified descriptor it is that object; a name opened in its directory is
    // verified again (the directory may have moved since).
    if (name !== '' && !verified(fd, policy)) {
      fs.closeSync(fd);
      return -errno.EACCES;
    }
    return fd;
  }

  /**
   * The common case in one open: a path of plain names (no `..`, not the root itself) opened from
   * the root's descriptor by the kernel (O_PATH: no side effects), kept only if the object's real
   * path is exactly the root's followed by those names. That equality means no component was a
   * symlink (a real path contains none, and each name here would be one), so the kernel took
   * exactly the walk below would have: every directory on the way inside the root. Anything else
   * (symlinks, `..`, errors, a swap under way) is undefined, and the walk decides, with its errno.
   */
  #direct(policy: CompiledPolicy, root: number, comps: readonly string[], follow: boolean): [number, string] | undefined {
    const names: string[] = [];
    for (const c of comps) {
      if (c === '..') return undefined;
      if (c !== '' && c !== '.') names.push(c);
    }
    if (names.length === 0) return undefined;
    const last = names[names.length - 1]!;
    if (!follow) names.pop();
    const rel = names.join('/');
    let fd = root;
    if (rel !== '') {
      try {
        fd = fs.openSync(`${PROC_FD}${root}/${rel}`, follow ? O_PATH : O_PATH | C.O_DIRECTORY);
      } catch {
        return undefined;
      }
      this.#pins.push(fd);
    }
    let real: string;
    try {
      real = fs.readlinkSync(`${PROC_FD}${fd}`);
    } catch {
      return undefined;
    }
    const base = policy.realRoot;
    const expected = rel === '' ? base : base === '/' ? `/${rel}` : `${base}/${rel}`;
    if (real !== expected) return undefined;
    return follow ? [fd, ''] : [fd, last];
  }

  /**
   * Walk `p` from the root: [fd, name]. `fd` is a held descriptor, verified inside the root. With
   * name '' it is the object the path names (a directory, or with `follow` whatever the last
   * component is after symlinks); otherwise it is a directory and `name` an entry in it: the last
   * component itself without `follow`, or with `follow` a name that does not exist.
   */
  #walk(policy: CompiledPolicy, p: string, follow: boolean): [number, string] | number {
    if (p === '') return -errno.ENOENT;
    if (policy.realRoot === '\0') return -errno.EACCES;
    const comps = components(policy, p);
    if (comps === undefined) return -errno.EACCES;
    // A trailing slash names a directory: with `follow`, walk into it ('.'). Acting on a name
    // (mkdir('a/'), lstat('a/')), the name itself if it is a directory or does not exist; a
    // symlink there is followed (as the kernel does), anything else is -ENOTDIR.
    let slash = p.endsWith('/') && comps.length > 0;
    if (follow && slash) comps.push('.');
    let top: number;
    try {
      top = fs.openSync(policy.realRoot, O_DIR_PIN & ~C.O_NOFOLLOW);
    } catch (e) {
      return codeOf(e) === 'ENOENT' ? -errno.EACCES : resultOfError(e);
    }
    this.#pins.push(top);
    if (!slash) {
      const direct = this.#direct(policy, top, comps, follow);
      if (direct !== undefined) return direct;
    }
    /** Directory descriptors from the root down (stack[0] is the root). */
    const stack = [top];
    let links = 0;
    for (let i = 0; i < comps.length; ) {
      const c = comps[i]!;
      const last = i === comps.length - 1;
      if (c === '' || c === '.') {
        i++;
        continue;
      }
      if (c === '..') {
        // Never above the root.
        if (stack.length === 1) return -errno.EACCES;
        stack.pop();
        top = stack[stack.length - 1]!;
        i++;
        continue;
      }
      const at = `${PROC_FD}${top}/${c}`;
      if (last && !follow && !slash) {
        return verified(top, policy) ? [top, c] : -errno.EACCES;
      }
      let fd = -1;
      try {
        fd = fs.openSync(at, last ? O_PIN : O_DIR_PIN);
      } catch (e) {
        const code = codeOf(e);
        if (last && code === 'ENOENT') return verified(top, policy) ? [top, c] : -errno.EACCES;
        // Not a directory: a symlink to expand, or a file in the middle of the path (linkTarget
        // tells them apart).
        if (code !== 'ENOTDIR') return resultOfError(e);
      }
      if (fd >= 0) {
        this.#pins.push(fd);
        if (!last) {
          stack.push(fd);
          top = fd;
          i++;
          continue;
        }
        // O_PATH | O_NOFOLLOW opens a symlink itself: expand it; anything else is the object.
        let st: fs.Stats;
        try {
          st = fs.fstatSync(fd);
        } catch (e) {
          return resultOfError(e);
        }
        const isLink = st.isSymbolicLink();
        if (!isLink && slash && !follow) {
          if (!st.isDirectory()) return -errno.ENOTDIR;
          return verified(top, policy) ? [top, c] : -errno.EACCES;
        }
        if (!isLink) return verified(fd, policy) ? [fd, ''] : -errno.EACCES;
        if (slash && !follow) {
          // 'link/': the kernel follows it; so does the walk, into the directory it names.
          slash = false;
          comps.push('.');
        }
      }
      // A symlink: its target's components replace it, from its directory (or from the root).
      const t = linkTarget(at);
      if (typeof t === 'number') return t;
      if (++links > MAX_LINKS) return -errno.ELOOP;
      const expanded = expand(policy, t, comps, i);
      if (expanded === undefined) return -errno.EACCES;
      if (expanded.absolute) {
        stack.length = 1;
        top = stack[0]!;
      }
      comps.splice(0, comps.length, ...expanded.comps);
      i = 0;
    }
    return verified(top, policy) ? [top, ''] : -errno.EACCES;
  }
}

/**
 * The components of `p` relative to the root, before any is resolved, or undefined when `p` is
 * absolute and not under the root. `..` stays a component (resolved by the walk, physically).
 */
function components(policy: CompiledPolicy, p: string): string[] | undefined {
  if (path.isAbsolute(p)) return under(policy, p);
  const cwd = policy.cwd === policy.root ? [] : under(policy, policy.cwd);
  // A cwd outside the root (`syslet run --root DIR` from elsewhere): only its lexical join with
  // `p` can lead inside; nothing outside the root is walked.
  if (cwd === undefined) return under(policy, path.resolve(policy.cwd, p));
  return [...cwd, ...p.split('/').filter((c) => c !== '')];
}

/** The components of absolute `p` after the root (as given, or real), or undefined. */
function under(policy: CompiledPolicy, p: string): string[] | undefined {
  const parts = p.split('/').filter((c) => c !== '');
  for (const r of [policy.root, policy.realRoot]) {
    const rp = r.split('/').filter((c) => c !== '');
    if (rp.length <= parts.length && rp.every((c, k) => parts[k] === c)) return parts.slice(rp.length);
  }
  return undefined;
}

/** Components after replacing comps[i] (a symlink) with its target `t`; undefined if it leads out. */
function expand(policy: CompiledPolicy, t: string, comps: string[], i: number): { comps: string[]; absolute: boolean } | undefined {
  const rest = comps.slice(i + 1);
  if (path.isAbsolute(t)) {
    const u = under(policy, t);
    return u === undefined ? undefined : { comps: [...u, ...rest], absolute: true };
  }
  // Relative to the directory holding the link: the components before it are already walked.
  return { comps: [...t.split('/'), ...rest], absolute: false };
}

function linkTarget(at: string): string | number {
  try {
    return fs.readlinkSync(at);
  } catch (e) {
    // EINVAL: not a symlink (a file in the middle of a path).
    return codeOf(e) === 'EINVAL' ? -errno.ENOTDIR : resultOfError(e);
  }
}

/** Whether descriptor `fd` refers to something inside the policy's root, by its real path. */
function verified(fd: number, policy: CompiledPolicy): boolean {
  let real: string;
  try {
    real = fs.readlinkSync(`${PROC_FD}${fd}`);
  } catch {
    return false;
  }
  return isInside(real, policy.realRoot);
}

/**
 * Where /proc is not available: the path an atom may use for `p` under `policy`, or -errno,
 * checked by real path. `followFinal` says whether the operation follows a symlink in the last
 * component (stat, open) or acts on the link itself (lstat, unlink, rename). Intermediate symlinks
 * are resolved here and the resolved path is what the atom uses; a component swapped between
 * this check and the syscall is the remaining race on these platforms.
 */
export function confine(policy: CompiledPolicy, p: string, followFinal: boolean, depth = 0): string | number {
  if (policy.root === '') return p;
  if (depth > MAX_LINKS) return -errno.ELOOP;
  const abs = path.resolve(policy.cwd, p);
  if (!isInside(abs, policy.root) && !isInside(abs, policy.realRoot)) return -errno.EACCES;
  // The root itself (readdir('.'), stat(root)).
  if (abs === policy.root || abs === policy.realRoot) return policy.realRoot;
  const parent = realAncestor(path.dirname(abs));
  if (typeof parent === 'number') return parent;
  if (!isInside(parent, policy.realRoot)) return -errno.EACCES;
  const candidate = path.join(parent, path.basename(abs));
  if (candidate !== policy.realRoot && !isInside(candidate, policy.realRoot)) return -errno.EACCES;
  if (!followFinal) return candidate;
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(candidate, { throwIfNoEntry: false });
  } catch {
    return candidate;
  }
  if (st === undefined || !st.isSymbolicLink()) return candidate;
  let target: string;
  try {
    target = fs.readlinkSync(candidate);
  } catch {
    return candidate;
  }
  return confine(policy, path.resolve(parent, target), true, depth + 1);
}

/** The real path of `dir`, walking up past components that do not exist yet. */
function realAncestor(dir: string): string | number {
  const tail: string[] = [];
  let probe = dir;
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(probe), ...tail.reverse());
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return -(errno[code as keyof typeof errno] ?? errno.EACCES);
      const up = path.dirname(probe);
      if (up === probe) return -errno.EACCES;
      tail.push(path.basename(probe));
      probe = up;
    }
  }
}
