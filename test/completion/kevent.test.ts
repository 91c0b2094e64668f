// Conformance with FreeBSD's kevent(2): flags, error rules, timeouts, waiters, EVFILT_USER and
// EVFILT_TIMER. Node event sources are in sources.test.ts, completions in aio.test.ts.
//
// Where the man page is vague, FreeBSD's sys/kern/kern_event.c decides; each case below names the
// function that decides it. The rules, as that file has them (and where each is tested):
//
// kqueue_kevent: changes apply in order before any event is collected (generic flags); filter 0 is
//   skipped and EV_SYSFLAGS bits of a change are ignored (kern_event.c rules); a failing change,
//   or any change with EV_RECEIPT, becomes an EV_ERROR entry while there is room, else the call
//   fails and later changes are skipped; any entry means no events are collected (error rules).
// kqueue_register: ENABLE|DISABLE, an unknown filter, ADD|KEEPUDATA are EINVAL; no knote without
//   EV_ADD is ENOENT; a new knote takes the change's flags less the actions and starts disabled
//   with EV_DISABLE; a refused attach leaves nothing behind; on an existing knote EV_DELETE
//   removes it, EV_FORCEONESHOT makes it one-shot and active, EV_ENABLE else EV_DISABLE sets its
//   state (EV_ADD neither), udata is replaced unless EV_KEEPUDATA, the filter's touch or else the
//   new fflags/data apply, its flags stay; then unless disabled the filter says whether it is active.
// kqueue_scan: nevents 0 returns at once (the timeout is not looked at); a negative timeout is
//   EINVAL; a disabled knote leaves the ready list but keeps its place until the scan reaches it;
//   one-shot knotes are delivered without asking the filter again and removed; others are
//   delivered only if the filter still says so; EV_CLEAR resets, EV_DISPATCH disables, others go
//   back to the end of the list (at most once per call).
// filt_timer*: data < 0, unknown fflags or two units are EINVAL; EV_CLEAR is implicit except with
//   NOTE_ABSTIME; a periodic timer of 0 runs every unit; a timer is a deadline: a one-shot timer
//   expires once (data 1 however late it is read), a periodic one counts every expiration since
//   the last retrieval, counted whether or not anyone looked; a change with EV_ADD throws away
//   undelivered expirations and restarts it, one without leaves it running (also while disabled);
//   NOTE_ABSTIME is an absolute epoch time, one-time, at once if past; fflags come back 0.
// filt_user*: see the EVFILT_USER block. Other filters: sources.test.ts.
import { describe, expect, it } from 'vitest';
import * as api from '../../dist/index.js';
import {
  EVFILT_AIO,
  EVFILT_TIMER,
  EVFILT_USER,
  EV_ADD,
  EV_CLEAR,
  EV_DELETE,
  EV_DISABLE,
  EV_DISPATCH,
  EV_ENABLE,
  EV_ERROR,
  EV_EOF,
  EV_FORCEONESHOT,
  EV_KEEPUDATA,
  EV_ONESHOT,
  EV_RECEIPT,
  EV_SET,
  KqueueError,
  NOTE_ABSTIME,
  NOTE_FFAND,
  NOTE_FFCOPY,
  NOTE_FFLAGSMASK,
  NOTE_FFNOP,
  NOTE_FFOR,
  NOTE_MSECONDS,
  NOTE_NSECONDS,
  NOTE_SECONDS,
  NOTE_TRIGGER,
  NOTE_USECONDS,
  errno,
  type KEvent,
  type Kqueue,
} from '../../dist/index.js';
import { useRuntime } from '../helpers.js';

let kq: Kqueue;

const env = useRuntime({ workers: 1 });

const fresh = (): Kqueue => (kq = env.rt.kqueue());

/** A rejection's KqueueError. */
async function failure(p: Promise<unknown>): Promise<KqueueError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KqueueError);
    return e as KqueueError;
  }
  throw new Error('expected the call to fail');
}

function user(ident: number, flags: number, fflags = 0, data = 0, udata: unknown = null): KEvent {
  return EV_SET(ident, EVFILT_USER, flags, fflags, data, udata);
}

