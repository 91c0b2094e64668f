import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ChainError, Runtime, SysletClosedError, SysletStartError, chain, errno, type Chain } from '../../dist/index.js';
import { waitUntil } from '../helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const NOP: Chain = { atoms: [{ op: 'nop' }] };
const SLEEP_10S = chain().nanosleep(10e9).build();

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('runtime lifecycle', () => {
  it('keeps the process alive while a chain is outstanding and lets it exit after', () => {
    const r = spawnSync(process.execPath, [fixture('exit-when-idle.mjs')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const [status, pidOk, ms] = r.stdout.trim().split(' ');
    expect(status).toBe('done');
    expect(pidOk).toBe('true');
    // It waited for the 200 ms sleep rather than exiting with the chain in flight.
    expect(Number(ms)).toBeGreaterThanOrEqual(190);
  });

  it('close() waits for outstanding chains, then refuses new ones with ERR_SYSLET_CLOSED', async () => {
    const rt = await Runtime.create({ workers: 1 });
    const s = rt.submit(chain().nanosleep(50e6).nop(3).build());
    const closing = rt.close();
    expect(() => rt.submit(NOP)).toThrow('submit: refused, the syslet runtime is closing (ERR_SYSLET_CLOSED)');
    await closing;
    expect((await s).result).toBe(3);
    expect(() => rt.submit(NOP)).toThrow('submit: refused, the syslet runtime is closed (ERR_SYSLET_CLOSED)');
  });

  it('alloc and free hand out arena memory and refuse what is not theirs', async () => {
    await using rt = await Runtime.create({ workers: 1, arenaBytes: 1 << 16 });
    const b = rt.alloc(1000);
    expect(b.length).toBe(1000);
    expect(rt.stats().arena.inUse).toBe(1024);
    expect(() => rt.alloc(1 << 17)).toThrow('alloc: no free block of 131072 bytes in the arena (1024 of 65536 bytes in use; option arenaBytes)');
    expect(() => rt.free(Buffer.alloc(4))).toThrow("free: expected a Buffer returned by this runtime's alloc()");
    rt.free(b);
    expect(rt.stats().arena.inUse).toBe(0);
  });
});

describe('start-up resolves or rejects, with the reason', () => {
  it('resourceLimits are validated like every other option (never tried, never a crash)', async () => {
    const bad: [Record<string, unknown>, string, ErrorConstructor][] = [
      [{ maxOldGenerationSizeMb: 1 }, 'options.resourceLimits.maxOldGenerationSizeMb: expected 16 to 1048576 MiB, got 1', RangeError],
      [{ maxOldGenerationSizeMb: -5 }, 'options.resourceLimits.maxOldGenerationSizeMb: expected 16 to 1048576 MiB, got -5', RangeError],
      [{ stackSizeMb: 0.01 }, 'options.resourceLimits.stackSizeMb: expected 1 to 1048576 MiB, got 0.01', RangeError],
      [{ maxYoungGenerationSizeMb: Number.NaN }, 'options.resourceLimits.maxYoungGenerationSizeMb: expected a finite number of MiB, got NaN', TypeError],
      [{ codeRangeSizeMb: '8' }, 'options.resourceLimits.codeRangeSizeMb: expected a finite number of MiB, got 8', TypeError],
      [{ heapMb: 64 }, 'options.resourceLimits.heapMb: unknown limit; expected maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb', TypeError],
    ];
    for (const [limits, message, kind] of bad) {
      const e = await rejection(Runtime.create({ workers: 1, resourceLimits: limits }));
      expect(e).toBeInstanceOf(kind);
      expect((e as Error).message).toBe(message);
    }
    const e = await rejection(Runtime.create({ workers: 1, resourceLimits: 5 as never }));
    expect((e as Error).message).toBe('options.resourceLimits: expected an object of limits in MiB, got 5');
    expect((await rejection(Runtime.create({ startTimeoutMs: 0 }))) as Error).toBeInstanceOf(TypeError);
  });

  it('workers that cannot start from a deleted current directory: create() rejects saying so', () => {
    const r = spawnSync(process.execPath, [fixture('deleted-cwd.mjs')], { encoding: 'utf8', timeout: 60_000, cwd: os.tmpdir() });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^SysletStartError ERR_SYSLET_START: syslet: worker threads could not start: ENOENT: .*uv_cwd \(the current directory no longer exists: worker threads cannot start from it\)\n$/);
  });

  it('workers that do not start within startTimeoutMs: create() rejects, and the process can exit', async () => {
    const e = await rejection(Runtime.create({ workers: 2, startTimeoutMs: 1 }));
    expect(e).toBeInstanceOf(SysletStartError);
    expect((e as SysletStartError).code).toBe('ERR_SYSLET_START');
    // How many made it by then depends on the machine (one did on Node 26 in CI): never both.
    expect((e as Error).message).toMatch(/^syslet: [01] of 2 worker threads started within 1 ms \(option startTimeoutMs\)$/);
  });
});

describe('close: one promise, escalated by force', () => {
  it('a second close() returns the same promise, resolved only when shutdown finished', async () => {
    const rt = await Runtime.create({ workers: 1 });
    const s = rt.submit(chain().nanosleep(100e6).nop(4).build());
    const first = rt.close();
    const second = rt.close();
    expect(second).toBe(first);
    let firstDone = false;
    void first.then(() => (firstDone = true));
    await second;
    expect(firstDone).toBe(true);
    expect(s.completion).toMatchObject({ status: 'done', result: 4 });
    expect(rt.close()).toBe(first);
  });

  it('close({ force: true }) escalates a pending close(): the sleeping chain is cancelled, both resolve', async () => {
    // maxWorkers 1: no extra worker can take the queued chain, so the forced close finds it queued.
    const rt = await Runtime.create({ workers: 1, maxWorkers: 1 });
    const s = rt.submit(SLEEP_10S);
    const queued = rt.submit(chain().nop(1).build());
    const graceful = rt.close();
    await new Promise((r) => setTimeout(r, 30));
    const forced = rt.close({ force: true });
    expect(forced).toBe(graceful);
    await graceful;
    expect(s.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, atom: 0 });
    expect(queued.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, atom: 0, steps: 0 });
  });

  it('a forced close during a nanosleep reports -ECANCELED, a deadline during one -ETIME (never done with -EINTR)', async () => {
    // latencySample 1: every start is counted (latency.submitToStart), after the worker's claim.
    const rt = await Runtime.create({ workers: 2, latencySample: 1 });
    // A deadline long enough that the chain is asleep when it passes (even on a loaded machine).
    const timed = rt.run(chain().nop(1).nanosleep(10e9).build(), { timeoutMs: 1000 });
    expect(await timed).toMatchObject({ status: 'timedout', result: -errno.ETIME, atom: 1, steps: 2 });
    const sleeping = rt.submit(chain().nanosleep(10e9).build());
    // Started in a worker (claimed, not only popped), not still queued: the timed chain's start and its own.
    await waitUntil('a worker started the sleeping chain', () => rt.stats().latency.submitToStart.count >= 2);
    // Claimed; and asleep a moment later (cancelled between its claim and its first atom, it would
    // end there with steps 0).
    await new Promise((r) => setTimeout(r, 50));
    await rt.close({ force: true });
    expect(sleeping.completion).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, atom: 0, steps: 1 });
  });

  it('syslet run --timeout on a chain that sleeps: exit status 1, timed out', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-run-'));
    const file = path.join(dir, 'sleep.json');
    fs.writeFileSync(file, JSON.stringify({ atoms: [{ op: 'nanosleep', args: [10e9] }] }));
    const main = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    const r = spawnSync(process.execPath, [main, 'run', '--timeout', '300', '--json', file], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    fs.rmSync(dir, { recursive: true });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'timedout', result: -errno.ETIME });
  });

  it('close options are checked', async () => {
    await using rt = await Runtime.create({ workers: 1 });
    expect(((await rejection(rt.close({ forse: true } as never))) as Error).message).toBe('close: options.forse: unknown option; expected force');
    expect(((await rejection(rt.close({ force: 1 } as never))) as Error).message).toBe('close: options.force: expected a boolean, got 1');
  });
});

