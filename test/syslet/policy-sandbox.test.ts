// The policy as a sandbox (issue 11): a confined chain reaches nothing outside its root by any
// name: not by descriptor numbers, arena addresses, a per-submission root through a symlink, a
// directory swapped for a symlink mid-walk, nor by exhausting descriptors. Each case is an
// attacker chain and an assertion on what the outside looks like afterwards.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainError, OPS, Runtime, errno, type Atom, type Chain } from '../../dist/index.js';
import { rootBesideOutside, snapshot, waitUntil } from '../helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const INDEX = new URL('../../dist/index.js', import.meta.url).href;
const STOP_ON_ZERO = 0x10;
const STOP_ON_NEGATIVE = 0x20;
const SKIP = 0x80;

let tmp: ReturnType<typeof rootBesideOutside>;
let root: string;
let outside: string;
let secret: string;
let rt: Runtime;

/** What descriptor `fd` refers to now ('' when it is not open). */
function fdTarget(fd: number): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
}

beforeAll(async () => {
  tmp = rootBesideOutside('syslet-sandbox-', 'd');
  ({ root, outside } = tmp);
  fs.writeFileSync(path.join(root, 'inside.txt'), 'in');
  fs.writeFileSync(path.join(root, 'd', 'secret.txt'), 'in');
  secret = path.join(outside, 'secret.txt');
  fs.writeFileSync(secret, 'OUTSIDE!!');
  rt = await Runtime.create({ workers: 3, policy: { root }, stepBudget: 10_000_000 });
});

afterAll(async () => {
  await rt.close();
  tmp.cleanup();
});

const run = (c: unknown, opts = {}) => rt.run(c as Chain, opts);

/** An atom of `op` whose descriptor arguments are `fd` and whose others are valid. */
function atomWithFd(op: (typeof OPS)[number], fd: number): Atom {
  const args = op.params.map((q) =>
    q.kind === 'fd' ? fd : q.kind === 'buf' ? { buf: 'b' } : q.kind === 'path' ? 'inside.txt' : q.kind === 'oflags' ? 'r' : 1,
  );
  return { op: op.name, args } as unknown as Atom;
}

