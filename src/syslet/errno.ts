/**
 * Linux errno numbers. Atom results follow the syscall convention: `>= 0` on success, `-errno` on
 * failure, with these numbers whatever the host platform.
 */
export const errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ETIME: 62,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ENOTSUP: 95,
  ETIMEDOUT: 110,
  EALREADY: 114,
  ECANCELED: 125,
  EOWNERDEAD: 130,
} as const;

export type ErrnoName = keyof typeof errno;

const NAMES = new Map<number, ErrnoName>(
  (Object.entries(errno) as [ErrnoName, number][]).map(([k, v]) => [v, k]),
);

/** The name of a positive errno number (`2` → `"ENOENT"`), or undefined. */
export function errnoName(n: number): ErrnoName | undefined {
  return NAMES.get(Math.abs(n));
}

/**
 * -errno for an error whose `code` names a Linux errno (e.code 'ENOENT' → -2), else undefined.
 * The errno of a system error wherever it was thrown (an fs call, a threadlet: protocol.ts).
 */
export function resultOfCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && Object.hasOwn(errno, code) ? -errno[code as ErrnoName] : undefined;
}

/**
 * Turn an exception thrown by a Node fs call into a syscall result (`-errno`).
 * Node puts libuv's error number in `err.errno`; on Linux that is already `-errno`. Elsewhere, and
 * for Node's own argument errors, the code decides.
 */
export function resultOfError(err: unknown): number {
  const byCode = resultOfCode(err);
  if (byCode !== undefined) return byCode;
  const e = err as { errno?: unknown; code?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (process.platform === 'linux' && typeof e?.errno === 'number' && e.errno < 0) return e.errno;
  switch (code) {
    case 'ERR_FS_FILE_TOO_LARGE':
      return -errno.EFBIG;
    case 'ERR_OUT_OF_RANGE':
    case 'ERR_INVALID_ARG_TYPE':
    case 'ERR_INVALID_ARG_VALUE':
      return -errno.EINVAL;
    default:
      return -errno.EIO;
  }
}
