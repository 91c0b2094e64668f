/**
 * Policies: which operations chains may run, and a root directory that confines every path.
 *
 * Chains are code. A chain from an untrusted source must run under a policy: its atoms can then
 * only use the allowed operations, and only paths inside the root, checked when each atom runs
 * (not only at submission), through `..` and symlinks. A violation is the atom's result, -EACCES,
 * not an exception, so a chain can branch on it like on any failed syscall.
 *
 * Policies live in a small shared table so a worker can look one up by id from the request it runs;
 * id 0 is "no policy".
 */
import fs from 'node:fs';
import path from 'node:path';
import { WORD_BYTES } from '../ring/layout.js';
import { errno } from './errno.js';
import { OP_BY_NAME, OPS, type OpName } from './ops.js';

export interface Policy {
  /** Operations chains may run; any other atom ends with -EACCES. @default every operation */
  allow?: readonly OpName[];
  /**
   * A directory every path argument must stay inside: absolute paths must lie in it, relative
   * ones resolve against `cwd` (by default the root itself), and no `..` or symlink (followed when
   * the atom runs) may lead out of it.
   */
  root?: string;
  /** The directory relative paths resolve against. @default the root */
  cwd?: string;
}

/** Shared table layout (Int32 words). */
const P_COUNT = 0;
const P_LOCK = 1;
const P_HEADER = 16;
const MAX_POLICIES = 64;
/** Room for the root's and the cwd's UTF-8 bytes. */
const PATH_BYTES = 8192;
/**
 * Per policy: allow mask, root byte length, cwd byte length, references (registrations not yet
 * released: 0 means the record is free for another policy), generation (bumped when the record is
 * reused, so threads drop what they cached for the old one), then the bytes (root, then cwd).
 */
const R_REFS = 3;
const R_GEN = 4;
const R_BYTES = 5;
const P_WORDS = R_BYTES + PATH_BYTES / WORD_BYTES;

export const POLICY_TABLE_BYTES = (P_HEADER + MAX_POLICIES * P_WORDS) * WORD_BYTES;
const ALL_OPS = OPS.length >= 32 ? -1 : (2 ** OPS.length - 1) | 0;

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
}

export class PolicyTable {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly #cache = new Map<number, { gen: number; p: CompiledPolicy }>();

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
  }

  static create(): PolicyTable {
    return new PolicyTable(new SharedArrayBuffer(POLICY_TABLE_BYTES));
  }

  /**
   * Register a policy (the caller validated it) and return its id (>= 1). Equal policies share an
   * id. Each registration holds a reference until release(id); a record nobody references is
   * reused. Throws RangeError when all records are referenced.
   */
  register(mask: number, root: string, cwd = ''): number {
    const rootBytes = Buffer.from(root, 'utf8');
    const cwdBytes = Buffer.from(cwd, 'utf8');
    if (rootBytes.length + cwdBytes.length > PATH_BYTES) {
      throw new RangeError(`policy: root and cwd together longer than ${PATH_BYTES} bytes`);
    }
    // Registration is rare: a spin lock is enough (Atomics.wait would be overkill).
    while (Atomics.compareExchange(this.i32, P_LOCK, 0, 1) !== 0);
    try {
      const n = this.i32[P_COUNT]!;
      let free = 0;
      for (let id = 1; id <= n; id++) {
        const b = P_HEADER + (id - 1) * P_WORDS;
        if (this.i32[b] === mask && this.#root(b) === root && this.#cwd(b) === cwd) {
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
      this.i32[b + R_REFS] = 1;
      this.u8.set(rootBytes, (b + R_BYTES) * WORD_BYTES);
      this.u8.set(cwdBytes, (b + R_BYTES) * WORD_BYTES + rootBytes.length);
      // Pairs with lookup()'s load of the generation: a thread that cached the record's old policy
      // compiles it again. No chain runs under a record while it has no references.
      Atomics.add(this.i32, b + R_GEN, 1);
      // Publishes a new record: pairs with lookup()'s load of the count.
      if (id > n) Atomics.store(this.i32, P_COUNT, id);
      return id;
    } finally {
      Atomics.store(this.i32, P_LOCK, 0);
    }
  }

  /** Drop one registration of policy `id` (from register()); its record is reused once none is left. */
  release(id: number): void {
    if (id < 1 || id > MAX_POLICIES) return;
    while (Atomics.compareExchange(this.i32, P_LOCK, 0, 1) !== 0);
    try {
      const b = P_HEADER + (id - 1) * P_WORDS;
      if (this.i32[b + R_REFS]! > 0) this.i32[b + R_REFS]!--;
    } finally {
      Atomics.store(this.i32, P_LOCK, 0);
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
      if (root !== '') {
        try {
          realRoot = fs.realpathSync.native(root);
        } catch {
          // A root that does not exist (any more) confines to nothing: every path is refused.
          realRoot = '\0';
        }
      }
      const cwd = this.#cwd(b);
      p = { id, mask: this.i32[b]!, root, realRoot, cwd: cwd === '' ? root : cwd };
      this.#cache.set(id, { gen, p });
    }
    return p;
  }

  #root(b: number): string {
    const len = this.i32[b + 1]!;
    return len === 0 ? '' : Buffer.from(this.u8.buffer, (b + R_BYTES) * WORD_BYTES, len).toString('utf8');
  }

  #cwd(b: number): string {
    const len = this.i32[b + 2]!;
    const at = (b + R_BYTES) * WORD_BYTES + this.i32[b + 1]!;
    return len === 0 ? '' : Buffer.from(this.u8.buffer, at, len).toString('utf8');
  }
}