describe('descriptors: a confined chain uses only those it opened or was granted', () => {
  it('every descriptor-taking operation refuses the host\'s descriptor with -EBADF; the outside is untouched', async () => {
    const hostFd = fs.openSync(secret, 'r+');
    try {
      const before = snapshot(outside);
      const fdOps = OPS.filter((o) => o.params.some((q) => q.kind === 'fd'));
      expect(fdOps.map((o) => o.name)).toEqual(expect.arrayContaining(['close', 'read', 'pread', 'write', 'pwrite', 'fstat', 'fsync', 'fdatasync', 'ftruncate']));
      for (const op of fdOps) {
        const c = await run({ buffers: { b: { data: 'X' } }, atoms: [atomWithFd(op, hostFd)] });
        expect([op.name, c.result]).toEqual([op.name, -errno.EBADF]);
      }
      // Still open, still the host's, still the same bytes.
      expect(fdTarget(hostFd)).toBe(secret);
      expect(fs.readFileSync(secret, 'utf8')).toBe('OUTSIDE!!');
      expect(snapshot(outside)).toEqual(before);
    } finally {
      fs.closeSync(hostFd);
    }
  });

  it('a granted descriptor may be used; its own descriptors too; another chain\'s not', async () => {
    const hostFd = fs.openSync(secret, 'r');
    try {
      const c = await run(
        { buffers: { b: 16 }, atoms: [{ op: 'pread', args: [hostFd, { buf: 'b' }, 9, 0] }] },
        { grant: { fds: [hostFd] } },
      );
      expect(c.result).toBe(9);
      expect(c.buffers!.b!.subarray(0, 9).toString()).toBe('OUTSIDE!!');
      expect(fdTarget(hostFd)).toBe(secret); // granted, used, not closed by the runtime
    } finally {
      fs.closeSync(hostFd);
    }
    // A chain holding a descriptor while another tries it by number.
    const holder = rt.submit({
      atoms: [
        { op: 'open', args: ['inside.txt', 'r'], into: 'fd' },
        { op: 'open', args: ['holding', 'w'], into: 'mark' },
        { op: 'close', args: [{ var: 'mark' }] },
        // Hold it until the test says so.
        { op: 'access', args: ['release'], flags: STOP_ON_ZERO | SKIP, next: 5 },
        { op: 'fstat', args: [{ var: 'fd' }], into: 'mine', next: null },
        { op: 'nanosleep', args: [1e6], next: 3 },
      ],
    } as Chain);
    await waitUntil('the holder chain opened its descriptor', () => fs.existsSync(path.join(root, 'holding')));
    // The holder's descriptor: the one open on inside.txt (its path walk's own are closed by now).
    let fd = -1;
    for (const n of fs.readdirSync('/proc/self/fd')) if (fdTarget(Number(n)) === path.join(root, 'inside.txt')) fd = Number(n);
    expect(fd).toBeGreaterThanOrEqual(0);
    const thief = await run({ atoms: [{ op: 'fstat', args: [fd], into: 'stolen' }, { op: 'close', args: [fd], into: 'closed' }] });
    expect(thief.vars).toEqual({ stolen: -errno.EBADF, closed: -errno.EBADF });
    fs.writeFileSync(path.join(root, 'release'), '');
    const h = await holder;
    expect(h.vars.mine).toBe(0);
    expect(h.vars.fd).toBe(fd);
    fs.rmSync(path.join(root, 'holding'));
    fs.rmSync(path.join(root, 'release'));
  });

  it('grant.keepFds hands what the chain left open to the submitter, who may grant it on', async () => {
    const opened = await run({ atoms: [{ op: 'open', args: ['inside.txt', 'r'], into: 'fd' }] }, { grant: { keepFds: true } });
    const fd = opened.vars.fd!;
    expect(fdTarget(fd)).toBe(path.join(root, 'inside.txt'));
    // Another chain may not use it unless granted; granted, it reads and closes it.
    const stranger = await run({ buffers: { b: 4 }, atoms: [{ op: 'pread', args: [fd, { buf: 'b' }, 2, 0] }] });
    expect(stranger.result).toBe(-errno.EBADF);
    const c = await run(
      { buffers: { b: 4 }, atoms: [{ op: 'pread', args: [fd, { buf: 'b' }, 2, 0], into: 'n' }, { op: 'close', args: [fd], into: 'closed' }] },
      { grant: { fds: [fd] } },
    );
    expect(c.vars).toEqual({ n: 2, closed: 0 });
    expect(fdTarget(fd)).not.toBe(path.join(root, 'inside.txt'));
    expect(() => rt.submit({ atoms: [{ op: 'nop' }] } as Chain, { grant: { keepFds: 1 as never } })).toThrow(
      'submit: grant.keepFds: expected a boolean, got 1',
    );
  });

  it('closes what a confined chain left open when it ends', async () => {
    const c = await run({
      atoms: [
        { op: 'open', args: ['inside.txt', 'r'], into: 'a' },
        { op: 'open', args: ['d/secret.txt', 'r'], into: 'b' },
        { op: 'open', args: ['new.txt', 'w'], into: 'c' },
      ],
    });
    expect(c.status).toBe('done');
    const names = [path.join(root, 'inside.txt'), path.join(root, 'd', 'secret.txt'), path.join(root, 'new.txt')];
    for (const [k, name] of [['a', names[0]], ['b', names[1]], ['c', names[2]]] as const) {
      expect(c.vars[k]).toBeGreaterThanOrEqual(0);
      expect(fdTarget(c.vars[k]!)).not.toBe(name);
    }
  });
});

describe('descriptors held across threads', () => {
  it('an inline prefix\'s descriptors travel with the chain to its worker, and are closed at its end', async () => {
    const c = await run({
      buffers: { b: 8 },
      atoms: [
        { op: 'open', args: ['inside.txt', 'r'], into: 'fd', flags: 0x02 },
        { op: 'pread', args: [{ var: 'fd' }, { buf: 'b' }, 2, 0], into: 'n' },
      ],
    });
    expect(c.vars.n).toBe(2);
    expect(fdTarget(c.vars.fd!)).not.toBe(path.join(root, 'inside.txt'));
  });

  it('a worker dying mid-chain does not leak the chain\'s descriptors', async () => {
    // Faults as the runtime's own fault tests inject them (a fixed seed: the same requests die).
    await using dying = await Runtime.create({ workers: 2, policy: { root }, faults: { pumpError: 0.3, seed: 11 } });
    const file = path.join(root, 'inside.txt');
    const results = await Promise.all(
      Array.from({ length: 16 }, () =>
        dying.run({ atoms: [{ op: 'open', args: ['inside.txt', 'r'], into: 'fd', flags: 0x02 }, { op: 'nop' }] } as Chain),
      ),
    );
    const dead = results.filter((c) => c.result === -errno.EOWNERDEAD).length;
    expect(dead).toBeGreaterThan(0);
    expect(results.filter((c) => c.result === 0).length).toBe(16 - dead);
    expect(dying.stats().ownerDeadCompletions).toBe(dead);
    const open = fs.readdirSync('/proc/self/fd').filter((n) => fdTarget(Number(n)) === file);
    expect(open).toEqual([]);
  });
});

