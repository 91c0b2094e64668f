import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  SYSLET_NO_COMPLETE,
  SYSLET_SKIP_TO_NEXT_ON_STOP,
  SYSLET_STOP_ON_NEGATIVE,
  SYSLET_STOP_ON_NONZERO,
  SYSLET_STOP_ON_NON_POSITIVE,
  SYSLET_STOP_ON_ZERO,
  SYSLET_SYNC,
  chain,
  errno,
  v,
  type Chain,
} from '../../dist/index.js';
import { pseudoRandomBytes, useRuntime } from '../helpers.js';

const env = useRuntime({ workers: 2 });

/** A chain whose atom 0 returns `result` under `flags`, then a nop the chain reaches if it goes on. */
function stopProbe(result: number, flags: number): Chain {
  return {
    vars: { x: 0 },
    atoms: [
      { op: 'umem_add', args: [{ var: 'x' }, result], flags },
      { op: 'nop', args: [7] },
    ],
  };
}

describe('stop flags', () => {
  const cases: [string, number, (r: number) => boolean][] = [
    ['none', 0, () => false],
    ['STOP_ON_NONZERO', SYSLET_STOP_ON_NONZERO, (r) => r !== 0],
    ['STOP_ON_ZERO', SYSLET_STOP_ON_ZERO, (r) => r === 0],
    ['STOP_ON_NEGATIVE', SYSLET_STOP_ON_NEGATIVE, (r) => r < 0],
    ['STOP_ON_NON_POSITIVE', SYSLET_STOP_ON_NON_POSITIVE, (r) => r <= 0],
  ];
  for (const [name, flag, stops] of cases) {
    for (const result of [-1, 0, 1]) {
      it(`${name} with result ${result} ${stops(result) ? 'stops' : 'goes on'}`, async () => {
        const c = await env.rt.run(stopProbe(result, flag));
        if (stops(result)) {
          expect(c).toMatchObject({ status: 'stopped', atom: 0, result, steps: 1 });
        } else {
          expect(c).toMatchObject({ status: 'done', atom: 1, result: 7, steps: 2 });
        }
        expect(c.vars.x).toBe(result);
      });
    }
  }

  it('SKIP_TO_NEXT_ON_STOP branches to the physically next atom instead of next', async () => {
    const branch = (x: number): Chain => ({
      vars: { x },
      atoms: [
        { op: 'nop', args: [{ var: 'x' }], flags: SYSLET_STOP_ON_NEGATIVE | SYSLET_SKIP_TO_NEXT_ON_STOP, next: 2 },
        { op: 'nop', args: [111], next: null },
        { op: 'nop', args: [222] },
      ],
    });
    expect(await env.rt.run(branch(-5))).toMatchObject({ status: 'done', atom: 1, result: 111, steps: 2 });
    expect(await env.rt.run(branch(5))).toMatchObject({ status: 'done', atom: 2, result: 222, steps: 2 });
  });

  it('a stop with SKIP on the last atom ends the chain as stopped', async () => {
    const c = await env.rt.run({ atoms: [{ op: 'nop', args: [0], flags: SYSLET_STOP_ON_ZERO | SYSLET_SKIP_TO_NEXT_ON_STOP }] });
    expect(c).toMatchObject({ status: 'stopped', atom: 0, result: 0 });
  });
});

describe('loops and variables', () => {
  it('counts down with umem_add and a backward next', async () => {
    const c = await env.rt.run({
      vars: { i: 10, laps: 0 },
      atoms: [
        { op: 'umem_add', args: [{ var: 'laps' }, 1] },
        { op: 'umem_add', args: [{ var: 'i' }, -1], flags: SYSLET_STOP_ON_ZERO, next: 0 },
      ],
    });
    expect(c).toMatchObject({ status: 'stopped', atom: 1, result: 0, steps: 20, vars: { i: 0, laps: 10 } });
  });

  it('ends a runaway loop at the step budget with -ELOOP', async () => {
    const c = await env.rt.run({ atoms: [{ op: 'nop', next: 0 }] }, { stepBudget: 1000 });
    expect(c).toMatchObject({ status: 'exhausted', atom: 0, result: -errno.ELOOP, steps: 1000 });
  });

  it('reads variables when the atom runs: an fd from open feeds fstat and close', async () => {
    const file = path.join(env.dir, 'flow.txt');
    fs.writeFileSync(file, 'x'.repeat(1234));
    const c = await env.rt.run(
      chain()
        .open(file, 'r', undefined, { into: 'fd', flags: ['STOP_ON_NEGATIVE'] })
        .fstat(v('fd'), { into: 'st' })
        .close(v('fd'), { into: 'closed' })
        .build(),
    );
    expect(c.status).toBe('done');
    expect(c.vars.fd).toBeGreaterThanOrEqual(0);
    expect(c.vars.closed).toBe(0);
    const st = c.values.st as { size: number; isFile(): boolean };
    expect(st.size).toBe(1234);
    expect(st.isFile()).toBe(true);
  });

  it('takes initial variable values per submission', async () => {
    const probe = chain().var('n', 0).umem_add('n', 5, { into: 'n' }).build();
    expect((await env.rt.run(probe, { vars: { n: 10 } })).vars.n).toBe(15);
    expect((await env.rt.run(probe)).vars.n).toBe(5);
  });

  it('gives -EFAULT when an atom reads a variable nothing assigned yet', async () => {
    const c = await env.rt.run({
      atoms: [
        { op: 'nop', args: [{ var: 'later' }] },
        { op: 'getpid', into: 'later' },
      ],
    });
    expect(c).toMatchObject({ status: 'done', atom: 1 });
    const c2 = await env.rt.run({
      atoms: [
        { op: 'nop', args: [{ var: 'later' }], flags: SYSLET_STOP_ON_NEGATIVE },
        { op: 'getpid', into: 'later' },
      ],
    });
    expect(c2).toMatchObject({ status: 'stopped', atom: 0, result: -errno.EFAULT });
  });
});

