/** Cancelling a threadlet: before it starts, nothing runs; on a worker, its next intercepted call throws. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errno } from '../../dist/index.js';
import { ThreadletCancelledError } from '../../dist/threadlet/index.js';
import { sleepThenStat } from '../fixtures/threadlet/fns.mjs';
import { useRuntime } from '../helpers.js';

const env = useRuntime({ workers: 2 });

describe('cancellation', () => {
  it('an aborted signal: rejected at once, nothing runs', async () => {
    const f = path.join(env.dir, 'never');
    const h = sleepThenStat.submit(env.rt, [f, 1], { signal: AbortSignal.abort() });
    await expect(h).rejects.toBeInstanceOf(ThreadletCancelledError);
    expect((h.error as ThreadletCancelledError).code).toBe('ECANCELED');
    expect(fs.existsSync(f)).toBe(false);
  });

  it('aborted while it sleeps on a worker: the write after the sleep is refused', async () => {
    const f = path.join(env.dir, 'refused');
    const ac = new AbortController();
    // Inline until the sleep, then on a worker.
    const h = sleepThenStat.submit(env.rt, [f, 100], { signal: ac.signal, start: 'inline' });
    expect(h.placement).toBe('migrated');
    ac.abort();
    await expect(h).rejects.toBeInstanceOf(ThreadletCancelledError);
    expect(fs.existsSync(f)).toBe(false);
    expect(env.rt.stats().outstanding).toBe(0);
  });

  it('cancelling a finished one is -ENOENT and changes nothing', async () => {
    const f = path.join(env.dir, 'done');
    const h = sleepThenStat.submit(env.rt, [f, 1], { start: 'worker' });
    await expect(h).resolves.toBe('finished');
    expect(env.rt.cancel(h.id!)).toBe(-errno.ENOENT);
    expect(h.state).toBe('fulfilled');
  });
});