describe('descriptor exhaustion: a bound per chain, -EMFILE past it', () => {
  it('maxFds bounds the descriptors held at once; the host can still open files', async () => {
    const atoms: Atom[] = [];
    for (let i = 0; i < 9; i++) atoms.push({ op: 'open', args: ['inside.txt', 'r'], into: `f${i}` } as Atom);
    const c = await run({ atoms }, { policy: { maxFds: 8 } });
    expect(c.result).toBe(-errno.EMFILE);
    for (let i = 0; i < 8; i++) {
      expect(c.vars[`f${i}`]).toBeGreaterThanOrEqual(0);
      expect(fdTarget(c.vars[`f${i}`]!)).not.toBe(path.join(root, 'inside.txt'));
    }
    const fd = fs.openSync(secret, 'r');
    fs.closeSync(fd);
  });

  it('a loop of open without close stops at the default bound (64), not at the process limit', async () => {
    const c = await run({
      vars: { n: 0 },
      atoms: [
        { op: 'open', args: ['inside.txt', 'r'], flags: STOP_ON_NEGATIVE },
        { op: 'umem_add', args: [{ var: 'n' }, 1], next: 0 },
      ],
    });
    expect(c.status).toBe('stopped');
    expect(c.result).toBe(-errno.EMFILE);
    expect(c.vars.n).toBe(64);
    // Closing frees room: open, close, open... never hits the bound.
    const d = await run({
      vars: { n: 200 },
      atoms: [
        { op: 'open', args: ['inside.txt', 'r'], into: 'fd', flags: STOP_ON_NEGATIVE },
        { op: 'close', args: [{ var: 'fd' }] },
        { op: 'umem_add', args: [{ var: 'n' }, -1], flags: STOP_ON_ZERO, next: 0 },
      ],
    });
    expect([d.status, d.result]).toEqual(['stopped', 0]);
  });

  it('refuses a maxFds that is not an integer in range', () => {
    expect(() => rt.submit({ atoms: [{ op: 'nop' }] } as Chain, { policy: { maxFds: -1 } })).toThrow(
      'submit: policy.maxFds: expected an integer from 0 to 4096, got -1',
    );
  });
});

describe('arena addresses: a confined chain names only its own and granted buffers', () => {
  it('refuses, at submission, every buffer-taking operation given the address of a host buffer', async () => {
    const host = rt.alloc(16);
    host.write('HOSTSECRET');
    try {
      const bufOps = OPS.filter((o) => o.params.some((q) => q.kind === 'buf'));
      expect(bufOps.map((o) => o.name)).toEqual(expect.arrayContaining(['read', 'pread', 'write', 'pwrite']));
      for (const op of bufOps) {
        const args = op.params.map((q) =>
          q.kind === 'buf'
            ? { buf: host.byteOffset }
            : q.kind === 'fd'
              ? { var: 'fd' }
              : q.kind === 'path'
                ? 'leak2.txt'
                : q.kind === 'oflags'
                  ? 'w'
                  : q.kind === 'int'
                    ? q.name === 'count' ? 10 : 0
                    : 0,
        );
        const bufArg = op.params.findIndex((q) => q.kind === 'buf');
        const c = {
          atoms: [
            { op: 'open', args: ['leak.txt', 'w+'], into: 'fd' },
            { op: op.name, args },
          ],
        };
        let err: unknown;
        try {
          rt.submit(c as unknown as Chain);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ChainError);
        // The length is the allocation's (arena blocks are rounded up).
        expect((err as ChainError).message).toMatch(
          new RegExp(
            `^chain\\.atoms\\[1\\] \\(${op.name}\\): argument ${bufArg} \\(buf\\): arena address ${host.byteOffset} \\(\\d+ bytes\\) is not a buffer the chain declares or the submission grants; under a policy a chain names only those \\(submit option grant\\.buffers\\)$`,
          ),
        );
        expect((err as ChainError).atom).toBe(1);
        expect((err as ChainError).argument).toBe(bufArg);
        // Also with an offset into it, and a length inside it.
        expect(() => rt.submit({ atoms: [{ op: op.name, args: args.map((a) => (typeof a === 'object' && 'buf' in a ? { buf: host.byteOffset + 4, length: 2 } : a === undefined ? 0 : a)) }] } as unknown as Chain)).toThrow(ChainError);
      }
      expect(fs.existsSync(path.join(root, 'leak.txt'))).toBe(false);
      // Granted, the same chain runs: the submitter passed the buffer with the submission.
      const c = await run(
        { atoms: [{ op: 'open', args: ['leak.txt', 'w+'], into: 'fd' }, { op: 'write', args: [{ var: 'fd' }, { buf: host.byteOffset }, 10] }] },
        { grant: { buffers: [host] } },
      );
      expect(c.result).toBe(10);
      // A grant of another buffer does not cover this one.
      const other = rt.alloc(16);
      expect(() => rt.submit({ atoms: [{ op: 'write', args: [1, { buf: host.byteOffset }, 1] }] } as unknown as Chain, { grant: { buffers: [other] } })).toThrow(ChainError);
      rt.free(other);
    } finally {
      rt.free(host);
    }
  });

  it('accepts declared buffers, and Buffer objects the submitter put in the chain', async () => {
    const mine = rt.alloc(8);
    try {
      const c = await run({
        buffers: { b: { data: 'abc' } },
        atoms: [
          { op: 'open', args: ['buf.txt', 'w+'], into: 'fd' },
          { op: 'write', args: [{ var: 'fd' }, { buf: 'b' }, 3] },
          { op: 'pread', args: [{ var: 'fd' }, mine, 3, 0], into: 'n' },
        ],
      });
      expect(c.vars.n).toBe(3);
      expect(mine.subarray(0, 3).toString()).toBe('abc');
    } finally {
      rt.free(mine);
    }
  });

  it('refuses a grant of something rt.alloc() did not return', () => {
    expect(() => rt.submit({ atoms: [{ op: 'nop' }] } as Chain, { grant: { buffers: [Buffer.alloc(4)] } })).toThrow(
      'submit: grant.buffers: expected Buffers from rt.alloc(), got a buffer rt.alloc() did not return (or one freed)',
    );
    expect(() => rt.submit({ atoms: [{ op: 'nop' }] } as Chain, { grant: { fds: [-1] } })).toThrow(
      'submit: grant.fds: expected descriptors (integers >= 0), got -1',
    );
  });
});

