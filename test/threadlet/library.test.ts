/**
 * A real synchronous library, unmodified, as a threadlet: glob's globSync walks a tree with
 * readdirSync, lstatSync and realpathSync (path-scurry, through ESM named imports of node:fs). Run
 * as a threadlet it returns exactly what it returns when called directly, wherever it moves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
// glob is imported by the fixture, after syslet: path-scurry captures fs functions when it loads
// (a documented exception: imported before syslet, it would need --import syslet/register).
import { globFiles, globFilesNoClock, globSync } from '../fixtures/threadlet/glob.mjs';
import { tempDir } from '../helpers.js';

let rt: Runtime;
let tmp: { dir: string; cleanup: () => void };
let direct: string[];
const PATTERN = '**/*.{txt,md}';

beforeAll(async () => {
  rt = await Runtime.create({ workers: 2 });
  tmp = tempDir();
  for (let d = 0; d < 6; d++) {
    const sub = path.join(tmp.dir, `d${d}`, d % 2 === 0 ? 'deep' : '');
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 8; f++) fs.writeFileSync(path.join(sub, `f${f}.${['txt', 'md', 'js'][f % 3]}`), 'x');
  }
  fs.symlinkSync(path.join(tmp.dir, 'd1'), path.join(tmp.dir, 'link'));
  direct = globSync(PATTERN, { cwd: tmp.dir, posix: true });
});

afterAll(async () => {
  await rt.close();
  tmp.cleanup();
});

describe('glob as a threadlet', () => {
  it('the direct call finds what the tree holds', () => {
    expect(direct.length).toBe(6 * 6);
  });

  it('started inline with the default budget', async () => {
    await expect(globFiles.run(rt, PATTERN, tmp.dir)).resolves.toEqual(direct);
  });

  it('started on a worker', async () => {
    const h = globFiles.submit(rt, [PATTERN, tmp.dir], { start: 'worker' });
    await expect(h).resolves.toEqual(direct);
  });

  it('moved at each intercepted call in turn, the journal replaying the walk so far', async () => {
    // How many intercepted calls the walk makes (it runs inline with no budget).
    const calls = globFilesNoClock.run(rt, PATTERN, tmp.dir).journaled;
    expect(calls).toBeGreaterThan(10);
    const handles = [];
    for (let at = 1; at <= calls; at++) {
      const h = globFilesNoClock.submit(rt, [PATTERN, tmp.dir], { migrateAt: at });
      expect(h.placement).toBe('migrated');
      expect(h.journaled).toBe(at - 1);
      handles.push(h);
    }
    for (const h of handles) await expect(h).resolves.toEqual(direct);
    // One past the last call: it never reaches it, so it finishes inline.
    expect(globFilesNoClock.submit(rt, [PATTERN, tmp.dir], { migrateAt: calls + 1 }).placement).toBe('inline');
  });

  it('inline all the way, with no time budget', () => {
    const h = globFilesNoClock.run(rt, PATTERN, tmp.dir);
    expect(h.placement).toBe('inline');
    expect(h.value).toEqual(direct);
  });
});
