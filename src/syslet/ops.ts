/**
 * The operations table: every atom operation, its opcode, its parameters and the kind of value it
 * returns beside its number. Shared by the validator (caller side) and the interpreter (workers and
 * the caller's inline prefix), which implements them (interp.ts). The list below is the one place
 * an operation is named: OpName, OPS and Op are derived from it.
 */

/**
 * Parameter kinds.
 * - fd, int: an integer, literal or a variable (`{ var }`)
 * - num: any finite number, literal or variable
 * - oflags: open flags, an integer or a Node flag string ('r', 'w+', 'ax', ...)
 * - path: a string literal
 * - buf: a buffer reference (`{ buf }`) or an arena Buffer from rt.alloc()
 * - var: the name of a variable itself (`{ var }`), not its value: umem_add adds to it
 */
export type ParamKind = 'fd' | 'int' | 'num' | 'oflags' | 'path' | 'buf' | 'var';

/**
 * How a path parameter is resolved under a policy's root (policy.ts, Resolver): 'follow' (the
 * default: the object named, a symlink in the last component followed; it must exist), 'nofollow'
 * (the name itself: lstat, unlink, rename, mkdir...), 'create' (as follow; a missing last
 * component is created as an empty file first), 'open' (the operation resolves it with its flags),
 * 'none' (not followed by the operation: symlink's target). Declared modes are resolved before
 * the atom runs, in parameter order; a path parameter that declares none is resolved when the
 * interpreter reads it, as 'follow' or 'nofollow' by what the operation says it does with a
 * symlink in the last component. Either way no path parameter reaches a system call unresolved.
 */
export type PathResolve = 'follow' | 'nofollow' | 'create' | 'open' | 'none';

export interface ParamSpec {
  readonly name: string;
  readonly kind: ParamKind;
  readonly optional?: boolean;
  /** Path parameters: how a policy's root resolves it. @default by the operation (see PathResolve) */
  readonly resolve?: PathResolve;
}

/** What travels beside the number. */
export const ValueKind = {
  NONE: 0,
  STAT: 1,
  NAMES: 2,
  STRING: 3,
  /** A stat with nanosecond times: the fields of fs.BigIntStats as BigInt64. */
  BIGSTAT: 4,
  /** Bytes (a file's contents). */
  BYTES: 5,
  /** Directory entries with their types (fs.Dirent's UV_DIRENT_* numbers), in Node's order. */
  DIRENTS: 6,
} as const;
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];

export interface OpSpec {
  readonly name: string;
  readonly code: number;
  readonly params: readonly ParamSpec[];
  /** Required parameters (those before the first optional one). */
  readonly minArgs: number;
  readonly value: ValueKind;
  /** One line for errors and docs. */
  readonly doc: string;
  /**
   * Operations a policy must allow for this one to run. An operation numbered below 32 has a bit
   * of its own in a policy's mask; one numbered 32 or above (the mask is 32 bits) is a composite
   * of earlier ones and runs under their permission (stat_ns under stat's).
   */
  readonly needs: readonly OpName[];
}

const p = (name: string, kind: ParamKind, optional = false, resolve?: PathResolve): ParamSpec =>
  resolve === undefined ? { name, kind, optional } : { name, kind, optional, resolve };
/** A path parameter naming the entry itself (not following a symlink in its last component). */
const lp = (name: string): ParamSpec => p(name, 'path', false, 'nofollow');

/** An entry of SPECS: an OpSpec without what is derived (code, minArgs, needs' default). */
type SpecIn = Omit<OpSpec, 'code' | 'minArgs' | 'needs' | 'name'> & { readonly name: string; readonly needs?: readonly string[] };