describe('per-submission roots compare real paths', () => {
  it('refuses a root that is a symlink planted inside the runtime\'s root leading out', async () => {
    const c = await run({ atoms: [{ op: 'symlink', args: ['../outside', 't1'] }] });
    expect(c.result).toBe(0);
    const t1 = path.join(root, 't1');
    expect(() => rt.submit({ atoms: [{ op: 'nop' }] } as Chain, { policy: { root: t1 } })).toThrow(
      `submit: policy.root: ${t1} is outside the runtime's root ${root} (it resolves to ${outside})`,
    );
    expect(fs.readFileSync(secret, 'utf8')).toBe('OUTSIDE!!');
    fs.rmSync(t1);
  });

  it('a root swapped for a symlink after submission confines to nothing', async () => {
    await using one = await Runtime.create({ workers: 1, policy: { root } });
    const t2 = path.join(root, 't2');
    fs.mkdirSync(t2);
    const before = snapshot(outside);
    // Keep the only worker busy until the swap is done, so the narrowed chain runs after it.
    const blocker = one.submit({ atoms: [{ op: 'access', args: ['swapped'], flags: STOP_ON_ZERO, next: 1 }, { op: 'nanosleep', args: [1e6], next: 0 }] } as Chain);
    const narrowed = one.submit(
      {
        atoms: [
          { op: 'stat', args: ['secret.txt'], into: 'stat' },
          { op: 'open', args: ['planted.txt', 'w'], into: 'open' },
          { op: 'readdir', args: ['.'], into: 'list' },
        ],
      } as Chain,
      { policy: { root: t2 } },
    );
    fs.renameSync(t2, `${t2}.real`);
    fs.symlinkSync('../outside', t2);
    fs.writeFileSync(path.join(root, 'swapped'), '');
    await blocker;
    const c = await narrowed;
    expect(c.vars).toEqual({ stat: -errno.EACCES, open: -errno.EACCES, list: -errno.EACCES });
    expect(snapshot(outside)).toEqual(before);
    for (const f of [t2, `${t2}.real`, path.join(root, 'swapped')]) fs.rmSync(f, { recursive: true });
  });
});

