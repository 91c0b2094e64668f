/**
 * The interpreter: runs one encoded chain, atom by atom, in the thread that calls it (a worker, or
 * the submitting thread for an inline SYSLET_SYNC prefix).
 *
 * Execution follows the 2007 patches: run the atom, store its result; if one of its stop
 * conditions holds, stop (or with SKIP_TO_NEXT_ON_STOP go to the physically next atom); otherwise
 * follow `next`. Between atoms (the "atom boundary") it checks, in this order, cancellation
 * (-ECANCELED), the deadline (-ETIME) and the step budget (-ELOOP).
 */
import { isUtf8 } from 'node:buffer';
import * as fs from 'node:fs';
import type { Stats } from 'node:fs';
import { type Arena, sharedNow } from 'atomics-sync';
import { errno, errnoName, resultOfError } from './errno.js';
import {
  SYSLET_NO_COMPLETE,
  SYSLET_SKIP_TO_NEXT_ON_STOP,
  SYSLET_SYNC,
  stopFires,
} from './flags.js';
import { Op, OPS, type PathResolve } from './ops.js';
import { readdirInOrder } from './readdir.js';
import { allowsOp, Resolver, type CompiledPolicy, type PolicyTable } from './policy.js';
import {
  RequestFlag,
  Status,
  entryCancelled,
  entryCancelWord,
  entryEndSet,
  entryFieldsMake,
  entryFlags,
  entryFlagsAdd,
  entryProgressSet,
  entryRead,
  entryValuesSet,
  type EntryFields,
  type EntryViews,
} from './entry.js';
import { ARG_WORDS, ATOM_HEADER_WORDS, ArgKind, ArgWord, AtomWord, DataWord, FINAL_VALUE_VAR } from './table.js';
import { DirentList, recordBytes, writeRecord, type RawValue } from './values.js';
import type { BlockMarker } from './kinds.js';

/** Views of the request table, the arena and the policies, in the calling thread. */
export interface ExecViews extends EntryViews {
  readonly buf: Buffer;
  readonly arena: Arena;
  readonly policies: PolicyTable;
}

export const Outcome = {
  /** The chain ended; the entry holds its completion. */
  ENDED: 0,
  /** Inline run reached an atom without SYSLET_SYNC; the entry's PC and STEPS say where. */
  MIGRATE: 1,
} as const;

const STOP_MASK = 0x78;
const STAT_OPTS = { throwIfNoEntry: false } as const;
const A0 = ATOM_HEADER_WORDS;

/**
 * Per opcode, from the operations table's parameter kinds: which arguments are descriptors and
 * which are paths (with how a root resolves them). Every check below is keyed on these, so a new
 * atom is confined by declaring its parameters' kinds.
 */
const FD_ARGS: readonly (readonly number[])[] = OPS.map((o) =>
  o.params.flatMap((q, k) => (q.kind === 'fd' ? [k] : [])),
);
/** Per opcode and argument: how a path argument is resolved ('' when the table does not say). */
const PATH_MODES: readonly (readonly (PathResolve | '' | undefined)[])[] = OPS.map((o) =>
  o.params.map((q) => (q.kind === 'path' ? (q.resolve ?? '') : undefined)),
);

/** A path argument refused under the policy, thrown to end the atom with its -errno. */
class Refused extends Error {
  readonly code: string;
  constructor(result: number) {
    super('refused by the policy');
    this.code = errnoName(result) ?? 'EACCES';
  }
}

export class Interpreter {
  readonly #t: ExecViews;
  readonly #workerSlot: number;
  readonly #blocking: BlockMarker | undefined;

  // Per-run context (set by run(), read by the argument helpers).
  /** The entry's header fields the run starts from (entryRead). */
  readonly #run: EntryFields = entryFieldsMake();
  #idx = 0;
  #id = 0;
  #varsBase = 0;
  #assignedBase = 0;
  #litBase = 0;
  #strBase = 0;
  #deadline = 0;
  /** The chain's policy, checked as each atom runs. */
  #policy: CompiledPolicy | undefined;
  /** Word index of the descriptors the submission granted (count, then fds), or -1. */
  #grants = -1;
  /** This atom's path arguments as resolved under the policy's root (by argument index). */
  readonly #paths: (string | undefined)[] = [];
  /** The running atom's opcode. */
  #op = 0;
  readonly #resolver = new Resolver();
  /** Value produced by the atom that just ran. */
  #value: RawValue | undefined;
  /** Status.CANCELLED or Status.TIMEDOUT when the atom that just ran was cut short by either. */
  #interrupted = 0;

  /**
   * `blocking` (on a worker) brackets every atom that makes a system call, so that the pool can tell
   * a worker waiting in one from a computing one.
   */
  constructor(t: ExecViews, workerSlot: number, blocking?: BlockMarker) {
    this.#t = t;
    this.#workerSlot = workerSlot;
    this.#blocking = blocking;
  }

