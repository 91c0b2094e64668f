/**
 * The filters: what makes a knote active, and what a delivered event says. Each follows FreeBSD's
 * filter of the same name (REFERENCE.md); where Node offers less than the kernel, the comment says
 * what this one does instead.
 */
import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { errno } from '../syslet/errno.js';
import {
  EVFILT_AIO,
  EVFILT_PROC,
  EVFILT_READ,
  EVFILT_SIGNAL,
  EVFILT_THREADLET,
  EVFILT_TIMER,
  EVFILT_USER,
  EVFILT_VNODE,
  EVFILT_WRITE,
  EV_ADD,
  EV_CLEAR,
  EV_DROP,
  EV_EOF,
  EV_ONESHOT,
  NOTE_ABSTIME,
  NOTE_ATTRIB,
  NOTE_DELETE,
  NOTE_EXIT,
  NOTE_EXTEND,
  NOTE_FFAND,
  NOTE_FFCOPY,
  NOTE_FFCTRLMASK,
  NOTE_FFLAGSMASK,
  NOTE_FFOR,
  NOTE_LINK,
  NOTE_LOWAT,
  NOTE_MSECONDS,
  NOTE_NSECONDS,
  NOTE_RENAME,
  NOTE_SECONDS,
  NOTE_TRIGGER,
  NOTE_USECONDS,
  NOTE_WRITE,
  type KEvent,
} from './constants.js';
import {
  stateOf,
  type Filter,
  type Knote,
  type KnoteHost,
  type ProcState,
  type SignalState,
  type StreamState,
  type TimerState,
  type UserState,
  type VnodeState,
} from './knote.js';

// ---- EVFILT_AIO / EVFILT_THREADLET -------------------------------------------------------------

/**
 * Completions of requests submitted with `{ kq }`. Their knotes are made by the kqueue when a
 * completion arrives, one-shot; a change may disable, enable or delete one (by submission id), but
 * EV_ADD of a new one is EPERM, as in FreeBSD (only the AIO machinery registers them).
 */
function completionFilter(name: string): Filter {
  return {
    name,
    implicitFlags: EV_ONESHOT,
    attach: () => errno.EPERM,
    detach: () => {},
    event: (kn) => kn.state.kind === 'completion' && kn.state.done,
  };
}

// ---- EVFILT_TIMER ------------------------------------------------------------------------------

/**
 * A timer is a deadline on the monotonic clock (performance.now()), as in FreeBSD, where a callout
 * counts expirations into kn_data (filt_timerexpire) and filt_timer reports kn_data != 0. Here the
 * count is brought up to date whenever the kqueue looks (timerAdvance: from kevent and keventSync
 * alike, and from a Node timer armed at the next deadline so that a parked kevent wakes), so a poll
 * after the deadline returns the timer even if no callback ran in between (a busy thread).
 * Its state: TimerState (knote.ts).
 */

/** FreeBSD's NOTE_TIMER_PRECMASK. */
const NOTE_TIMER_PRECMASK = NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS;

const UNIT_MS: Record<number, number> = {
  0: 1,
  [NOTE_SECONDS]: 1000,
  [NOTE_MSECONDS]: 1,
  [NOTE_USECONDS]: 1e-3,
  [NOTE_NSECONDS]: 1e-6,
};

/** Node's longest setTimeout (a longer one fires after 1 ms, with a warning). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Count the expirations that passed by `now` (filt_timerexpire): a one-time timer expires once; a
 * periodic one once per period, all of them counted, whether or not anyone looked in between.
 */
function timerAdvance(st: TimerState, now: number): void {
  if (now < st.next) return;
  if (st.period === 0) {
    st.count += 1;
    st.next = Infinity;
    return;
  }
  const n = Math.floor((now - st.next) / st.period) + 1;
  st.count += n;
  st.next += n * st.period;
}

/**
 * filt_timervalidate: the period in ms, or an errno. data < 0, fflags other than one unit and
 * NOTE_ABSTIME, or two units at once are EINVAL; a periodic timer of 0 runs every unit; an absolute
 * time already past fires at once.
 */
function timerValidate(kn: Knote, fflags: number, data: unknown): { ms: number; abs: boolean } | number {
  if ((fflags & ~(NOTE_TIMER_PRECMASK | NOTE_ABSTIME)) !== 0) return errno.EINVAL;
  const unit = UNIT_MS[fflags & NOTE_TIMER_PRECMASK];
  if (unit === undefined) return errno.EINVAL;
  if (typeof data !== 'number' || !Number.isFinite(data) || data < 0) return errno.EINVAL;
  const n = data === 0 && (kn.flags & EV_ONESHOT) === 0 ? 1 : data;
  return { ms: n * unit, abs: (fflags & NOTE_ABSTIME) !== 0 };
}