describe('middle-component races', () => {
  it('a chain swapping d for a symlink to the outside never lets another chain read through it', async () => {
    const before = snapshot(outside);
    // The reader marks that it started, then loops: open d/secret.txt, read it, count bytes,
    // until the swapper is done. The inside file has 2 bytes, the outside one 9.
    const reader = rt.submit(
      {
        vars: { reads: 0, bytes: 0 },
        buffers: { b: 64 },
        atoms: [
          { op: 'open', args: ['started', 'w'], into: 'sfd' },
          { op: 'close', args: [{ var: 'sfd' }] },
          { op: 'open', args: ['d/secret.txt', 'r'], into: 'fd', flags: STOP_ON_NEGATIVE | SKIP, next: 4 },
          { op: 'nop', next: 9 },
          { op: 'pread', args: [{ var: 'fd' }, { buf: 'b' }, 64, 0], into: 'got' },
          { op: 'umem_add', args: [{ var: 'bytes' }, { var: 'got' }] },
          { op: 'umem_add', args: [{ var: 'reads' }, 1] },
          { op: 'close', args: [{ var: 'fd' }] },
          // Also try to create a file through d: it must land inside or nowhere.
          { op: 'open', args: ['d/planted.txt', 'a'], into: 'wfd', flags: STOP_ON_NEGATIVE | SKIP, next: 11 },
          { op: 'access', args: ['done'], flags: STOP_ON_ZERO, next: 2 },
          { op: 'nop', next: 9 },
          { op: 'close', args: [{ var: 'wfd' }], next: 9 },
        ],
      } as Chain,
      { timeoutMs: 100_000 },
    );
    const swapper = rt.submit(
      {
        vars: { n: 1500 },
        atoms: [
          { op: 'access', args: ['started'], flags: STOP_ON_ZERO | SKIP, next: 2 },
          { op: 'nop', next: 3 },
          { op: 'nanosleep', args: [1e6], next: 0 },
          { op: 'rename', args: ['d', 'd.swap'] },
          { op: 'symlink', args: ['../outside', 'd'] },
          { op: 'unlink', args: ['d'] },
          { op: 'rename', args: ['d.swap', 'd'] },
          { op: 'umem_add', args: [{ var: 'n' }, -1], flags: STOP_ON_ZERO | SKIP, next: 3 },
          { op: 'open', args: ['done', 'w'], into: 'dfd' },
          { op: 'close', args: [{ var: 'dfd' }] },
        ],
      } as Chain,
      { timeoutMs: 100_000 },
    );
    const [r, s] = await Promise.all([reader, swapper]);
    expect(s.status).toBe('done');
    expect(s.vars.n).toBe(0);
    expect(r.status).toBe('stopped');
    // Every read got the inside file's 2 bytes, never the outside's 9.
    expect(r.vars.bytes).toBe(2 * r.vars.reads!);
    expect(fs.readFileSync(secret, 'utf8')).toBe('OUTSIDE!!');
    expect(fs.existsSync(path.join(outside, 'planted.txt'))).toBe(false);
    expect(snapshot(outside)).toEqual(before);
    for (const f of ['started', 'done', 'd/planted.txt']) fs.rmSync(path.join(root, f), { force: true });
  });

  it('a host thread swapping the same way cannot redirect stat, open or readdir either', async () => {
    const before = snapshot(outside);
    let swaps = 0;
    let stop = false;
    const swap = async (): Promise<void> => {
      while (!stop) {
        fs.renameSync(path.join(root, 'd'), path.join(root, 'd.swap'));
        fs.symlinkSync('../outside', path.join(root, 'd'));
        await new Promise((r) => setImmediate(r));
        fs.unlinkSync(path.join(root, 'd'));
        fs.renameSync(path.join(root, 'd.swap'), path.join(root, 'd'));
        swaps++;
        await new Promise((r) => setImmediate(r));
      }
    };
    const swapping = swap();
    const seen = new Set<number>();
    // 150 rounds, and on until one found the directory in place: on a loaded machine the swap can
    // land inside every one of the 150 (each then fails with -ENOENT), and the check below would
    // have nothing to say.
    for (let i = 0; i < 150 || (!seen.has(2) && i < 10_000); i++) {
      const c = await run({
        atoms: [
          { op: 'stat', args: ['d/secret.txt'], into: 'st' },
          { op: 'readdir', args: ['d'], into: 'ls' },
          { op: 'open', args: ['d/secret.txt', 'r'], into: 'fd' },
          { op: 'fstat', args: [{ var: 'fd' }], into: 'fst' },
        ],
      });
      for (const k of ['st', 'fst'] as const) {
        const v = c.values[k] as { size: number } | undefined;
        if (v !== undefined) seen.add(v.size);
      }
      const ls = c.values.ls as string[] | undefined;
      if (ls !== undefined) expect(ls).toEqual(['secret.txt']);
    }
    stop = true;
    await swapping;
    expect(swaps).toBeGreaterThan(0);
    // Only the inside file's size (2) was ever seen, and it was seen (not vacuously true).
    expect(seen).toEqual(new Set([2]));
    expect(snapshot(outside)).toEqual(before);
  });
});