  /**
   * Run entry `idx` from its PC. With `inline`, stop before the first atom that lacks SYSLET_SYNC
   * and return MIGRATE (variables stay in the entry).
   */
  run(idx: number, inline = false): number {
    const t = this.#t;
    const i32 = t.i32;
    const f64 = t.f64;
    const L = t.layout;
    const db = L.data(idx);
    const d8 = L.dataByte(idx);
    const d64 = d8 / 8;
    const run = this.#run;
    entryRead(t, idx, run);
    const id = run.id;
    const natoms = i32[db + DataWord.NATOMS]!;
    const varsBase = d64 + i32[db + DataWord.VARS]!;
    const assignedBase = db + i32[db + DataWord.ASSIGNED]!;
    this.#idx = idx;
    this.#id = id;
    this.#varsBase = varsBase;
    this.#assignedBase = assignedBase;
    this.#litBase = d64 + i32[db + DataWord.LITS]!;
    this.#strBase = d8 + i32[db + DataWord.STRS]!;
    const deadline = run.deadline;
    this.#deadline = deadline;
    const policyId = run.policy;
    this.#policy = policyId === 0 ? undefined : t.policies.lookup(policyId);
    const grants = i32[db + DataWord.GRANTS]!;
    this.#grants = grants === 0 ? -1 : db + grants;
    const budget = run.stepBudget;
    let steps = run.steps;
    let pc = run.pc;
    let values: (RawValue | undefined)[] | undefined;
    let finalValue: RawValue | undefined;
    let status: number;
    let result = 0;
    let atom = pc;
    let endFlags = 0;

    for (;;) {
      // Atom boundary. Acquire load: pairs with entryCancel's store of CANCEL = ID.
      if (entryCancelled(t, idx, id)) {
        status = Status.CANCELLED;
        result = -errno.ECANCELED;
        atom = pc;
        break;
      }
      if (deadline !== 0 && sharedNow() >= deadline) {
        status = Status.TIMEDOUT;
        result = -errno.ETIME;
        atom = pc;
        break;
      }
      if (steps >= budget) {
        status = Status.EXHAUSTED;
        result = -errno.ELOOP;
        atom = pc;
        break;
      }
      const aw = db + i32[db + DataWord.ATOM_TABLE + pc]!;
      const flags = i32[aw + AtomWord.FLAGS]!;
      if (inline && (flags & SYSLET_SYNC) === 0) {
        entryProgressSet(t, idx, pc, steps);
        return Outcome.MIGRATE;
      }
      steps++;
      // Published for the runtime: if this atom's call never returns, the runtime ends the chain
      // from another thread (slots.ts, stuck workers) and reports this atom and these steps.
      entryProgressSet(t, idx, pc, steps);
      this.#value = undefined;
      const blocking = this.#blocking;
      const op = i32[aw + AtomWord.OP]!;
      if (blocking === undefined || op === Op.NOP || op === Op.UMEM_ADD || op === Op.GETPID) {
        result = this.#exec(aw);
      } else {
        // A system call: the worker counts as blocked while it runs (pool.ts).
        blocking.enter();
        try {
          result = this.#exec(aw);
        } finally {
          blocking.leave();
        }
      }
      if (this.#interrupted !== 0) {
        // A cancel or the deadline cut a nanosleep short: the chain ends at this atom.
        status = this.#interrupted;
        this.#interrupted = 0;
        result = status === Status.CANCELLED ? -errno.ECANCELED : -errno.ETIME;
        atom = pc;
        break;
      }
      const into = i32[aw + AtomWord.INTO]!;
      if (into >= 0) {
        f64[varsBase + into] = result;
        i32[assignedBase + into] = 1;
        if (this.#value !== undefined || values !== undefined) (values ??= [])[into] = this.#value;
      }
      finalValue = this.#value;
      atom = pc;
      endFlags = flags;
      if ((flags & STOP_MASK) !== 0 && stopFires(flags, result)) {
        if ((flags & SYSLET_SKIP_TO_NEXT_ON_STOP) !== 0 && pc + 1 < natoms) {
          pc++;
          continue;
        }
        status = Status.STOPPED;
        break;
      }
      const next = i32[aw + AtomWord.NEXT]!;
      if (next < 0) {
        status = Status.DONE;
        break;
      }
      pc = next;
    }

    // Descriptors a confined chain opened and did not close are closed when it ends (or, with
    // grant.keepFds, handed to the submitter).
    if (this.#policy !== undefined) {
      if ((entryFlags(t, idx) & RequestFlag.KEEP_FDS) !== 0) t.policies.releaseHeld(id);
      else t.policies.closeHeld(id);
    }
    entryEndSet(t, idx, status, atom, steps, this.#workerSlot, result);
    if ((endFlags & SYSLET_NO_COMPLETE) !== 0) entryFlagsAdd(t, idx, RequestFlag.NO_COMPLETE);
    if (values !== undefined || finalValue !== undefined) {
      this.#writeValues(idx, db, d8, values, finalValue);
    } else {
      entryValuesSet(t, idx, 0, 0);
    }
    return Outcome.ENDED;
  }

  #writeValues(
    idx: number,
    db: number,
    d8: number,
    values: (RawValue | undefined)[] | undefined,
    finalValue: RawValue | undefined,
  ): void {
    const t = this.#t;
    let need = finalValue === undefined ? 0 : recordBytes(finalValue);
    if (values !== undefined) {
      for (const v of values) if (v !== undefined) need += recordBytes(v);
    }
    const valuesAt = t.i32[db + DataWord.VALUES]!;
    let buf = t.buf;
    let i32 = t.i32;
    let f64 = t.f64;
    let at: number;
    let heap = 0;
    if (valuesAt + need <= t.layout.dataBytes) {
      at = d8 + valuesAt;
    } else {
      at = t.arena.allocate(need);
      if (at < 0) {
        // The arena is full: the values cannot travel. The completion says so (valuesLost).
        entryValuesSet(t, idx, 0, -errno.ENOMEM);
        return;
      }
      heap = at;
      buf = t.arena.buffer;
      i32 = t.arena.view32;
      f64 = t.arena.view64;
    }
    const start = at;
    if (finalValue !== undefined) at = writeRecord(buf, i32, f64, at, FINAL_VALUE_VAR, finalValue);
    if (values !== undefined) {
      for (let s = 0; s < values.length; s++) {
        const v = values[s];
        if (v !== undefined) at = writeRecord(buf, i32, f64, at, s, v);
      }
    }
    entryValuesSet(t, idx, heap, at - start);
  }

  // Argument access. `aw` is the atom's first word; argument k starts at aw + A0 + ARG_WORDS * k.

  #kind(aw: number, k: number): number {
    return this.#t.i32[aw + A0 + ARG_WORDS * k + ArgWord.KIND]!;
  }

