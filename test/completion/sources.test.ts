// Node event sources through kevent, each a real OS-backed source: sockets and streams, signals,
// child processes, vnodes.
//
// FreeBSD's filters decide what the man page leaves open:
// filt_soread / filt_piperead: data = bytes readable; EV_EOF as soon as the peer closed (the end
//   reached the socket or pipe buffer), together with the bytes still unread, whatever NOTE_LOWAT
//   says; fflags = the socket's error with EV_EOF; NOTE_LOWAT n waits for n bytes otherwise.
// filt_sowrite / filt_pipewrite: data = room to write; NOTE_LOWAT n waits for n bytes of room;
//   EV_EOF once nothing more can be written (data 0 for a pipe), fflags = the error.
// kqueue_register: any change on an existing knote of these filters replaces its fflags and data
//   (NOTE_LOWAT and its count).
// filt_procattach / filt_proc: a child that already exited is reported in the kevent call that
//   adds the knote; NOTE_EXIT gives data = the wait status and flags EV_EOF | EV_ONESHOT; an exit
//   with no NOTE_EXIT asked for removes the knote without an event (EV_DROP); ESRCH for no such child.
// filt_signal: data = deliveries since the last retrieval, implicit EV_CLEAR. (filt_sigattach takes
//   any number; Node cannot listen for SIGKILL, SIGSTOP or numbers it does not know, so those are
//   EINVAL here rather than knotes that never fire.)
// filt_vfsvnode: the NOTE_* asked for accumulate in fflags until retrieval.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  EVFILT_PROC,
  EVFILT_READ,
  EVFILT_SIGNAL,
  EVFILT_VNODE,
  EVFILT_WRITE,
  EV_ADD,
  EV_CLEAR,
  EV_DELETE,
  EV_DISABLE,
  EV_DISPATCH,
  EV_ENABLE,
  EV_EOF,
  EV_ONESHOT,
  EV_SET,
  NOTE_ATTRIB,
  NOTE_DELETE,
  NOTE_EXIT,
  NOTE_EXTEND,
  NOTE_LINK,
  NOTE_LOWAT,
  NOTE_RENAME,
  NOTE_WRITE,
  WEXITSTATUS,
  WIFEXITED,
  WIFSIGNALED,
  WTERMSIG,
  errno,
  type KEvent,
  type Kqueue,
} from '../../dist/index.js';
import { useRuntime } from '../helpers.js';

const env = useRuntime({ workers: 1 });

/**
 * Collect events until `done` says so; returns everything seen. Throws (with what it saw) when `ms`
 * pass first: every caller expects the events to come.
 */
async function until(kq: Kqueue, done: (seen: KEvent[]) => boolean, ms = 5000): Promise<KEvent[]> {
  const seen: KEvent[] = [];
  const end = performance.now() + ms;
  while (!done(seen)) {
    if (performance.now() >= end) {
      throw new Error(`timed out after ${ms} ms waiting until ${done.toString()}; saw ${JSON.stringify(seen.map((e) => ({ ...e, ident: String(e.ident), udata: String(e.udata) })))}`);
    }
    seen.push(...(await kq.kevent(null, 16, Math.max(1, end - performance.now()))));
  }
  return seen;
}

