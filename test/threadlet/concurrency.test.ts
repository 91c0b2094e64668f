/**
 * 200 threadlets at once on 2 workers: some finish inline, some move at a sleep, some start on a
 * worker, some fail. Each settles exactly once, with its own value, and each that reached a worker
 * ran there exactly once.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVFILT_THREADLET, EV_ONESHOT, Runtime, errno, type KEvent } from '../../dist/index.js';
import type { ThreadletHandle } from '../../dist/threadlet/index.js';
import { quick, readsMissing, sleepy } from '../fixtures/threadlet/fns.mjs';
import { useRuntime } from '../helpers.js';
import { workerRuns } from './helpers.js';

const N = 200;
const env = useRuntime({ workers: 2 });

/** Call number i, and what it must settle with. */
function launch(i: number, kq?: ReturnType<Runtime['kqueue']>): { h: ThreadletHandle<unknown>; ok: boolean; value: unknown } {
  const opts = kq === undefined ? {} : { kq, udata: i };
  switch (i % 4) {
    case 0:
      return { h: sleepy.submit(env.rt, [i, 1], { ...opts, start: 'worker' }), ok: true, value: i };
    case 1:
      return { h: sleepy.submit(env.rt, [i, 1], opts), ok: true, value: i };
    case 2:
      return { h: quick.submit(env.rt, [i], opts), ok: true, value: i * 2 };
    default:
      return { h: readsMissing.submit(env.rt, [path.join(env.dir, `missing-${i}`)], opts), ok: false, value: 'ENOENT' };
  }
}

describe(`${N} concurrent threadlets on 2 workers`, () => {
  it('each settles exactly once with its own value; each worker run happens once', async () => {
    const runsBefore = workerRuns(env.rt);
    const calls = Array.from({ length: N }, (_, i) => launch(i));
    const settled = new Array<number>(N).fill(0);
    await Promise.all(
      calls.map((c, i) =>
        c.h.then(
          (v) => {
            settled[i]!++;
            expect(c.ok).toBe(true);
            expect(v).toEqual(c.value);
          },
          (e: unknown) => {
            settled[i]!++;
            expect(c.ok).toBe(false);
            expect((e as NodeJS.ErrnoException).code).toBe(c.value);
          },
        ),
      ),
    );
    // Later settlement attempts, if any, would be ignored; let any stray completion arrive.
    await new Promise((r) => setTimeout(r, 20));
    expect(settled.every((n) => n === 1)).toBe(true);
    for (const c of calls) expect(c.h.settled).toBe(true);
    const reachedWorkers = calls.filter((c) => c.h.placement !== 'inline').length;
    expect(reachedWorkers).toBeGreaterThanOrEqual(N / 2); // cases 0, 1, 3 always block
    expect(workerRuns(env.rt) - runsBefore).toBe(reachedWorkers);
    expect(env.rt.stats().outstanding).toBe(0);
    expect(env.rt.stats().arena.inUse).toBe(0);
  });

  it('with a kqueue: one EVFILT_THREADLET event each, inline ones included', async () => {
    const kq = env.rt.kqueue();
    const calls = Array.from({ length: N }, (_, i) => launch(i, kq));
    const events: KEvent[] = [];
    while (events.length < N) events.push(...(await kq.kevent(null, 64)));
    expect(events.length).toBe(N);
    const byIdent = new Map(events.map((ev) => [ev.ident, ev]));
    expect(byIdent.size).toBe(N);
    for (let i = 0; i < N; i++) {
      const c = calls[i]!;
      // The handle settled by the time its event was seen.
      expect(c.h.settled).toBe(true);
      const ev = byIdent.get(c.h.id)!;
      expect(ev).toBeDefined();
      expect(ev.filter).toBe(EVFILT_THREADLET);
      expect(ev.flags).toBe(EV_ONESHOT);
      expect(ev.udata).toBe(i);
      expect(ev.data).toBe(c.ok ? 0 : -errno.ENOENT);
    }
    await expect(kq.kevent(null, 8, 0)).resolves.toEqual([]);
    kq.close();
  });
});