/** filt_timerstart: (re)start from now with a validated setting; nothing counted yet. */
function timerStart(kn: Knote, setting: { ms: number; abs: boolean }): void {
  const st = stateOf(kn, 'timer');
  const now = performance.now();
  st.count = 0;
  if (setting.abs) {
    // An absolute time on the epoch clock (CLOCK_REALTIME), turned into a deadline once, as
    // FreeBSD does (filt_timervalidate subtracts the boot time): later clock steps do not move it.
    st.period = 0;
    st.next = now + Math.max(0, setting.ms - Date.now());
  } else {
    st.period = (kn.flags & EV_ONESHOT) !== 0 ? 0 : setting.ms;
    st.next = now + setting.ms;
  }
  timerArm(kn);
}

/** A Node timer at the next deadline, so that a kevent parked on this thread wakes for it. */
function timerArm(kn: Knote): void {
  const st = stateOf(kn, 'timer');
  if (st.timer !== undefined) clearTimeout(st.timer);
  st.timer = undefined;
  if (st.next === Infinity) return;
  const wait = Math.min(MAX_TIMEOUT_MS, Math.max(0, Math.ceil(st.next - performance.now())));
  // Unref'd: a timer alone does not keep the process alive (a kevent waiting on it does).
  st.timer = setTimeout(() => {
    st.timer = undefined;
    // Node timers may fire a little early: only an expiry that really passed counts.
    timerAdvance(st, performance.now());
    if (st.count > 0) st.host.activate(kn);
    timerArm(kn);
  }, wait).unref();
}

export const timerFilter: Filter = {
  name: 'EVFILT_TIMER',
  // filt_timerattach sets EV_CLEAR itself, except for NOTE_ABSTIME timers.
  implicitFlags: 0,
  attach(host, kn, kev) {
    const setting = timerValidate(kn, kn.sfflags, kn.sdata);
    if (typeof setting === 'number') return setting;
    if (!setting.abs) kn.flags |= EV_CLEAR;
    kn.state = { kind: 'timer', next: Infinity, period: 0, count: 0, timer: undefined, host } satisfies TimerState;
    timerStart(kn, setting);
    return 0;
  },
  detach(kn) {
    const st = kn.state;
    if (st.kind !== 'timer') return;
    if (st.timer !== undefined) clearTimeout(st.timer);
    st.timer = undefined;
  },
  // filt_timer: expirations not yet retrieved.
  event(kn) {
    const st = stateOf(kn, 'timer');
    timerAdvance(st, performance.now());
    return st.count !== 0;
  },
  /**
   * filt_timertouch EVENT_REGISTER: only EV_ADD changes a timer; it throws away undelivered
   * expirations and restarts with the new period and units. A bad setting is refused with EINVAL
   * and leaves the timer as it was (FreeBSD accepts the change and later delivers an event with
   * EV_ERROR set; we refuse at the boundary instead).
   */
  touch(host, kn, kev) {
    if ((kev.flags & EV_ADD) === 0) return 0;
    const fflags = (kev.fflags ?? 0) >>> 0;
    const setting = timerValidate(kn, fflags, kev.data ?? 0);
    if (typeof setting === 'number') return setting;
    host.deactivate(kn);
    kn.sfflags = fflags;
    kn.sdata = kev.data ?? 0;
    timerStart(kn, setting);
    return 0;
  },
  // filt_timertouch EVENT_PROCESS: data = expirations since the last retrieval, fflags 0 (the
  // registration's fflags are not echoed); EV_CLEAR (implicit unless NOTE_ABSTIME) resets the count.
  process(kn, out) {
    const st = stateOf(kn, 'timer');
    timerAdvance(st, performance.now());
    out.data = st.count;
    out.fflags = 0;
    if ((kn.flags & EV_CLEAR) !== 0) st.count = 0;
  },
};

/** A timer's next deadline (performance.now() ms; Infinity once a one-time timer expired). */
export function timerDeadline(kn: Knote): number {
  return stateOf(kn, 'timer').next;
}

