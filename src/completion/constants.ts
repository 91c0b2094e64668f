/**
 * kqueue/kevent names and values, as FreeBSD's <sys/event.h> defines them (REFERENCE.md), plus
 * EVFILT_THREADLET, a filter of our own outside FreeBSD's range.
 */

// Filters.
export const EVFILT_READ = -1;
export const EVFILT_WRITE = -2;
export const EVFILT_AIO = -3;
export const EVFILT_VNODE = -4;
export const EVFILT_PROC = -5;
export const EVFILT_SIGNAL = -6;
export const EVFILT_TIMER = -7;
export const EVFILT_PROCDESC = -8;
export const EVFILT_FS = -9;
export const EVFILT_LIO = -10;
export const EVFILT_USER = -11;
export const EVFILT_SENDFILE = -12;
export const EVFILT_EMPTY = -13;
/** Threadlet completions: ours, below FreeBSD's last filter (-13). */
export const EVFILT_THREADLET = -32;

// Actions and flags.
export const EV_ADD = 0x0001;
export const EV_DELETE = 0x0002;
export const EV_ENABLE = 0x0004;
export const EV_DISABLE = 0x0008;
export const EV_ONESHOT = 0x0010;
export const EV_CLEAR = 0x0020;
export const EV_RECEIPT = 0x0040;
export const EV_DISPATCH = 0x0080;
export const EV_FORCEONESHOT = 0x0100;
export const EV_KEEPUDATA = 0x0200;
export const EV_SYSFLAGS = 0xf000;
export const EV_DROP = 0x1000;
export const EV_FLAG1 = 0x2000;
export const EV_FLAG2 = 0x4000;
export const EV_ERROR = 0x4000;
export const EV_EOF = 0x8000;

// EVFILT_READ / EVFILT_WRITE.
export const NOTE_LOWAT = 0x0001;
export const NOTE_FILE_POLL = 0x0002;

// EVFILT_USER.
export const NOTE_FFNOP = 0x00000000;
export const NOTE_FFAND = 0x40000000;
export const NOTE_FFOR = 0x80000000;
export const NOTE_FFCOPY = 0xc0000000;
export const NOTE_FFCTRLMASK = 0xc0000000;
export const NOTE_FFLAGSMASK = 0x00ffffff;
export const NOTE_TRIGGER = 0x01000000;

// EVFILT_VNODE.
export const NOTE_DELETE = 0x0001;
export const NOTE_WRITE = 0x0002;
export const NOTE_EXTEND = 0x0004;
export const NOTE_ATTRIB = 0x0008;
export const NOTE_LINK = 0x0010;
export const NOTE_RENAME = 0x0020;
export const NOTE_REVOKE = 0x0040;
export const NOTE_OPEN = 0x0080;
export const NOTE_CLOSE = 0x0100;
export const NOTE_CLOSE_WRITE = 0x0200;
export const NOTE_READ = 0x0400;

// EVFILT_PROC.
export const NOTE_EXIT = 0x80000000;
export const NOTE_FORK = 0x40000000;
export const NOTE_EXEC = 0x20000000;
export const NOTE_PCTRLMASK = 0xf0000000;
export const NOTE_PDATAMASK = 0x000fffff;
export const NOTE_TRACK = 0x00000001;
export const NOTE_TRACKERR = 0x00000002;
export const NOTE_CHILD = 0x00000004;

// EVFILT_TIMER.
export const NOTE_SECONDS = 0x0001;
export const NOTE_MSECONDS = 0x0002;
export const NOTE_USECONDS = 0x0004;
export const NOTE_NSECONDS = 0x0008;
export const NOTE_ABSTIME = 0x0010;

/**
 * An event, and a change: `(ident, filter)` names one knote per kqueue.
 *
 * `ident` is a number for EVFILT_AIO / EVFILT_THREADLET (the submission id), EVFILT_TIMER and
 * EVFILT_USER (any number you choose), EVFILT_SIGNAL (the signal number) and EVFILT_PROC (a child's
 * pid). For the Node sources it is the object itself, compared by identity: a stream or socket for
 * EVFILT_READ / EVFILT_WRITE, a ChildProcess (or its pid) for EVFILT_PROC, and a path string (or a
 * file descriptor number) for EVFILT_VNODE.
 */
export interface KEvent {
  ident: unknown;
  filter: number;
  flags: number;
  fflags: number;
  data: number;
  udata: unknown;
}

/** Build a change or event, as the EV_SET macro does. */
export function EV_SET(
  ident: unknown,
  filter: number,
  flags: number,
  fflags = 0,
  data = 0,
  udata: unknown = null,
): KEvent {
  return { ident, filter, flags, fflags, data, udata };
}

/** wait(2) status helpers for EVFILT_PROC's data. */
export function WIFEXITED(status: number): boolean {
  return (status & 0x7f) === 0;
}
export function WEXITSTATUS(status: number): number {
  return (status >> 8) & 0xff;
}
export function WIFSIGNALED(status: number): boolean {
  return (status & 0x7f) !== 0 && (status & 0x7f) !== 0x7f;
}
export function WTERMSIG(status: number): number {
  return status & 0x7f;
}