describe('constants', () => {
  it('have FreeBSD <sys/event.h> values', () => {
    expect({
      EVFILT_READ: api.EVFILT_READ, EVFILT_WRITE: api.EVFILT_WRITE, EVFILT_AIO: api.EVFILT_AIO,
      EVFILT_VNODE: api.EVFILT_VNODE, EVFILT_PROC: api.EVFILT_PROC, EVFILT_SIGNAL: api.EVFILT_SIGNAL,
      EVFILT_TIMER: api.EVFILT_TIMER, EVFILT_USER: api.EVFILT_USER,
    }).toEqual({
      EVFILT_READ: -1, EVFILT_WRITE: -2, EVFILT_AIO: -3, EVFILT_VNODE: -4, EVFILT_PROC: -5,
      EVFILT_SIGNAL: -6, EVFILT_TIMER: -7, EVFILT_USER: -11,
    });
    expect([api.EV_ADD, api.EV_DELETE, api.EV_ENABLE, api.EV_DISABLE, api.EV_ONESHOT, api.EV_CLEAR,
      api.EV_RECEIPT, api.EV_DISPATCH, api.EV_ERROR, api.EV_EOF]).toEqual(
      [0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x4000, 0x8000]);
    expect([api.NOTE_DELETE, api.NOTE_WRITE, api.NOTE_EXTEND, api.NOTE_ATTRIB, api.NOTE_LINK,
      api.NOTE_RENAME, api.NOTE_REVOKE]).toEqual([0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40]);
    expect([api.NOTE_EXIT, api.NOTE_FORK, api.NOTE_EXEC]).toEqual([0x80000000, 0x40000000, 0x20000000]);
    expect([api.NOTE_SECONDS, api.NOTE_MSECONDS, api.NOTE_USECONDS, api.NOTE_NSECONDS, api.NOTE_ABSTIME])
      .toEqual([1, 2, 4, 8, 0x10]);
    expect([NOTE_FFNOP, NOTE_FFAND, NOTE_FFOR, NOTE_FFCOPY, api.NOTE_FFCTRLMASK, api.NOTE_FFLAGSMASK, NOTE_TRIGGER])
      .toEqual([0, 0x40000000, 0x80000000, 0xc0000000, 0xc0000000, 0x00ffffff, 0x01000000]);
    // Ours, outside FreeBSD's range (which ends at -13).
    expect(api.EVFILT_THREADLET).toBeLessThan(-13);
  });

  it('EV_SET builds a kevent with FreeBSD defaults', () => {
    expect(EV_SET(3, EVFILT_USER, EV_ADD)).toEqual({ ident: 3, filter: EVFILT_USER, flags: EV_ADD, fflags: 0, data: 0, udata: null });
  });
});