describe('file copy loop', () => {
  /** read until 0, write what was read, repeat; close both at end of file. */
  function copyChain(src: string, dst: string, b: { buf: string | number }): Chain {
    return {
      atoms: [
        { op: 'open', args: [src, 'r'], into: 'in', flags: SYSLET_STOP_ON_NEGATIVE },
        { op: 'open', args: [dst, 'w'], into: 'out', flags: SYSLET_STOP_ON_NEGATIVE },
        { op: 'read', args: [{ var: 'in' }, b, 65536], into: 'n', flags: SYSLET_STOP_ON_NON_POSITIVE | SYSLET_SKIP_TO_NEXT_ON_STOP, next: 5 },
        { op: 'close', args: [{ var: 'in' }] },
        { op: 'close', args: [{ var: 'out' }], next: null },
        { op: 'write', args: [{ var: 'out' }, b, { var: 'n' }], flags: SYSLET_STOP_ON_NEGATIVE, next: 2 },
      ],
    };
  }

  it('copies a file byte for byte through an arena buffer', async () => {
    const src = path.join(env.dir, 'src.bin');
    const dst = path.join(env.dir, 'dst.bin');
    const data = pseudoRandomBytes(3 * 65536 + 12_345);
    fs.writeFileSync(src, data);
    const b = env.rt.alloc(65536);
    try {
      const c = await env.rt.run(copyChain(src, dst, { buf: b.byteOffset }));
      expect(c).toMatchObject({ status: 'done', atom: 4, result: 0, vars: { n: 0 } });
      // 2 opens, 5 reads (4 with data), 4 writes, 2 closes.
      expect(c.steps).toBe(13);
      expect(fs.readFileSync(dst).equals(data)).toBe(true);
    } finally {
      env.rt.free(b);
    }
  });

  it('copies through a buffer the chain declares, which comes back in the completion', async () => {
    const src = path.join(env.dir, 'src2.bin');
    const dst = path.join(env.dir, 'dst2.bin');
    const data = pseudoRandomBytes(100_000, 7);
    fs.writeFileSync(src, data);
    const c = await env.rt.run({ ...copyChain(src, dst, { buf: 'b' }), buffers: { b: 65536 } });
    expect(c.status).toBe('done');
    expect(fs.readFileSync(dst).equals(data)).toBe(true);
    // The last full read left bytes 65536..99999 of the file at the start of the buffer.
    expect(c.buffers?.b?.subarray(0, 100_000 - 65536).equals(data.subarray(65536))).toBe(true);
  });
});

