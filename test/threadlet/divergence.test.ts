/**
 * Divergence: the re-run on the worker must make the calls the inline run journaled. When it does
 * not, the threadlet fails with an error naming the call, and nothing is executed twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ThreadletDivergenceError, ThreadletError } from '../../dist/threadlet/index.js';
import { readsDiffer, stopsShort, swallowsDivergence, writesThread } from '../fixtures/threadlet/fns.mjs';
import { useRuntime } from '../helpers.js';

const env = useRuntime({ workers: 2 });

describe('divergence', () => {
  it('different arguments: fails naming the call, the write is not repeated', async () => {
    const f = path.join(env.dir, 'thread.txt');
    const h = writesThread.run(env.rt, f);
    expect(h.placement).toBe('migrated');
    expect(h.journaled).toBe(1);
    await expect(h).rejects.toBeInstanceOf(ThreadletDivergenceError);
    const e = h.error as ThreadletDivergenceError;
    expect(e).toBeInstanceOf(ThreadletError);
    expect(e.name).toBe('ThreadletDivergenceError');
    expect(e.threadlet).toBe('writesThread');
    expect(e.call).toBe(1);
    expect(e.expected).toBe(`fs.writeFileSync(${JSON.stringify(f)}, "main")`);
    expect(e.actual).toBe(`fs.writeFileSync(${JSON.stringify(f)}, "worker")`);
    expect(e.message).toContain("threadlet 'writesThread': diverged at intercepted call #1");
    expect(e.message).toContain('fs.writeFileSync');
    // Written once, inline; the worker's different write was refused.
    expect(fs.readFileSync(f, 'utf8')).toBe('main');
  });

  it('a different call, even when the threadlet catches the error, refuses everything after it', async () => {
    const f = path.join(env.dir, 'swallow');
    const h = swallowsDivergence.run(env.rt, f);
    expect(h.journaled).toBe(1);
    await expect(h).rejects.toBeInstanceOf(ThreadletDivergenceError);
    const e = h.error as ThreadletDivergenceError;
    expect(e.call).toBe(1);
    expect(e.expected).toBe(`fs.existsSync(${JSON.stringify(f)})`);
    expect(e.actual).toBe(`fs.mkdirSync(${JSON.stringify(f)})`);
    // The write after the caught divergence was refused too, and so was the mkdir.
    expect(fs.existsSync(`${f}.after`)).toBe(false);
    expect(fs.existsSync(f)).toBe(false);
  });

  it('a read the inline run did not make (a cache cold on the worker) runs; one it made and the re-run skips is dropped', async () => {
    const f = path.join(env.dir, 'reads');
    fs.writeFileSync(f, 'x');
    const h = readsDiffer.run(env.rt, f);
    expect(h.placement).toBe('migrated');
    expect(h.journaled).toBe(2);
    await expect(h).resolves.toBe('x!');
    expect(fs.readFileSync(f, 'utf8')).toBe('x!');
  });

  it('stopping short of the call it moved at', async () => {
    const f = path.join(env.dir, 'short');
    const h = stopsShort.run(env.rt, f);
    expect(h.migratedAt).toBe('Atomics.wait');
    await expect(h).rejects.toBeInstanceOf(ThreadletDivergenceError);
    const e = h.error as ThreadletDivergenceError;
    expect(e.call).toBe(2);
    expect(e.expected).toMatch(/^Atomics\.wait\(<Int32Array\(4\)>, 0, 0, 1\) \(where it moved to a worker: sleeps/);
    expect(e.actual).toBeUndefined();
    expect(e.message).toContain('made none (it returned or threw)');
  });
});