describe('threads attached to a runtime that closes', () => {
  async function ownerClosesWhileBusy(force: boolean) {
    const rt = await Runtime.create({ workers: 2, ringSize: 64 });
    // 200 sleeps on 2 workers: 0.2 s of work for the graceful close to wait for, 2 s for the forced
    // one to cut short. 64 slots: most of the 200 wait in the attached thread's FIFO.
    const sleepNs = force ? 20e6 : 2e6;
    const w = new Worker(fixture('attached-busy.mjs'), { workerData: { handle: rt.share(), n: 200, sleepNs } });
    const messages: unknown[] = [];
    const report = new Promise<{ completions: { id: number; status: string; result: number }[]; counts: number[]; after: string }>(
      (resolve, reject) => {
        w.on('message', (m: { submitted?: number[] }) => {
          messages.push(m);
          if (m.submitted !== undefined) void rt.close({ force });
          else resolve(m as never);
        });
        w.on('error', reject);
      },
    );
    const r = await report;
    await rt.close();
    await w.terminate();
    const submitted = (messages[0] as { submitted: number[] }).submitted;
    expect(submitted.length).toBe(200);
    // Every submission settled exactly once, with its own id.
    expect(r.counts.length).toBe(200);
    expect(r.counts.every((n) => n === 1)).toBe(true);
    expect(r.completions.map((c) => c.id)).toEqual(submitted);
    expect(r.after).toBe('SysletClosedError ERR_SYSLET_CLOSED submit');
    return r.completions;
  }

  it("the owner's graceful close runs all 200 outstanding submissions of an attached thread", async () => {
    const cs = await ownerClosesWhileBusy(false);
    for (const [i, c] of cs.entries()) expect(c).toMatchObject({ status: 'done', result: i + 1 });
  });

  it("the owner's forced close completes all 200: run or -ECANCELED", async () => {
    const cs = await ownerClosesWhileBusy(true);
    for (const [i, c] of cs.entries()) {
      if (c.status === 'done') expect(c.result).toBe(i + 1);
      else expect(c).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED });
    }
    expect(cs.some((c) => c.status === 'cancelled')).toBe(true);
  });

  it('an attached thread that is gone with submissions waiting for slots does not hang the close', async () => {
    const rt = await Runtime.create({ workers: 1, ringSize: 16 });
    // 200 submissions, 16 slots: most wait in the thread's own FIFO when it is terminated.
    const w = new Worker(fixture('attached-busy.mjs'), { workerData: { handle: rt.share(), n: 200, sleepNs: 5e6 } });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    await w.terminate();
    // Resolves (the test would time out otherwise): the thread's FIFO is gone with it.
    await rt.close();
    expect(() => rt.submit(NOP)).toThrow(SysletClosedError);
  });

  it('attaching to a closing or closed runtime is refused', async () => {
    const rt = await Runtime.create({ workers: 1 });
    const handle = rt.share();
    rt.submit(chain().nanosleep(50e6).build());
    const closing = rt.close();
    expect(() => Runtime.attach(handle)).toThrow(new SysletClosedError('attach', 'closing'));
    await closing;
    let e: unknown;
    try {
      Runtime.attach(handle);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(SysletClosedError);
    expect(e).toMatchObject({ code: 'ERR_SYSLET_CLOSED', call: 'attach', message: 'attach: refused, the syslet runtime is closed (ERR_SYSLET_CLOSED)' });
  });
});