describe('EVFILT_READ / EVFILT_WRITE on sockets and streams', () => {
  it('reports bytes readable on a TCP socket, and EV_EOF when the peer ends', async () => {
    const kq = env.rt.kqueue();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect(port, '127.0.0.1');
    const sock = await accepted;
    try {
      expect(await kq.kevent([EV_SET(sock, EVFILT_READ, EV_ADD, 0, 0, 'rd')], 8, 0)).toEqual([]);
      client.write('hello');
      const [ev] = await until(kq, (s) => s.length > 0);
      expect(ev).toMatchObject({ ident: sock, filter: EVFILT_READ, flags: 0, data: 5, udata: 'rd' });
      // Level-triggered: still readable until read.
      expect((await kq.kevent(null, 8, 0))[0]!.data).toBe(5);
      expect(sock.read()!.toString()).toBe('hello');
      expect(await kq.kevent(null, 8, 0)).toEqual([]);
      client.end();
      const eof = await until(kq, (s) => s.some((e) => (e.flags & EV_EOF) !== 0));
      expect(eof.at(-1)).toMatchObject({ ident: sock, filter: EVFILT_READ, flags: EV_EOF, data: 0 });
    } finally {
      kq.close();
      client.destroy();
      sock.destroy();
      server.close();
    }
  });

  it('reports room to write, and waits for NOTE_LOWAT bytes on a stream', async () => {
    const kq = env.rt.kqueue();
    const s = new PassThrough({ highWaterMark: 64 });
    const evs = await kq.kevent([EV_SET(s, EVFILT_WRITE, EV_ADD)], 8, 0);
    expect(evs).toEqual([{ ident: s, filter: EVFILT_WRITE, flags: 0, fflags: 0, data: 64, udata: null }]);
    await kq.kevent([EV_SET(s, EVFILT_WRITE, EV_DELETE), EV_SET(s, EVFILT_READ, EV_ADD, NOTE_LOWAT, 10)], 0);
    s.write('12345');
    await new Promise((r) => setImmediate(r));
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    s.write('67890');
    const [ev] = await until(kq, (x) => x.length > 0);
    expect(ev).toMatchObject({ filter: EVFILT_READ, data: 10 });
    kq.close();
  });

  it('EV_EOF comes with the unread bytes as soon as the peer closed, before any read (filt_soread)', async () => {
    const kq = env.rt.kqueue();
    const server = net.createServer((s) => s.end('hello world!'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    try {
      await kq.kevent([EV_SET(sock, EVFILT_READ, EV_ADD, 0, 0, 'rd')], 0);
      const seen = await until(kq, (x) => x.some((e) => (e.flags & EV_EOF) !== 0));
      // Nothing was read: the 12 bytes are all still there, reported with the end.
      expect(seen.at(-1)).toEqual({ ident: sock, filter: EVFILT_READ, flags: EV_EOF, fflags: 0, data: 12, udata: 'rd' });
      // Level-triggered: the same until read.
      expect(await kq.kevent(null, 8, 0)).toEqual([seen.at(-1)]);
      expect(sock.read(12)!.toString()).toBe('hello world!');
      const after = await until(kq, (x) => x.length > 0);
      expect(after[0]).toMatchObject({ flags: EV_EOF, data: 0 });
    } finally {
      kq.close();
      sock.destroy();
      server.close();
    }
  });

  it("EV_EOF with the unread bytes on a child's stdout pipe once it exited (filt_piperead)", async () => {
    const kq = env.rt.kqueue();
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("twelve bytes")']);
    await kq.kevent([EV_SET(child.stdout, EVFILT_READ, EV_ADD)], 0);
    const seen = await until(kq, (x) => x.some((e) => (e.flags & EV_EOF) !== 0), 30_000);
    expect(seen.at(-1)).toEqual({ ident: child.stdout, filter: EVFILT_READ, flags: EV_EOF, fflags: 0, data: 12, udata: null });
    expect(child.stdout.read()!.toString()).toBe('twelve bytes');
    kq.close();
  });

  it('EV_EOF with the unread bytes on a stream whose writer ended, whatever NOTE_LOWAT says', async () => {
    const kq = env.rt.kqueue();
    const s = new PassThrough();
    await kq.kevent([EV_SET(s, EVFILT_READ, EV_ADD, NOTE_LOWAT, 100)], 0);
    s.end('abc');
    const seen = await until(kq, (x) => x.length > 0);
    expect(seen[0]).toMatchObject({ filter: EVFILT_READ, flags: EV_EOF, data: 3 });
    kq.close();
  });

  it('a connection reset reports EV_EOF with fflags = ECONNRESET (filt_soread: so_error)', async () => {
    const kq = env.rt.kqueue();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const sock = await accepted;
    await new Promise<void>((r) => (client.connecting ? client.once('connect', () => r()) : r()));
    try {
      await kq.kevent([EV_SET(sock, EVFILT_READ, EV_ADD)], 0);
      client.resetAndDestroy();
      const seen = await until(kq, (x) => x.some((e) => (e.flags & EV_EOF) !== 0), 30_000);
      expect(seen.at(-1)).toMatchObject({ ident: sock, filter: EVFILT_READ, flags: EV_EOF, fflags: os.constants.errno.ECONNRESET });
    } finally {
      kq.close();
      sock.destroy();
      server.close();
    }
  });

  it('a change on an existing knote replaces NOTE_LOWAT and its count (kqueue_register)', async () => {
    const kq = env.rt.kqueue();
    const s = new PassThrough();
    await kq.kevent([EV_SET(s, EVFILT_READ, EV_ADD, NOTE_LOWAT, 10)], 0);
    s.write('12345');
    await new Promise((r) => setImmediate(r));
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // A re-add with a lower mark: ready now. EV_DISABLE / EV_ENABLE are changes too (fflags 0).
    expect((await kq.kevent([EV_SET(s, EVFILT_READ, EV_ADD, NOTE_LOWAT, 5)], 8, 0)).map((e) => e.data)).toEqual([5]);
    await kq.kevent([EV_SET(s, EVFILT_READ, EV_DISABLE, NOTE_LOWAT, 10)], 0);
    expect(await kq.kevent([EV_SET(s, EVFILT_READ, EV_ENABLE, NOTE_LOWAT, 10)], 8, 0)).toEqual([]);
    expect((await kq.kevent([EV_SET(s, EVFILT_READ, EV_ENABLE)], 8, 0)).map((e) => e.data)).toEqual([5]);
    kq.close();
  });

  it('EVFILT_WRITE with NOTE_LOWAT waits for that much room (filt_sowrite); EV_EOF once finished', async () => {
    const kq = env.rt.kqueue();
    let done: (() => void) | undefined;
    const w = new Writable({ highWaterMark: 64, write: (_c, _e, cb) => (done = cb) });
    w.write(Buffer.alloc(40)); // held: 24 bytes of room left
    const evs = await kq.kevent([EV_SET(w, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 30), EV_SET(w, EVFILT_READ, 0)], 8, 0);
    expect(evs.map((e) => [e.filter, e.data])).toEqual([[EVFILT_READ, errno.ENOENT]]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect(await kq.kevent([EV_SET(w, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 20)], 8, 0)).toEqual([
      { ident: w, filter: EVFILT_WRITE, flags: 0, fflags: 0, data: 24, udata: null },
    ]);
    done!();
    w.end();
    const seen = await until(kq, (x) => x.some((e) => (e.flags & EV_EOF) !== 0));
    expect(seen.at(-1)).toEqual({ ident: w, filter: EVFILT_WRITE, flags: EV_EOF, fflags: 0, data: 0, udata: null });
    kq.close();
  });

  it('the README idiom: read what data says (or use EV_CLEAR), delete at EV_EOF, and the loop ends', async () => {
    const kq = env.rt.kqueue();
    const server = net.createServer((s) => {
      s.write('one');
      setTimeout(() => s.end('two'), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await kq.kevent([EV_SET(socket, EVFILT_READ, EV_ADD)], 0);
    let got = '';
    let events = 0;
    for await (const ev of kq) {
      events++;
      if (ev.data > 0) got += socket.read(ev.data)!.toString();
      if ((ev.flags & EV_EOF) !== 0) {
        await kq.kevent([EV_SET(socket, EVFILT_READ, EV_DELETE)], 0);
        break;
      }
    }
    expect(got).toBe('onetwo');
    // One event per arrival (data, then data or the end, then perhaps the end alone): no spinning.
    expect(events).toBeLessThanOrEqual(3);
    kq.close();
    socket.destroy();
    server.close();
  });

  it('EV_CLEAR: one event for two writes (data 2); reading part of it brings no new event (FreeBSD read.c)', async () => {
    const kq = env.rt.kqueue();
    const s = new PassThrough();
    await kq.kevent([EV_SET(s, EVFILT_READ, EV_ADD | EV_CLEAR)], 0);
    s.write('.');
    s.write('.');
    const [ev] = await until(kq, (x) => x.length > 0);
    expect(ev).toEqual({ ident: s, filter: EVFILT_READ, flags: EV_CLEAR, fflags: 0, data: 2, udata: null });
    expect(s.read(1)!.toString()).toBe('.');
    await new Promise((r) => setImmediate(r));
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    // New bytes: a new event, with everything unread.
    s.write('..');
    expect((await until(kq, (x) => x.length > 0)).map((e) => e.data)).toEqual([3]);
    kq.close();
  });

  it('EV_DISPATCH: one event, then none until EV_ENABLE, though the bytes stay unread (FreeBSD read.c)', async () => {
    const kq = env.rt.kqueue();
    const s = new PassThrough();
    await kq.kevent([EV_SET(s, EVFILT_READ, EV_ADD | EV_DISPATCH)], 0);
    s.write('.');
    expect((await until(kq, (x) => x.length > 0)).map((e) => [e.flags, e.data])).toEqual([[EV_DISPATCH, 1]]);
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([EV_SET(s, EVFILT_READ, EV_ENABLE)], 8, 0)).map((e) => e.data)).toEqual([1]);
    // Disabled again by that delivery; deleting it works all the same.
    expect(await kq.kevent([EV_SET(s, EVFILT_READ, EV_DELETE)], 8, 0)).toEqual([]);
    kq.close();
  });

  it('refuses an ident that is not a stream with EBADF', async () => {
    const kq = env.rt.kqueue();
    expect((await kq.kevent([EV_SET({}, EVFILT_READ, EV_ADD)], 8, 0))[0]!.data).toBe(errno.EBADF);
    kq.close();
  });
});

describe('EVFILT_SIGNAL', () => {
  it('counts deliveries since the last retrieval (implicit EV_CLEAR)', async () => {
    const kq = env.rt.kqueue();
    const SIGUSR2 = 12;
    await kq.kevent([EV_SET(SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, 'sig')], 0);
    process.kill(process.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 50));
    process.kill(process.pid, 'SIGUSR2');
    const seen = await until(kq, (s) => s.reduce((n, e) => n + e.data, 0) >= 2);
    expect(seen.reduce((n, e) => n + e.data, 0)).toBe(2);
    expect(seen[0]).toMatchObject({ ident: SIGUSR2, filter: EVFILT_SIGNAL, flags: EV_CLEAR, udata: 'sig' });
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([EV_SET(9, EVFILT_SIGNAL, EV_ADD)], 8, 0))[0]!.data).toBe(errno.EINVAL); // SIGKILL
    expect((await kq.kevent([EV_SET(999, EVFILT_SIGNAL, EV_ADD)], 8, 0))[0]!.data).toBe(errno.EINVAL);
    kq.close();
  });
});

describe('EVFILT_SIGNAL while disabled', () => {
  it('deliveries while disabled are counted and reported on EV_ENABLE (filt_signal; FreeBSD signal.c)', async () => {
    const kq = env.rt.kqueue();
    const SIGUSR2 = 12;
    const delivered = (): Promise<void> => new Promise((r) => process.once('SIGUSR2', () => r()));
    await kq.kevent([EV_SET(SIGUSR2, EVFILT_SIGNAL, EV_ADD), EV_SET(SIGUSR2, EVFILT_SIGNAL, EV_DISABLE)], 0);
    let seen = delivered();
    process.kill(process.pid, 'SIGUSR2');
    await seen;
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    await kq.kevent([EV_SET(SIGUSR2, EVFILT_SIGNAL, EV_ENABLE)], 0);
    seen = delivered();
    process.kill(process.pid, 'SIGUSR2');
    await seen;
    expect(await kq.kevent(null, 8, 0)).toEqual([
      { ident: SIGUSR2, filter: EVFILT_SIGNAL, flags: EV_CLEAR, fflags: 0, data: 2, udata: null },
    ]);
    kq.close();
  });
});

describe('EVFILT_PROC', () => {
  it('NOTE_EXIT on a ChildProcess: data is its wait status, flags EV_EOF | EV_ONESHOT | EV_CLEAR', async () => {
    const kq = env.rt.kqueue();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => process.exit(3), 50)']);
    await kq.kevent([EV_SET(child, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 'kid')], 0);
    const [ev] = await until(kq, (s) => s.length > 0, 30_000);
    expect(ev).toMatchObject({ ident: child, filter: EVFILT_PROC, flags: EV_EOF | EV_ONESHOT | EV_CLEAR, fflags: NOTE_EXIT, udata: 'kid' });
    expect(WIFEXITED(ev!.data)).toBe(true);
    expect(WEXITSTATUS(ev!.data)).toBe(3);
    kq.close();
  });

  it('a child that already exited is reported in the call that adds the knote (filt_procattach)', async () => {
    const kq = env.rt.kqueue();
    const child = spawn(process.execPath, ['-e', 'process.exit(4)']);
    await new Promise((r) => child.once('exit', r));
    const evs = await kq.kevent([EV_SET(child, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 'gone')], 8, 0);
    expect(evs).toEqual([
      { ident: child, filter: EVFILT_PROC, flags: EV_EOF | EV_ONESHOT | EV_CLEAR, fflags: NOTE_EXIT, data: 4 << 8, udata: 'gone' },
    ]);
    kq.close();
  });

  it('an exit nobody asked for (no NOTE_EXIT) removes the knote without an event (filt_proc: EV_DROP)', async () => {
    const kq = env.rt.kqueue();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 50)']);
    await kq.kevent([EV_SET(child, EVFILT_PROC, EV_ADD, 0)], 0);
    await new Promise((r) => child.once('exit', r));
    expect(await kq.kevent(null, 8, 0)).toEqual([]);
    expect((await kq.kevent([EV_SET(child, EVFILT_PROC, EV_DELETE)], 8, 0))[0]!.data).toBe(errno.ENOENT);
    kq.close();
  });

  it('takes a pid too, and reports a kill by signal', async () => {
    const kq = env.rt.kqueue();
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await kq.kevent([EV_SET(child.pid, EVFILT_PROC, EV_ADD, NOTE_EXIT)], 0);
    child.kill('SIGTERM');
    const [ev] = await until(kq, (s) => s.length > 0, 30_000);
    expect(ev!.ident).toBe(child.pid);
    expect(WIFSIGNALED(ev!.data)).toBe(true);
    expect(WTERMSIG(ev!.data)).toBe(15);
    expect((await kq.kevent([EV_SET(2 ** 22 + 7, EVFILT_PROC, EV_ADD, NOTE_EXIT)], 8, 0))[0]!.data).toBe(errno.ESRCH);
    kq.close();
  });
});