describe('the root itself', () => {
  it('readdir(".") and stat(root) succeed under a policy', async () => {
    const c = await run({
      atoms: [
        { op: 'readdir', args: ['.'], into: 'dot' },
        { op: 'stat', args: [root], into: 'root' },
        { op: 'stat', args: ['.'], into: 'st' },
        { op: 'lstat', args: ['.'], into: 'lst' },
        { op: 'readdir', args: [root + '/'], into: 'abs' },
        { op: 'realpath', args: ['d/..'], into: 'real' },
      ],
    });
    expect(c.vars.dot).toBeGreaterThan(0);
    expect(c.vars).toMatchObject({ root: 0, st: 0, lst: 0 });
    expect((c.values.dot as string[]).sort()).toEqual(fs.readdirSync(root).sort());
    expect((c.values.abs as string[]).sort()).toEqual(fs.readdirSync(root).sort());
    expect((c.values.root as { isDirectory(): boolean }).isDirectory()).toBe(true);
    expect((c.values.lst as { isDirectory(): boolean }).isDirectory()).toBe(true);
    expect(c.values.real).toBe(fs.realpathSync(root));
    // open('.') with O_DIRECTORY | O_NOFOLLOW, and with O_RDONLY: the root's own directory.
    const O_DIRECTORY = fs.constants.O_DIRECTORY;
    const o = await run({
      atoms: [
        { op: 'open', args: ['.', O_DIRECTORY | fs.constants.O_NOFOLLOW], into: 'nofollow' },
        { op: 'fstat', args: [{ var: 'nofollow' }], into: 'st1' },
        { op: 'open', args: [root, O_DIRECTORY], into: 'abs' },
        { op: 'fstat', args: [{ var: 'abs' }], into: 'st2' },
      ],
    });
    expect(o.vars).toMatchObject({ st1: 0, st2: 0 });
    expect((o.values.st1 as { ino: number }).ino).toBe(fs.statSync(root).ino);
    // ... but nothing above it, and the root cannot be removed through '.'.
    const up = await run({ atoms: [{ op: 'readdir', args: ['..'], into: 'up' }, { op: 'rmdir', args: ['.'], into: 'rm' }] });
    expect(up.vars.up).toBe(-errno.EACCES);
    // rmdir(2) refuses a path whose last component is '.' (EINVAL), as it would outside a policy.
    expect(up.vars.rm).toBe(-errno.EINVAL);
    expect(fs.existsSync(root)).toBe(true);
  });
});

describe('two-path operations are confined at both ends', () => {
  it('rename, link, copyfile and symlink cannot move, link or copy across the root', async () => {
    const before = snapshot(outside);
    const c = await run({
      atoms: [
        { op: 'rename', args: ['inside.txt', '../outside/moved'], into: 'renameOut' },
        { op: 'rename', args: ['../outside/secret.txt', 'stolen'], into: 'renameIn' },
        { op: 'link', args: ['../outside/secret.txt', 'hard'], into: 'linkIn' },
        { op: 'link', args: ['inside.txt', '../outside/hard'], into: 'linkOut' },
        { op: 'copyfile', args: ['../outside/secret.txt', 'copied'], into: 'copyIn' },
        { op: 'copyfile', args: ['inside.txt', '../outside/copied'], into: 'copyOut' },
        { op: 'symlink', args: ['../outside/secret.txt', 'sl'], into: 'made' },
        { op: 'copyfile', args: ['sl', 'copied'], into: 'copyVia' },
        { op: 'symlink', args: ['../outside/new.txt', 'dangling'], into: 'made2' },
        { op: 'copyfile', args: ['inside.txt', 'dangling'], into: 'copyDangling' },
        { op: 'copyfile', args: ['inside.txt', 'copy-ok'], into: 'copyOk' },
        { op: 'copyfile', args: ['inside.txt', 'copy-ok', 1], into: 'copyExcl' },
      ],
    });
    expect(c.vars).toEqual({
      renameOut: -errno.EACCES,
      renameIn: -errno.EACCES,
      linkIn: -errno.EACCES,
      linkOut: -errno.EACCES,
      copyIn: -errno.EACCES,
      copyOut: -errno.EACCES,
      made: 0,
      copyVia: -errno.EACCES,
      made2: 0,
      copyDangling: -errno.EACCES,
      copyOk: 0,
      copyExcl: -errno.EEXIST,
    });
    expect(fs.readFileSync(path.join(root, 'copy-ok'), 'utf8')).toBe('in');
    expect(snapshot(outside)).toEqual(before);
    for (const f of ['sl', 'dangling', 'copy-ok']) fs.rmSync(path.join(root, f), { force: true });
  });
});

