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
import type { Filter, Knote, KnoteHost } from './knote.js';

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
    event: (kn) => (kn.state as { done?: boolean } | undefined)?.done === true,
  };
}

// ---- EVFILT_TIMER ------------------------------------------------------------------------------

interface TimerState {
  /** performance.now() when (re)started. */
  start: number;
  /** Period in ms (periodic), or 0 for an absolute one-time expiry. */
  period: number;
  /** performance.now() of the absolute expiry (NOTE_ABSTIME). */
  at: number;
  /** Expirations already reported. */
  reported: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  host: KnoteHost;
}

const UNIT_MS: Record<number, number> = {
  [NOTE_SECONDS]: 1000,
  [NOTE_MSECONDS]: 1,
  [NOTE_USECONDS]: 1e-3,
  [NOTE_NSECONDS]: 1e-6,
};

function timerExpirations(st: TimerState, now: number): number {
  if (st.period === 0) return now >= st.at ? 1 : 0;
  return Math.max(0, Math.floor((now - st.start) / st.period));
}

/** performance.now() of the next expiry not yet reported. */
function timerNext(st: TimerState): number {
  return st.period === 0 ? st.at : st.start + (st.reported + 1) * st.period;
}

function timerArm(kn: Knote): void {
  const st = kn.state as TimerState;
  if (st.timer !== undefined) clearTimeout(st.timer);
  const fire = (): void => {
    st.timer = undefined;
    const now = performance.now();
    // Node timers may fire a little early: only an expiry that really passed counts.
    if (timerExpirations(st, now) > st.reported) st.host.activate(kn);
    if (st.period !== 0 || timerExpirations(st, now) === 0) arm();
  };
  const arm = (): void => {
    const wait = Math.max(0, timerNext(st) - performance.now());
    // Unref'd: a timer alone does not keep the process alive (a kevent waiting on it does).
    st.timer = setTimeout(fire, Math.ceil(wait)).unref();
  };
  arm();
}

function timerSetup(host: KnoteHost, kn: Knote, kev: KEvent): number {
  const units = kev.fflags & (NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS);
  if (units !== 0 && (units & (units - 1)) !== 0) return errno.EINVAL;
  const unit = UNIT_MS[units === 0 ? NOTE_MSECONDS : units]!;
  const data = kev.data;
  if (typeof data !== 'number' || !Number.isFinite(data) || data < 0) return errno.EINVAL;
  const st = kn.state as TimerState;
  const now = performance.now();
  st.start = now;
  st.reported = 0;
  if ((kev.fflags & NOTE_ABSTIME) !== 0) {
    st.period = 0;
    // The absolute time is on the epoch clock; convert to performance.now()'s.
    st.at = now + (data * unit - Date.now());
  } else {
    // FreeBSD: a periodic timer of 0 fires every unit.
    const ms = data * unit;
    st.period = ms === 0 && (kn.flags & EV_ONESHOT) === 0 ? unit : ms;
    st.at = 0;
    if (st.period === 0) {
      st.at = now;
    }
  }
  // Undelivered expirations of the previous setting are thrown away (FreeBSD's filt_timertouch).
  host.deactivate(kn);
  timerArm(kn);
  return 0;
}

export const timerFilter: Filter = {
  name: 'EVFILT_TIMER',
  implicitFlags: EV_CLEAR,
  attach(host, kn, kev) {
    kn.state = { start: 0, period: 0, at: 0, reported: 0, timer: undefined, host } satisfies TimerState;
    return timerSetup(host, kn, kev);
  },
  detach(kn) {
    const st = kn.state as TimerState;
    if (st.timer !== undefined) clearTimeout(st.timer);
    st.timer = undefined;
  },
  event(kn) {
    const st = kn.state as TimerState;
    return timerExpirations(st, performance.now()) > st.reported;
  },
  touch(host, kn, kev) {
    // Re-adding (EV_ADD on an existing timer) restarts it with the new period; other changes
    // (EV_ENABLE, EV_DISABLE) leave it running.
    if ((kev.flags & EV_ADD) === 0) return 0;
    kn.sfflags = kev.fflags;
    kn.sdata = kev.data;
    return timerSetup(host, kn, kev);
  },
  process(kn, out) {
    const st = kn.state as TimerState;
    const n = timerExpirations(st, performance.now());
    out.data = n - st.reported;
    out.fflags = kn.sfflags;
    st.reported = n;
  },
};

