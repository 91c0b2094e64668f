/** Errors keep their class name, message, stack and properties across threads. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
import { ThreadletError } from '../../dist/threadlet/index.js';
import {
  ConfigError,
  UnregisteredError,
  readsMissing,
  returnsFunction,
  richValues,
  throwsConfig,
  throwsString,
  throwsUnregistered,
} from '../fixtures/threadlet/fns.mjs';
import { tempDir } from '../helpers.js';

let rt: Runtime;
let tmp: { dir: string; cleanup: () => void };
const FIXTURE = 'test/fixtures/threadlet/fns.mjs';

beforeAll(async () => {
  rt = await Runtime.create({ workers: 2 });
  tmp = tempDir();
  fs.writeFileSync(path.join(tmp.dir, 'config.json'), '{}');
});

afterAll(async () => {
  await rt.close();
  tmp.cleanup();
});

describe('errors across threads', () => {
  it('a registered class: instanceof, name, message, stack, own properties and cause', async () => {
    const f = path.join(tmp.dir, 'config.json');
    const h = throwsConfig.run(rt, f, 'worker');
    expect(h.placement).toBe('migrated');
    await expect(h).rejects.toBeInstanceOf(ConfigError);
    const e = h.error as ConfigError & { file: string; code: string; cause: Error };
    expect(e).toBeInstanceOf(Error);
    expect(e.constructor).toBe(ConfigError);
    expect(e.name).toBe('ConfigError');
    expect(e.message).toBe(`bad config in ${f}`);
    expect(e.code).toBe('ECONFIG');
    expect(e.file).toBe(f);
    // The stack is the worker's: it names the function and the fixture's file.
    expect(e.stack?.split('\n')[0]).toBe(`ConfigError: bad config in ${f}`);
    expect(e.stack).toMatch(/at loadConfig \(.*test\/fixtures\/threadlet\/fns\.mjs:\d+:\d+\)/);
    expect(e.cause).toBeInstanceOf(TypeError);
    expect(e.cause.message).toBe('line 3: expected a number');
    expect(e.cause.stack).toContain(FIXTURE);
  });

  it('the same error inline is the very object', () => {
    const f = path.join(tmp.dir, 'config.json');
    const h = throwsConfig.run(rt, f, 'inline');
    expect(h.placement).toBe('inline');
    expect(h.error).toBeInstanceOf(ConfigError);
  });

  it('an unregistered class keeps its class name and its built-in ancestry', async () => {
    const h = throwsUnregistered.run(rt);
    await expect(h).rejects.toThrow('value out of range');
    const e = h.error as Error;
    expect(e).not.toBeInstanceOf(UnregisteredError);
    expect(e).toBeInstanceOf(RangeError);
    expect(e.constructor.name).toBe('UnregisteredError');
    expect(e.name).toBe('RangeError');
    expect(e.stack).toMatch(/at outOfRange \(.*fns\.mjs/);
  });

  it('a system error from a real call on the worker: code, errno, syscall, path', async () => {
    const f = path.join(tmp.dir, 'missing');
    const h = readsMissing.run(rt, f);
    await expect(h).rejects.toThrow(/ENOENT/);
    const e = h.error as NodeJS.ErrnoException;
    expect(e.constructor).toBe(Error);
    expect(e.code).toBe('ENOENT');
    expect(e.syscall).toBe('open');
    expect(e.path).toBe(f);
    expect(e.errno).toBe(-2);
    expect(e.stack).toContain(FIXTURE);
  });

  it('a thrown non-error value', async () => {
    await expect(throwsString.run(rt)).rejects.toBe('just a string');
  });

  it('a result that cannot travel back fails with a ThreadletError', async () => {
    const h = returnsFunction.run(rt);
    await expect(h).rejects.toBeInstanceOf(ThreadletError);
    expect((h.error as Error).message).toMatch(/returned a value that cannot be sent back: its result\.f is a function/);
  });

  it('arguments that cannot travel fail with a ThreadletError on this thread', () => {
    const h = readsMissing.run(rt, (() => 1) as never);
    expect(h.state).toBe('rejected');
    expect(h.error).toBeInstanceOf(ThreadletError);
    expect((h.error as Error).message).toMatch(/argument\[0\] is a function/);
  });

  it('rich values come back as themselves', async () => {
    fs.mkdirSync(path.join(tmp.dir, 'sub'), { recursive: true });
    const v = await richValues.run(rt, tmp.dir);
    const st = fs.statSync(tmp.dir);
    expect(v.stat).toBeInstanceOf(fs.Stats);
    expect(v.stat.isDirectory()).toBe(true);
    expect(v.stat.ino).toBe(st.ino);
    expect(v.stat.mtime).toEqual(st.mtime);
    const entries = fs.readdirSync(tmp.dir, { withFileTypes: true });
    expect(v.entries).toEqual(entries);
    expect(v.entries.find((d: fs.Dirent) => d.name === 'sub')?.isDirectory()).toBe(true);
    expect(v.entries[0]).toBeInstanceOf(fs.Dirent);
    expect(v.map).toEqual(new Map([['k', new Set([1, 2])]]));
    expect(v.url).toBeInstanceOf(URL);
    expect(v.url.href).toBe(`file://${tmp.dir}`);
    expect(Buffer.isBuffer(v.buf)).toBe(true);
    expect(v.buf.toString()).toBe('bytes');
  });
});