describe('where /proc is not available', () => {
  it('paths are checked by real path: the same refusals, the root itself usable', () => {
    const script = `
      import { Runtime } from ${JSON.stringify(INDEX)};
      const rt = await Runtime.create({ workers: 1, policy: { root: ${JSON.stringify(root)} } });
      const c = await rt.run({ atoms: [
        { op: 'stat', args: ['inside.txt'], into: 'inside' },
        { op: 'stat', args: ['../outside/secret.txt'], into: 'up' },
        { op: 'stat', args: [${JSON.stringify(secret)}], into: 'abs' },
        { op: 'symlink', args: ['../outside', 'fallback-link'], into: 'made' },
        { op: 'open', args: ['fallback-link/planted.txt', 'w'], into: 'through' },
        { op: 'unlink', args: ['fallback-link'], into: 'removed' },
        { op: 'readdir', args: ['.'], into: 'dot' },
        { op: 'stat', args: [${JSON.stringify(root)}], into: 'root' },
      ] });
      await rt.close();
      console.log(JSON.stringify(c.vars));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SYSLET_RESOLVE_BY_REALPATH: '1' },
    });
    expect(r.stderr).toBe('');
    const vars = JSON.parse(r.stdout) as Record<string, number>;
    expect(vars).toEqual({
      inside: 0,
      up: -errno.EACCES,
      abs: -errno.EACCES,
      made: 0,
      through: -errno.EACCES,
      removed: 0,
      dot: fs.readdirSync(root).length,
      root: 0,
    });
    expect(fs.existsSync(path.join(outside, 'planted.txt'))).toBe(false);
  });
});

describe('no chain closes the descriptors the runtime and Node depend on', () => {
  it('syslet run on a chain close(3) reports -EBADF instead of killing the process', () => {
    const cwd = path.join(tmp.dir, 'cli');
    fs.mkdirSync(cwd);
    fs.writeFileSync(path.join(cwd, 'close.json'), JSON.stringify({ atoms: [{ op: 'close', args: [3] }] }));
    const r = spawnSync(process.execPath, [MAIN, 'run', '--json', 'close.json'], { cwd, encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBe(null);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'done', result: -errno.EBADF });
  });

  it('unconfined chains close only descriptors chains opened or the submitter granted', () => {
    const script = `
      import fs from 'node:fs';
      import { Runtime } from ${JSON.stringify(INDEX)};
      const rt = await Runtime.create({ workers: 1 });
      const results = [];
      for (const n of fs.readdirSync('/proc/self/fd').map(Number)) {
        results.push((await rt.run({ atoms: [{ op: 'close', args: [n] }] })).result);
      }
      const opened = await rt.run({ atoms: [{ op: 'open', args: [${JSON.stringify(secret)}, 'r'], into: 'fd' }] });
      const closedLater = (await rt.run({ atoms: [{ op: 'close', args: [opened.vars.fd] }] })).result;
      const host = fs.openSync(${JSON.stringify(secret)}, 'r');
      const granted = (await rt.run({ atoms: [{ op: 'close', args: [host] }] }, { grant: { fds: [host] } })).result;
      await rt.close();
      console.log(JSON.stringify({ results: [...new Set(results)], closedLater, granted }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBe(null);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ results: [-errno.EBADF], closedLater: 0, granted: 0 });
  });
});

