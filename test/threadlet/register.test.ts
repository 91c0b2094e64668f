/**
 * Plain node processes (no test runner between the code and Node's loader): ESM named imports are
 * intercepted; a CommonJS library loaded before syslet captured the original functions, which the
 * threadlet's re-run on the worker detects as a divergence (nothing runs twice); with
 * `--import syslet/register` the same library is intercepted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'test/fixtures/threadlet/native-main.mjs');
let tmp: { dir: string; cleanup: () => void };

beforeAll(() => {
  tmp = tempDir();
});

afterAll(() => {
  tmp.cleanup();
});

function runNode(args: string[], dir: string): Record<string, Record<string, unknown>> {
  const out = execFileSync(process.execPath, [...args, SCRIPT, dir], { cwd: ROOT, timeout: 60_000 }).toString();
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, Record<string, unknown>>;
}

describe('plain node', () => {
  it('without the preload: ESM named imports intercepted; an early CommonJS capture fails safely', () => {
    const dir = path.join(tmp.dir, 'plain');
    fs.mkdirSync(dir);
    const r = runNode([], dir);
    expect(r.esm).toEqual({ journaled: 1, value: 'first\nsecond\n', file: 'first\nsecond\n' });
    // The captured writeFileSync ran inline unseen; the worker's re-run met it where the journal
    // said Atomics.wait: a divergence, and the write was not repeated.
    expect(r.early).toEqual({ journaled: 0, error: 'ThreadletDivergenceError', file: 'one\n' });
  });

  it('with --import syslet/register: the early capture is intercepted too', () => {
    const dir = path.join(tmp.dir, 'preload');
    fs.mkdirSync(dir);
    const r = runNode(['--import', 'syslet/register'], dir);
    expect(r.early).toEqual({ journaled: 1, value: 'one\ntwo\n', file: 'one\ntwo\n' });
    expect(r.esm).toEqual({ journaled: 1, value: 'first\nsecond\n', file: 'first\nsecond\n' });
  });
});