/** A validated policy: opcode mask, absolute root ('' for none), absolute cwd ('' for the root). */
export interface PolicySpec {
  mask: number;
  root: string;
  cwd: string;
}

/** No restriction: every operation, no root (a cwd means nothing without a root). */
export const NO_POLICY: PolicySpec = Object.freeze({ mask: ALL_OPS, root: '', cwd: '' });

/** Whether `p` restricts nothing (chains under it need no policy lookup or check). */
export function unrestricted(p: PolicySpec): boolean {
  return (p.mask & ALL_OPS) === ALL_OPS && p.root === '';
}

/** Validate a policy given by a user: its opcode mask, normalized root and cwd. */
export function compilePolicy(p: Policy, where: string): PolicySpec {
  if (typeof p !== 'object' || p === null) throw new TypeError(`${where}: expected { allow?, root?, cwd? }, got ${String(p)}`);
  for (const k of Object.keys(p)) {
    if (k !== 'allow' && k !== 'root' && k !== 'cwd') throw new TypeError(`${where}.${k}: unknown field; expected allow, root, cwd`);
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
  return { mask, root, cwd };
}

/** Combine a runtime policy with a submission's: operations both allow, the narrower root. */
export function narrowPolicy(outer: PolicySpec, inner: PolicySpec, where: string): PolicySpec {
  let root = outer.root;
  if (inner.root !== '') {
    if (outer.root !== '' && !isInside(inner.root, outer.root)) {
      throw new TypeError(`${where}.root: ${inner.root} is outside the runtime's root ${outer.root}`);
    }
    root = inner.root;
  }
  return { mask: outer.mask & inner.mask, root, cwd: inner.cwd !== '' ? inner.cwd : outer.cwd };
}

export function isInside(p: string, root: string): boolean {
  if (p === root) return true;
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export function allowsOp(policy: CompiledPolicy, opcode: number): boolean {
  return (policy.mask & (1 << opcode)) !== 0;
}

const MAX_LINKS = 40;

/**
 * The path an atom may use for `p` under `policy`, or -errno. `followFinal` says whether the
 * operation follows a symlink in the last component (stat, open) or acts on the link itself
 * (lstat, unlink, rename). Intermediate symlinks are resolved here and the resolved path is what
 * the atom uses, so a later swap of an intermediate link cannot redirect it. (A symlink swapped
 * into the last component between this check and the syscall is the remaining race: Node offers
 * no openat(2) with RESOLVE_BENEATH.)
 */
export function confine(policy: CompiledPolicy, p: string, followFinal: boolean, depth = 0): string | number {
  if (policy.root === '') return p;
  if (depth > MAX_LINKS) return -errno.ELOOP;
  const abs = path.resolve(policy.cwd, p);
  if (!isInside(abs, policy.root) && !isInside(abs, policy.realRoot)) return -errno.EACCES;
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