describe('EVFILT_VNODE', () => {
  it('tells NOTE_WRITE | NOTE_EXTEND, NOTE_ATTRIB, NOTE_LINK, NOTE_RENAME and NOTE_DELETE apart', async () => {
    const kq = env.rt.kqueue();
    const file = path.join(env.dir, 'watched');
    fs.writeFileSync(file, 'a');
    const all = NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME | NOTE_DELETE;
    await kq.kevent([EV_SET(file, EVFILT_VNODE, EV_ADD | EV_CLEAR, all, 0, 'v')], 0);
    const expectNote = async (act: () => void, note: number) => {
      act();
      const seen = await until(kq, (s) => s.some((e) => (e.fflags & note) === note));
      const hit = seen.find((e) => (e.fflags & note) === note);
      expect(hit).toMatchObject({ ident: file, filter: EVFILT_VNODE, flags: EV_CLEAR, udata: 'v' });
      return hit!.fflags;
    };
    expect(await expectNote(() => fs.appendFileSync(file, 'bc'), NOTE_WRITE | NOTE_EXTEND)).toBe(NOTE_WRITE | NOTE_EXTEND);
    expect(await expectNote(() => fs.chmodSync(file, 0o600), NOTE_ATTRIB)).toBe(NOTE_ATTRIB);
    await expectNote(() => fs.linkSync(file, `${file}.hard`), NOTE_LINK);
    await expectNote(() => fs.renameSync(file, `${file}.moved`), NOTE_RENAME);
    fs.unlinkSync(`${file}.hard`);
    await expectNote(() => fs.unlinkSync(`${file}.moved`), NOTE_DELETE);
    expect((await kq.kevent([EV_SET(path.join(env.dir, 'nope'), EVFILT_VNODE, EV_ADD, NOTE_WRITE)], 8, 0))[0]!.data).toBe(errno.ENOENT);
    kq.close();
  });
});
