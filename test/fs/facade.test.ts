/**
 * syslet/fs beyond the one-call cases: 5,000 concurrent calls mixing hits and misses (each answer
 * equals Node's), a one-shot script that exits on its own, a policy-bound createFs, and the atoms
 * the facade added, used in a hand-built chain.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Runtime, chain } from '../../dist/index.js';
import * as sfs from '../../dist/fs/index.js';
import { tempDir, useRuntime } from '../helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Answers compare without atime (reading a file may move it between the two runs). */
function comparable(x: unknown): unknown {
  if (x instanceof Error) {
    const e = x as Error & Record<string, unknown>;
    return { class: e.constructor.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, keys: Object.keys(e) };
  }
  if (x instanceof fs.Stats) {
    const { atimeMs: _a, atime: _b, ...rest } = x as fs.Stats & Record<string, unknown>;
    return { class: x.constructor.name, ...rest };
  }
  if (Array.isArray(x)) return x.map(comparable);
  return x;
}

async function settled(p: Promise<unknown>): Promise<unknown> {
  try {
    return { value: comparable(await p) };
  } catch (e) {
    return { error: comparable(e) };
  }
}

describe('syslet/fs', () => {
  it("a batched call's error names the caller's async frames, as node:fs/promises' do", async () => {
    await sfs.ready();
    async function statTwoMissing(): Promise<void> {
      await Promise.all([sfs.stat('/syslet-no-such-1'), sfs.stat('/syslet-no-such-2'), sfs.stat('/')]);
    }
    let err: Error | undefined;
    try {
      await statTwoMissing();
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(err!.stack).toMatch(/at (async )?statTwoMissing /);
    // Nothing of the runtime's reap loop is left in it.
    expect(err!.stack).not.toMatch(/reapLoop|settle/);
  });

  it('5,000 concurrent calls, hits and misses: every answer equals Node\'s', async () => {
    const { dir, cleanup } = tempDir('syslet-fs-5k-');
    try {
      for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(dir, `f${i}`), `file ${i}\n`);
      fs.mkdirSync(path.join(dir, 'sub'));
      await sfs.ready();
      const ops: [string, unknown[]][] = [];
      for (let i = 0; i < 5000; i++) {
        const name = path.join(dir, i % 3 === 0 ? `missing${i}` : `f${i % 200}`);
        const kind = i % 5;
        if (kind === 0) ops.push(['stat', [name]]);
        else if (kind === 1) ops.push(['readFile', [name, 'utf8']]);
        else if (kind === 2) ops.push(['lstat', [name]]);
        else if (kind === 3) ops.push(['access', [name]]);
        else ops.push(['readdir', [i % 2 === 0 ? dir : name]]);
      }
      type F = Record<string, (...a: unknown[]) => Promise<unknown>>;
      const mine = await Promise.all(ops.map(([fn, args]) => settled((sfs as unknown as F)[fn]!(...args))));
      const theirs = await Promise.all(ops.map(([fn, args]) => settled((fsp as unknown as F)[fn]!(...args))));
      let misses = 0;
      for (let i = 0; i < ops.length; i++) {
        if ((theirs[i] as { error?: unknown }).error !== undefined) misses++;
        expect(mine[i], `${ops[i]![0]} ${String(ops[i]![1][0])}`).toEqual(theirs[i]);
      }
      expect(misses).toBeGreaterThan(1000);
    } finally {
      cleanup();
    }
  });

  it('a one-shot script exits on its own, with or without the pool started', () => {
    for (const mode of ['one', 'burst']) {
      const r = spawnSync(process.execPath, [path.join(here, '../fixtures/fs-one-shot.mjs'), mode], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(mode === 'one' ? 'directory' : 'directory 100');
    }
  });

  it('createFs(rt) answers under the runtime\'s policy: EACCES outside its root, shaped as Node\'s', async () => {
    const { dir, cleanup } = tempDir('syslet-fs-policy-');
    const rt = await Runtime.create({ workers: 1, policy: { root: dir } });
    try {
      fs.writeFileSync(path.join(dir, 'in'), 'inside');
      const f = await sfs.createFs(rt);
      expect(await f.readFile(path.join(dir, 'in'), 'utf8')).toBe('inside');
      expect((await f.stat(path.join(dir, 'in'))).isFile()).toBe(true);
      const outside = path.join(path.dirname(dir), 'elsewhere');
      const err = (await f.stat(outside).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err).toBeInstanceOf(Error);
      expect({ message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, path: err.path }).toEqual({
        message: `EACCES: permission denied, stat '${outside}'`,
        code: 'EACCES',
        errno: -13,
        syscall: 'stat',
        path: outside,
      });
      const w = (await f.writeFile('/etc/syslet-should-not-exist', 'x').catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect([w.code, w.syscall, w.path]).toEqual(['EACCES', 'open', '/etc/syslet-should-not-exist']);
      const up = (await f.readdir(path.join(dir, '..')).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect([up.code, up.syscall]).toEqual(['EACCES', 'scandir']);
      // Larger than one value: read and written in chunks, the descriptor kept and granted across
      // batches under the policy.
      const big = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 11 }, (_, i) => (i * 13) & 0xff));
      await f.writeFile(path.join(dir, 'big'), big);
      expect((await f.readFile(path.join(dir, 'big'))).equals(big)).toBe(true);
      // Nothing reaches node:fs/promises (it is not confined): forms the rings do not take are refused.
      const passwd = '/etc/passwd';
      for (const p of [
        f.readFile(passwd, { signal: new AbortController().signal }),
        f.stat(passwd, null as never),
        f.readdir('/etc', 'buffer'),
        f.open(passwd),
        f.rm(outside, { maxRetries: 1 }),
      ]) {
        const e = (await p.catch((x: unknown) => x)) as NodeJS.ErrnoException;
        expect(e.code).toBe('ERR_SYSLET_FS_UNCONFINED');
      }
    } finally {
      await rt.close();
      cleanup();
    }
  });

  describe('the facade\'s atoms in a hand-built chain', () => {
    const env = useRuntime({ workers: 1 });
    it('writefile, readfile, scandir, stat_ns, mkdirp, mkdtemp, truncate: results and values', async () => {
      const d = env.dir;
      const data = env.rt.alloc(5);
      data.write('hello');
      const c = await env.rt.run(
        chain()
          .atom('mkdirp', [path.join(d, 'x/y')], { into: 'mk' })
          .atom('writefile', [path.join(d, 'x/y/f'), 'w', 0o644, data], { into: 'wr' })
          .atom('readfile', [path.join(d, 'x/y/f'), 'r', 1024], { into: 'rd' })
          .atom('truncate', [path.join(d, 'x/y/f'), 2], { into: 'tr' })
          .atom('readfile', [path.join(d, 'x/y/f'), 'r', 1], { into: 'big' })
          .atom('scandir', [path.join(d, 'x/y')], { into: 'sc' })
          .atom('stat_ns', [path.join(d, 'x/y/f')], { into: 'st' })
          .atom('mkdtemp', [path.join(d, 'tmp-')], { into: 'tmp' })
          .atom('readfile', [path.join(d, 'nope'), 'r', 10], { into: 'miss' })
          .build(),
      );
      env.rt.free(data);
      expect(c.vars).toEqual({ mk: 0, wr: 5, rd: 5, tr: 0, big: -27, sc: 1, st: 0, tmp: 0, miss: -2 });
      expect(c.values.mk).toBe(path.join(d, 'x'));
      expect(c.values.rd).toEqual(Buffer.from('hello'));
      expect(c.values.big).toBe('size');
      expect(c.values.miss).toBe('open');
      expect(c.values.sc).toEqual(expect.objectContaining({ names: ['f'], types: new Uint8Array([(fs.constants as unknown as Record<string, number>).UV_DIRENT_FILE!]) }));
      const st = c.values.st as BigInt64Array;
      expect(st.length).toBe(18);
      expect(st[7]).toBe(2n);
      expect(fs.statSync(c.values.tmp as string).isDirectory()).toBe(true);
    });

    it('stat through a file is -ENOTDIR, not -ENOENT (Node 22 on hides ENOTDIR under throwIfNoEntry: false)', async () => {
      const f = path.join(env.dir, 'plain');
      fs.writeFileSync(f, '');
      const c = await env.rt.run(
        chain()
          .stat(path.join(f, 'x'), { into: 'a' })
          .lstat(path.join(f, 'x'), { into: 'b' })
          .atom('stat_ns', [path.join(f, 'x')], { into: 'c' })
          .atom('lstat_ns', [path.join(env.dir, 'nope')], { into: 'd' })
          .build(),
      );
      expect(c.vars).toEqual({ a: -20, b: -20, c: -20, d: -2 });
    });

    it('a policy refuses composite ops by name and checks what they run under', async () => {
      await expect(Runtime.create({ workers: 1, policy: { allow: ['stat_ns'] } })).rejects.toThrow(/stat_ns runs under the permission of stat/);
      const c = await env.rt.run(chain().atom('stat_ns', [env.dir], { into: 's' }).build(), { policy: { allow: ['lstat'] } });
      expect(c.vars.s).toBe(-13);
      const ok = await env.rt.run(chain().atom('stat_ns', [env.dir], { into: 's' }).build(), { policy: { allow: ['stat'] } });
      expect(ok.vars.s).toBe(0);
    });
  });
});
