/**
 * Interception is off outside threadlets: the wrapped builtins behave exactly as the originals
 * (results, errors, `this`, `arguments.length`, properties), and nothing is journaled. (What they
 * cost is measured in bench/threadlet.ts.)
 */
import childProcess from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, chain } from '../../dist/index.js';
import { interceptionInstalled, threadlet } from '../../dist/threadlet/index.js';
import { fdDance, statSize } from '../fixtures/threadlet/fns.mjs';
import { tempDir } from '../helpers.js';

const ORIGINAL = Symbol.for('syslet.threadlet.original');
type Wrapped = ((...a: unknown[]) => unknown) & { [ORIGINAL]?: (...a: unknown[]) => unknown };
const orig = (f: unknown): ((...a: unknown[]) => unknown) => (f as Wrapped)[ORIGINAL]!;

let rt: Runtime;
let tmp: { dir: string; cleanup: () => void };
let file: string;

beforeAll(async () => {
  rt = await Runtime.create({ workers: 2 });
  tmp = tempDir();
  file = path.join(tmp.dir, 'data');
  fs.writeFileSync(file, 'some data\n');
});

afterAll(async () => {
  await rt.close();
  tmp.cleanup();
});

describe('outside threadlets', () => {
  it('the builtins are wrapped, under their own names and arities', () => {
    expect(interceptionInstalled()).toBe(true);
    const wrapped: unknown[] = [fs.readFileSync, fs.readSync, childProcess.execFileSync, zlib.gzipSync, crypto.pbkdf2Sync, Atomics.wait];
    for (const f of wrapped) {
      expect(typeof orig(f)).toBe('function');
      expect((f as Wrapped).name).toBe(orig(f).name);
      expect((f as Wrapped).length).toBe(orig(f).length);
    }
    expect(fs.readFileSync.name).toBe('readFileSync');
    expect(typeof fs.realpathSync.native).toBe('function');
    expect(fs.realpathSync.native(tmp.dir)).toBe(fs.realpathSync(tmp.dir));
  });

  it('results and errors are the originals', () => {
    expect(fs.readFileSync(file, 'utf8')).toBe('some data\n');
    expect(fs.readFileSync(file)).toEqual(orig(fs.readFileSync)(file));
    let wrappedErr: NodeJS.ErrnoException | undefined;
    let origErr: NodeJS.ErrnoException | undefined;
    try {
      fs.readFileSync(path.join(tmp.dir, 'none'));
    } catch (e) {
      wrappedErr = e as NodeJS.ErrnoException;
    }
    try {
      orig(fs.readFileSync)(path.join(tmp.dir, 'none'));
    } catch (e) {
      origErr = e as NodeJS.ErrnoException;
    }
    expect(wrappedErr).toBeInstanceOf(Error);
    expect(wrappedErr!.constructor).toBe(origErr!.constructor);
    expect(wrappedErr!.message).toBe(origErr!.message);
    expect(wrappedErr!.code).toBe('ENOENT');
  });

  it('arguments.length is kept (readSync tells its forms apart by it)', () => {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(4);
      expect(fs.readSync(fd, b)).toBe(4);
      expect(b.toString()).toBe('some');
      expect(fs.readSync(fd, b, { position: 5 })).toBe(4);
      expect(b.toString()).toBe('data');
      expect(fs.readSync(fd, b, 0, 2, 0)).toBe(2);
      expect(b.toString()).toBe('sota');
    } finally {
      fs.closeSync(fd);
    }
  });

  it('blocking calls run here, as before', () => {
    expect(Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)).toBe('timed-out');
    expect(childProcess.execFileSync(process.execPath, ['-e', 'process.stdout.write("hi")']).toString()).toBe('hi');
    expect(zlib.gunzipSync(zlib.gzipSync('round trip')).toString()).toBe('round trip');
    const b = Buffer.alloc(16);
    expect(crypto.randomFillSync(b)).toBe(b);
    expect(crypto.pbkdf2Sync('pw', 'salt', 1, 8, 'sha256').toString('hex')).toBe(
      (orig(crypto.pbkdf2Sync)('pw', 'salt', 1, 8, 'sha256') as Buffer).toString('hex'),
    );
  });

  it('calls made outside are not journaled, and interception is off again after a threadlet', async () => {
    fs.statSync(file);
    fs.readFileSync(file);
    const h = fdDance.submit(rt, [path.join(tmp.dir, 'dance'), 'x'], { migrateAt: 3 });
    expect(h.journaled).toBe(2);
    await h;
    // A threadlet that threw inline left nothing behind.
    const t = threadlet(
      import.meta.url,
      'throwsHere',
      () => {
        fs.statSync(file);
        throw new Error('thrown inline');
      },
      { budgetUs: 1e9 },
    );
    expect(t.run(rt).state).toBe('rejected');
    expect(Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 0)).toBe('timed-out');
    expect(statSize.run(rt, file).value).toBe(10);
  });

  it('chains still run on workers that intercept', async () => {
    const c = await rt.run(chain().stat(file).build());
    expect(c.result).toBe(0);
  });
});