/**
 * Bring a timer up to date at `now` and activate it if it expired (for a kqueue that looks: kevent
 * and keventSync both, so that no callback has to have run). Returns its next deadline.
 */
export function timerPoll(host: KnoteHost, kn: Knote, now: number): number {
  const st = stateOf(kn, 'timer');
  timerAdvance(st, now);
  if (st.count !== 0) host.activate(kn);
  return st.next;
}

// ---- EVFILT_USER -------------------------------------------------------------------------------

/**
 * filt_usertouch EVENT_REGISTER: NOTE_TRIGGER fires it; the control bits apply the low 24 bits to
 * the stored ones (NOTE_FFNOP, FFAND, FFOR, FFCOPY); data is stored as given; EV_CLEAR in the change
 * resets the triggered state (a triggered knote is then not returned), the stored bits persist.
 */
function userTouch(kn: Knote, kev: KEvent): void {
  const st = stateOf(kn, 'user');
  const ff = (kev.fflags ?? 0) >>> 0;
  if ((ff & NOTE_TRIGGER) !== 0) st.triggered = true;
  const bits = ff & NOTE_FFLAGSMASK;
  switch ((ff & NOTE_FFCTRLMASK) >>> 0) {
    case NOTE_FFAND:
      kn.sfflags &= bits;
      break;
    case NOTE_FFOR:
      kn.sfflags |= bits;
      break;
    case NOTE_FFCOPY:
      kn.sfflags = bits;
      break;
    default: // NOTE_FFNOP
      break;
  }
  kn.sdata = kev.data ?? 0;
  if ((kev.flags & EV_CLEAR) !== 0) st.triggered = false;
}

export const userFilter: Filter = {
  name: 'EVFILT_USER',
  implicitFlags: 0,
  /**
   * filt_userattach: NOTE_TRIGGER in the adding change fires it at once, and the stored bits are the
   * change's low 24 bits. (FreeBSD's filt_userattach means the same but reads kn_fflags, which
   * kqueue_register has zeroed by then, so there a trigger on EV_ADD is lost and the control bits
   * are stored as user bits; macOS and libkqueue honour it, as the man page reads. We follow them.)
   */
  attach(_host, kn, kev) {
    kn.state = { kind: 'user', triggered: (((kev.fflags ?? 0) >>> 0) & NOTE_TRIGGER) !== 0 } satisfies UserState;
    kn.sfflags = ((kev.fflags ?? 0) >>> 0) & NOTE_FFLAGSMASK;
    return 0;
  },
  detach() {},
  event: (kn) => stateOf(kn, 'user').triggered,
  touch(_host, kn, kev) {
    userTouch(kn, kev);
    return 0;
  },
  process(kn, out) {
    out.fflags = kn.sfflags;
    out.data = kn.sdata;
    // filt_usertouch EVENT_PROCESS: fflags = the stored bits, data = the stored data; EV_CLEAR
    // resets only the triggered state, the stored bits persist.
    if ((kn.flags & EV_CLEAR) !== 0) stateOf(kn, 'user').triggered = false;
  },
};

// ---- EVFILT_SIGNAL -----------------------------------------------------------------------------

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  (Object.entries(os.constants.signals) as [NodeJS.Signals, number][])
    .filter(([name]) => name !== 'SIGKILL' && name !== 'SIGSTOP')
    .map(([name, n]) => [n, name]),
);

/**
 * Deliveries of a signal to this process (data = how many since the last retrieval; implicit
 * EV_CLEAR). It installs a Node listener, so while registered the signal's default action (such as
 * exiting on SIGTERM) no longer applies: Node's rule for any listener.
 */
export const signalFilter: Filter = {
  name: 'EVFILT_SIGNAL',
  implicitFlags: EV_CLEAR,
  attach(host, kn) {
    const name = typeof kn.ident === 'number' ? SIGNAL_NAMES.get(kn.ident) : undefined;
    if (name === undefined) return errno.EINVAL;
    const listener = (): void => {
      kn.data++;
      host.activate(kn);
    };
    kn.state = { kind: 'signal', name, listener } satisfies SignalState;
    process.on(name, listener);
    return 0;
  },
  detach(kn) {
    const st = stateOf(kn, 'signal');
    process.off(st.name, st.listener);
  },
  event: (kn) => kn.data > 0,
};

// ---- EVFILT_PROC -------------------------------------------------------------------------------

/** Children spawned since the first kqueue was made, by pid (for idents given as pids). */
const children = new Map<number, WeakRef<ChildProcess>>();
let tracking = false;