describe('operations', () => {
  it('returns Linux errno values for missing files and bad descriptors', async () => {
    const missing = path.join(env.dir, 'missing');
    const file = path.join(env.dir, 'plain');
    fs.writeFileSync(file, 'p');
    fs.mkdirSync(path.join(env.dir, 'full'));
    fs.writeFileSync(path.join(env.dir, 'full', 'f'), '');
    const b = env.rt.alloc(16);
    const one = async (c: Chain) => (await env.rt.run(c)).result;
    try {
      expect(await one({ atoms: [{ op: 'stat', args: [missing] }] })).toBe(-errno.ENOENT);
      expect(await one({ atoms: [{ op: 'lstat', args: [missing] }] })).toBe(-errno.ENOENT);
      expect(await one({ atoms: [{ op: 'open', args: [missing, 'r'] }] })).toBe(-errno.ENOENT);
      expect(await one({ atoms: [{ op: 'read', args: [987_654, { buf: b.byteOffset }, 16] }] })).toBe(-errno.EBADF);
      expect(await one({ atoms: [{ op: 'close', args: [-1] }] })).toBe(-errno.EBADF);
      expect(await one({ atoms: [{ op: 'fstat', args: [987_654] }] })).toBe(-errno.EBADF);
      expect(await one({ atoms: [{ op: 'readdir', args: [file] }] })).toBe(-errno.ENOTDIR);
      expect(await one({ atoms: [{ op: 'mkdir', args: [env.dir] }] })).toBe(-errno.EEXIST);
      expect(await one({ atoms: [{ op: 'rmdir', args: [path.join(env.dir, 'full')] }] })).toBe(-errno.ENOTEMPTY);
      expect(await one({ atoms: [{ op: 'unlink', args: [missing] }] })).toBe(-errno.ENOENT);
      expect(await one({ atoms: [{ op: 'readlink', args: [file] }] })).toBe(-errno.EINVAL);
      expect(await one({ atoms: [{ op: 'nanosleep', args: [-1] }] })).toBe(-errno.EINVAL);
    } finally {
      env.rt.free(b);
    }
  });

  it('runs every operation against the real file system', async () => {
    const d = path.join(env.dir, 'ops');
    const b = env.rt.alloc(64);
    b.write('hello, syslet');
    const c = await env.rt.run(
      chain()
        .mkdir(d, 0o755, { into: 'mkdir' })
        .open(path.join(d, 'a'), 'w+', 0o644, { into: 'fd' })
        .write(v('fd'), b, 13, { into: 'wrote' })
        .pwrite(v('fd'), b, 5, 100, { into: 'pwrote' })
        .fsync(v('fd'), { into: 'fsync' })
        .fdatasync(v('fd'), { into: 'fdatasync' })
        .pread(v('fd'), b.subarray(32), 5, 7, { into: 'pread' })
        .ftruncate(v('fd'), 50, { into: 'ftruncate' })
        .fstat(v('fd'), { into: 'fstat' })
        .close(v('fd'), { into: 'close' })
        .link(path.join(d, 'a'), path.join(d, 'hard'), { into: 'link' })
        .symlink('a', path.join(d, 'sym'), { into: 'symlink' })
        .readlink(path.join(d, 'sym'), { into: 'readlink' })
        .realpath(path.join(d, 'sym'), { into: 'realpath' })
        .lstat(path.join(d, 'sym'), { into: 'lstat' })
        .stat(path.join(d, 'sym'), { into: 'stat' })
        .chmod(path.join(d, 'a'), 0o600, { into: 'chmod' })
        .utimes(path.join(d, 'a'), 1_000_000, 2_000_000, { into: 'utimes' })
        .access(path.join(d, 'a'), fs.constants.R_OK, { into: 'access' })
        .copyfile(path.join(d, 'a'), path.join(d, 'copy'), undefined, { into: 'copyfile' })
        .rename(path.join(d, 'copy'), path.join(d, 'moved'), { into: 'rename' })
        .unlink(path.join(d, 'hard'), { into: 'unlink' })
        .mkdir(path.join(d, 'sub'), undefined, { into: 'mkdir2' })
        .rmdir(path.join(d, 'sub'), { into: 'rmdir' })
        .readdir(d, { into: 'readdir' })
        .nanosleep(1_000_000, { into: 'nanosleep' })
        .getpid({ into: 'pid' })
        .build(),
    );
    expect(c.status).toBe('done');
    expect(c.vars).toMatchObject({
      mkdir: 0, wrote: 13, pwrote: 5, fsync: 0, fdatasync: 0, pread: 5, ftruncate: 0, close: 0,
      link: 0, symlink: 0, readlink: 1, chmod: 0, utimes: 0, access: 0, copyfile: 0, rename: 0,
      unlink: 0, mkdir2: 0, rmdir: 0, readdir: 3, nanosleep: 0, pid: process.pid,
    });
    expect(b.subarray(32, 37).toString()).toBe('syslet'.slice(0, 5));
    expect(c.values.readlink).toBe('a');
    expect(c.values.realpath).toBe(fs.realpathSync(path.join(d, 'a')));
    expect(c.vars.realpath).toBe(Buffer.byteLength(fs.realpathSync(path.join(d, 'a'))));
    expect((c.values.readdir as string[]).sort()).toEqual(['a', 'moved', 'sym']);
    const st = c.values.stat as { size: number; mode: number; mtimeMs: number; isFile(): boolean };
    const lst = c.values.lstat as { isSymbolicLink(): boolean };
    expect(st.isFile()).toBe(true);
    expect(lst.isSymbolicLink()).toBe(true);
    // fstat ran after ftruncate(50).
    expect((c.values.fstat as { size: number }).size).toBe(50);
    const real = fs.statSync(path.join(d, 'a'));
    expect(real.size).toBe(50);
    expect(real.mode & 0o777).toBe(0o600);
    expect(real.mtimeMs).toBe(2_000_000_000);
    expect(fs.readFileSync(path.join(d, 'moved')).length).toBe(50);
    env.rt.free(b);
  });

  it('returns stat values equal to fs.statSync', async () => {
    const c = await env.rt.run({ atoms: [{ op: 'stat', args: [env.dir] }] });
    const st = fs.statSync(env.dir);
    const got = c.value as unknown as Record<string, number>;
    for (const k of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks', 'mtimeMs', 'ctimeMs'] as const) {
      expect(got[k]).toBe(st[k]);
    }
  });

  it('carries values larger than a slot through the arena and frees them', async () => {
    const d = path.join(env.dir, 'many');
    fs.mkdirSync(d);
    const names: string[] = [];
    for (let i = 0; i < 800; i++) {
      const n = `entry-with-a-rather-long-name-${String(i).padStart(5, '0')}`;
      names.push(n);
      fs.writeFileSync(path.join(d, n), '');
    }
    const before = env.rt.stats().arena.inUse;
    const c = await env.rt.run({ atoms: [{ op: 'readdir', args: [d], into: 'names' }] });
    expect(c.result).toBe(800);
    expect((c.value as string[]).sort()).toEqual(names);
    expect((c.values.names as string[]).length).toBe(800);
    expect(env.rt.stats().arena.inUse).toBe(before);
  });
});

