/**
 * Issue 10: a threadlet never gives a silent wrong result across a move. Each case a user met, on
 * the library where it came from: the answer wherever it moves is the direct call's, or the call
 * fails with an error that says why (and nothing ran twice).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
import { ThreadletDivergenceError, ThreadletError } from '../../dist/threadlet/index.js';
import {
  HttpishError,
  Node,
  atomicWriteT,
  bumpAll,
  bumpAllT,
  counterWrite,
  globTypes,
  globTypesT,
  importCsv,
  importCsvT,
  listInto,
  listIntoT,
  mergeJson,
  mergeJsonT,
  randomWrite,
  readFromEnvT,
  readWhole,
  throwsWithFunctionT,
  tree,
  treeT,
  untarT,
  withFunctionT,
} from '../fixtures/threadlet/faithful.mjs';
import { tempDir } from '../helpers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/threadlet/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let rt: Runtime;
let tmp: ReturnType<typeof tempDir>;
let n = 0;
/** A fresh directory for one test. */
const fresh = (): string => {
  const d = path.join(tmp.dir, `t${++n}`);
  fs.mkdirSync(d);
  return d;
};

beforeAll(async () => {
  rt = await Runtime.create({ workers: 2 });
  tmp = tempDir();
});

afterAll(async () => {
  await rt.close();
  tmp.cleanup();
});

/** Threadlet outcome as { value } or { error }. */
async function settle<T>(h: PromiseLike<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await h };
  } catch (error) {
    return { error };
  }
}

describe('1. the worker gets the arguments as they were given', () => {
  it('an array the inline run pushed into: 3 names, not 6, at every move point', async () => {
    const dir = fresh();
    for (const f of ['a', 'b', 'c']) fs.writeFileSync(path.join(dir, f), f);
    const direct: string[] = [];
    expect(listInto(direct, dir)).toBe(3);
    // Intercepted calls: readdirSync, openSync, fsyncSync (moves), closeSync.
    for (const at of [0, 1, 2]) {
      const given: string[] = [];
      const h = listIntoT.submit(rt, [given, dir], at === 0 ? {} : { migrateAt: at });
      expect(h.placement).toBe('migrated');
      expect(await h).toBe(3);
      // The caller's array holds what the inline run pushed, as after a direct call.
      expect(given).toEqual(at === 1 ? [] : direct);
    }
  });

  it('a buffer and an options object changed in place before the move', async () => {
    const file = path.join(fresh(), 'f');
    fs.writeFileSync(file, 'x');
    const directBuf = Uint8Array.from([1, 2, 3]);
    const directOpts = { count: 0 };
    const expected = bumpAll(directBuf, directOpts, file);
    expect(expected).toEqual({ bytes: [2, 3, 4], count: 1 });
    const buf = Uint8Array.from([1, 2, 3]);
    const opts = { count: 0 };
    const h = bumpAllT.run(rt, buf, opts, file);
    expect(h.placement).toBe('migrated');
    expect(await h).toEqual(expected);
    expect([...buf]).toEqual([...directBuf]);
    expect(opts).toEqual(directOpts);
  });

  it('fs-extra: readJsonSync into a list given, outputJsonSync, moved at the flush', async () => {
    const dir = fresh();
    const src = path.join(dir, 'src.json');
    fs.writeFileSync(src, JSON.stringify(['b', 'c']));
    const direct = mergeJson(['a'], src, path.join(dir, 'direct.json'));
    expect(direct).toEqual(['a', 'b', 'c']);
    const dst = path.join(dir, 'out', 'moved.json');
    const h = mergeJsonT.run(rt, ['a'], src, dst);
    expect(h.placement).toBe('migrated');
    expect(await h).toEqual(direct);
    expect(JSON.parse(fs.readFileSync(dst, 'utf8'))).toEqual(direct);
  });

  it('arguments that cannot travel fail the call before anything runs, wherever it would run', () => {
    const file = path.join(fresh(), 'f');
    fs.writeFileSync(file, 'x');
    const h = bumpAllT.run(rt, Uint8Array.from([1]), { count: 0, onDone: () => 1 } as never, file);
    expect(h.state).toBe('rejected');
    expect(h.error).toBeInstanceOf(ThreadletError);
    expect((h.error as Error).message).toContain('argument[1].onDone is a function');
    expect(h.journaled).toBe(0);
  });
});