/**
 * Start tracking child processes by pid. Node has no way to name a child by pid after the fact,
 * so the first kqueue wraps ChildProcess.prototype.spawn (which spawn, exec and fork all use) to
 * remember each child. Children spawned before that can be watched by passing the ChildProcess.
 */
export function trackChildren(): void {
  if (tracking) return;
  tracking = true;
  const proto = ChildProcess.prototype as unknown as { spawn: (...a: unknown[]) => unknown };
  const spawn = proto.spawn;
  proto.spawn = function (this: ChildProcess, ...args: unknown[]): unknown {
    const r = spawn.apply(this, args);
    if (typeof this.pid === 'number') {
      const pid = this.pid;
      children.set(pid, new WeakRef(this));
      this.once('exit', () => {
        if (children.get(pid)?.deref() === this) children.delete(pid);
      });
    }
    return r;
  };
}

/** wait(2)-style status: exit code << 8, or the terminating signal's number. */
function waitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal !== null) return os.constants.signals[signal] ?? 0;
  return ((code ?? 0) & 0xff) << 8;
}

/**
 * A child process's exit (NOTE_EXIT; data = its wait(2) status, see WEXITSTATUS; flags EV_EOF and
 * EV_ONESHOT, implicit EV_CLEAR). The ident is a ChildProcess or the pid of a child spawned after
 * the first kqueue was made. NOTE_FORK and NOTE_EXEC are accepted but never fire: Node does not
 * see a child's forks or execs. As filt_procattach does, a child that already exited is reported
 * at once, in the same kevent call; as filt_proc does, an exit nobody asked for (no NOTE_EXIT)
 * removes the knote without an event (EV_DROP).
 */
export const procFilter: Filter = {
  name: 'EVFILT_PROC',
  implicitFlags: EV_CLEAR,
  attach(host, kn) {
    let child: ChildProcess | undefined;
    if (kn.ident instanceof ChildProcess) child = kn.ident;
    else if (typeof kn.ident === 'number') child = children.get(kn.ident)?.deref();
    else return errno.EINVAL;
    if (child === undefined) return errno.ESRCH;
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      // filt_proc with NOTE_EXIT: the process is gone, the knote is finished.
      kn.flags |= EV_ONESHOT;
      kn.outFlags |= EV_EOF;
      if ((kn.sfflags & NOTE_EXIT) !== 0) {
        kn.fflags |= NOTE_EXIT;
        kn.data = waitStatus(code, signal);
      }
      if (kn.fflags === 0) kn.flags |= EV_DROP;
      host.activate(kn);
    };
    kn.state = { kind: 'proc', child, listener: exited } satisfies ProcState;
    if (child.exitCode !== null || child.signalCode !== null) exited(child.exitCode, child.signalCode);
    else child.once('exit', exited);
    return 0;
  },
  detach(kn) {
    const st = kn.state;
    if (st.kind === 'proc') st.child.off('exit', st.listener);
  },
  event: (kn) => kn.fflags !== 0 || (kn.flags & EV_DROP) !== 0,
};

// ---- EVFILT_VNODE ------------------------------------------------------------------------------

/**
 * Changes to a file or directory, by path (or by an open file descriptor). Linux's inotify (through
 * fs.watch) says only "change" or "rename"; comparing an fstat of a descriptor held open on the
 * vnode before and after tells the NOTE_* apart: nlink 0 is NOTE_DELETE, a path that no longer
 * names the vnode is NOTE_RENAME, a larger size NOTE_EXTEND (with NOTE_WRITE), a new mtime
 * NOTE_WRITE, a new ctime alone NOTE_ATTRIB, a new nlink NOTE_LINK. Reported fflags accumulate
 * until retrieval; use EV_CLEAR to reset them there.
 */