describe('generic flags', () => {
  it('EV_ADD is not echoed; the changelist applies in order within one call (add, then trigger)', async () => {
    fresh();
    const evs = await kq.kevent([user(1, EV_ADD), user(1, 0, NOTE_TRIGGER)], 8, 0);
    expect(evs).toEqual([{ ident: 1, filter: EVFILT_USER, flags: 0, fflags: 0, data: 0, udata: null }]);
  });

  it('EV_ADD on an existing knote modifies it and replaces udata; its flags stay (kqueue_register)', async () => {
    fresh();
    await kq.kevent([user(2, EV_ADD | EV_CLEAR, 0, 0, 'first')], 0);
    // The re-add's flags (EV_DISPATCH here) are not taken: only a new knote gets its flags.
    await kq.kevent([user(2, EV_ADD | EV_DISPATCH, NOTE_TRIGGER | NOTE_FFCOPY | 3, 9, 'second')], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([{ ident: 2, filter: EVFILT_USER, flags: EV_CLEAR, fflags: 3, data: 9, udata: 'second' }]);
  });

  it('any change replaces udata unless EV_KEEPUDATA (FreeBSD)', async () => {
    fresh();
    const u = { me: true };
    await kq.kevent([user(3, EV_ADD | EV_CLEAR, 0, 0, u)], 0);
    await kq.kevent([user(3, EV_KEEPUDATA, NOTE_TRIGGER)], 0);
    const [ev] = await kq.kevent(null, 8, 0);
    expect(ev!.udata).toBe(u);
    await kq.kevent([user(3, 0, NOTE_TRIGGER, 0, 'replaced')], 0);
    expect((await kq.kevent(null, 8, 0))[0]!.udata).toBe('replaced');
  });

  it('EV_DELETE removes; a second delete is ENOENT', async () => {
    fresh();
    await kq.kevent([user(4, EV_ADD, NOTE_TRIGGER)], 0);
    expect(await kq.kevent([user(4, EV_DELETE)], 8, 0)).toEqual([]);
    expect(await kq.kevent([user(4, EV_DELETE)], 8, 0)).toEqual([
      { ident: 4, filter: EVFILT_USER, flags: EV_ERROR, fflags: 0, data: errno.ENOENT, udata: null },
    ]);
  });

  it('EV_DISABLE hides pending activity, EV_ENABLE shows it again', async () => {
    fresh();
    await kq.kevent([user(5, EV_ADD | EV_CLEAR), user(5, 0, NOTE_TRIGGER), user(5, EV_DISABLE)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    const evs = await kq.kevent([user(5, EV_ENABLE)], 8, 0);
    expect(evs.map((e) => e.ident)).toEqual([5]);
  });

  it('EV_ADD on an existing disabled knote does not enable it; only EV_ENABLE does (kqueue_register)', async () => {
    fresh();
    await kq.kevent([user(6, EV_ADD | EV_DISABLE, NOTE_TRIGGER, 0, 'a')], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // The re-add modifies it (udata, the user bits, data) but it stays disabled.
    expect(await kq.kevent([user(6, EV_ADD, NOTE_FFCOPY | 7, 5, 'b')], 8, 0)).toEqual([]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // (EV_ENABLE is a change too: it replaces data, and udata unless EV_KEEPUDATA.)
    expect(await kq.kevent([user(6, EV_ENABLE | EV_KEEPUDATA, 0, 5)], 8, 0)).toEqual([
      { ident: 6, filter: EVFILT_USER, flags: 0, fflags: 7, data: 5, udata: 'b' },
    ]);
    // EV_DISPATCH disables it the same way: a re-add does not re-arm it either.
    await kq.kevent([user(6, EV_DELETE), user(16, EV_ADD | EV_DISPATCH, NOTE_TRIGGER)], 0);
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([16]);
    expect(await kq.kevent([user(16, EV_ADD, NOTE_TRIGGER)], 8, 0)).toEqual([]);
    expect((await kq.kevent([user(16, EV_ENABLE)], 8, 0)).map((e) => e.ident)).toEqual([16]);
  });

  it('EV_ENABLE together with EV_DISABLE is EINVAL', async () => {
    fresh();
    await kq.kevent([user(7, EV_ADD)], 0);
    expect(await kq.kevent([user(7, EV_ENABLE | EV_DISABLE)], 8, 0)).toEqual([
      { ident: 7, filter: EVFILT_USER, flags: EV_ERROR, fflags: 0, data: errno.EINVAL, udata: null },
    ]);
  });

  it('EV_ONESHOT delivers once and deletes the knote', async () => {
    fresh();
    const evs = await kq.kevent([user(8, EV_ADD | EV_ONESHOT, NOTE_TRIGGER)], 8, 0);
    expect(evs).toEqual([{ ident: 8, filter: EVFILT_USER, flags: EV_ONESHOT, fflags: 0, data: 0, udata: null }]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([user(8, 0, NOTE_TRIGGER)], 8, 0))[0]).toMatchObject({ flags: EV_ERROR, data: errno.ENOENT });
  });

  it('EV_DISPATCH disables after one delivery until EV_ENABLE, and stays in the flags', async () => {
    fresh();
    await kq.kevent([user(9, EV_ADD | EV_DISPATCH | EV_CLEAR, NOTE_TRIGGER)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([
      { ident: 9, filter: EVFILT_USER, flags: EV_DISPATCH | EV_CLEAR, fflags: 0, data: 0, udata: null },
    ]);
    await kq.kevent([user(9, 0, NOTE_TRIGGER)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([user(9, EV_ENABLE)], 8, 0)).map((e) => e.ident)).toEqual([9]);
  });

  it('EV_RECEIPT answers every change with EV_ERROR and data 0, and collects no pending events', async () => {
    fresh();
    await kq.kevent([user(10, EV_ADD, NOTE_TRIGGER)], 0);
    const evs = await kq.kevent([user(11, EV_ADD | EV_RECEIPT), user(12, EV_DELETE | EV_RECEIPT)], 8, 0);
    expect(evs).toEqual([
      { ident: 11, filter: EVFILT_USER, flags: EV_ERROR, fflags: 0, data: 0, udata: null },
      { ident: 12, filter: EVFILT_USER, flags: EV_ERROR, fflags: 0, data: errno.ENOENT, udata: null },
    ]);
    // Knote 10 was pending all along; it comes on the next call. A receipt knote keeps the bit.
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([10]);
    await kq.kevent([user(11, 0, NOTE_TRIGGER)], 0);
    expect((await kq.kevent(null, 8, 0)).find((e) => e.ident === 11)?.flags).toBe(EV_RECEIPT);
  });

  it('without EV_CLEAR a triggered user event is returned on every call', async () => {
    fresh();
    await kq.kevent([user(13, EV_ADD, NOTE_TRIGGER)], 0);
    for (let i = 0; i < 3; i++) expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([13]);
  });

  it('returns each level-triggered knote at most once per call', async () => {
    fresh();
    await kq.kevent([user(14, EV_ADD, NOTE_TRIGGER), user(15, EV_ADD, NOTE_TRIGGER)], 0);
    expect((await kq.kevent(null, 100, 0)).map((e) => e.ident)).toEqual([14, 15]);
  });
});

describe('error rules', () => {
  it('a failing change with room becomes an EV_ERROR entry and processing continues', async () => {
    fresh();
    const evs = await kq.kevent([user(20, EV_DELETE), user(21, EV_ADD, NOTE_TRIGGER), EV_SET(1, 99, EV_ADD)], 8, 0);
    expect(evs).toEqual([
      { ident: 20, filter: EVFILT_USER, flags: EV_ERROR, fflags: 0, data: errno.ENOENT, udata: null },
      { ident: 1, filter: 99, flags: EV_ERROR, fflags: 0, data: errno.EINVAL, udata: null },
    ]);
    // The good change in the middle was applied (its event was not collected in that call).
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([21]);
  });

  it('with no room the call fails with errno and code, and later changes are not applied', async () => {
    fresh();
    const e = await failure(kq.kevent([user(22, EV_ADD), user(23, EV_ENABLE), user(24, EV_ADD, NOTE_TRIGGER)], 0, 0));
    expect(e.errno).toBe(errno.ENOENT);
    expect(e.code).toBe('ENOENT');
    expect(e.message).toMatch(/^ENOENT: kevent: changelist\[1\] \(EVFILT_USER, ident 23\) failed/);
    expect(await kq.kevent([user(22, EV_DELETE)], 8, 0)).toEqual([]); // applied before the failure
    expect((await kq.kevent([user(24, EV_DELETE)], 8, 0))[0]!.data).toBe(errno.ENOENT); // never applied
  });

  it('ENOENT for modify, delete, enable, disable and trigger of a missing knote', async () => {
    fresh();
    const evs = await kq.kevent(
      [user(30, 0), user(31, EV_DELETE), user(32, EV_ENABLE), user(33, EV_DISABLE), user(34, 0, NOTE_TRIGGER)],
      8,
      0,
    );
    expect(evs.map((e) => [e.ident, e.flags, e.data])).toEqual([
      [30, EV_ERROR, errno.ENOENT], [31, EV_ERROR, errno.ENOENT], [32, EV_ERROR, errno.ENOENT],
      [33, EV_ERROR, errno.ENOENT], [34, EV_ERROR, errno.ENOENT],
    ]);
  });

  it('EINVAL for an unknown filter; EPERM for adding an EVFILT_AIO knote by hand', async () => {
    fresh();
    expect((await kq.kevent([EV_SET(1, -99, EV_ADD)], 8, 0))[0]!.data).toBe(errno.EINVAL);
    expect((await kq.kevent([EV_SET(1, EVFILT_AIO, EV_ADD)], 8, 0))[0]!.data).toBe(errno.EPERM);
  });

  it('rejects changelists that are not kevents, precisely', async () => {
    fresh();
    await expect(kq.kevent([{ ident: 1 } as unknown as KEvent], 1, 0)).rejects.toThrow(
      'kevent: changelist[0]: expected { ident, filter, flags, fflags, data, udata } (use EV_SET), got {"ident":1}',
    );
    expect((await failure(kq.kevent(null, -1, 0))).errno).toBe(errno.EINVAL);
  });
});

describe('timeouts', () => {
  it('0 polls, nevents 0 returns at once', async () => {
    fresh();
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    const t = performance.now();
    await kq.kevent([user(40, EV_ADD)], 0);
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('a fractional timeout waits at least that long and returns no events', async () => {
    fresh();
    const t = performance.now();
    expect(await kq.kevent(null, 8, 5.5)).toEqual([]);
    expect(performance.now() - t).toBeGreaterThanOrEqual(5.5);
  });

  it('null waits until an event comes', async () => {
    fresh();
    await kq.kevent([user(41, EV_ADD | EV_CLEAR)], 0);
    const waiting = kq.kevent(null, 8, null);
    setTimeout(() => void kq.kevent([user(41, 0, NOTE_TRIGGER)], 0), 20);
    expect((await waiting).map((e) => e.ident)).toEqual([41]);
  });

  it('negative is EINVAL, checked after the changes are applied (as kqueue_scan does)', async () => {
    fresh();
    expect((await failure(kq.kevent([user(42, EV_ADD)], 8, -1))).errno).toBe(errno.EINVAL);
    expect(await kq.kevent([user(42, EV_DELETE)], 8, 0)).toEqual([]);
    expect((await failure(kq.kevent(null, 8, Number.NaN))).code).toBe('EINVAL');
  });
});

describe('waiters', () => {
  it('round-trips udata of any kind', async () => {
    fresh();
    const u = { deep: [1, 2] };
    const evs = await kq.kevent([user(50, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, u)], 1, 0);
    expect(evs[0]!.udata).toBe(u);
  });

  it('wakes exactly one of several waiters per one-shot event', async () => {
    fresh();
    const got: KEvent[][] = [];
    const waits = [0, 1, 2].map((i) =>
      kq.kevent(null, 4).then(
        (evs) => (got[i] = evs),
        (e: KqueueError) => expect(e.code).toBe('EBADF'),
      ),
    );
    await new Promise((r) => setTimeout(r, 10));
    await kq.kevent([user(51, EV_ADD | EV_ONESHOT, NOTE_TRIGGER)], 0);
    await new Promise((r) => setTimeout(r, 20));
    expect(got.filter(Boolean).length).toBe(1);
    expect(got[0]!.map((e) => e.ident)).toEqual([51]);
    await kq.kevent([user(52, EV_ADD | EV_ONESHOT, NOTE_TRIGGER), user(53, EV_ADD | EV_ONESHOT, NOTE_TRIGGER)], 0);
    await new Promise((r) => setTimeout(r, 20));
    // The next waiter in line took both (it asked for up to 4); the last one got nothing and
    // still waits, until the kqueue closes.
    expect(got[1]!.map((e) => e.ident)).toEqual([52, 53]);
    expect(got[2]).toBeUndefined();
    kq.close();
    await Promise.all(waits);
    expect(got[2]).toBeUndefined();
  }, 10_000);

  it('close wakes every waiter with EBADF and later calls fail the same way', async () => {
    fresh();
    const waits = [kq.kevent(null, 1), kq.kevent(null, 1, 10_000), kq.wait({ min: 5 })];
    kq.close();
    for (const w of waits) expect((await failure(w)).code).toBe('EBADF');
    expect((await failure(kq.kevent(null, 1, 0))).errno).toBe(errno.EBADF);
    expect(() => kq.keventSync(null, 1, 0)).toThrow('EBADF');
  });

  it('wait({ min, max, timeout }) resolves at min, never returns more than max', async () => {
    fresh();
    const w = kq.wait({ min: 3, max: 4 });
    await kq.kevent([user(60, EV_ADD | EV_ONESHOT, NOTE_TRIGGER), user(61, EV_ADD | EV_ONESHOT, NOTE_TRIGGER)], 0);
    await new Promise((r) => setTimeout(r, 10));
    await kq.kevent([62, 63, 64, 65].map((i) => user(i, EV_ADD | EV_ONESHOT, NOTE_TRIGGER)), 0);
    const got = await w;
    expect(got.length).toBe(4);
    // The timeout returns what is there, possibly none.
    expect((await kq.wait({ min: 10, max: 10, timeout: 5 })).map((e) => e.ident)).toEqual([64, 65]);
    expect(await kq.wait({ min: 1, timeout: 1 })).toEqual([]);
  });

  it('is an async iterable of events', async () => {
    fresh();
    await kq.kevent([70, 71, 72].map((i) => user(i, EV_ADD | EV_ONESHOT, NOTE_TRIGGER)), 0);
    const seen: unknown[] = [];
    for await (const ev of kq) {
      seen.push(ev.ident);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([70, 71, 72]);
  });
});

describe('EVFILT_USER', () => {
  it('applies NOTE_FFNOP, FFAND, FFOR and FFCOPY to the 24 user bits and returns data', async () => {
    fresh();
    await kq.kevent([user(80, EV_ADD | EV_CLEAR, NOTE_FFCOPY | 0b1100)], 0);
    const step = async (fflags: number, data = 0) => (await kq.kevent([user(80, 0, fflags | NOTE_TRIGGER, data)], 8, 0))[0]!;
    expect((await step(NOTE_FFNOP, 7)).fflags).toBe(0b1100);
    expect((await step(NOTE_FFOR | 0b0011)).fflags).toBe(0b1111);
    expect((await step(NOTE_FFAND | 0b0110)).fflags).toBe(0b0110);
    const last = await step(NOTE_FFCOPY | 0xffffff, 42);
    expect(last).toMatchObject({ fflags: 0xffffff, data: 42 });
  });

  it('with EV_CLEAR retrieval resets only the triggered state; the bits persist', async () => {
    fresh();
    await kq.kevent([user(81, EV_ADD | EV_CLEAR, NOTE_FFCOPY | 5 | NOTE_TRIGGER)], 0);
    expect((await kq.kevent(null, 8, 0))[0]!.fflags).toBe(5);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([user(81, 0, NOTE_TRIGGER)], 8, 0))[0]!.fflags).toBe(5);
  });
});

describe('EVFILT_TIMER', () => {
  /** Wait `ms` of real time. */
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('is periodic, with implicit EV_CLEAR and data = expirations since the last retrieval', async () => {
    fresh();
    const t0 = performance.now();
    await kq.kevent([EV_SET(1, EVFILT_TIMER, EV_ADD, 0, 10, 'tick')], 0);
    const [first] = await kq.kevent(null, 8);
    expect(first).toMatchObject({ ident: 1, filter: EVFILT_TIMER, flags: EV_CLEAR, udata: 'tick' });
    expect(first!.data).toBeGreaterThanOrEqual(1);
    await sleep(60);
    const [second] = await kq.kevent(null, 8, 0);
    const elapsed = performance.now() - t0;
    // Expirations are counted from the start: together they are floor(elapsed / period) at most.
    expect(first!.data + second!.data).toBeLessThanOrEqual(Math.floor(elapsed / 10));
    expect(first!.data + second!.data).toBeGreaterThanOrEqual(5);
    await kq.kevent([EV_SET(1, EVFILT_TIMER, EV_DELETE)], 0);
  });

  it('EV_ONESHOT fires once; the units are NOTE_SECONDS, MSECONDS, USECONDS and NSECONDS', async () => {
    fresh();
    const t = performance.now();
    await kq.kevent(
      [
        EV_SET(2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_USECONDS, 30_000),
        EV_SET(3, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_NSECONDS, 20_000_000),
        EV_SET(4, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 10),
        EV_SET(5, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_SECONDS, 100),
      ],
      0,
    );
    const got: number[] = [];
    while (got.length < 3) {
      for (const ev of await kq.kevent(null, 8)) {
        got.push(ev.ident as number);
        expect(ev.data).toBe(1);
        expect(ev.flags).toBe(EV_ONESHOT | EV_CLEAR);
      }
    }
    expect(got).toEqual([4, 3, 2]);
    expect(performance.now() - t).toBeGreaterThanOrEqual(30);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    await kq.kevent([EV_SET(5, EVFILT_TIMER, EV_DELETE)], 0);
  });

  // FreeBSD's callouts run filt_timerexpire in deadline order, so timers that all expired before a
  // late look come back in that order, not in the order they were added (a busy thread here).
  it('timers that all expired before kevent looked come back in deadline order', async () => {
    fresh();
    await kq.kevent(
      [
        EV_SET(12, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 30),
        EV_SET(13, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 20),
        EV_SET(14, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 10),
      ],
      0,
    );
    const until = performance.now() + 60;
    while (performance.now() < until) {
      // Busy: no Node timer callback runs meanwhile.
    }
    const evs = await kq.kevent(null, 8, 0);
    expect(evs.map((e) => [e.ident, e.data])).toEqual([
      [14, 1],
      [13, 1],
      [12, 1],
    ]);
  });

  it('NOTE_ABSTIME fires at an absolute time', async () => {
    fresh();
    const at = Date.now() + 40;
    await kq.kevent([EV_SET(6, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_ABSTIME | NOTE_MSECONDS, at)], 0);
    const [ev] = await kq.kevent(null, 1);
    expect(ev!.ident).toBe(6);
    expect(Date.now()).toBeGreaterThanOrEqual(at - 1);
  });

  it('re-adding restarts it and throws away undelivered expirations', async () => {
    fresh();
    await kq.kevent([EV_SET(7, EVFILT_TIMER, EV_ADD, 0, 5)], 0);
    await sleep(30);
    await kq.kevent([EV_SET(7, EVFILT_TIMER, EV_ADD, 0, 1000)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    await kq.kevent([EV_SET(7, EVFILT_TIMER, EV_DELETE)], 0);
  });

  it('refuses a negative period and two units at once', async () => {
    fresh();
    const evs = await kq.kevent(
      [EV_SET(8, EVFILT_TIMER, EV_ADD, 0, -1), EV_SET(9, EVFILT_TIMER, EV_ADD, NOTE_SECONDS | NOTE_USECONDS, 1)],
      8,
      0,
    );
    expect(evs.map((e) => e.data)).toEqual([errno.EINVAL, errno.EINVAL]);
  });
});

/** Keep this thread busy for `ms` (no callback runs meanwhile). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('kern_event.c rules: kqueue_register and kqueue_kevent', () => {
  it('EV_ADD with EV_KEEPUDATA is EINVAL (kqueue_register)', async () => {
    fresh();
    expect(await kq.kevent([user(100, EV_ADD | EV_KEEPUDATA)], 8, 0)).toEqual([
      { ident: 100, filter: EVFILT_USER, flags: EV_ERROR, fflags: 0, data: errno.EINVAL, udata: null },
    ]);
    expect((await kq.kevent([user(100, EV_DELETE)], 8, 0))[0]!.data).toBe(errno.ENOENT); // nothing was added
  });

  it('a refused attach registers nothing, and its entry echoes fflags 0 (kqueue_register)', async () => {
    fresh();
    const evs = await kq.kevent([EV_SET(101, EVFILT_TIMER, EV_ADD, 0x40, 10, 'u')], 8, 0);
    expect(evs).toEqual([{ ident: 101, filter: EVFILT_TIMER, flags: EV_ERROR, fflags: 0, data: errno.EINVAL, udata: 'u' }]);
    expect((await kq.kevent([EV_SET(101, EVFILT_TIMER, EV_DELETE)], 8, 0))[0]!.data).toBe(errno.ENOENT);
  });

  it('EV_RECEIPT entries echo the fflags as kqueue_register left them', async () => {
    fresh();
    // A new knote: zeroed before attach. A user touch: the control bits masked off.
    const evs = await kq.kevent(
      [user(102, EV_ADD | EV_RECEIPT, NOTE_FFCOPY | 6), user(102, EV_RECEIPT, NOTE_FFOR | NOTE_TRIGGER | 1), user(103, EV_RECEIPT, 9)],
      8,
      0,
    );
    expect(evs.map((e) => [e.ident, e.flags, e.fflags, e.data])).toEqual([
      [102, EV_ERROR, 0, 0],
      [102, EV_ERROR, 1 & NOTE_FFLAGSMASK, 0],
      [103, EV_ERROR, 9, errno.ENOENT],
    ]);
  });

  it('EV_FORCEONESHOT on an existing knote makes it one-shot and delivers it once (kqueue_register)', async () => {
    fresh();
    await kq.kevent([user(104, EV_ADD | EV_CLEAR, 0, 0, 'f')], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // Not triggered: the forced activation delivers it anyway, then it is gone.
    expect(await kq.kevent([user(104, EV_FORCEONESHOT | EV_KEEPUDATA)], 8, 0)).toEqual([
      { ident: 104, filter: EVFILT_USER, flags: EV_CLEAR | EV_ONESHOT, fflags: 0, data: 0, udata: 'f' },
    ]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([user(104, EV_DELETE)], 8, 0))[0]!.data).toBe(errno.ENOENT);
    // On a new knote it is ignored (stripped with the other actions).
    await kq.kevent([user(105, EV_ADD | EV_FORCEONESHOT)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
  });

  it('a knote disabled and enabled again keeps its place on the ready list (kqueue_scan)', async () => {
    fresh();
    await kq.kevent([user(106, EV_ADD, NOTE_TRIGGER), user(107, EV_ADD, NOTE_TRIGGER), user(106, EV_DISABLE), user(106, EV_ENABLE)], 0);
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([106, 107]);
  });

  it('a change with filter 0 is skipped; EV_SYSFLAGS bits in a change are ignored (kqueue_kevent)', async () => {
    fresh();
    const evs = await kq.kevent([EV_SET(1, 0, EV_DELETE), user(108, EV_ADD | EV_EOF | EV_ERROR, NOTE_TRIGGER)], 8, 0);
    expect(evs).toEqual([{ ident: 108, filter: EVFILT_USER, flags: 0, fflags: 0, data: 0, udata: null }]);
  });

  it('nevents 0 returns at once without looking at the timeout (kqueue_scan)', async () => {
    fresh();
    expect(await kq.kevent([user(109, EV_ADD)], 0, -1)).toEqual([]);
    expect(kq.keventSync(null, 0, -5)).toEqual([]);
    expect((await failure(kq.kevent(null, 1, -1))).errno).toBe(errno.EINVAL);
  });
});

describe('a loop over ready events', () => {
  it('does not starve the event loop when a level-triggered knote is never reset', async () => {
    fresh();
    await kq.kevent([user(90, EV_ADD, NOTE_TRIGGER)], 0);
    let turned = false;
    setImmediate(() => (turned = true));
    let calls = 0;
    while (!turned && calls < 10_000) {
      expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([90]);
      calls++;
    }
    // Each answer was ready at once; after a hundred in a row kevent let the event loop turn.
    expect(turned).toBe(true);
    expect(calls).toBeLessThanOrEqual(101);
  });

  it('does not starve the event loop when it polls an empty kqueue with timeout 0', async () => {
    fresh();
    let turned = false;
    setTimeout(() => (turned = true), 5);
    let calls = 0;
    const end = performance.now() + 5000;
    while (!turned && performance.now() < end) {
      expect(await kq.kevent(null, 8, 0)).toEqual([]);
      calls++;
    }
    expect(turned).toBe(true);
    expect(calls).toBeGreaterThan(0);
  });
});

describe('kern_event.c rules: filt_usertouch', () => {
  it('EV_CLEAR in a change resets a triggered level-triggered knote; it stays level-triggered', async () => {
    fresh();
    await kq.kevent([user(110, EV_ADD, NOTE_FFCOPY | 0x5)], 0);
    await kq.kevent([user(110, 0, NOTE_TRIGGER)], 0);
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([110]);
    expect((await kq.kevent(null, 8, 0)).map((e) => e.ident)).toEqual([110]);
    // EV_SET(110, EVFILT_USER, EV_CLEAR): the triggered state is reset, the poll returns nothing.
    expect(await kq.kevent([user(110, EV_CLEAR)], 8, 0)).toEqual([]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // The stored bits persisted, and the knote is still level-triggered (flags were not changed).
    await kq.kevent([user(110, 0, NOTE_TRIGGER)], 0);
    for (let i = 0; i < 2; i++) {
      expect(await kq.kevent(null, 8, 0)).toEqual([{ ident: 110, filter: EVFILT_USER, flags: 0, fflags: 5, data: 0, udata: null }]);
    }
  });

  it('NOTE_TRIGGER and EV_CLEAR in one change: the clear comes last, nothing is returned', async () => {
    fresh();
    await kq.kevent([user(111, EV_ADD)], 0);
    expect(await kq.kevent([user(111, EV_CLEAR, NOTE_TRIGGER)], 8, 0)).toEqual([]);
    // The same for a re-add that carries EV_CLEAR.
    expect(await kq.kevent([user(111, EV_ADD | EV_CLEAR, NOTE_TRIGGER)], 8, 0)).toEqual([]);
  });

  it('a queued one-shot knote is delivered even after an EV_CLEAR change (kqueue_scan asks no filter)', async () => {
    fresh();
    await kq.kevent([user(112, EV_ADD | EV_ONESHOT, NOTE_TRIGGER), user(112, EV_CLEAR)], 0);
    expect((await kq.kevent(null, 8, 0)).map((e) => [e.ident, e.flags])).toEqual([[112, EV_ONESHOT]]);
  });

  it('NOTE_TRIGGER on a disabled knote is kept until EV_ENABLE', async () => {
    fresh();
    await kq.kevent([user(113, EV_ADD | EV_CLEAR), user(113, EV_DISABLE), user(113, 0, NOTE_TRIGGER)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([user(113, EV_ENABLE)], 8, 0)).map((e) => e.ident)).toEqual([113]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
  });
});

describe('kern_event.c rules: EVFILT_TIMER is a deadline (filt_timerattach, filt_timerexpire, filt_timertouch, filt_timer)', () => {
  const timer = (ident: number, flags: number, fflags: number, data: number, udata: unknown = null): KEvent =>
    EV_SET(ident, EVFILT_TIMER, flags, fflags, data, udata);

  it('a one-shot timer read late reports data 1: it expires once (filt_timerexpire)', async () => {
    fresh();
    await kq.kevent([timer(120, EV_ADD | EV_ONESHOT, 0, 10, 'once')], 0);
    busy(100);
    expect(await kq.kevent(null, 8, 0)).toEqual([
      { ident: 120, filter: EVFILT_TIMER, flags: EV_ONESHOT | EV_CLEAR, fflags: 0, data: 1, udata: 'once' },
    ]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([timer(120, EV_DELETE, 0, 0)], 8, 0))[0]!.data).toBe(errno.ENOENT);
  });

  it('keventSync and kevent polls after the deadline return the timer on a thread that was busy', async () => {
    fresh();
    await kq.kevent([timer(121, EV_ADD | EV_ONESHOT, NOTE_USECONDS, 5000), timer(122, EV_ADD | EV_ONESHOT, 0, 5)], 0);
    busy(40);
    // No callback ran since the deadline; the poll itself sees it passed.
    expect(kq.keventSync(null, 1, 0)).toEqual([
      { ident: 121, filter: EVFILT_TIMER, flags: EV_ONESHOT | EV_CLEAR, fflags: 0, data: 1, udata: null },
    ]);
    busy(10);
    expect((await kq.kevent(null, 1, 0)).map((e) => [e.ident, e.data])).toEqual([[122, 1]]);
  });

  it('a periodic timer counts every expiration since the last retrieval, also while nobody looked', async () => {
    fresh();
    const t0 = performance.now();
    await kq.kevent([timer(123, EV_ADD, 0, 10, 'p')], 0);
    busy(75);
    const [first] = await kq.kevent(null, 8, 0);
    const t1 = performance.now();
    expect(first).toMatchObject({ ident: 123, filter: EVFILT_TIMER, flags: EV_CLEAR, fflags: 0, udata: 'p' });
    // At least 7 periods passed before the poll, at most (t1 - t0) / 10 by its end.
    expect(first!.data).toBeGreaterThanOrEqual(7);
    expect(first!.data).toBeLessThanOrEqual(Math.floor((t1 - t0) / 10));
    busy(35);
    const [second] = await kq.kevent(null, 8, 0);
    const t2 = performance.now();
    expect(first!.data + second!.data).toBeGreaterThanOrEqual(10);
    expect(first!.data + second!.data).toBeLessThanOrEqual(Math.floor((t2 - t0) / 10));
    await kq.kevent([timer(123, EV_DELETE, 0, 0)], 0);
  });

  it('a periodic timer of 0 runs every unit; a one-shot timer of 0 fires at once (filt_timervalidate)', async () => {
    fresh();
    await kq.kevent([timer(124, EV_ADD, NOTE_USECONDS, 0), timer(125, EV_ADD | EV_ONESHOT, NOTE_SECONDS, 0)], 0);
    busy(3);
    const evs = await kq.kevent(null, 8, 0);
    const byId = new Map(evs.map((e) => [e.ident, e.data]));
    expect(byId.get(125)).toBe(1);
    // Every microsecond for 3 ms at least: thousands of expirations, not one per millisecond.
    expect(byId.get(124)).toBeGreaterThanOrEqual(3000);
    await kq.kevent([timer(124, EV_DELETE, 0, 0)], 0);
  });

  it('refuses fflags other than the units and NOTE_ABSTIME (filt_timervalidate)', async () => {
    fresh();
    const evs = await kq.kevent([timer(126, EV_ADD, NOTE_TRIGGER, 10), timer(127, EV_ADD, 0x20, 10)], 8, 0);
    expect(evs.map((e) => e.data)).toEqual([errno.EINVAL, errno.EINVAL]);
  });

  it('re-adding with the same setting restarts it and throws away the expiration (filt_timertouch)', async () => {
    fresh();
    await kq.kevent([timer(128, EV_ADD | EV_ONESHOT, 0, 10)], 0);
    busy(30); // expired, not retrieved
    const t = performance.now();
    await kq.kevent([timer(128, EV_ADD | EV_ONESHOT, 0, 300)], 0);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // The one event, from the restarted timer (a parked wait), and none after it.
    expect((await kq.kevent(null, 8)).map((e) => [e.ident, e.data])).toEqual([[128, 1]]);
    expect(performance.now() - t).toBeGreaterThanOrEqual(300);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
  });

  it('a change without EV_ADD leaves it running: expirations while disabled are counted (filt_timertouch)', async () => {
    fresh();
    await kq.kevent([timer(129, EV_ADD, 0, 10), timer(129, EV_DISABLE, 0, 0)], 0);
    busy(45);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    const [ev] = await kq.kevent([timer(129, EV_ENABLE, 0, 99_999)], 8, 0);
    expect(ev).toMatchObject({ ident: 129, flags: EV_CLEAR });
    expect(ev!.data).toBeGreaterThanOrEqual(4);
    await kq.kevent([timer(129, EV_DELETE, 0, 0)], 0);
  });

  it('a bad re-add is refused and leaves the timer as it was', async () => {
    fresh();
    await kq.kevent([timer(130, EV_ADD | EV_ONESHOT, 0, 5)], 0);
    expect((await kq.kevent([timer(130, EV_ADD, 0, -1)], 8, 0))[0]).toMatchObject({ flags: EV_ERROR, data: errno.EINVAL });
    busy(20);
    expect((await kq.kevent(null, 8, 0)).map((e) => [e.ident, e.data])).toEqual([[130, 1]]);
  });

  it('NOTE_ABSTIME: an epoch time, one-time; no implicit EV_CLEAR, so without it the timer stays ready (filt_timerattach)', async () => {
    fresh();
    // An absolute time long past fires at once.
    expect(await kq.kevent([timer(132, EV_ADD | EV_ONESHOT, NOTE_ABSTIME | NOTE_SECONDS, 1)], 8, 0)).toEqual([
      { ident: 132, filter: EVFILT_TIMER, flags: EV_ONESHOT, fflags: 0, data: 1, udata: null },
    ]);
    const at = Date.now() + 20;
    await kq.kevent([timer(131, EV_ADD, NOTE_ABSTIME | NOTE_MSECONDS, at, 'abs')], 0);
    while (Date.now() <= at + 2) busy(1);
    for (let i = 0; i < 3; i++) {
      expect(await kq.kevent(null, 8, 0)).toEqual([{ ident: 131, filter: EVFILT_TIMER, flags: 0, fflags: 0, data: 1, udata: 'abs' }]);
    }
    // With EV_CLEAR asked for, it is returned once.
    await kq.kevent([timer(131, EV_DELETE, 0, 0), timer(133, EV_ADD | EV_CLEAR, NOTE_ABSTIME | NOTE_USECONDS, Date.now() * 1000)], 0);
    busy(2);
    expect((await kq.kevent(null, 8, 0)).map((e) => [e.ident, e.flags, e.data])).toEqual([[133, EV_CLEAR, 1]]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
  });

  it('keventSync waits its whole timeout once the last timer is gone (no stale deadline)', () => {
    fresh();
    kq.keventSync([timer(136, EV_ADD, 0, 5), timer(136, EV_DELETE, 0, 0)], 0);
    const t = performance.now();
    const cpu = process.cpuUsage();
    expect(kq.keventSync(null, 8, 60)).toEqual([]);
    const used = process.cpuUsage(cpu);
    expect(performance.now() - t).toBeGreaterThanOrEqual(60);
    // Parked, not spinning on a deadline that is no more: a 50 µs spin, then Atomics.wait.
    expect((used.user + used.system) / 1000).toBeLessThan(20);
  });

  it('a parked kevent wakes for a timer, and keventSync waits for it', async () => {
    fresh();
    await kq.kevent([timer(134, EV_ADD | EV_ONESHOT, 0, 15)], 0);
    expect((await kq.kevent(null, 8)).map((e) => [e.ident, e.data])).toEqual([[134, 1]]);
    await kq.kevent([timer(135, EV_ADD | EV_ONESHOT, 0, 15)], 0);
    expect(kq.keventSync(null, 8, 10_000).map((e) => [e.ident, e.data])).toEqual([[135, 1]]);
  });
});