describe('2. a threadlet defined in the entry script', () => {
  const run = (mode: 'top' | 'guarded') =>
    spawnSync(process.execPath, [path.join(FIXTURES, 'entry-recursive.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SYSLET_T10_MODE: mode },
    });

  it('fails at once, saying what to do, instead of starting workers without end', () => {
    const r = run('top');
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { error: string; message: string };
    expect(out.error).toBe('ThreadletError');
    expect(out.message).toContain('Runtime.create() ran on a syslet worker while it imported');
    expect(out.message).toContain('if (isMainThread)');
  });

  it('works when the program part is guarded by isMainThread', () => {
    const r = run('guarded');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ value: true, placement: 'migrated' });
  });
});

/** better-sqlite3's binary is built for one Node line (the one npm install ran under). */
function sqliteLoads(): string | undefined {
  try {
    const Database = require('better-sqlite3') as new (f: string) => { close(): void };
    new Database(':memory:').close();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
const require = createRequire(import.meta.url);
const sqliteProblem = sqliteLoads();

describe('3. effects the journal cannot see: native addons', () => {
  it.skipIf(sqliteProblem !== undefined)(
    `better-sqlite3: 15 CSV rows imported once, not 25${sqliteProblem === undefined ? '' : ` (skipped: its binary does not load on Node ${process.versions.node}: ${sqliteProblem.split('\n')[0]}; npm rebuild better-sqlite3 under this line)`}`,
    async () => {
      const dir = fresh();
      const csv = path.join(dir, 'rows.csv');
      fs.writeFileSync(csv, Array.from({ length: 15 }, (_, i) => `r${i},${i}`).join('\n'));
      expect(importCsv(path.join(dir, 'direct.db'), csv, path.join(dir, 'direct.log'))).toBe(15);
      for (const at of [0, 5]) {
        const db = path.join(dir, `t${at}.db`);
        const log = path.join(dir, `t${at}.log`);
        const h = importCsvT.submit(rt, [db, csv, log], at === 0 ? {} : { migrateAt: at });
        // It moved before its first call into the addon: nothing of the addon ran inline.
        expect(h.placement).toBe('migrated');
        expect(h.migratedAt).toBe('new better_sqlite3.Database');
        expect(h.migrationReason).toMatch(/calls into a native addon/);
        expect(await h).toBe(15);
        expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(15);
      }
    },
  );
});

describe('4. the worker sees the environment of the call', () => {
  it('process.env set after Runtime.create(), and the working directory', async () => {
    const dir = fresh();
    const file = path.join(dir, 'named-by-env');
    fs.writeFileSync(file, 'from env');
    process.env.SYSLET_T10_FILE = file;
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const h = readFromEnvT.run(rt, 'SYSLET_T10_FILE');
      expect(h.placement).toBe('migrated');
      expect(await h).toEqual({ path: file, text: 'from env', cwd: fs.realpathSync(dir), var: file });
      process.env.SYSLET_T10_FILE = path.join(dir, 'missing');
      const h2 = readFromEnvT.submit(rt, ['SYSLET_T10_FILE'], { start: 'worker' });
      expect(((await settle(h2)).error as NodeJS.ErrnoException).code).toBe('ENOENT');
    } finally {
      process.chdir(cwd);
      delete process.env.SYSLET_T10_FILE;
    }
  });
});

describe('5. results and errors are the same wherever it ran', () => {
  it('a tree with parent links and a shared object: kept as structuredClone keeps them', async () => {
    const dir = fresh();
    for (const f of ['x', 'y']) fs.writeFileSync(path.join(dir, f), f);
    const clone = structuredClone(tree(dir, false));
    for (const move of [false, true]) {
      const h = treeT.run(rt, dir, move);
      expect(h.placement).toBe(move ? 'migrated' : 'inline');
      const r = await h;
      expect(r.root).not.toBeInstanceOf(Node); // Plain objects, both ways, as structuredClone makes them.
      expect(r.root.children.map((c) => c.name)).toEqual(['x', 'y']);
      expect(r.root.children[0]!.parent).toBe(r.root);
      expect(r.root.children[1]!.meta).toBe(r.shared);
      expect(r.again).toBe(r.shared);
      expect(r).toEqual(clone);
    }
  });

  it('glob withFileTypes: Path objects linked to their parent, equal inline and moved', async () => {
    const dir = fresh();
    for (const f of ['a.txt', 'b.txt', 'c.md']) fs.writeFileSync(path.join(dir, f), f);
    const clone = structuredClone(globTypes(dir, false));
    const inline = await globTypesT.run(rt, dir, false);
    const h = globTypesT.run(rt, dir, true);
    expect(h.placement).toBe('migrated');
    const moved = await h;
    for (const r of [inline, moved]) {
      expect(r.map((p) => p.name)).toEqual(['a.txt', 'b.txt']);
      expect(r[0]!.parent).toBe(r[1]!.parent);
      expect(r).toEqual(clone);
    }
  });

  it('a function in the result fails the same way inline and moved', async () => {
    const file = path.join(fresh(), 'f');
    fs.writeFileSync(file, 'x');
    const inline = await settle(withFunctionT.run(rt, file, false));
    const moved = await settle(withFunctionT.run(rt, file, true));
    for (const r of [inline, moved]) {
      expect(r.error).toBeInstanceOf(ThreadletError);
      expect((r.error as Error).message).toBe(
        "threadlet 'withFunction': returned a value that cannot be sent back: its result.fix is a function (fix): it cannot be sent to another thread",
      );
    }
  });

  it('an error with function-valued properties keeps its class name, message and code', async () => {
    const file = path.join(fresh(), 'f');
    fs.writeFileSync(file, 'x');
    for (const move of [false, true]) {
      const { error } = await settle(throwsWithFunctionT.run(rt, file, move));
      const e = error as HttpishError;
      expect(e).toBeInstanceOf(Error);
      expect(e.constructor.name).toBe('HttpishError');
      expect(e.name).toBe('HttpishError');
      expect(e.message).toBe('request failed');
      expect(e.code).toBe('EHTTPISH');
      // What cannot cross is left out, the same both ways.
      expect('retry' in e).toBe(false);
      expect('request' in e).toBe(false);
    }
  });
});

describe('6. divergence reports', () => {
  /** File descriptors this process has open. */
  const fds = (): number => fs.readdirSync('/proc/self/fd').length;

  it('tar: Dates print as dates, and the cause named is the clock', async () => {
    const dir = fresh();
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'one.txt'), '1');
    const tar = await import('tar');
    const file = path.join(dir, 'a.tar');
    tar.c({ file, cwd: src, sync: true, portable: true }, ['one.txt']);
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const { error } = await settle(untarT.run(rt, file, out));
    expect(error).toBeInstanceOf(ThreadletDivergenceError);
    const msg = (error as Error).message;
    expect(msg).toMatch(/fs\.\w+Sync\(.*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
    expect(msg).not.toContain('{  }');
    expect(msg).toContain('likely cause: time');
  });

  it('write-file-atomic: the cause names the temp name, and the fd the inline run opened is closed', async () => {
    const dir = fresh();
    const file = path.join(dir, 'out.txt');
    const before = fds();
    const { error } = await settle(atomicWriteT.run(rt, file, 'text'));
    expect(error).toBeInstanceOf(ThreadletDivergenceError);
    const e = error as ThreadletDivergenceError;
    expect(e.expected).toMatch(/^fs\.openSync\(".*out\.txt\.\w+", "w"/);
    expect(e.message).toContain('likely cause: randomness, or a name derived from the thread');
    expect(fds()).toBe(before);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('Math.random() feeding a write: randomness', async () => {
    const { error } = await settle(randomWrite.run(rt, path.join(fresh(), 'r')));
    expect((error as Error).message).toContain('likely cause: randomness');
  });

  it('module state or isMainThread feeding a write: state that is not an argument', async () => {
    const { error } = await settle(counterWrite.run(rt, fresh()));
    expect((error as Error).message).toMatch(/argument 1 is "main" inline, "worker \d+" on the worker; likely cause: state that is not an argument/);
  });
});

describe('7. a result larger than the arena', () => {
  it('70 MiB read: fails saying which limit and which option raises it; works with arenaBytes raised', async () => {
    const file = path.join(fresh(), 'big');
    const size = 70 * 1024 * 1024;
    fs.writeFileSync(file, Buffer.alloc(size, 7));
    const { error } = await settle(readWhole.run(rt, file));
    expect(error).toBeInstanceOf(ThreadletError);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOMEM');
    expect((error as Error).message).toMatch(/returned a value of \d+ bytes \(packed\), which does not fit in the runtime's arena \(67108864 bytes/);
    expect((error as Error).message).toContain('Runtime.create({ arenaBytes })');
    const big = await Runtime.create({ workers: 1, arenaBytes: 2 ** 28 });
    try {
      const b = await readWhole.run(big, file);
      expect(b.length).toBe(size);
      expect(b[size - 1]).toBe(7);
    } finally {
      await big.close();
    }
  });
});

describe('8. TypeScript loaders', () => {
  it('hooks registered at run time with module.register() (and their data) reach the workers', () => {
    const r = spawnSync(process.execPath, [path.join(FIXTURES, 'runtime-register.mjs')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ value: 42, placement: 'migrated' });
  });

  it("node --import tsx server.ts: the worker imports config.ts with the caller's loader", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-tsx-'));
    try {
      fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }');
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      const dist = new URL('dist/index.js', `file://${ROOT}`).href;
      // An enum: more than type stripping handles, so only the loader makes it run.
      fs.writeFileSync(
        path.join(dir, 'config.ts'),
        `import fs from 'node:fs';\nimport { threadlet } from '${dist}';\n` +
          'export enum Mode { Fast = 1, Safe = 2 }\n' +
          'export interface Config { mode: Mode }\n' +
          "export const loadConfig = threadlet(import.meta.url, 'loadConfig', (p: string): Config => {\n" +
          '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);\n' +
          "  return { mode: JSON.parse(fs.readFileSync(p, 'utf8')).safe ? Mode.Safe : Mode.Fast };\n});\n",
      );
      fs.writeFileSync(path.join(dir, 'app.json'), '{ "safe": true }');
      fs.writeFileSync(
        path.join(dir, 'server.ts'),
        `import { Runtime } from '${dist}';\nimport { loadConfig } from './config.ts';\n` +
          'const rt = await Runtime.create({ workers: 1 });\n' +
          "const h = loadConfig.run(rt, 'app.json');\n" +
          'try { console.log(JSON.stringify({ value: await h, placement: h.placement })); }\n' +
          'catch (e) { console.log(JSON.stringify({ error: (e as Error).message })); }\n' +
          'await rt.close();\n',
      );
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'server.ts'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout.trim()) as { value?: unknown; error?: string };
      if (Number(process.versions.node.split('.')[0]) >= 22) {
        expect(out).toEqual({ value: { mode: 2 }, placement: 'migrated' });
      } else {
        // Node 20 does not run a worker's --import: said so in the error.
        expect(out.error).toContain('Unknown file extension ".ts"');
        expect(out.error).toContain('on Node 20 syslet runs them on the worker itself, but a loader that registers its hooks only on the main thread (tsx does) is not active there');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