export const vnodeFilter: Filter = {
  name: 'EVFILT_VNODE',
  implicitFlags: 0,
  attach(host, kn) {
    let path: string;
    if (typeof kn.ident === 'string') path = kn.ident;
    else if (typeof kn.ident === 'number' && Number.isInteger(kn.ident) && kn.ident >= 0) {
      path = `/proc/self/fd/${kn.ident}`;
    } else return errno.EINVAL;
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_RDONLY);
    } catch (e) {
      const code = (e as { code?: string }).code;
      return code !== undefined && code in errno ? errno[code as keyof typeof errno] : errno.EBADF;
    }
    const st: VnodeState = { kind: 'vnode', fd, path, last: fs.fstatSync(fd), watcher: undefined };
    try {
      const watcher = fs.watch(path, { persistent: false }, (type) => {
        const hint = vnodeChanges(st, type);
        const mine = hint & kn.sfflags;
        if (mine !== 0) {
          kn.fflags |= mine;
          host.activate(kn);
        }
      });
      watcher.on('error', () => {});
      st.watcher = watcher;
    } catch {
      fs.closeSync(fd);
      return errno.EINVAL;
    }
    kn.state = st;
    return 0;
  },
  detach(kn) {
    const st = kn.state;
    if (st.kind !== 'vnode') return;
    st.watcher?.close();
    fs.closeSync(st.fd);
  },
  event: (kn) => kn.fflags !== 0,
  process(kn, out) {
    out.fflags = kn.fflags;
    out.data = 0;
    if ((kn.flags & EV_CLEAR) !== 0) kn.fflags = 0;
  },
};

function vnodeChanges(st: VnodeState, type: string): number {
  let now: fs.Stats;
  try {
    now = fs.fstatSync(st.fd);
  } catch {
    return 0;
  }
  const was = st.last;
  st.last = now;
  let hint = 0;
  if (now.nlink === 0) hint |= NOTE_DELETE;
  else if (now.nlink !== was.nlink) hint |= NOTE_LINK;
  if (now.size > was.size) hint |= NOTE_EXTEND | NOTE_WRITE;
  else if (now.size < was.size || now.mtimeMs !== was.mtimeMs) hint |= NOTE_WRITE;
  if (now.ctimeMs !== was.ctimeMs && (hint & (NOTE_WRITE | NOTE_LINK | NOTE_DELETE)) === 0) hint |= NOTE_ATTRIB;
  if (type === 'rename' && now.nlink > 0) {
    let moved = false;
    try {
      moved = fs.statSync(st.path).ino !== now.ino;
    } catch {
      moved = true;
    }
    if (moved) hint |= NOTE_RENAME;
  }
  return hint;
}

// ---- EVFILT_READ / EVFILT_WRITE ----------------------------------------------------------------

function isReadable(x: unknown): x is Readable {
  return typeof x === 'object' && x !== null && typeof (x as Readable).read === 'function' && 'readableLength' in x;
}

function isWritable(x: unknown): x is Writable {
  return typeof x === 'object' && x !== null && typeof (x as Writable).write === 'function' && 'writableLength' in x;
}

/**
 * The errno of a stream's error, positive (FreeBSD reports so_error in fflags with EV_EOF), or 0.
 * Node's system errors carry it negated in `errno` (ECONNRESET is -104); other errors have none: EIO.
 */
function streamErrno(s: Readable | Writable): number {
  const err = (s as { errored?: unknown }).errored;
  if (err === null || err === undefined) return 0;
  const n = (err as { errno?: unknown }).errno;
  return typeof n === 'number' && Number.isInteger(n) && n !== 0 ? Math.abs(n) : errno.EIO;
}

/**
 * Has end-of-input reached the stream, even with bytes still unread? Node sets its readable state's
 * `ended` when the end is pushed into the buffer (the peer closed its socket, the child's pipe hit
 * EOF), long before 'end', which waits until the reader has consumed every byte (`readableEnded`).
 * That is FreeBSD's SBS_CANTRCVMORE / PIPE_EOF: filt_soread and filt_piperead report EV_EOF then,
 * together with the bytes still buffered. A stream that holds more than its highWaterMark unread
 * stops reading from the OS, so its end is seen once the reader has brought it below that.
 */
function readEnded(s: Readable): boolean {
  const rs = (s as { _readableState?: { ended?: unknown } })._readableState;
  return rs?.ended === true || s.readableEnded || s.destroyed || streamErrno(s) !== 0;
}

/** Watch `stream` for knote `kn`: each of `events` makes it active (the filter decides the rest). */
function listen(kn: Knote, host: KnoteHost, stream: Readable | Writable, events: string[], doneEvents: string[]): number {
  const st: StreamState = { kind: 'stream', stream, listeners: [], done: false };
  kn.state = st;
  const on = (): void => host.activate(kn);
  const done = (): void => {
    st.done = true;
    host.activate(kn);
  };
  for (const e of events) st.listeners.push([e, on]);
  for (const e of doneEvents) st.listeners.push([e, done]);
  for (const [e, f] of st.listeners) stream.on(e, f);
  return 0;
}

