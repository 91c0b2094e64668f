/**
 * Importing syslet changes nothing; the first threadlet() installs the interception, and the shape
 * of a builtin module never makes that throw: a read-only but configurable export is redefined
 * (Node 26's zlib exports are shaped so), a read-only non-configurable one or an accessor is left
 * alone and named by interceptionStatus().skipped. Plain node processes, so that the builtins are
 * reshaped (by a preload, on every thread) before syslet is imported.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'test/fixtures/threadlet/builtin-shapes.mjs');
const RESHAPE = path.join(ROOT, 'test/fixtures/threadlet/reshape-builtins.mjs');
const SIZE = fs.readFileSync(SCRIPT, 'utf8').length;

function runNode(args: string[]): Record<string, Record<string, unknown>> {
  const out = execFileSync(process.execPath, [...args, SCRIPT], { cwd: ROOT, timeout: 60_000 }).toString();
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, Record<string, unknown>>;
}

const UNTOUCHED_BY_IMPORT = { installed: false, unchanged: true, wrapped: 0 };

describe('installing the interception', () => {
  it('import changes no builtin; the first threadlet() wraps them all', () => {
    const r = runNode([]);
    expect(r.afterImport).toEqual(UNTOUCHED_BY_IMPORT);
    expect(r.afterDefine).toEqual({
      installed: true,
      skipped: [],
      intercepted: ['fs.readFileSync', 'zlib.gzipSync', 'zlib.gunzipSync', 'zlib.inflateSync', 'Atomics.wait'],
      readFileSync: { wrapped: true, writable: true },
      gzipSync: { wrapped: true, same: false },
      size: SIZE,
    });
    expect(r.run).toEqual({ value: `some text ${SIZE}`, placement: 'migrated', migratedAt: 'zlib.gunzipSync', journaled: 1 });
  });

  it('read-only, non-configurable and accessor exports: no throw, the ones left alone are named', () => {
    const r = runNode(['--import', RESHAPE]);
    expect(r.afterImport).toEqual(UNTOUCHED_BY_IMPORT);
    expect(r.afterDefine).toEqual({
      installed: true,
      skipped: [
        { key: 'zlib.gzipSync', reason: 'read-only and not configurable' },
        { key: 'zlib.inflateSync', reason: 'an accessor (getter) property' },
      ],
      // fs.readFileSync was read-only but configurable: redefined, still read-only.
      intercepted: ['fs.readFileSync', 'zlib.gunzipSync', 'Atomics.wait'],
      readFileSync: { wrapped: true, writable: false },
      gzipSync: { wrapped: false, same: true },
      size: SIZE,
    });
    // gzipSync is plain code on both threads now: gunzipSync is call #1 (journaled, replayed) and
    // readFileSync call #2, where it moves; the worker's re-run agrees with the journal.
    expect(r.run).toEqual({ value: `some text ${SIZE}`, placement: 'migrated', migratedAt: 'fs.readFileSync', journaled: 1 });
  });
});
