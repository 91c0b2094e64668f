/**
 * syslet/fs against node:fs/promises: every accelerated function, with its options and its error
 * cases, runs on two identical fixture trees, one through each; the answers (values, or the errors'
 * class, code, errno, syscall, path, dest and message) and the trees afterwards must be equal.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
import { createFs } from '../../dist/fs/index.js';
import { tempDir } from '../helpers.js';

type Fs = Record<string, (...args: unknown[]) => Promise<unknown>>;

/** Build the fixture tree under `root`. */
function buildTree(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, 'f'), 'hello\n');
  fs.writeFileSync(path.join(root, 'empty'), '');
  fs.writeFileSync(path.join(root, 'big'), Buffer.alloc(300 * 1024, 7));
  // Larger than one value (read in chunks), not a multiple of the chunk.
  fs.writeFileSync(path.join(root, 'huge'), Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 7) & 0xff)));
  fs.writeFileSync(path.join(root, 'héllo ü.txt'), 'unicode');
  fs.mkdirSync(path.join(root, 'd/e/g'), { recursive: true });
  fs.mkdirSync(path.join(root, 'd/a'));
  fs.writeFileSync(path.join(root, 'd/z'), 'z');
  fs.writeFileSync(path.join(root, 'd/e/q'), 'q');
  fs.writeFileSync(path.join(root, 'd/e/g/deep'), 'deep');
  fs.mkdirSync(path.join(root, 'emptydir'));
  fs.mkdirSync(path.join(root, 'rmme/x/y'), { recursive: true });
  fs.writeFileSync(path.join(root, 'rmme/x/y/1'), '1');
  fs.writeFileSync(path.join(root, 'rmme/x/2'), '2');
  fs.symlinkSync('f', path.join(root, 'lf'));
  fs.symlinkSync('d', path.join(root, 'ld'));
  fs.symlinkSync('nowhere', path.join(root, 'dangling'));
  fs.symlinkSync('loop', path.join(root, 'loop'));
}

/** The tree as comparable data: every entry's relative path, type, size, mode, content or target. */
function snapshot(root: string): unknown[] {
  const out: unknown[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      const rel = path.relative(root, p);
      if (st.isSymbolicLink()) out.push([rel, 'link', fs.readlinkSync(p).split(root).join('<root>')]);
      else if (st.isDirectory()) {
        out.push([rel, 'dir', st.mode]);
        walk(p);
      } else out.push([rel, 'file', st.mode, st.size, fs.readFileSync(p).toString('base64')]);
    }
  };
  walk(root);
  return out;
}

/** Replace the tree's root in strings, so answers from the two trees compare. */
function norm(x: unknown, root: string): unknown {
  if (typeof x === 'string') return x.split(root).join('<root>');
  if (x instanceof Error) {
    const e = x as Error & Record<string, unknown>;
    return {
      class: e.constructor.name,
      name: e.name,
      keys: Object.keys(e),
      message: norm(e.message, root),
      code: e.code,
      errno: e.errno,
      syscall: e.syscall,
      path: norm(e.path, root),
      dest: norm(e.dest, root),
    };
  }
  if (x instanceof fs.Stats || (typeof x === 'object' && x !== null && x.constructor?.name === 'BigIntStats')) {
    const s = x as fs.Stats;
    return {
      class: x.constructor.name,
      keys: Object.keys(x),
      mode: s.mode,
      size: s.size,
      nlink: s.nlink,
      uid: s.uid,
      types: [s.isFile(), s.isDirectory(), s.isSymbolicLink(), s.isFIFO()],
    };
  }
  if (x instanceof fs.Dirent) {
    return { class: 'Dirent', keys: Object.keys(x), name: x.name, parentPath: norm(x.parentPath, root), types: [x.isFile(), x.isDirectory(), x.isSymbolicLink()] };
  }
  if (Buffer.isBuffer(x)) return { buffer: x.toString('base64') };
  if (Array.isArray(x)) return x.map((v) => norm(v, root));
  return x;
}

