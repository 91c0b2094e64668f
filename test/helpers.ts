import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { rng, xorshift32 } from '../dist/bench/rng.js';
import { Runtime, type RuntimeOptions } from '../dist/index.js';

/** A fresh directory under the OS temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'syslet-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A policy's root beside a directory outside it, in a fresh temp dir `dir`: `root` (holding the
 * directory `sub`) and `outside` exist; cleanup removes all three.
 */
export function rootBesideOutside(prefix: string, sub: string): { dir: string; root: string; outside: string; cleanup: () => void } {
  const tmp = tempDir(prefix);
  const root = path.join(tmp.dir, 'root');
  const outside = path.join(tmp.dir, 'outside');
  fs.mkdirSync(path.join(root, sub), { recursive: true });
  fs.mkdirSync(outside);
  return { dir: tmp.dir, root, outside, cleanup: tmp.cleanup };
}

/**
 * Poll `cond` (every few milliseconds, yielding to the event loop) until it holds; throws naming
 * `what` when it still does not after `timeoutMs`. A wait that gives up silently would let the
 * assertions after it pass or fail for the wrong reason.
 */
export async function waitUntil(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Every entry under `dir` with its mode, size and mtime: a before/after picture of a tree. */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(dir, p)} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(n: number, seed = 0x9e3779b9): Buffer {
  const next = xorshift32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

/** A seeded random generator in [0, 1). */
export { rng };

/**
 * A runtime and a fresh temp dir for the tests of one file: created before them, closed and
 * removed after them. Read `env.rt` and `env.dir` inside tests (they exist only once beforeAll ran).
 */
export function useRuntime(options: RuntimeOptions): { readonly rt: Runtime; readonly dir: string } {
  let rt: Runtime | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;
  beforeAll(async () => {
    rt = await Runtime.create(options);
    tmp = tempDir();
  });
  afterAll(async () => {
    await rt?.close();
    tmp?.cleanup();
  });
  return {
    get rt(): Runtime {
      if (rt === undefined) throw new Error('useRuntime: env.rt read before beforeAll ran');
      return rt;
    },
    get dir(): string {
      if (tmp === undefined) throw new Error('useRuntime: env.dir read before beforeAll ran');
      return tmp.dir;
    },
  };
}
