/**
 * An idle runtime has no timer and its workers park without a timeout (issue 14): the periodic
 * checks (the stuck-chain check, the pool monitor, the reaper's look-again bound) run only while
 * something is outstanding on some thread, stop once nothing is, and start again with the next
 * request, on the owner's thread or an attached one. The CPU figure is the bench's (`--only
 * sporadic`); this asserts the mechanism.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { EventCount } from 'atomics-sync';
import { Runtime, chain } from '../../dist/index.js';
import { waitUntil } from '../helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

type Armed = { stuck: boolean; pool: boolean; reaper: boolean };
const checks = (rt: Runtime): Armed => (rt as unknown as { _checksArmed(): Armed })._checksArmed();
const NONE: Armed = { stuck: false, pool: false, reaper: false };

const parks = (rt: Runtime): number => rt.stats().workers.reduce((n, w) => n + w.parks, 0);

describe('an idle runtime has no timer', () => {
  it('the checks run while a request is outstanding, stop once idle, and start again with the next one', async () => {
    // maxWorkers above workers: the pool monitor has room to grow, so it runs.
    const rt = await Runtime.create({ workers: 1, maxWorkers: 4 });
    try {
      const s = rt.submit(chain().nanosleep(300e6).build());
      expect(checks(rt)).toEqual({ stuck: true, pool: true, reaper: true });
      expect((await s).status).toBe('done');
      await waitUntil('every check stopped', () => !checks(rt).stuck && !checks(rt).pool && !checks(rt).reaper);
      expect(checks(rt)).toEqual(NONE);
      // The next request starts them again at once (the owner's client goes busy).
      const again = rt.submit(chain().nop(1).build());
      expect(checks(rt)).toEqual({ stuck: true, pool: true, reaper: true });
      expect((await again).result).toBe(1);
      await waitUntil('every check stopped', () => !checks(rt).stuck && !checks(rt).pool && !checks(rt).reaper);
      expect(checks(rt)).toEqual(NONE);
    } finally {
      await rt.close();
    }
  });

  it('parked workers stay parked: no timed wake-ups while idle', async () => {
    const rt = await Runtime.create({ workers: 2 });
    try {
      await rt.run({ atoms: [{ op: 'nop' }] });
      await waitUntil('the stuck check and the reaper bound stopped', () => !checks(rt).stuck && !checks(rt).reaper);
      const before = parks(rt);
      // Longer than the old park slice (1 s): a worker parked with a timeout would have re-parked.
      await new Promise((r) => setTimeout(r, 1500));
      expect(parks(rt)).toBe(before);
      expect(checks(rt)).toEqual(NONE);
    } finally {
      await rt.close();
    }
  });

  it("an attached thread's request restarts the owner's checks (through ControlWord.BUSY_EPOCH), and they stop after", async () => {
    const rt = await Runtime.create({ workers: 1 });
    try {
      await rt.run({ atoms: [{ op: 'nop' }] });
      await waitUntil('the stuck check stopped', () => !checks(rt).stuck);
      expect(checks(rt).stuck).toBe(false);
      // One 300 ms sleep submitted on another thread; the owner itself has nothing outstanding.
      const w = new Worker(fixture('attached-busy.mjs'), { workerData: { handle: rt.share(), n: 1, sleepNs: 300e6 } });
      const done = new Promise<{ completions: { status: string; result: number }[] }>((resolve, reject) => {
        w.on('message', (m: { completions?: unknown }) => {
          if (m.completions !== undefined) resolve(m as never);
        });
        w.on('error', reject);
      });
      await waitUntil("the attached thread's request started the stuck check", () => checks(rt).stuck);
      expect(checks(rt).stuck).toBe(true);
      const r = await done;
      expect(r.completions).toEqual([{ id: expect.any(Number) as number, status: 'done', result: 1 }]);
      await w.terminate();
      await waitUntil('the stuck check stopped', () => !checks(rt).stuck);
      expect(checks(rt).stuck).toBe(false);
    } finally {
      await rt.close();
    }
  });

  it("a reaper park whose wake-up is lost ends at the keepalive's next tick, never hangs (and none is lost normally)", async () => {
    const rt = await Runtime.create({ workers: 1 });
    const unparks = (): number => (rt as unknown as { _forcedUnparks(): number })._forcedUnparks();
    try {
      // Control: a 600 ms sleep, the reaper parked across two ticks or more, its pokes delivered.
      expect((await rt.run(chain().nanosleep(600e6).nop(1).build())).result).toBe(1);
      expect(unparks()).toBe(0);
      // Lose every notify made on this thread (the keepalive's pokes among them) during a 2 s sleep:
      // the worker's own completion notify (another thread) still ends the last park.
      const notifyAll = EventCount.prototype.notifyAll;
      EventCount.prototype.notifyAll = function lost(): void {};
      try {
        expect((await rt.run(chain().nanosleep(2000e6).nop(2).build())).result).toBe(2);
      } finally {
        EventCount.prototype.notifyAll = notifyAll;
      }
      expect(unparks()).toBeGreaterThan(0);
    } finally {
      await rt.close();
    }
  });
});