describe('inline execution (SYSLET_SYNC) and flags', () => {
  it('runs an all-SYNC chain on the submitting thread: settled at submit, no worker involved', async () => {
    const before = env.rt.stats().workers.reduce((n, w) => n + w.chains, 0);
    const sub = env.rt.submit({ atoms: [{ op: 'getpid', into: 'pid', flags: SYSLET_SYNC }, { op: 'stat', args: [env.dir], flags: SYSLET_SYNC }] });
    expect(sub.settled).toBe(true);
    expect(sub.completion).toMatchObject({ status: 'done', atom: 1, result: 0, vars: { pid: process.pid } });
    await sub;
    expect(env.rt.stats().workers.reduce((n, w) => n + w.chains, 0)).toBe(before);
  });

  it('moves to a worker at the first atom without SYNC, variables and all', async () => {
    const before = env.rt.stats().workers.reduce((n, w) => n + w.chains, 0);
    const sub = env.rt.submit({
      vars: { n: 1 },
      atoms: [
        { op: 'umem_add', args: [{ var: 'n' }, 41], flags: SYSLET_SYNC },
        { op: 'umem_add', args: [{ var: 'n' }, 100] },
      ],
    });
    const c = await sub;
    expect(c).toMatchObject({ status: 'done', atom: 1, result: 142, steps: 2, vars: { n: 142 } });
    expect(env.rt.stats().workers.reduce((n, w) => n + w.chains, 0)).toBe(before + 1);
  });

  it('marks completions of chains that end at a NO_COMPLETE atom', async () => {
    const c = await env.rt.run({ atoms: [{ op: 'nop', flags: SYSLET_NO_COMPLETE }] });
    expect(c.noComplete).toBe(true);
    expect((await env.rt.run({ atoms: [{ op: 'nop' }] })).noComplete).toBe(false);
  });

  it('builds plain JSON data: the parsed JSON runs the same', async () => {
    const built = chain()
      .var('i', 3)
      .label('top')
      .umem_add('i', -1, { into: 'left', flags: ['STOP_ON_ZERO'], next: 'top' })
      .build();
    const json = JSON.parse(JSON.stringify(built)) as Chain;
    expect(json).toEqual({
      vars: { i: 3 },
      atoms: [{ op: 'umem_add', args: [{ var: 'i' }], into: 'left', flags: SYSLET_STOP_ON_ZERO, next: 0 }].map((a) => ({ ...a, args: [{ var: 'i' }, -1] })),
    });
    const a = await env.rt.run(built);
    const b = await env.rt.run(json);
    expect(a).toMatchObject({ status: 'stopped', steps: 3, vars: { i: 0, left: 0 } });
    expect({ ...b, id: a.id }).toEqual(a);
  });
});

describe('prepared chains', () => {
  it('validates once and runs many times with per-submission variables', async () => {
    const src = chain().var('n', 0).umem_add('n', 1, { into: 'n' }).build();
    const p = env.rt.prepare(src);
    expect(p.vars).toEqual(['n']);
    (src.atoms[0]!.args as unknown[])[1] = 1000; // later edits do not reach the prepared chain
    const results = await Promise.all([1, 2, 3].map((n) => env.rt.run(p, { vars: { n } })));
    expect(results.map((c) => c.vars.n)).toEqual([2, 3, 4]);
  });
});