describe('inside the root, the same answers as without a policy', () => {
  it('every path operation gives the result and value an unconfined chain gets for the same object', async () => {
    const sem = path.join(root, 'sem');
    fs.mkdirSync(path.join(sem, 'dir'), { recursive: true });
    fs.writeFileSync(path.join(sem, 'f'), 'file');
    fs.writeFileSync(path.join(sem, 'dir', 'x'), 'x');
    fs.symlinkSync('f', path.join(sem, 'lf'));
    fs.symlinkSync('dir', path.join(sem, 'ldir'));
    fs.symlinkSync('missing', path.join(sem, 'dangling'));
    fs.symlinkSync('loop', path.join(sem, 'loop'));
    fs.symlinkSync(path.join(sem, 'f'), path.join(sem, 'abslink'));
    fs.symlinkSync('../sem/dir/../lf', path.join(sem, 'chain'));
    fs.chmodSync(path.join(sem, 'dir', 'x'), 0o640);
    await using free = await Runtime.create({ workers: 1 });
    const names = ['f', 'dir', 'dir/', 'dir/.', 'dir/..', 'dir/../f', 'lf', 'lf/', 'ldir', 'ldir/', 'ldir/x', 'dangling', 'missing',
      'f/x', 'f/', 'missing/', 'loop', 'loop/x', 'abslink', 'chain', '.', 'dir//x', './dir/./x'];
    const ops: [string, unknown[]][] = [
      ['stat', []], ['lstat', []], ['access', []], ['readdir', []], ['readlink', []], ['realpath', []],
      ['open', ['r']], ['open', [fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW]], ['open', [fs.constants.O_RDONLY | fs.constants.O_DIRECTORY]],
    ];
    const describeValue = (v: unknown): unknown =>
      v === undefined ? undefined : Array.isArray(v) ? [...v].sort() : typeof v === 'object' ? `${(v as { ino: number }).ino}:${(v as { mode: number }).mode}` : v;
    const mismatches: string[] = [];
    for (const name of names) {
      for (const [op, rest] of ops) {
        const confined = await rt.run({ atoms: [{ op, args: [`sem/${name}`, ...rest] }] } as Chain, { policy: { root } });
        const abs = path.join(sem, name) + (name.endsWith('/') ? '/' : '');
        const plain = await free.run({ atoms: [{ op, args: [abs, ...rest] }] } as Chain);
        const a = [confined.result >= 0 && op === 'open' ? 'fd' : confined.result, describeValue(confined.value)];
        const b = [plain.result >= 0 && op === 'open' ? 'fd' : plain.result, describeValue(plain.value)];
        if (JSON.stringify(a) !== JSON.stringify(b)) mismatches.push(`${op}(${name}, ${rest.join()}): ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
        if (op === 'open' && plain.result >= 0) await free.run({ atoms: [{ op: 'close', args: [plain.result] }] });
      }
    }
    expect(mismatches).toEqual([]);
  });
});

describe('inside the root, the same changes as without a policy', () => {
  it('a sequence of changing operations leaves the same tree and results', async () => {
    const make = (dir: string): void => {
      fs.mkdirSync(path.join(dir, 'dir', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'f'), 'file');
      fs.writeFileSync(path.join(dir, 'dir', 'x'), 'x');
      fs.symlinkSync('f', path.join(dir, 'lf'));
      fs.symlinkSync('dir', path.join(dir, 'ldir'));
      fs.symlinkSync('made-by-copy', path.join(dir, 'dangling'));
    };
    const a = path.join(root, 'mut-a');
    const b = path.join(tmp.dir, 'mut-b');
    make(a);
    make(b);
    const steps: [string, unknown[]][] = [
      ['mkdir', ['new/']], ['mkdir', ['new']], ['mkdir', ['ldir/deep']], ['mkdir', ['f/x']],
      ['rmdir', ['new/']], ['rmdir', ['ldir']], ['rmdir', ['lf/']], ['unlink', ['lf/']], ['unlink', ['ldir']],
      ['symlink', ['dir', 'ldir']], ['rename', ['dir/x', 'dir/sub/y']], ['rename', ['ldir/sub', 'moved']], ['rename', ['f', 'f']],
      ['link', ['lf', 'hard-to-link']], ['chmod', ['lf', 0o600]], ['utimes', ['ldir', 1000, 2000]], ['access', ['hard-to-link', 4]],
      ['copyfile', ['lf', 'dangling']], ['copyfile', ['lf', 'dangling', 1]], ['copyfile', ['dir', 'cdir']], ['copyfile', ['lf', 'ldir']],
      ['open', ['ldir/created', 'wx']], ['open', ['ldir/created', 'wx']], ['open', ['lf', fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW]],
      ['open', ['dangling', 'a']], ['unlink', ['dangling']], ['open', ['dangling', 'a']],
    ];
    await using free = await Runtime.create({ workers: 1 });
    const mismatches: string[] = [];
    for (const [op, args] of steps) {
      // Path arguments name the same entry of each tree; symlink's target is stored as given.
      const isPath = (k: number): boolean => {
        const q = OPS.find((o) => o.name === op)!.params[k]!;
        return q.kind === 'path' && q.resolve !== 'none';
      };
      const under = (dir: string) => args.map((x, k) => (isPath(k) ? `${dir}/${x as string}` : x));
      const confined = await rt.run({ atoms: [{ op, args: under('mut-a') }] } as Chain);
      const plain = await free.run({ atoms: [{ op, args: under(b) }] } as Chain);
      const r = (n: number): number | string => (op === 'open' && n >= 0 ? 'fd' : n);
      if (r(confined.result) !== r(plain.result)) mismatches.push(`${op}(${args.join(', ')}): ${confined.result} vs ${plain.result}`);
      if (op === 'open' && plain.result >= 0) await free.run({ atoms: [{ op: 'close', args: [plain.result] }] });
    }
    expect(mismatches).toEqual([]);
    const shape = (dir: string): string[] =>
      snapshot(dir).map((line) => line.split(' ').slice(0, 3).join(' '));
    expect(shape(a)).toEqual(shape(b));
  });
});

describe('values name paths as the chain does', () => {
  it('a path the resolver hands an operation is shown by its real path, never through /proc', async () => {
    const { PolicyTable, Resolver } = await import('../../dist/syslet/policy.js');
    const table = PolicyTable.create();
    const policy = table.lookup(table.register({ mask: -1, root, cwd: '', maxFds: 8 }))!;
    const r = new Resolver();
    try {
      const made = r.resolve(policy, 'd/made-here', 'nofollow');
      expect(made).toMatch(/^\/proc\/self\/fd\/\d+\/made-here$/);
      expect(r.shown(made as string)).toBe(path.join(fs.realpathSync(root), 'd', 'made-here'));
      const dir = r.resolve(policy, 'd', 'follow');
      expect(r.shown(dir as string)).toBe(path.join(fs.realpathSync(root), 'd'));
      expect(r.shown('/elsewhere/x')).toBe('/elsewhere/x');
    } finally {
      r.release();
    }
  });
});