/** Expired timers on this kqueue, activated now (for keventSync, which cannot run callbacks). */
export function timerPoll(host: KnoteHost, kn: Knote): void {
  if (timerFilter.event(kn)) host.activate(kn);
}

/** When the timer's next unreported expiry is due (performance.now() ms). */
export function timerDue(kn: Knote): number {
  return timerNext(kn.state as TimerState);
}

// ---- EVFILT_USER -------------------------------------------------------------------------------

interface UserState {
  triggered: boolean;
}

function userTouch(kn: Knote, kev: KEvent): void {
  const st = kn.state as UserState;
  const ff = kev.fflags >>> 0;
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
  kn.sdata = kev.data;
}

export const userFilter: Filter = {
  name: 'EVFILT_USER',
  implicitFlags: 0,
  attach(_host, kn, kev) {
    kn.state = { triggered: ((kev.fflags >>> 0) & NOTE_TRIGGER) !== 0 } satisfies UserState;
    kn.sfflags = (kev.fflags >>> 0) & NOTE_FFLAGSMASK;
    return 0;
  },
  detach() {},
  event: (kn) => (kn.state as UserState).triggered,
  touch(_host, kn, kev) {
    userTouch(kn, kev);
    return 0;
  },
  process(kn, out) {
    out.fflags = kn.sfflags;
    out.data = kn.sdata;
    // EV_CLEAR resets only the triggered state; the stored user bits persist.
    if ((kn.flags & EV_CLEAR) !== 0) (kn.state as UserState).triggered = false;
  },
};

// ---- EVFILT_SIGNAL -----------------------------------------------------------------------------

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  (Object.entries(os.constants.signals) as [NodeJS.Signals, number][])
    .filter(([name]) => name !== 'SIGKILL' && name !== 'SIGSTOP')
    .map(([name, n]) => [n, name]),
);