/** Opcodes are positions in this list; append only. */
const SPECS = [
  { name: 'nop', params: [p('result', 'num', true)], value: ValueKind.NONE, doc: 'returns its argument (default 0); no system call' },
  { name: 'open', params: [p('path', 'path', false, 'open'), p('flags', 'oflags'), p('mode', 'int', true)], value: ValueKind.NONE, doc: 'open(2): returns a file descriptor' },
  { name: 'close', params: [p('fd', 'fd')], value: ValueKind.NONE, doc: 'close(2)' },
  { name: 'read', params: [p('fd', 'fd'), p('buf', 'buf'), p('count', 'int')], value: ValueKind.NONE, doc: 'read(2) at the file position: returns bytes read, 0 at end of file' },
  { name: 'pread', params: [p('fd', 'fd'), p('buf', 'buf'), p('count', 'int'), p('offset', 'int')], value: ValueKind.NONE, doc: 'pread(2): returns bytes read' },
  { name: 'write', params: [p('fd', 'fd'), p('buf', 'buf'), p('count', 'int')], value: ValueKind.NONE, doc: 'write(2) at the file position: returns bytes written' },
  { name: 'pwrite', params: [p('fd', 'fd'), p('buf', 'buf'), p('count', 'int'), p('offset', 'int')], value: ValueKind.NONE, doc: 'pwrite(2): returns bytes written' },
  { name: 'fstat', params: [p('fd', 'fd')], value: ValueKind.STAT, doc: 'fstat(2): value is the stat' },
  { name: 'stat', params: [p('path', 'path')], value: ValueKind.STAT, doc: 'stat(2): value is the stat' },
  { name: 'lstat', params: [lp('path')], value: ValueKind.STAT, doc: 'lstat(2): value is the stat' },
  { name: 'fsync', params: [p('fd', 'fd')], value: ValueKind.NONE, doc: 'fsync(2)' },
  { name: 'fdatasync', params: [p('fd', 'fd')], value: ValueKind.NONE, doc: 'fdatasync(2)' },
  { name: 'ftruncate', params: [p('fd', 'fd'), p('length', 'int', true)], value: ValueKind.NONE, doc: 'ftruncate(2), length defaults to 0' },
  { name: 'rename', params: [lp('oldPath'), lp('newPath')], value: ValueKind.NONE, doc: 'rename(2)' },
  { name: 'unlink', params: [lp('path')], value: ValueKind.NONE, doc: 'unlink(2)' },
  { name: 'mkdir', params: [lp('path'), p('mode', 'int', true)], value: ValueKind.NONE, doc: 'mkdir(2), mode defaults to 0o777' },
  { name: 'rmdir', params: [lp('path')], value: ValueKind.NONE, doc: 'rmdir(2)' },
  { name: 'readdir', params: [p('path', 'path')], value: ValueKind.NAMES, doc: 'the names in a directory, in its own order (no . or ..): returns their count, value is the names' },
  { name: 'readlink', params: [lp('path')], value: ValueKind.STRING, doc: 'readlink(2): returns the target length in bytes, value is the target' },
  { name: 'symlink', params: [p('target', 'path', false, 'none'), lp('path')], value: ValueKind.NONE, doc: 'symlink(2)' },
  { name: 'link', params: [lp('existingPath'), lp('newPath')], value: ValueKind.NONE, doc: 'link(2)' },
  { name: 'chmod', params: [p('path', 'path'), p('mode', 'int')], value: ValueKind.NONE, doc: 'chmod(2)' },
  { name: 'utimes', params: [p('path', 'path'), p('atime', 'num'), p('mtime', 'num')], value: ValueKind.NONE, doc: 'utimes(2), times in seconds since the epoch' },
  { name: 'access', params: [p('path', 'path'), p('mode', 'int', true)], value: ValueKind.NONE, doc: 'access(2), mode defaults to F_OK' },
  { name: 'copyfile', params: [p('src', 'path', false, 'follow'), p('dest', 'path', false, 'create'), p('flags', 'int', true)], value: ValueKind.NONE, doc: 'copy a file (fs.copyFileSync flags)' },
  { name: 'realpath', params: [p('path', 'path')], value: ValueKind.STRING, doc: 'realpath(3): returns the length in bytes, value is the path' },
  { name: 'nanosleep', params: [p('ns', 'num')], value: ValueKind.NONE, doc: 'sleep for ns nanoseconds; a cancel or the deadline ends the chain at this atom (-ECANCELED, -ETIME)' },
  { name: 'umem_add', params: [p('var', 'var'), p('increment', 'num')], value: ValueKind.NONE, doc: 'add to a variable: returns the new value' },
  { name: 'getpid', params: [], value: ValueKind.NONE, doc: 'getpid(2)' },
  // The fs facade's atoms (src/fs). On failure their value, when present, says which step failed
  // ('open', 'fstat', 'read', 'write', 'ftruncate', 'close') or, for mkdtemp, the path tried.
  { name: 'readfile', params: [p('path', 'path', false, 'open'), p('flags', 'oflags'), p('max', 'int')], value: ValueKind.BYTES, doc: "open, fstat, read to the end, close (fs.readFile): returns the byte count, value is the bytes; -EFBIG (value 'size') without reading when the file is larger than max" },
  { name: 'writefile', params: [p('path', 'path', false, 'open'), p('flags', 'oflags'), p('mode', 'int'), p('buf', 'buf')], value: ValueKind.NONE, doc: 'open, write all of buf, close (fs.writeFile, fs.appendFile with an append flag): returns bytes written' },
  { name: 'scandir', params: [p('path', 'path')], value: ValueKind.DIRENTS, doc: "the entries of a directory with their types, in Node's order (fs.readdir): returns their count" },
  { name: 'stat_ns', params: [p('path', 'path')], value: ValueKind.BIGSTAT, doc: 'stat(2) with nanosecond times (fs.stat with bigint: true)', needs: ['stat'] },
  { name: 'lstat_ns', params: [lp('path')], value: ValueKind.BIGSTAT, doc: 'lstat(2) with nanosecond times', needs: ['lstat'] },
  { name: 'mkdirp', params: [lp('path'), p('mode', 'int', true)], value: ValueKind.STRING, doc: 'mkdir -p (fs.mkdir recursive): value is the first directory created, if any', needs: ['mkdir'] },
  { name: 'mkdtemp', params: [lp('prefix')], value: ValueKind.STRING, doc: 'mkdtemp(3), prefix + six random characters: value is the directory made', needs: ['mkdir'] },
  { name: 'truncate', params: [p('path', 'path', false, 'open'), p('length', 'int', true)], value: ValueKind.NONE, doc: 'open r+, ftruncate (length defaults to 0), close (fs.truncate)', needs: ['open', 'ftruncate', 'close'] },
] as const satisfies readonly SpecIn[];