function unlisten(kn: Knote): void {
  const st = stateOf(kn, 'stream');
  for (const [e, f] of st.listeners) st.stream.off(e, f);
}

/**
 * A Node stream or socket (the object is the ident) has bytes to read: data = bytes buffered
 * (readableLength). EV_EOF as soon as the end of input reached the stream, together with the bytes
 * still unread (filt_soread, filt_piperead), with fflags = the errno if it ended by an error.
 * Registering attaches a 'readable' listener, which puts the stream in paused mode: read the data
 * with stream.read(). NOTE_LOWAT with data n waits for n bytes (the end fires regardless).
 * Destroying the stream yourself also reports EV_EOF (FreeBSD's close(2) of the descriptor would
 * remove the knote instead; Node also destroys a socket on its own once both sides ended, and that
 * must not hide the end).
 */
export const readFilter: Filter = {
  name: 'EVFILT_READ',
  implicitFlags: 0,
  attach(host, kn) {
    const s = kn.ident;
    if (!isReadable(s)) return errno.EBADF;
    // 'readable' also fires when the end is pushed, with data still buffered.
    return listen(kn, host, s, ['readable', 'end'], ['close', 'error']);
  },
  detach: unlisten,
  event(kn) {
    const st = stateOf(kn, 'stream');
    const s = st.stream as Readable;
    if (readEnded(s)) return true;
    const low = (kn.sfflags & NOTE_LOWAT) !== 0 && kn.sdata > 0 ? kn.sdata : 1;
    return s.readableLength >= low;
  },
  process(kn, out) {
    const s = stateOf(kn, 'stream').stream as Readable;
    out.data = s.readableLength;
    out.fflags = 0;
    if (readEnded(s)) {
      out.flags |= EV_EOF;
      out.fflags = streamErrno(s);
    }
  },
};

/**
 * A Node stream or socket can take more bytes: data = room before its high-water mark. Active
 * while writing would not have to wait for 'drain' (with NOTE_LOWAT, while the room is at least
 * the knote's data: filt_sowrite); EV_EOF once end() was called (as after shutdown(SHUT_WR)), or
 * it closed or failed (fflags = the errno of a failure), with data 0 (filt_pipewrite).
 */
export const writeFilter: Filter = {
  name: 'EVFILT_WRITE',
  implicitFlags: 0,
  attach(host, kn) {
    const s = kn.ident;
    if (!isWritable(s)) return errno.EBADF;
    const st = listen(kn, host, s, ['drain', 'connect', 'ready'], ['finish', 'close', 'error']);
    stateOf(kn, 'stream').done = s.writableFinished || s.destroyed || streamErrno(s) !== 0;
    return st;
  },
  detach: unlisten,
  event(kn) {
    const st = stateOf(kn, 'stream');
    const w = st.stream as Writable & { pending?: boolean; connecting?: boolean };
    // end() was called: like shutdown(SHUT_WR), nothing more can be written from now on.
    if (w.writableEnded) st.done = true;
    if (st.done) return true;
    if (w.connecting === true || w.pending === true) return false;
    const room = w.writableHighWaterMark - w.writableLength;
    if ((kn.sfflags & NOTE_LOWAT) !== 0) return room >= Math.max(1, kn.sdata);
    return !w.writableNeedDrain && room > 0;
  },
  process(kn, out) {
    const st = stateOf(kn, 'stream');
    const w = st.stream as Writable;
    out.data = st.done ? 0 : Math.max(0, w.writableHighWaterMark - w.writableLength);
    out.fflags = 0;
    if (st.done) {
      out.flags |= EV_EOF;
      out.fflags = streamErrno(w);
    }
  },
};

// ---- registry ----------------------------------------------------------------------------------

export const FILTERS: ReadonlyMap<number, Filter> = new Map<number, Filter>([
  [EVFILT_READ, readFilter],
  [EVFILT_WRITE, writeFilter],
  [EVFILT_AIO, completionFilter('EVFILT_AIO')],
  [EVFILT_VNODE, vnodeFilter],
  [EVFILT_PROC, procFilter],
  [EVFILT_SIGNAL, signalFilter],
  [EVFILT_TIMER, timerFilter],
  [EVFILT_USER, userFilter],
  [EVFILT_THREADLET, completionFilter('EVFILT_THREADLET')],
]);

export const FILTER_NAMES = new Map<number, string>([...FILTERS].map(([k, f]) => [k, f.name]));