interface SignalState {
  name: NodeJS.Signals;
  listener: () => void;
}

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
    kn.state = { name, listener } satisfies SignalState;
    process.on(name, listener);
    return 0;
  },
  detach(kn) {
    const st = kn.state as SignalState;
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

interface ProcState {
  child: ChildProcess;
  listener: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/**
 * A child process's exit (NOTE_EXIT; data = its wait(2) status, see WEXITSTATUS; flags EV_EOF and
 * EV_ONESHOT, implicit EV_CLEAR). The ident is a ChildProcess or the pid of a child spawned after
 * the first kqueue was made. NOTE_FORK and NOTE_EXEC are accepted but never fire: Node does not
 * see a child's forks or execs.
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
      if ((kn.sfflags & NOTE_EXIT) === 0) return;
      kn.data = waitStatus(code, signal);
      kn.fflags |= NOTE_EXIT;
      kn.outFlags |= EV_EOF;
      kn.flags |= EV_ONESHOT;
      host.activate(kn);
    };
    kn.state = { child, listener: exited } satisfies ProcState;
    if (child.exitCode !== null || child.signalCode !== null) {
      queueMicrotask(() => exited(child.exitCode, child.signalCode));
    } else {
      child.once('exit', exited);
    }
    return 0;
  },
  detach(kn) {
    const st = kn.state as ProcState | undefined;
    st?.child.off('exit', st.listener);
  },
  event: (kn) => kn.fflags !== 0,
};

// ---- EVFILT_VNODE ------------------------------------------------------------------------------

interface VnodeState {
  fd: number;
  watcher: fs.FSWatcher;
  path: string;
  last: fs.Stats;
}

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
    const st: VnodeState = { fd, path, last: fs.fstatSync(fd), watcher: undefined as unknown as fs.FSWatcher };
    try {
      st.watcher = fs.watch(path, { persistent: false }, (type) => {
        const hint = vnodeChanges(st, type);
        const mine = hint & kn.sfflags;
        if (mine !== 0) {
          kn.fflags |= mine;
          host.activate(kn);
        }
      });
      st.watcher.on('error', () => {});
    } catch {
      fs.closeSync(fd);
      return errno.EINVAL;
    }
    kn.state = st;
    return 0;
  },
  detach(kn) {
    const st = kn.state as VnodeState | undefined;
    if (st === undefined) return;
    st.watcher.close();
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

interface StreamState {
  stream: Readable | Writable;
  listeners: [string, (...a: unknown[]) => void][];
  eof: boolean;
}

function isReadable(x: unknown): x is Readable {
  return typeof x === 'object' && x !== null && typeof (x as Readable).read === 'function' && 'readableLength' in x;
}

function isWritable(x: unknown): x is Writable {
  return typeof x === 'object' && x !== null && typeof (x as Writable).write === 'function' && 'writableLength' in x;
}

/**
 * Watch `stream` for knote `kn`: `events` make it active, `eofEvents` also set EV_EOF. `eof` says
 * whether the stream has already ended. Returns 0 (attach's result).
 */
function listen(kn: Knote, host: KnoteHost, stream: Readable | Writable, eof: boolean, events: string[], eofEvents: string[]): number {
  const st: StreamState = { stream, listeners: [], eof };
  kn.state = st;
  if (eof) kn.outFlags |= EV_EOF;
  const on = (): void => host.activate(kn);
  const ended = (): void => {
    st.eof = true;
    kn.outFlags |= EV_EOF;
    host.activate(kn);
  };
  for (const e of events) st.listeners.push([e, on]);
  for (const e of eofEvents) st.listeners.push([e, ended]);
  for (const [e, f] of st.listeners) stream.on(e, f);
  return 0;
}

function unlisten(kn: Knote): void {
  const st = kn.state as StreamState;
  for (const [e, f] of st.listeners) st.stream.off(e, f);
}

/**
 * A Node stream or socket (the object is the ident) has bytes to read: data = bytes buffered
 * (readableLength), EV_EOF once it ended. Registering attaches a 'readable' listener, which puts
 * the stream in paused mode: read the data with stream.read(). NOTE_LOWAT with data n waits for n
 * bytes.
 */
export const readFilter: Filter = {
  name: 'EVFILT_READ',
  implicitFlags: 0,
  attach(host, kn) {
    const s = kn.ident;
    if (!isReadable(s)) return errno.EBADF;
    return listen(kn, host, s, s.readableEnded || s.destroyed, ['readable'], ['end', 'close', 'error']);
  },
  detach: unlisten,
  event(kn) {
    const st = kn.state as StreamState;
    const n = (st.stream as Readable).readableLength;
    const low = (kn.sfflags & NOTE_LOWAT) !== 0 && kn.sdata > 0 ? kn.sdata : 1;
    return st.eof || n >= low;
  },
  process(kn, out) {
    const st = kn.state as StreamState;
    out.data = (st.stream as Readable).readableLength;
    out.fflags = 0;
  },
};

/**
 * A Node stream or socket can take more bytes: data = room before its high-water mark, EV_EOF once
 * it finished or closed. Active while writing would not have to wait for 'drain'.
 */
export const writeFilter: Filter = {
  name: 'EVFILT_WRITE',
  implicitFlags: 0,
  attach(host, kn) {
    const s = kn.ident;
    if (!isWritable(s)) return errno.EBADF;
    return listen(kn, host, s, s.writableFinished || s.destroyed, ['drain', 'connect', 'ready'], ['finish', 'close', 'error']);
  },
  detach: unlisten,
  event(kn) {
    const st = kn.state as StreamState;
    const w = st.stream as Writable & { pending?: boolean; connecting?: boolean };
    if (st.eof) return true;
    if (w.connecting === true || w.pending === true) return false;
    return !w.writableNeedDrain && w.writableLength < w.writableHighWaterMark;
  },
  process(kn, out) {
    const st = kn.state as StreamState;
    const w = st.stream as Writable;
    out.data = st.eof ? 0 : Math.max(0, w.writableHighWaterMark - w.writableLength);
    out.fflags = 0;
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