/** An operation's name ('stat', 'readdir', ...). */
export type OpName = (typeof SPECS)[number]['name'];

/** Compile-time check: every name in a `needs` list is an operation. */
type NeedsNames = (typeof SPECS)[number] extends infer S ? (S extends { readonly needs: readonly (infer N)[] } ? N : never) : never;
const NEEDS_ARE_OPS: [Exclude<NeedsNames, OpName>] extends [never] ? true : never = true;
void NEEDS_ARE_OPS;

export const OPS: readonly OpSpec[] = (SPECS as readonly SpecIn[]).map((s, code) =>
  Object.freeze({
    ...s,
    name: s.name as OpName,
    code,
    minArgs: s.params.filter((q) => q.optional !== true).length,
    needs: (s.needs ?? [s.name]) as readonly OpName[],
  }),
);

export const OP_BY_NAME: ReadonlyMap<string, OpSpec> = new Map(OPS.map((o) => [o.name, o]));

/** Opcodes by name in capitals (Op.STAT), for the interpreter's switch. */
export const Op = Object.freeze(Object.fromEntries(OPS.map((o) => [o.name.toUpperCase(), o.code]))) as {
  readonly [K in OpName as Uppercase<K>]: number;
};

/**
 * Per opcode, the policy mask bits it needs (see OpSpec.needs). Bits exist for opcodes 0-31 only;
 * an operation at 32 or above must be a composite of those.
 */
export const OP_NEED_MASK: Int32Array = Int32Array.from(OPS, (o) => {
  let m = 0;
  for (const n of o.needs) {
    const c = OP_BY_NAME.get(n)!.code;
    if (c >= 32) throw new Error(`ops: ${o.name} needs ${n}, which has no policy bit (opcode ${c} >= 32)`);
    m |= 1 << c;
  }
  return m;
});

/** Node's open flag strings, resolved to numbers with the platform's constants. */
export function openFlagsFromString(s: string, c: typeof import('node:fs').constants): number | undefined {
  const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC } = c;
  switch (s) {
    case 'r': return O_RDONLY;
    case 'rs': case 'sr': return O_RDONLY | O_SYNC;
    case 'r+': return O_RDWR;
    case 'rs+': case 'sr+': return O_RDWR | O_SYNC;
    case 'w': return O_TRUNC | O_CREAT | O_WRONLY;
    case 'wx': case 'xw': return O_TRUNC | O_CREAT | O_WRONLY | O_EXCL;
    case 'w+': return O_TRUNC | O_CREAT | O_RDWR;
    case 'wx+': case 'xw+': return O_TRUNC | O_CREAT | O_RDWR | O_EXCL;
    case 'a': return O_APPEND | O_CREAT | O_WRONLY;
    case 'ax': case 'xa': return O_APPEND | O_CREAT | O_WRONLY | O_EXCL;
    case 'as': case 'sa': return O_APPEND | O_CREAT | O_WRONLY | O_SYNC;
    case 'a+': return O_APPEND | O_CREAT | O_RDWR;
    case 'ax+': case 'xa+': return O_APPEND | O_CREAT | O_RDWR | O_EXCL;
    case 'as+': case 'sa+': return O_APPEND | O_CREAT | O_RDWR | O_SYNC;
    default: return undefined;
  }
}
