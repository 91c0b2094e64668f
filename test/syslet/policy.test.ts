// Policies (allowed operations, a root that confines paths at execution time) and resource bounds.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, chain, errno, type Chain } from '../../dist/index.js';
import { rootBesideOutside } from '../helpers.js';

let tmp: ReturnType<typeof rootBesideOutside>;
let root: string;
let outside: string;
let rt: Runtime;

beforeAll(async () => {
  tmp = rootBesideOutside('syslet-test-', 'sub');
  ({ root, outside } = tmp);
  fs.writeFileSync(path.join(root, 'inside.txt'), 'in');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  fs.symlinkSync(outside, path.join(root, 'evil'));
  fs.symlinkSync(path.join(outside, 'new.txt'), path.join(root, 'dangling'));
  fs.symlinkSync('inside.txt', path.join(root, 'good'));
  rt = await Runtime.create({ workers: 1, policy: { root } });
});

afterAll(async () => {
  await rt.close();
  tmp.cleanup();
});

const result = async (c: Chain, opts = {}) => (await rt.run(c, opts)).result;

describe('a root confines every path, when the atom runs', () => {
  it('resolves relative paths against the root and allows what stays inside', async () => {
    expect(await result(chain().stat('inside.txt').build())).toBe(0);
    expect(await result(chain().stat(path.join(root, 'inside.txt')).build())).toBe(0);
    expect(await result(chain().stat('sub/../inside.txt').build())).toBe(0);
    expect(await result(chain().stat('good').build())).toBe(0); // a symlink that stays inside
  });

  it('refuses .. and absolute paths that leave it with -EACCES', async () => {
    expect(await result(chain().stat('../outside/secret.txt').build())).toBe(-errno.EACCES);
    expect(await result(chain().stat(path.join(outside, 'secret.txt')).build())).toBe(-errno.EACCES);
    expect(await result(chain().stat('/etc/passwd').build())).toBe(-errno.EACCES);
  });

  it('refuses symlinks that lead out, but lets the link itself be examined and removed', async () => {
    expect(await result(chain().stat('evil/secret.txt').build())).toBe(-errno.EACCES);
    expect(await result(chain().open('evil/planted', 'w').build())).toBe(-errno.EACCES);
    expect(await result(chain().open('dangling', 'w').build())).toBe(-errno.EACCES);
    expect(fs.existsSync(path.join(outside, 'planted'))).toBe(false);
    expect(fs.existsSync(path.join(outside, 'new.txt'))).toBe(false);
    const c = await rt.run(chain().lstat('evil').readlink('evil', { into: 'target' }).build());
    expect(c.status).toBe('done');
    expect(c.values.target).toBe(outside);
  });

  it('checks at execution time: a symlink the chain itself makes cannot lead out', async () => {
    const c = await rt.run(
      chain()
        .symlink(outside, 'made-by-chain', { into: 'made' })
        .stat('made-by-chain/secret.txt', { into: 'through' })
        .unlink('made-by-chain', { into: 'removed' })
        .build(),
    );
    expect(c.vars).toEqual({ made: 0, through: -errno.EACCES, removed: 0 });
    expect(fs.readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('a submission may narrow the root, never widen it', async () => {
    const sub = { root: path.join(root, 'sub') };
    expect(await result(chain().stat('../inside.txt').build(), { policy: sub })).toBe(-errno.EACCES);
    expect(await result(chain().mkdir('made').build(), { policy: sub })).toBe(0);
    expect(fs.existsSync(path.join(root, 'sub', 'made'))).toBe(true);
    expect(() => rt.submit(chain().nop().build(), { policy: { root: outside } })).toThrow(
      `submit: policy.root: ${outside} is outside the runtime's root ${root}`,
    );
  });
});

describe('allowed operations', () => {
  it('ends any other atom with -EACCES', async () => {
    const policy = { allow: ['stat', 'nop'] as const };
    const c = await rt.run(
      chain().stat('inside.txt', { into: 'a' }).open('inside.txt', 'r', undefined, { into: 'b' }).getpid({ into: 'c' }).build(),
      { policy: { allow: [...policy.allow] } },
    );
    expect(c.vars).toEqual({ a: 0, b: -errno.EACCES, c: -errno.EACCES });
  });

  it('refuses a policy that names an unknown operation', async () => {
    expect(() => rt.submit(chain().nop().build(), { policy: { allow: ['stat', 'exec' as never] } })).toThrow(
      /^submit: policy\.allow: unknown operation "exec"; expected one of nop, open, close/,
    );
    await expect(Runtime.create({ policy: { root: 7 as never } })).rejects.toThrow('options.policy.root: expected a directory path');
  });
});

describe('resource bounds are precise errors', () => {
  it('atoms, buffer bytes and step budget', async () => {
    await using small = await Runtime.create({ workers: 1, maxAtoms: 3, maxBufferBytes: 1024, stepBudget: 100 });
    expect(() => small.submit(chain().nop().nop().nop().nop().build())).toThrow(
      'chain.atoms: 4 atoms exceed the limit of 3 (option maxAtoms)',
    );
    expect(() => small.submit({ buffers: { b: 2048 }, atoms: [{ op: 'nop' }] })).toThrow(
      'chain.buffers.b: expected a size in bytes from 1 to 1024 (option maxBufferBytes), got 2048',
    );
    expect(() => small.submit(chain().nop().build(), { stepBudget: 101 })).toThrow(
      "submit: stepBudget: expected a positive integer up to the runtime's 100 (option stepBudget), got 101",
    );
    expect((await small.run({ atoms: [{ op: 'nop', next: 0 }] })).result).toBe(-errno.ELOOP);
  });

  it('outstanding submissions; trySubmit says "full"; room() is backpressure', async () => {
    await using small = await Runtime.create({ workers: 1, ringSize: 2, maxOutstanding: 4 });
    const slow = chain().nanosleep(20e6).build();
    const a = small.trySubmit(slow);
    const b = small.trySubmit(slow);
    expect(a).not.toBe('full');
    expect(b).not.toBe('full');
    expect(small.trySubmit(slow)).toBe('full');
    const c = small.submit(slow); // waits for a slot in this thread's FIFO
    const d = small.submit(slow);
    expect(small.stats().waitingForSlot).toBe(2);
    expect(() => small.submit(slow)).toThrow(
      'submit: 4 requests are outstanding on this thread, the limit (option maxOutstanding); await rt.room() or completions first',
    );
    await small.room();
    expect(small.stats().waitingForSlot).toBe(0);
    const results = await Promise.all([a, b, c, d].map((s) => (s as { promise: Promise<{ result: number }> }).promise));
    expect(results.map((r) => r.result)).toEqual([0, 0, 0, 0]);
  });
});