describe('errors after close, and async APIs reject', () => {
  it('submit, trySubmit, run, prepare, kqueue: one error class with a code, naming the call', async () => {
    const rt = await Runtime.create({ workers: 1 });
    await rt.close();
    const calls: [string, () => unknown][] = [
      ['submit', () => rt.submit(NOP)],
      ['trySubmit', () => rt.trySubmit(NOP)],
      ['prepare', () => rt.prepare(NOP)],
      ['kqueue', () => rt.kqueue()],
    ];
    for (const [call, f] of calls) {
      let e: unknown;
      try {
        f();
      } catch (err) {
        e = err;
      }
      expect(e).toBeInstanceOf(SysletClosedError);
      expect(e).toMatchObject({ code: 'ERR_SYSLET_CLOSED', call, message: `${call}: refused, the syslet runtime is closed (ERR_SYSLET_CLOSED)` });
    }
    const p = rt.run(NOP);
    expect(p).toBeInstanceOf(Promise);
    expect(await rejection(p)).toMatchObject({ code: 'ERR_SYSLET_CLOSED', call: 'run' });
  });

  it('rt.run(bad) rejects instead of throwing', async () => {
    await using rt = await Runtime.create({ workers: 1 });
    const bad = rt.run({ atoms: [] } as Chain);
    expect(await rejection(bad)).toBeInstanceOf(ChainError);
    expect(((await rejection(rt.run(NOP, { timeout: 5 } as never))) as Error).message).toBe(
      'submit: options.timeout: unknown option; expected udata, signal, timeoutMs, vars, stepBudget, kq, policy, grant',
    );
  });
});

