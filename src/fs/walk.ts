/**
 * Recursive readdir and rm as parallel walks: every directory of a level is read at once (the
 * scandir atoms of a level batch together, as `syslet du` walks), then the answer is put in the
 * order Node gives it.
 *
 * Node's order for readdir({ recursive: true }): up to Node 24 a stack (the entries of a directory,
 * then the last subdirectory pushed first); from Node 26 breadth-first. Where Node follows a
 * symlink to a directory (the string form up to 24, both forms from 26), and where any directory
 * cannot be read, the walk hands the call to node:fs/promises: reading has no effect, so Node's
 * answer (including its loops through symlinks, and its errors) is the answer.
 */
import pathModule from 'node:path';
import type { Stats } from 'node:fs';
import { errno } from '../syslet/errno.js';
import { Op } from '../syslet/ops.js';
import type { DirentList } from '../syslet/values.js';
import { DirentType, Finish, FsCall, makeDirent, uvError, type Backend, type RawAnswer } from './call.js';

const BREADTH_FIRST = Number(process.versions.node.split('.')[0]) >= 26;

function raw(b: Backend, op: number, path: string, syscall: string): Promise<RawAnswer> {
  const c = new FsCall(op, Finish.RAW, path, syscall);
  return new Promise<RawAnswer>((resolve, reject) => {
    c.resolve = resolve as (v: unknown) => void;
    c.reject = reject;
    b.submit(c);
  });
}

/** fs.promises.readdir(root, { recursive: true, withFileTypes: types }). */
export async function readdirRecursive(b: Backend, root: string, types: boolean, rootIsString: boolean, viaNode: () => Promise<unknown>): Promise<unknown> {
  if (!rootIsString) return viaNode();
  const first = await raw(b, Op.SCANDIR, root, 'scandir');
  if (first.result < 0) throw uvError(first.result, 'scandir', root);
  const listings = new Map<string, DirentList>([[root, first.value as DirentList]]);
  const followsLinks = BREADTH_FIRST || !types;
  let level = [root];
  while (level.length > 0) {
    const next: string[] = [];
    const links: string[] = [];
    for (const dir of level) {
      const d = listings.get(dir)!;
      for (let k = 0; k < d.names.length; k++) {
        const t = d.types[k];
        if (t === DirentType.UV_DIRENT_DIR) next.push(pathModule.join(dir, d.names[k]!));
        else if (t === DirentType.UV_DIRENT_LINK && followsLinks) links.push(pathModule.join(dir, d.names[k]!));
      }
    }
    if (links.length > 0) {
      const targets = await Promise.all(links.map((l) => raw(b, Op.STAT_NS, l, 'stat')));
      if (targets.some((t) => t.result >= 0 && (t.value as Stats).isDirectory())) return viaNode();
    }
    const scans = await Promise.all(next.map((d) => raw(b, Op.SCANDIR, d, 'scandir')));
    for (let k = 0; k < next.length; k++) {
      if (scans[k]!.result < 0) return viaNode();
      listings.set(next[k]!, scans[k]!.value as DirentList);
    }
    level = next;
  }
  return BREADTH_FIRST ? breadthFirst(root, listings, types) : stackOrder(root, listings, types);
}

function entry(root: string, dir: string, name: string, type: number, types: boolean): unknown {
  return types ? makeDirent(name, type, dir) : pathModule.relative(root, pathModule.join(dir, name));
}

/** Node up to 24: a stack of [directory, entries]; a directory's entries, then the last one pushed. */
function stackOrder(root: string, listings: Map<string, DirentList>, types: boolean): unknown[] {
  const out: unknown[] = [];
  const stack: string[] = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const d = listings.get(dir)!;
    for (let k = 0; k < d.names.length; k++) {
      out.push(entry(root, dir, d.names[k]!, d.types[k]!, types));
      if (d.types[k] === DirentType.UV_DIRENT_DIR) stack.push(pathModule.join(dir, d.names[k]!));
    }
  }
  return out;
}

/** Node 26: breadth-first. */
function breadthFirst(root: string, listings: Map<string, DirentList>, types: boolean): unknown[] {
  const out: unknown[] = [];
  const queue: string[] = [root];
  for (let q = 0; q < queue.length; q++) {
    const dir = queue[q]!;
    const d = listings.get(dir)!;
    for (let k = 0; k < d.names.length; k++) {
      out.push(entry(root, dir, d.names[k]!, d.types[k]!, types));
      if (d.types[k] === DirentType.UV_DIRENT_DIR) queue.push(pathModule.join(dir, d.names[k]!));
    }
  }
  return out;
}

/**
 * fs.promises.rm(p, { recursive, force }): lstat first (its error is Node's), then unlink a
 * non-directory; a directory (recursive) is walked level by level, its non-directories unlinked
 * together, then its directories removed deepest level first. Entries that vanish meanwhile are
 * not errors (as in Node's rimraf).
 */
export async function rmRecursive(b: Backend, p: string, recursive: boolean, force: boolean, viaNode: () => Promise<unknown>): Promise<void> {
  const st = await raw(b, Op.LSTAT_NS, p, 'lstat');
  if (st.result < 0) {
    if (force && st.result === -errno.ENOENT) return;
    throw uvError(st.result, 'lstat', p);
  }
  if (!(st.value as Stats).isDirectory()) {
    const r = await raw(b, Op.UNLINK, p, 'unlink');
    if (r.result < 0 && r.result !== -errno.ENOENT) throw uvError(r.result, 'unlink', p);
    return;
  }
  // A directory without recursive: Node's own error (a SystemError, ERR_FS_EISDIR); nothing changes.
  if (!recursive) {
    await viaNode();
    return;
  }
  const levels: string[][] = [[p]];
  const files: string[] = [];
  let level = [p];
  while (level.length > 0) {
    const scans = await Promise.all(level.map((d) => raw(b, Op.SCANDIR, d, 'scandir')));
    const next: string[] = [];
    for (let k = 0; k < level.length; k++) {
      const r = scans[k]!;
      if (r.result === -errno.ENOENT) continue;
      if (r.result < 0) throw uvError(r.result, 'scandir', level[k]);
      const d = r.value as DirentList;
      for (let e = 0; e < d.names.length; e++) {
        const full = pathModule.join(level[k]!, d.names[e]!);
        if (d.types[e] === DirentType.UV_DIRENT_DIR) next.push(full);
        else files.push(full);
      }
    }
    if (next.length > 0) levels.push(next);
    level = next;
  }
  await all(b, Op.UNLINK, 'unlink', files);
  for (let i = levels.length - 1; i >= 0; i--) await all(b, Op.RMDIR, 'rmdir', levels[i]!);
}

/** Run `op` on every path at once; throw the first failure other than ENOENT. */
async function all(b: Backend, op: number, syscall: string, paths: string[]): Promise<void> {
  const rs = await Promise.all(paths.map((f) => raw(b, op, f, syscall)));
  for (let k = 0; k < rs.length; k++) {
    const r = rs[k]!.result;
    if (r < 0 && r !== -errno.ENOENT) throw uvError(r, syscall, paths[k]);
  }
}
