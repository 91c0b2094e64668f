/**
 * Migration and the journal: a threadlet moves to a worker at a blocking call; the worker re-runs
 * it, the journal answers the calls already made (they are not executed again), and it goes on for
 * real.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cjsLogTwice } from '../fixtures/threadlet/cjs.mjs';
import { blocksWith, fdDance, randomThenSleep, writeSleepAppend } from '../fixtures/threadlet/fns.mjs';
import { useRuntime } from '../helpers.js';
import { workerRuns } from './helpers.js';

const env = useRuntime({ workers: 2 });

describe('write, sleep, append', () => {
  it('moves at the sleep, and the first write happens exactly once', async () => {
    const f = path.join(env.dir, 'wsa.txt');
    const runsBefore = workerRuns(env.rt);
    const h = writeSleepAppend.run(env.rt, f);
    expect(h.placement).toBe('migrated');
    expect(h.migratedAt).toBe('Atomics.wait');
    expect(h.migrationReason).toMatch(/sleeps/);
    // The write ran inline (journaled); the sleep did not run there.
    expect(h.journaled).toBe(1);
    expect(fs.readFileSync(f, 'utf8')).toBe('first\n');
    expect(typeof h.id).toBe('number');
    // A second write would have truncated the file before the append: 'first\nsecond\n' proves one.
    await expect(h).resolves.toBe('first\nsecond\n');
    expect(fs.readFileSync(f, 'utf8')).toBe('first\nsecond\n');
    expect(workerRuns(env.rt)).toBe(runsBefore + 1);
  });

  it('the same through a CommonJS library that destructured fs when it loaded', async () => {
    const f = path.join(env.dir, 'cjs.txt');
    const h = cjsLogTwice.run(env.rt, f);
    expect(h.placement).toBe('migrated');
    expect(h.migratedAt).toBe('Atomics.wait');
    expect(h.journaled).toBe(1);
    await expect(h).resolves.toBe('one\ntwo\n');
    expect(fs.readFileSync(f, 'utf8')).toBe('one\ntwo\n');
  });
});

describe('replay', () => {
  // fdDance makes 8 intercepted calls: openSync, writeSync, readSync, statSync (throws ENOENT,
  // caught), fstatSync, readdirSync, closeSync; moving at each one in turn replays the ones before.
  const expected = (p: string, text: string) => ({
    read: text,
    size: Buffer.byteLength(text),
    missing: 'ENOENT',
    names: [path.basename(p)],
  });

  it('inline all the way', () => {
    const dir = fs.mkdtempSync(path.join(env.dir, 'dance-'));
    const p = path.join(dir, 'f');
    const h = fdDance.run(env.rt, p, 'hello');
    expect(h.placement).toBe('inline');
    expect(h.value).toEqual(expected(p, 'hello'));
  });

  for (let at = 1; at <= 7; at++) {
    it(`moved at intercepted call ${at}: same result, nothing done twice`, async () => {
      const dir = fs.mkdtempSync(path.join(env.dir, `dance${at}-`));
      const p = path.join(dir, 'f');
      const text = `text moved at ${at}`;
      const h = fdDance.submit(env.rt, [p, text], { migrateAt: at });
      expect(h.placement).toBe('migrated');
      expect(h.journaled).toBe(at - 1);
      expect(h.migrationReason).toBe(`migrateAt: ${at}`);
      await expect(h).resolves.toEqual(expected(p, text));
      // The fd opened inline (process-wide) was closed once, on whichever side: no EBADF above.
      expect(fs.readFileSync(p, 'utf8')).toBe(text);
    });
  }

  it('started on a worker directly', async () => {
    const dir = fs.mkdtempSync(path.join(env.dir, 'dance-w-'));
    const p = path.join(dir, 'f');
    const h = fdDance.submit(env.rt, [p, 'direct'], { start: 'worker' });
    expect(h.placement).toBe('worker');
    expect(h.journaled).toBe(0);
    await expect(h).resolves.toEqual(expected(p, 'direct'));
  });
});

describe('calls that always run on a worker', () => {
  const cases: [string, string, RegExp, unknown, number][] = [
    ['execFileSync', 'child_process.execFileSync', /child process/, 'child', 1],
    ['fsyncSync', 'fs.fsyncSync', /flushes/, 'synced', 2], // statSync, openSync
    ['gzipSync', 'zlib.gzipSync', /compression of 262144 bytes/, 256 * 1024, 1],
    ['pbkdf2Sync', 'crypto.pbkdf2Sync', /key derivation/, undefined, 1],
    ['readFileSync', 'fs.readFileSync', /large read \(200000 bytes\)/, 200_000, 1],
    ['randomFillSync', 'crypto.randomFillSync', /large random fill/, 1 << 20, 1],
  ];
  for (const [kind, key, reason, value, journaled] of cases) {
    it(`${key}: moves before it, after the journaled stat`, async () => {
      const f = path.join(env.dir, 'big');
      if (!fs.existsSync(f)) fs.writeFileSync(f, Buffer.alloc(200_000));
      const h = blocksWith.run(env.rt, kind, f);
      expect(h.placement).toBe('migrated');
      expect(h.migratedAt).toBe(key);
      expect(h.migrationReason).toMatch(reason);
      expect(h.journaled).toBe(journaled);
      const v = await h;
      if (value !== undefined) expect(v).toBe(value);
    });
  }

  it('random values drawn inline are replayed on the worker, not drawn again', async () => {
    const f = path.join(env.dir, 'random');
    const h = randomThenSleep.run(env.rt, f);
    expect(h.journaled).toBe(4); // randomBytes, randomFillSync, randomUUID, writeFileSync
    const v = (await h) as { a: string; b: string; u: string; where: string };
    expect(v.where).toBe('worker');
    expect(fs.readFileSync(f, 'utf8')).toBe(`${v.a} ${v.b} ${v.u}`);
  });
});