describe('nothing leaks, nothing is dropped silently', () => {
  it('per-submission policies are released: 200 distinct roots one after another', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syslet-roots-'));
    await using rt = await Runtime.create({ workers: 1 });
    for (let i = 0; i < 200; i++) {
      const root = path.join(dir, `r${i}`);
      fs.mkdirSync(root);
      fs.writeFileSync(path.join(root, 'f'), 'x'.repeat(i));
      const c = await rt.run(chain().stat('f').build(), { policy: { root } });
      expect(c).toMatchObject({ status: 'done', result: 0 });
      expect((c.value as { size: number }).size).toBe(i);
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('one AbortSignal shared by 50 submissions: one listener, no MaxListenersExceededWarning', async () => {
    await using rt = await Runtime.create({ workers: 1 });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const subs = [];
      for (let i = 0; i < 50; i++) subs.push(rt.submit(SLEEP_10S, { signal: ac.signal }));
      expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
      ac.abort();
      const cs = await Promise.all(subs.map((s) => s.promise));
      expect(cs.every((c) => c.status === 'cancelled' && c.result === -errno.ECANCELED)).toBe(true);
      // Without an abort, the listener goes once the last submission settles.
      const calm = new AbortController();
      await Promise.all([0, 1, 2].map(() => rt.run(NOP, { signal: calm.signal })));
      expect(getEventListeners(calm.signal, 'abort').length).toBe(0);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('__proto__ as a variable or buffer name is refused, not dropped', async () => {
    await using rt = await Runtime.create({ workers: 1 });
    expect(() => rt.submit({ atoms: [{ op: 'getpid', into: '__proto__' }] })).toThrow(
      'chain.atoms[0]: into: "__proto__" cannot name a variable or buffer (completion.vars would drop it)',
    );
    expect(() => rt.submit(JSON.parse('{"vars":{"__proto__":1},"atoms":[{"op":"nop"}]}') as Chain)).toThrow(
      'chain.vars.__proto__: "__proto__" cannot name a variable or buffer (completion.vars would drop it)',
    );
    expect(() => rt.submit(JSON.parse('{"buffers":{"__proto__":{"size":8}},"atoms":[{"op":"nop"}]}') as Chain)).toThrow(
      'chain.buffers.__proto__: "__proto__" cannot name a variable or buffer (completion.vars would drop it)',
    );
    expect(() => chain().var('__proto__', 1)).toThrow('chain builder: var: "__proto__" cannot name a variable or buffer');
    const withVar = chain().var('x', 1).nop(1).build();
    expect(() => rt.submit(withVar, { vars: JSON.parse('{"__proto__":1}') as Record<string, number> })).toThrow(
      'submit: vars.__proto__: the chain has no variable "__proto__"',
    );
  });
});

describe('timing of sampled chains', () => {
  it('says when each stage happened and which worker ran it', async () => {
    await using rt = await Runtime.create({ workers: 1, latencySample: 1 });
    const c = await rt.run(chain().nanosleep(2e6).build());
    const t = c.timing!;
    expect(t.worker).toBe(rt.stats().workers[0]!.slot);
    expect(t.submitted).toBeLessThanOrEqual(t.started);
    expect(t.completed - t.started).toBeGreaterThanOrEqual(2);
    expect(t.completed).toBeLessThanOrEqual(t.reaped);
    const st = rt.stats().latency;
    expect(st.startToComplete.count).toBe(1);
    expect(st.completeToReap.count).toBe(1);
    await using unsampled = await Runtime.create({ workers: 1, latencySample: 1 << 20 });
    await unsampled.run(chain().nop().build()); // the first is always sampled
    expect((await unsampled.run(chain().nop().build())).timing).toBeUndefined();
  });
});
