/** EVFILT_THREADLET: a threadlet's completion as a kqueue event, wherever it ran. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVFILT_THREADLET, EV_DELETE, EV_ONESHOT, errno } from '../../dist/index.js';
import { THREADLET_THREW, THREADLET_UNRUNNABLE, ThreadletCancelledError } from '../../dist/threadlet/index.js';
import { addOne, gatedWrite, readsMissing, sleepy, throwsUnregistered, writesThread } from '../fixtures/threadlet/fns.mjs';
import { useRuntime, waitUntil } from '../helpers.js';
import { workerRuns } from './helpers.js';

const env = useRuntime({ workers: 2 });

describe('EVFILT_THREADLET', () => {
  it('a threadlet that moved: ident = handle.id, data 0, udata as given; the handle is settled', async () => {
    const kq = env.rt.kqueue();
    const udata = { tag: 'moved' };
    const h = sleepy.submit(env.rt, ['v', 1], { kq, udata, start: 'inline' });
    expect(h.placement).toBe('migrated');
    const evs = await kq.kevent(null, 4);
    expect(evs).toEqual([{ ident: h.id, filter: EVFILT_THREADLET, flags: EV_ONESHOT, fflags: 0, data: 0, udata }]);
    expect(evs[0]!.udata).toBe(udata);
    expect(h.state).toBe('fulfilled');
    expect(h.value).toBe('v');
    kq.close();
  });

  it('a threadlet that finished inline still posts its event (and no worker runs)', async () => {
    const kq = env.rt.kqueue();
    const runs = workerRuns(env.rt);
    const h = addOne.submit(env.rt, [1], { kq, udata: 7 });
    expect(h.state).toBe('fulfilled');
    expect(h.value).toBe(2);
    expect(typeof h.id).toBe('number');
    const evs = await kq.kevent(null, 4);
    expect(evs).toEqual([{ ident: h.id, filter: EVFILT_THREADLET, flags: EV_ONESHOT, fflags: 0, data: 0, udata: 7 }]);
    expect(workerRuns(env.rt)).toBe(runs);
    kq.close();
  });

  it('data says how it failed: -errno, THREADLET_THREW, THREADLET_UNRUNNABLE, -ECANCELED (even unstarted)', async () => {
    const kq = env.rt.kqueue();
    const ac = new AbortController();
    ac.abort();
    const hs = [
      readsMissing.submit(env.rt, [path.join(env.dir, 'none')], { kq, udata: 'enoent' }),
      throwsUnregistered.submit(env.rt, [], { kq, udata: 'threw' }),
      writesThread.submit(env.rt, [path.join(env.dir, 'diverges')], { kq, udata: 'diverged' }),
      sleepy.submit(env.rt, [1], { kq, udata: 'aborted', signal: ac.signal }),
    ];
    const got = new Map<unknown, number>();
    while (got.size < 4) for (const ev of await kq.kevent(null, 8)) got.set(ev.udata, ev.data);
    expect(got).toEqual(
      new Map<unknown, number>([
        ['enoent', -errno.ENOENT],
        ['threw', THREADLET_THREW],
        ['diverged', THREADLET_UNRUNNABLE],
        ['aborted', -errno.ECANCELED],
      ]),
    );
    await expect(hs[3]).rejects.toBeInstanceOf(ThreadletCancelledError);
    for (const h of hs) expect(h.settled).toBe(true);
    kq.close();
  });

  it('EV_DELETE before it completes: no event, the handle still settles', async () => {
    const kq = env.rt.kqueue();
    const h = sleepy.submit(env.rt, ['quiet', 50], { kq, start: 'worker' });
    expect(h.settled).toBe(false);
    await kq.kevent([{ ident: h.id, filter: EVFILT_THREADLET, flags: EV_DELETE, fflags: 0, data: 0, udata: null }], 0);
    await expect(h).resolves.toBe('quiet');
    await expect(kq.kevent(null, 4, 0)).resolves.toEqual([]);
    kq.close();
  });

  it('cancelled on the worker: data -ECANCELED, and the call after the gate never ran', async () => {
    const kq = env.rt.kqueue();
    const f = path.join(env.dir, 'cancelled');
    const marker = path.join(env.dir, 'cancelled-runs');
    const release = path.join(env.dir, 'cancelled-release');
    const h = gatedWrite.submit(env.rt, [marker, release, f], { kq, start: 'worker' });
    try {
      // It wrote its marker: it runs on a worker, waiting for a release that does not come, so
      // the cancel finds it running (-EALREADY) and its next look throws.
      await waitUntil('the threadlet runs on a worker', () => fs.existsSync(marker));
      expect(env.rt.cancel(h.id!)).toBe(-errno.EALREADY);
      const evs = await kq.kevent(null, 4);
      expect(evs.map((e) => [e.ident, e.data])).toEqual([[h.id, -errno.ECANCELED]]);
      await expect(h).rejects.toBeInstanceOf(ThreadletCancelledError);
      expect(fs.existsSync(f)).toBe(false);
    } finally {
      // Should an assertion fail, the threadlet is let go, so the runtime can close.
      fs.writeFileSync(release, '');
      kq.close();
    }
  });
});