  /** A numeric argument; NaN for an unassigned variable (the caller returns -EFAULT). */
  #num(aw: number, k: number): number {
    const i32 = this.#t.i32;
    const w = aw + A0 + ARG_WORDS * k;
    switch (i32[w + ArgWord.KIND]!) {
      case ArgKind.INT:
        return i32[w + ArgWord.A]!;
      case ArgKind.NUM:
        return this.#t.f64[this.#litBase + i32[w + ArgWord.A]!]!;
      case ArgKind.VAR: {
        const v = i32[w + ArgWord.A]!;
        return i32[this.#assignedBase + v] === 1 ? this.#t.f64[this.#varsBase + v]! : Number.NaN;
      }
      default:
        return Number.NaN;
    }
  }

  /**
   * A string argument. Under a policy with a root, a path argument comes back resolved (see
   * #path; without a declared PathResolve, as 'follow'), or ends the atom with the refusal.
   */
  #str(aw: number, k: number): string | Buffer {
    const resolved = this.#paths[k];
    if (resolved !== undefined) return resolved;
    const mode = this.#policy === undefined ? undefined : PATH_MODES[this.#op]?.[k];
    if (mode !== undefined && mode !== 'open' && mode !== 'none') {
      const r = this.#resolvePath(aw, k, mode === '' ? 'follow' : mode);
      if (typeof r === 'number') throw new Refused(r);
      return r;
    }
    return this.#raw(aw, k);
  }

  /**
   * A string argument's own bytes: a string, or a copy of the bytes when they are not valid UTF-8
   * (a path given as a Buffer: a file name is bytes, and such a name would not survive a JS string).
   */
  #raw(aw: number, k: number): string | Buffer {
    const i32 = this.#t.i32;
    const w = aw + A0 + ARG_WORDS * k;
    const start = this.#strBase + i32[w + ArgWord.A]!;
    const end = start + i32[w + ArgWord.B]!;
    const s = this.#t.buf.toString('utf8', start, end);
    if (!s.includes('\ufffd') || isUtf8(this.#t.buf.subarray(start, end))) return s;
    return Buffer.from(this.#t.buf.subarray(start, end));
  }

  /**
   * A path argument: the path to pass to the system call, or -errno. Under a policy with a root it
   * is resolved beneath the root as the operations table declares (ParamSpec.resolve; #check did
   * those before the atom ran) or, where it declares nothing, as `follow` says the operation
   * treats a symlink in the last component.
   */
  #path(aw: number, k: number, follow: boolean): string | Buffer | number {
    const resolved = this.#paths[k];
    if (resolved !== undefined) return resolved;
    const mode = this.#policy === undefined ? undefined : PATH_MODES[this.#op]?.[k];
    if (mode === '') return this.#resolvePath(aw, k, follow ? 'follow' : 'nofollow');
    return this.#str(aw, k);
  }

  #resolvePath(aw: number, k: number, mode: PathResolve): string | number {
    const raw = this.#raw(aw, k);
    // The root confines by the path's text: bytes that are not UTF-8 are refused, not guessed at.
    if (typeof raw !== 'string') return -errno.EILSEQ;
    const r = this.#resolver.resolve(this.#policy!, raw, mode);
    if (typeof r === 'string') this.#paths[k] = r;
    return r;
  }

  /** Whether the submission granted descriptor `fd`. */
  #granted(fd: number): boolean {
    const g = this.#grants;
    if (g < 0) return false;
    const i32 = this.#t.i32;
    const n = i32[g]!;
    for (let k = 1; k <= n; k++) if (i32[g + k] === fd) return true;
    return false;
  }

  /**
   * The capability checks every atom passes before its system call, keyed on its parameters'
   * kinds: 0, or the atom's result. Descriptors: under a policy only those this chain holds or
   * the submission granted (-EBADF); without one, close only those a chain opened or the
   * submission granted, so no chain closes the runtime's or Node's own. Paths: resolved under the
   * root into #paths.
   */
  #check(aw: number, op: number, policy: CompiledPolicy | undefined): number {
    const fds = FD_ARGS[op];
    if (fds !== undefined && fds.length > 0 && (policy !== undefined || op === Op.CLOSE)) {
      const table = this.#t.policies;
      for (let j = 0; j < fds.length; j++) {
        const fd = this.#num(aw, fds[j]!);
        // Not a descriptor at all: the operation reports it (-EFAULT, -EBADF).
        if (!isFd(fd)) continue;
        const ok =
          policy !== undefined ? table.holds(fd, this.#id) : table.chainOpened(fd);
        if (!ok && !this.#granted(fd)) return -errno.EBADF;
      }
    }
    if (policy !== undefined && policy.root !== '') {
      const modes = PATH_MODES[op];
      if (modes !== undefined) {
        for (let k = 0; k < modes.length; k++) {
          const mode = modes[k];
          // Declared modes now; undeclared ones when the operation asks (#path's `follow`).
          if (mode === undefined || mode === '' || mode === 'none' || mode === 'open') continue;
          const r = this.#resolvePath(aw, k, mode);
          if (typeof r === 'number') return r;
        }
      }
    }
    return 0;
  }

  #exec(aw: number): number {
    const i32 = this.#t.i32;
    const op = i32[aw + AtomWord.OP]!;
    const policy = this.#policy;
    if (policy !== undefined && !allowsOp(policy, op)) return -errno.EACCES;
    this.#op = op;
    try {
      const refused = this.#check(aw, op, policy);
      if (refused !== 0) return refused;
      switch (op) {
        case Op.NOP: {
          if (this.#kind(aw, 0) === ArgKind.NONE) return 0;
          const r = this.#num(aw, 0);
          return Number.isNaN(r) ? -errno.EFAULT : r;
        }
        case Op.OPEN: {
          const path = this.#str(aw, 0);
          const flags = this.#num(aw, 1);
          const mode = this.#kind(aw, 2) === ArgKind.NONE ? 0o666 : this.#num(aw, 2);
          if (!Number.isInteger(flags) || !Number.isInteger(mode)) return badInt(flags, mode);
          return this.#open(path, flags, mode, policy);
        }
        case Op.CLOSE: {
          const fd = this.#num(aw, 0);
          if (!isFd(fd)) return badFd(fd);
          // Forget it first: once closed, another thread's open may get the number.
          this.#t.policies.recordClose(fd);
          fs.closeSync(fd);
          return 0;
        }
        case Op.READ:
        case Op.PREAD:
        case Op.WRITE:
        case Op.PWRITE:
          return this.#io(aw, op);
        case Op.FSTAT: {
          const fd = this.#num(aw, 0);
          if (!isFd(fd)) return badFd(fd);
          this.#value = fs.fstatSync(fd);
          return 0;
        }
        case Op.STAT:
        case Op.LSTAT: {
          const path = this.#path(aw, 0, op === Op.STAT);
          if (typeof path === 'number') return path;
          const st: Stats | undefined =
            op === Op.STAT ? fs.statSync(path, STAT_OPTS) : fs.lstatSync(path, STAT_OPTS);
          if (st === undefined) return missing(path, op === Op.STAT);
          this.#value = st;
          return 0;
        }
        case Op.FSYNC:
        case Op.FDATASYNC: {
          const fd = this.#num(aw, 0);
          if (!isFd(fd)) return badFd(fd);
          if (op === Op.FSYNC) fs.fsyncSync(fd);
          else fs.fdatasyncSync(fd);
          return 0;
        }
        case Op.FTRUNCATE: {
          const fd = this.#num(aw, 0);
          if (!isFd(fd)) return badFd(fd);
          const len = this.#kind(aw, 1) === ArgKind.NONE ? 0 : this.#num(aw, 1);
          if (!Number.isInteger(len) || len < 0) return badInt(len);
          fs.ftruncateSync(fd, len);
          return 0;
        }
        case Op.RENAME:
        case Op.SYMLINK:
        case Op.LINK:
        case Op.COPYFILE: {
          // symlink's target is stored in the link, not resolved: it is not a path we open.
          // copyfile follows symlinks at both ends; rename, link and symlink act on the names.
          const follow = op === Op.COPYFILE;
          const a = op === Op.SYMLINK ? this.#str(aw, 0) : this.#path(aw, 0, follow);
          if (typeof a === 'number') return a;
          const b = this.#path(aw, 1, follow);
          if (typeof b === 'number') return b;
          if (op === Op.RENAME) fs.renameSync(a, b);
          else if (op === Op.SYMLINK) fs.symlinkSync(a, b);
          else if (op === Op.LINK) fs.linkSync(a, b);
          else {
            let flags = this.#kind(aw, 2) === ArgKind.NONE ? 0 : this.#num(aw, 2);
            if (!Number.isInteger(flags)) return badInt(flags);
            // The resolver created the destination (it did not exist): COPYFILE_EXCL is satisfied.
            if (policy !== undefined && this.#resolver.created) flags &= ~fs.constants.COPYFILE_EXCL;
            fs.copyFileSync(a, b, flags);
          }
          return 0;
        }
        case Op.UNLINK:
        case Op.RMDIR: {
          const path = this.#path(aw, 0, false);
          if (typeof path === 'number') return path;
          if (op === Op.UNLINK) fs.unlinkSync(path);
          else fs.rmdirSync(path);
          return 0;
        }
        case Op.MKDIR: {
          const path = this.#path(aw, 0, false);
          if (typeof path === 'number') return path;
          const mode = this.#kind(aw, 1) === ArgKind.NONE ? 0o777 : this.#num(aw, 1);
          if (!Number.isInteger(mode)) return badInt(mode);
          fs.mkdirSync(path, { mode });
          return 0;
        }
        case Op.READDIR: {
          const path = this.#path(aw, 0, true);
          if (typeof path === 'number') return path;
          // The directory's own order; names that are not UTF-8 as Buffers.
          const names = readdirInOrder(path);
          this.#value = names;
          return names.length;
        }
        case Op.READLINK:
        case Op.REALPATH: {
          const path = this.#path(aw, 0, op === Op.REALPATH);
          if (typeof path === 'number') return path;
          const s = op === Op.READLINK ? fs.readlinkSync(path) : fs.realpathSync.native(path);
          this.#value = s;
          return Buffer.byteLength(s, 'utf8');
        }
        case Op.CHMOD: {
          const path = this.#path(aw, 0, true);
          if (typeof path === 'number') return path;
          const mode = this.#num(aw, 1);
          if (!Number.isInteger(mode)) return badInt(mode);
          fs.chmodSync(path, mode);
          return 0;
        }
        case Op.UTIMES: {
          const path = this.#path(aw, 0, true);
          if (typeof path === 'number') return path;
          const at = this.#num(aw, 1);
          const mt = this.#num(aw, 2);
          if (Number.isNaN(at) || Number.isNaN(mt)) return -errno.EFAULT;
          fs.utimesSync(path, at, mt);
          return 0;
        }
        case Op.ACCESS: {
          const path = this.#path(aw, 0, true);
          if (typeof path === 'number') return path;
          const mode = this.#kind(aw, 1) === ArgKind.NONE ? fs.constants.F_OK : this.#num(aw, 1);
          if (!Number.isInteger(mode)) return badInt(mode);
          fs.accessSync(path, mode);
          return 0;
        }
        case Op.NANOSLEEP:
          return this.#nanosleep(this.#num(aw, 0));
        case Op.UMEM_ADD: {
          const v = i32[aw + A0 + ArgWord.A]!;
          const inc = this.#num(aw, 1);
          if (i32[this.#assignedBase + v] !== 1 || Number.isNaN(inc)) return -errno.EFAULT;
          const f64 = this.#t.f64;
          const n = f64[this.#varsBase + v]! + inc;
          f64[this.#varsBase + v] = n;
          return n;
        }
        case Op.GETPID:
          return process.pid;
        case Op.READFILE:
        case Op.WRITEFILE:
        case Op.SCANDIR:
        case Op.STAT_NS:
        case Op.LSTAT_NS:
        case Op.MKDIRP:
        case Op.MKDTEMP:
        case Op.TRUNCATE:
          return this.#fsAtom(aw, op);
        default:
          return -errno.ENOSYS;
      }
    } catch (err) {
      if (policy !== undefined) this.#resolver.undoCreate();
      return resultOfError(err);
    } finally {
      if (policy !== undefined) {
        // A value naming a path it was given (mkdtemp's directory) names it as the chain would,
        // not through the resolver's /proc/self/fd link (read while the link is still held).
        if (typeof this.#value === 'string') this.#value = this.#resolver.shown(this.#value);
        this.#paths.length = 0;
        this.#resolver.release();
      }
    }
  }

  /**
   * open(2), recording the descriptor as a chain's: under a policy, held by this chain (at most
   * maxFds at once: -EMFILE past it, or past the descriptor table), closed when it ends.
   */
  #open(path: string | Buffer, flags: number, mode: number, policy: CompiledPolicy | undefined): number {
    const table = this.#t.policies;
    if (policy === undefined) {
      const fd = fs.openSync(path, flags, mode);
      table.recordOpen(fd, 0);
      return fd;
    }
    // The policy resolves by the path's text: bytes that are not UTF-8 are refused, not guessed at.
    if (typeof path !== 'string') return -errno.EILSEQ;
    if (table.held(this.#id) >= policy.maxFds) return -errno.EMFILE;
    const fd = this.#resolver.open(policy, path, flags, mode);
    if (fd < 0) return fd;
    if (!table.recordOpen(fd, this.#id)) {
      fs.closeSync(fd);
      return -errno.EMFILE;
    }
    return fd;
  }

  /** read, pread, write, pwrite: straight between the file and arena memory, no copy. */
  #io(aw: number, op: number): number {
    const i32 = this.#t.i32;
    const fd = this.#num(aw, 0);
    if (!isFd(fd)) return badFd(fd);
    const bw = aw + A0 + ARG_WORDS;
    const off = i32[bw + ArgWord.A]!;
    const len = i32[bw + ArgWord.B]!;
    const count = this.#num(aw, 2);
    if (Number.isNaN(count)) return -errno.EFAULT;
    if (!Number.isInteger(count) || count < 0) return -errno.EINVAL;
    // The buffer is the caller's memory: reading past it is a bad address, as in the kernel.
    if (count > len) return -errno.EFAULT;
    let position: number | null = null;
    if (op === Op.PREAD || op === Op.PWRITE) {
      position = this.#num(aw, 3);
      if (Number.isNaN(position)) return -errno.EFAULT;
      if (!Number.isInteger(position) || position < 0) return -errno.EINVAL;
    }
    const mem = this.#t.arena.buffer;
    return op === Op.READ || op === Op.PREAD
      ? fs.readSync(fd, mem, off, count, position)
      : fs.writeSync(fd, mem, off, count, position);
  }

  // ---- the fs facade's atoms (src/fs) ---------------------------------------------------------

  /**
   * readfile, writefile, scandir, stat_ns, lstat_ns, mkdirp, mkdtemp, truncate: each what the
   * fs.promises call of that name does, as one atom. A failure is -errno; when the operation has
   * several steps, the value names the one that failed (Node's errors name it as their syscall).
   */
  #fsAtom(aw: number, op: number): number {
    switch (op) {
      case Op.READFILE: {
        const path = this.#str(aw, 0);
        const flags = this.#num(aw, 1);
        const max = this.#num(aw, 2);
        if (!Number.isInteger(flags) || !Number.isInteger(max) || max < 0) return badInt(flags, max);
        return this.#readFile(path, flags, max);
      }
      case Op.WRITEFILE: {
        const path = this.#str(aw, 0);
        const flags = this.#num(aw, 1);
        const mode = this.#num(aw, 2);
        if (!Number.isInteger(flags) || !Number.isInteger(mode)) return badInt(flags, mode);
        const bw = aw + A0 + 3 * ARG_WORDS;
        return this.#writeFile(path, flags, mode, this.#t.i32[bw + ArgWord.A]!, this.#t.i32[bw + ArgWord.B]!);
      }
      case Op.SCANDIR: {
        const path = this.#path(aw, 0, true);
        if (typeof path === 'number') return path;
        // fs.readdirSync orders entries as fs.promises.readdir does (libuv's scandir sorts them),
        // and types the DT_UNKNOWN ones with lstat as Node does.
        const ents = fs.readdirSync(path, SCANDIR_OPTS);
        const names = new Array<string>(ents.length);
        const types = new Uint8Array(ents.length);
        for (let k = 0; k < ents.length; k++) {
          names[k] = ents[k]!.name;
          types[k] = direntType(ents[k]!);
        }
        this.#value = new DirentList(names, types);
        return ents.length;
      }
      case Op.STAT_NS:
      case Op.LSTAT_NS: {
        const path = this.#path(aw, 0, op === Op.STAT_NS);
        if (typeof path === 'number') return path;
        const st = op === Op.STAT_NS ? fs.statSync(path, BIGSTAT_OPTS) : fs.lstatSync(path, BIGSTAT_OPTS);
        if (st === undefined) return missing(path, op === Op.STAT_NS);
        this.#value = st;
        return 0;
      }
      case Op.MKDIRP: {
        const path = this.#path(aw, 0, false);
        if (typeof path === 'number') return path;
        const mode = this.#kind(aw, 1) === ArgKind.NONE ? 0o777 : this.#num(aw, 1);
        if (!Number.isInteger(mode)) return badInt(mode);
        const first = fs.mkdirSync(path, { recursive: true, mode });
        if (first !== undefined) this.#value = first;
        return 0;
      }
      case Op.MKDTEMP: {
        const prefix = this.#path(aw, 0, false);
        if (typeof prefix === 'number') return prefix;
        // mkdtemp's prefix is text (Node takes no bytes for it).
        if (typeof prefix !== 'string') return -errno.EILSEQ;
        try {
          this.#value = fs.mkdtempSync(prefix);
          return 0;
        } catch (err) {
          const p = (err as { path?: unknown }).path;
          if (typeof p === 'string') this.#value = p;
          return resultOfError(err);
        }
      }
      case Op.TRUNCATE: {
        const path = this.#str(aw, 0);
        const len = this.#kind(aw, 1) === ArgKind.NONE ? 0 : this.#num(aw, 1);
        if (!Number.isInteger(len) || len < 0) return badInt(len);
        const fd = this.#openStep(path, fs.constants.O_RDWR, 0o666);
        if (fd < 0) return fd;
        try {
          fs.ftruncateSync(fd, len);
        } catch (err) {
          closeQuietly(fd);
          return this.#failedStep('ftruncate', err);
        }
        return this.#closeStep(fd, 0);
      }
      default:
        return -errno.ENOSYS;
    }
  }

  /**
   * The open step of readfile, writefile, truncate: under a policy through its confined open (the
   * path resolved beneath the root with these flags); the descriptor is this atom's, closed before
   * it returns, so it is not recorded as the chain's. -errno (value 'open') on failure.
   */
  #openStep(path: string | Buffer, flags: number, mode: number): number {
    const policy = this.#policy;
    try {
      // Under a policy the resolver goes by the path's text: bytes that are not UTF-8 are refused.
      if (policy !== undefined && typeof path !== 'string') {
        this.#value = 'open';
        return -errno.EILSEQ;
      }
      const fd = policy === undefined ? fs.openSync(path, flags, mode) : this.#resolver.open(policy, path as string, flags, mode);
      if (fd < 0) this.#value = 'open';
      return fd;
    } catch (err) {
      return this.#failedStep('open', err);
    }
  }

  #failedStep(step: string, err: unknown): number {
    this.#value = step;
    return resultOfError(err);
  }

  #closeStep(fd: number, result: number): number {
    try {
      fs.closeSync(fd);
      return result;
    } catch (err) {
      return this.#failedStep('close', err);
    }
  }

  /** As fs.promises.readFile: the size from fstat for a regular file, else read to the end. */
  #readFile(path: string | Buffer, flags: number, max: number): number {
    const fd = this.#openStep(path, flags, 0o666);
    if (fd < 0) return fd;
    let data: Buffer;
    try {
      let st: Stats;
      try {
        st = fs.fstatSync(fd);
      } catch (err) {
        closeQuietly(fd);
        return this.#failedStep('fstat', err);
      }
      const size = st.isFile() ? st.size : 0;
      if (size > max) {
        closeQuietly(fd);
        this.#value = 'size';
        return -errno.EFBIG;
      }
      data = size > 0 ? readKnown(fd, size) : readToEnd(fd, max);
    } catch (err) {
      closeQuietly(fd);
      return (err as { code?: string }).code === 'EFBIG' ? -errno.EFBIG : this.#failedStep('read', err);
    }
    const r = this.#closeStep(fd, data.length);
    if (r >= 0) this.#value = data;
    return r;
  }

  /** Open, write `len` bytes of arena memory at `off` (all of them, as fs.writeFile), close. */
  #writeFile(path: string | Buffer, flags: number, mode: number, off: number, len: number): number {
    const fd = this.#openStep(path, flags, mode);
    if (fd < 0) return fd;
    const mem = this.#t.arena.buffer;
    let done = 0;
    try {
      while (done < len) done += fs.writeSync(fd, mem, off + done, len - done, null);
    } catch (err) {
      closeQuietly(fd);
      return this.#failedStep('write', err);
    }
    return this.#closeStep(fd, done);
  }

  /**
   * Sleep on the entry's cancellation word, so cancel() and the deadline cut it short: then the
   * chain ends at this atom as cancelled (-ECANCELED) or timed out (-ETIME), never as done.
   */
  #nanosleep(ns: number): number {
    if (Number.isNaN(ns)) return -errno.EFAULT;
    if (ns < 0) return -errno.EINVAL;
    const i32 = this.#t.i32;
    const w = entryCancelWord(this.#t.layout, this.#idx);
    const end = performance.now() + ns / 1e6;
    for (;;) {
      const cur = Atomics.load(i32, w);
      if (cur === this.#id) {
        this.#interrupted = Status.CANCELLED;
        return -errno.EINTR;
      }
      const now = performance.now();
      let left = end - now;
      if (this.#deadline !== 0) {
        const toDeadline = this.#deadline - sharedNow();
        if (toDeadline <= 0) {
          this.#interrupted = Status.TIMEDOUT;
          return -errno.EINTR;
        }
        if (toDeadline < left) left = toDeadline;
      }
      if (left <= 0) return 0;
      // Pairs with cancel()'s Atomics.notify on this word.
      Atomics.wait(i32, w, cur, left);
    }
  }
}

const SCANDIR_OPTS = { withFileTypes: true } as const;
const BIGSTAT_OPTS = { bigint: true, throwIfNoEntry: false } as const;
const READ_CHUNK = 64 * 1024;

/** libuv's UV_DIRENT_* numbers, as fs.constants has them (its typings leave them out). */
const DT = fs.constants as unknown as Record<
  'UV_DIRENT_UNKNOWN' | 'UV_DIRENT_FILE' | 'UV_DIRENT_DIR' | 'UV_DIRENT_LINK' | 'UV_DIRENT_FIFO' | 'UV_DIRENT_SOCKET' | 'UV_DIRENT_CHAR' | 'UV_DIRENT_BLOCK',
  number
>;

/** The UV_DIRENT_* number of a Dirent. */
function direntType(d: fs.Dirent): number {
  if (d.isFile()) return DT.UV_DIRENT_FILE;
  if (d.isDirectory()) return DT.UV_DIRENT_DIR;
  if (d.isSymbolicLink()) return DT.UV_DIRENT_LINK;
  if (d.isFIFO()) return DT.UV_DIRENT_FIFO;
  if (d.isSocket()) return DT.UV_DIRENT_SOCKET;
  if (d.isCharacterDevice()) return DT.UV_DIRENT_CHAR;
  if (d.isBlockDevice()) return DT.UV_DIRENT_BLOCK;
  return DT.UV_DIRENT_UNKNOWN;
}

/**
 * A stat with throwIfNoEntry: false came back empty: ENOENT, or (Node 22 on) ENOTDIR, which it also
 * hides. Asked again with the error thrown, to tell them apart (only misses pay for the exception).
 */
function missing(path: string | Buffer, follow: boolean): number {
  try {
    if (follow) fs.statSync(path);
    else fs.lstatSync(path);
  } catch (err) {
    return resultOfError(err);
  }
  // It appeared in between: report it missing as the first look saw it.
  return -errno.ENOENT;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // The step that failed is the error reported.
  }
}

/** Read up to `size` bytes from the file position (fewer if the file shrank). */
function readKnown(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let total = 0;
  while (total < size) {
    const n = fs.readSync(fd, buf, total, size - total, null);
    if (n === 0) break;
    total += n;
  }
  return total === size ? buf : buf.subarray(0, total);
}

/** Read to the end of a file of unknown size; EFBIG past `max` bytes. */
function readToEnd(fd: number, max: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    const n = fs.readSync(fd, chunk, 0, READ_CHUNK, null);
    if (n === 0) break;
    total += n;
    if (total > max) throw Object.assign(new Error('larger than max'), { code: 'EFBIG' });
    chunks.push(n === READ_CHUNK ? chunk : chunk.subarray(0, n));
  }
  return Buffer.concat(chunks, total);
}

function isFd(fd: number): boolean {
  return Number.isInteger(fd) && fd >= 0 && fd <= 0x7fffffff;
}

function badFd(fd: number): number {
  return Number.isNaN(fd) ? -errno.EFAULT : -errno.EBADF;
}

function badInt(...xs: number[]): number {
  return xs.some((x) => Number.isNaN(x)) ? -errno.EFAULT : -errno.EINVAL;
}