async function outcome(f: () => Promise<unknown>, root: string): Promise<unknown> {
  try {
    return { value: norm(await f(), root) };
  } catch (e) {
    return { error: norm(e, root) };
  }
}

interface Case {
  name: string;
  fn: string;
  args: (root: string) => unknown[];
  /** Make the result comparable across trees (mkdtemp's random names), returning what to compare. */
  post?: (root: string, result: unknown) => unknown;
}

const aborted = AbortSignal.abort();
const j = (r: string, ...p: string[]): string => path.join(r, ...p);

const CASES: Case[] = [
  // stat, lstat: kinds of paths and of failure
  ...['f', 'nope', 'd', 'lf', 'ld', 'dangling', 'loop', 'f/x', 'héllo ü.txt', 'nope/x'].flatMap((p): Case[] => [
    { name: `stat ${p}`, fn: 'stat', args: (r) => [j(r, p)] },
    { name: `lstat ${p}`, fn: 'lstat', args: (r) => [j(r, p)] },
  ]),
  { name: 'stat bigint', fn: 'stat', args: (r) => [j(r, 'f'), { bigint: true }] },
  { name: 'lstat bigint link', fn: 'lstat', args: (r) => [j(r, 'lf'), { bigint: true }] },
  { name: 'stat bigint missing', fn: 'stat', args: (r) => [j(r, 'nope'), { bigint: true }] },
  { name: 'stat Buffer path', fn: 'stat', args: (r) => [Buffer.from(j(r, 'f'))] },
  { name: 'stat URL path', fn: 'stat', args: (r) => [pathToFileURL(j(r, 'héllo ü.txt'))] },
  { name: 'stat URL missing', fn: 'stat', args: (r) => [pathToFileURL(j(r, 'nope'))] },
  { name: 'stat http URL', fn: 'stat', args: () => [new URL('http://example.com/x')] },
  { name: 'stat number', fn: 'stat', args: () => [1] },
  { name: 'stat NUL', fn: 'stat', args: (r) => [j(r, 'f\0x')] },
  { name: 'stat options null', fn: 'stat', args: (r) => [j(r, 'f'), null] },
  { name: 'stat relative', fn: 'stat', args: () => ['package.json'] },
  // access
  { name: 'access f', fn: 'access', args: (r) => [j(r, 'f')] },
  { name: 'access missing', fn: 'access', args: (r) => [j(r, 'nope')] },
  { name: 'access X_OK', fn: 'access', args: (r) => [j(r, 'f'), fs.constants.X_OK] },
  { name: 'access R_OK|W_OK', fn: 'access', args: (r) => [j(r, 'f'), fs.constants.R_OK | fs.constants.W_OK] },
  { name: 'access bad mode', fn: 'access', args: (r) => [j(r, 'f'), 'x'] },
  { name: 'access mode 8', fn: 'access', args: (r) => [j(r, 'f'), 8] },
  // readFile
  { name: 'readFile f', fn: 'readFile', args: (r) => [j(r, 'f')] },
  { name: 'readFile utf8', fn: 'readFile', args: (r) => [j(r, 'f'), 'utf8'] },
  { name: 'readFile hex', fn: 'readFile', args: (r) => [j(r, 'f'), { encoding: 'hex' }] },
  { name: 'readFile latin1 flag r', fn: 'readFile', args: (r) => [j(r, 'héllo ü.txt'), { encoding: 'latin1', flag: 'r' }] },
  { name: 'readFile empty', fn: 'readFile', args: (r) => [j(r, 'empty')] },
  { name: 'readFile big', fn: 'readFile', args: (r) => [j(r, 'big')] },
  { name: 'readFile huge (chunks)', fn: 'readFile', args: (r) => [j(r, 'huge')] },
  { name: 'readFile huge base64', fn: 'readFile', args: (r) => [j(r, 'huge'), 'base64'] },
  { name: 'readFile /proc file (no size)', fn: 'readFile', args: () => ['/proc/self/status'], post: (_r, v) => typeof v },
  { name: 'readFile link', fn: 'readFile', args: (r) => [j(r, 'lf'), 'utf8'] },
  { name: 'readFile missing', fn: 'readFile', args: (r) => [j(r, 'nope')] },
  { name: 'readFile dir', fn: 'readFile', args: (r) => [j(r, 'd')] },
  { name: 'readFile notdir', fn: 'readFile', args: (r) => [j(r, 'f/x')] },
  { name: 'readFile dangling', fn: 'readFile', args: (r) => [j(r, 'dangling')] },
  { name: 'readFile loop', fn: 'readFile', args: (r) => [j(r, 'loop')] },
  { name: 'readFile bad encoding', fn: 'readFile', args: (r) => [j(r, 'f'), 'nope'] },
  { name: 'readFile bad flag', fn: 'readFile', args: (r) => [j(r, 'f'), { flag: 'q' }] },
  { name: 'readFile aborted', fn: 'readFile', args: (r) => [j(r, 'f'), { signal: aborted }] },
  { name: 'readFile URL', fn: 'readFile', args: (r) => [pathToFileURL(j(r, 'f')), 'utf8'] },
  { name: 'readFile Buffer', fn: 'readFile', args: (r) => [Buffer.from(j(r, 'f'))] },
  { name: 'readFile flag wx exists', fn: 'readFile', args: (r) => [j(r, 'f'), { flag: 'wx' }] },
  // readdir
  { name: 'readdir root', fn: 'readdir', args: (r) => [r] },
  { name: 'readdir types', fn: 'readdir', args: (r) => [j(r, 'd'), { withFileTypes: true }] },
  { name: 'readdir recursive', fn: 'readdir', args: (r) => [j(r, 'd'), { recursive: true }] },
  { name: 'readdir recursive types', fn: 'readdir', args: (r) => [j(r, 'd'), { recursive: true, withFileTypes: true }] },
  { name: 'readdir recursive root (symlinks)', fn: 'readdir', args: (r) => [r, { recursive: true }] },
  { name: 'readdir recursive root types', fn: 'readdir', args: (r) => [r, { recursive: true, withFileTypes: true }] },
  { name: 'readdir recursive missing', fn: 'readdir', args: (r) => [j(r, 'nope'), { recursive: true }] },
  { name: 'readdir empty', fn: 'readdir', args: (r) => [j(r, 'emptydir')] },
  { name: 'readdir missing', fn: 'readdir', args: (r) => [j(r, 'nope')] },
  { name: 'readdir file', fn: 'readdir', args: (r) => [j(r, 'f')] },
  { name: 'readdir link to dir', fn: 'readdir', args: (r) => [j(r, 'ld')] },
  { name: 'readdir buffer encoding', fn: 'readdir', args: (r) => [j(r, 'd'), 'buffer'] },
  { name: 'readdir utf8 string option', fn: 'readdir', args: (r) => [j(r, 'd'), 'utf8'] },
  // readlink, realpath
  { name: 'readlink lf', fn: 'readlink', args: (r) => [j(r, 'lf')] },
  { name: 'readlink f', fn: 'readlink', args: (r) => [j(r, 'f')] },
  { name: 'readlink missing', fn: 'readlink', args: (r) => [j(r, 'nope')] },
  { name: 'readlink buffer', fn: 'readlink', args: (r) => [j(r, 'lf'), 'buffer'] },
  { name: 'realpath ld', fn: 'realpath', args: (r) => [j(r, 'ld/e')] },
  { name: 'realpath loop', fn: 'realpath', args: (r) => [j(r, 'loop')] },
  { name: 'realpath missing', fn: 'realpath', args: (r) => [j(r, 'nope')] },
  // mkdir
  { name: 'mkdir new', fn: 'mkdir', args: (r) => [j(r, 'm1')] },
  { name: 'mkdir exists', fn: 'mkdir', args: (r) => [j(r, 'd')] },
  { name: 'mkdir no parent', fn: 'mkdir', args: (r) => [j(r, 'nope/m')] },
  { name: 'mkdir mode', fn: 'mkdir', args: (r) => [j(r, 'm2'), 0o700] },
  { name: 'mkdir mode object', fn: 'mkdir', args: (r) => [j(r, 'm3'), { mode: 0o750 }] },
  { name: 'mkdir recursive', fn: 'mkdir', args: (r) => [j(r, 'm4/a/b'), { recursive: true }] },
  { name: 'mkdir recursive exists', fn: 'mkdir', args: (r) => [j(r, 'm4/a'), { recursive: true }] },
  { name: 'mkdir recursive through file', fn: 'mkdir', args: (r) => [j(r, 'f/a/b'), { recursive: true }] },
  { name: 'mkdir recursive on file', fn: 'mkdir', args: (r) => [j(r, 'f'), { recursive: true }] },
  { name: 'mkdir bad recursive', fn: 'mkdir', args: (r) => [j(r, 'm5'), { recursive: 1 }] },
  { name: 'mkdir octal string mode', fn: 'mkdir', args: (r) => [j(r, 'm6'), '700'] },
  // mkdtemp (random names: renamed to a fixed one before the trees compare)
  {
    name: 'mkdtemp',
    fn: 'mkdtemp',
    args: (r) => [j(r, 'tmp-')],
    post: (r, v) => {
      const p = v as string;
      fs.renameSync(p, j(r, 'tmp-made'));
      return [p.length, p.startsWith(j(r, 'tmp-'))];
    },
  },
  {
    name: 'mkdtemp no parent',
    fn: 'mkdtemp',
    args: (r) => [j(r, 'nope/tmp-')],
    post: (r, e) => (e as { message: string }).message.replace(/tmp-.{6}'/, "tmp-XXXXXX'"),
  },
  // writeFile, appendFile
  { name: 'writeFile new', fn: 'writeFile', args: (r) => [j(r, 'w1'), 'written'] },
  { name: 'writeFile overwrite', fn: 'writeFile', args: (r) => [j(r, 'w1'), Buffer.from('again')] },
  { name: 'writeFile Uint8Array', fn: 'writeFile', args: (r) => [j(r, 'w2'), new Uint8Array([1, 2, 3])] },
  { name: 'writeFile hex', fn: 'writeFile', args: (r) => [j(r, 'w3'), 'cafe', 'hex'] },
  { name: 'writeFile mode', fn: 'writeFile', args: (r) => [j(r, 'w4'), 'x', { mode: 0o600 }] },
  { name: 'writeFile wx exists', fn: 'writeFile', args: (r) => [j(r, 'f'), 'x', { flag: 'wx' }] },
  { name: 'writeFile dir', fn: 'writeFile', args: (r) => [j(r, 'd'), 'x'] },
  { name: 'writeFile no parent', fn: 'writeFile', args: (r) => [j(r, 'nope/w'), 'x'] },
  { name: 'writeFile empty', fn: 'writeFile', args: (r) => [j(r, 'w5'), ''] },
  { name: 'writeFile big', fn: 'writeFile', args: (r) => [j(r, 'w6'), Buffer.alloc(200 * 1024, 3)] },
  { name: 'writeFile huge (chunks)', fn: 'writeFile', args: (r) => [j(r, 'w9'), Buffer.from(Array.from({ length: 2 * 1024 * 1024 + 5 }, (_, i) => i & 0xff))] },
  { name: 'appendFile huge (chunks)', fn: 'appendFile', args: (r) => [j(r, 'w9'), 'x'.repeat(1024 * 1024 + 3)] },
  { name: 'writeFile huge no parent', fn: 'writeFile', args: (r) => [j(r, 'nope/w9'), Buffer.alloc(2 * 1024 * 1024)] },
  { name: 'writeFile flag r', fn: 'writeFile', args: (r) => [j(r, 'w1'), 'x', { flag: 'r' }] },
  { name: 'writeFile bad data', fn: 'writeFile', args: (r) => [j(r, 'w7'), 42] },
  { name: 'appendFile existing', fn: 'appendFile', args: (r) => [j(r, 'w1'), ' more'] },
  { name: 'appendFile new', fn: 'appendFile', args: (r) => [j(r, 'w8'), 'start'] },
  { name: 'appendFile dir', fn: 'appendFile', args: (r) => [j(r, 'd'), 'x'] },
  // copyFile, rename, link, symlink
  { name: 'copyFile', fn: 'copyFile', args: (r) => [j(r, 'f'), j(r, 'c1')] },
  { name: 'copyFile missing', fn: 'copyFile', args: (r) => [j(r, 'nope'), j(r, 'c2')] },
  { name: 'copyFile excl exists', fn: 'copyFile', args: (r) => [j(r, 'f'), j(r, 'c1'), fs.constants.COPYFILE_EXCL] },
  { name: 'copyFile bad mode', fn: 'copyFile', args: (r) => [j(r, 'f'), j(r, 'c3'), 99] },
  { name: 'rename', fn: 'rename', args: (r) => [j(r, 'c1'), j(r, 'r1')] },
  { name: 'rename missing', fn: 'rename', args: (r) => [j(r, 'nope'), j(r, 'r2')] },
  { name: 'rename dir onto file', fn: 'rename', args: (r) => [j(r, 'emptydir'), j(r, 'f')] },
  { name: 'link', fn: 'link', args: (r) => [j(r, 'f'), j(r, 'hard')] },
  { name: 'link exists', fn: 'link', args: (r) => [j(r, 'f'), j(r, 'hard')] },
  { name: 'symlink', fn: 'symlink', args: (r) => [j(r, 'f'), j(r, 's1')] },
  { name: 'symlink relative', fn: 'symlink', args: () => ['target', 's2'].map((x, i) => (i === 0 ? x : x)) },
  { name: 'symlink exists', fn: 'symlink', args: (r) => ['f', j(r, 'lf')] },
  // chmod, utimes, truncate
  { name: 'chmod', fn: 'chmod', args: (r) => [j(r, 'w2'), 0o640] },
  { name: 'chmod missing', fn: 'chmod', args: (r) => [j(r, 'nope'), 0o640] },
  { name: 'chmod string mode', fn: 'chmod', args: (r) => [j(r, 'w2'), '600'] },
  { name: 'utimes', fn: 'utimes', args: (r) => [j(r, 'w2'), 1000, 2000], post: (r) => [fs.statSync(j(r, 'w2')).atimeMs, fs.statSync(j(r, 'w2')).mtimeMs] },
  { name: 'utimes Date', fn: 'utimes', args: (r) => [j(r, 'w3'), new Date(5_000_000), new Date(6_000_500)], post: (r) => [fs.statSync(j(r, 'w3')).mtimeMs] },
  { name: 'utimes missing', fn: 'utimes', args: (r) => [j(r, 'nope'), 1, 1] },
  { name: 'truncate', fn: 'truncate', args: (r) => [j(r, 'w6'), 10] },
  { name: 'truncate default', fn: 'truncate', args: (r) => [j(r, 'w4')] },
  { name: 'truncate negative', fn: 'truncate', args: (r) => [j(r, 'w5'), -5] },
  { name: 'truncate dir', fn: 'truncate', args: (r) => [j(r, 'd'), 1] },
  { name: 'truncate missing', fn: 'truncate', args: (r) => [j(r, 'nope'), 1] },
  // unlink, rmdir, rm
  { name: 'unlink', fn: 'unlink', args: (r) => [j(r, 'w8')] },
  { name: 'unlink missing', fn: 'unlink', args: (r) => [j(r, 'w8')] },
  { name: 'unlink dir', fn: 'unlink', args: (r) => [j(r, 'emptydir')] },
  { name: 'rmdir', fn: 'rmdir', args: (r) => [j(r, 'm1')] },
  { name: 'rmdir not empty', fn: 'rmdir', args: (r) => [j(r, 'd')] },
  { name: 'rmdir file', fn: 'rmdir', args: (r) => [j(r, 'f')] },
  { name: 'rmdir missing', fn: 'rmdir', args: (r) => [j(r, 'nope')] },
  { name: 'rm file', fn: 'rm', args: (r) => [j(r, 'w3')] },
  { name: 'rm link', fn: 'rm', args: (r) => [j(r, 'ld')] },
  { name: 'rm missing', fn: 'rm', args: (r) => [j(r, 'nope')] },
  { name: 'rm missing force', fn: 'rm', args: (r) => [j(r, 'nope'), { force: true }] },
  { name: 'rm dir', fn: 'rm', args: (r) => [j(r, 'rmme')] },
  { name: 'rm dir recursive', fn: 'rm', args: (r) => [j(r, 'rmme'), { recursive: true }] },
  { name: 'rm empty dir recursive force', fn: 'rm', args: (r) => [j(r, 'm4'), { recursive: true, force: true }] },
  { name: 'rm bad option', fn: 'rm', args: (r) => [j(r, 'w1'), { recursive: 'yes' }] },
];

describe('syslet/fs against node:fs/promises', () => {
  let rt: Runtime;
  let ours: Fs;
  let tmp: ReturnType<typeof tempDir>;
  let a: string;
  let b: string;
  const cwd = process.cwd();

  beforeAll(async () => {
    rt = await Runtime.create({ workers: 2, slotBytes: 64 * 1024 });
    ours = (await createFs(rt)) as unknown as Fs;
    tmp = tempDir('syslet-fs-diff-');
    a = path.join(tmp.dir, 'a');
    b = path.join(tmp.dir, 'b');
    buildTree(a);
    buildTree(b);
  });
  afterAll(async () => {
    process.chdir(cwd);
    await rt.close();
    tmp.cleanup();
  });

  it('the fixture trees start equal', () => {
    expect(snapshot(b)).toEqual(snapshot(a));
  });

  for (const c of CASES) {
    it(c.name, async () => {
      // Relative paths (package.json, symlink s2) resolve in each tree.
      process.chdir(a);
      const theirs = await outcome(() => (fsp as unknown as Fs)[c.fn]!(...c.args(a)), a);
      const theirsPost = c.post?.(a, unwrap(theirs, a));
      process.chdir(b);
      const mine = await outcome(() => ours[c.fn]!(...c.args(b)), b);
      const minePost = c.post?.(b, unwrap(mine, b));
      process.chdir(cwd);
      if (c.post === undefined) expect(mine).toEqual(theirs);
      else expect(norm(minePost, b)).toEqual(norm(theirsPost, a));
      expect(snapshot(b)).toEqual(snapshot(a));
    });
  }

  it('stats are Node instances, field for field (the same file through both)', async () => {
    for (const p of ['f', 'd', 'lf', 'big']) {
      expect(await ours.stat!(j(a, p))).toStrictEqual(await fsp.stat(j(a, p)));
      expect(await ours.lstat!(j(a, p))).toStrictEqual(await fsp.lstat(j(a, p)));
      expect(await ours.stat!(j(a, p), { bigint: true })).toStrictEqual(await fsp.stat(j(a, p), { bigint: true }));
    }
    expect(await ours.readdir!(a, { withFileTypes: true })).toStrictEqual(await fsp.readdir(a, { withFileTypes: true }));
  });
});

/** The raw answer of an outcome for a post hook: the value, or an object with the error's message. */
function unwrap(o: unknown, root: string): unknown {
  const x = o as { value?: unknown; error?: { message: string } };
  if (x.error !== undefined) return { message: x.error.message.split('<root>').join(root) };
  return typeof x.value === 'string' ? x.value.split('<root>').join(root) : x.value;
}
