/**
 * What the README says about CommonJS: `require` loads syslet (on the Node lines that load ES
 * modules with require), a threadlet takes pathToFileURL(__filename).href, and a bare __filename
 * is refused with that suggestion.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const tmp = tempDir('syslet-cjs-test-');
afterAll(() => tmp.cleanup());

describe('syslet from CommonJS', () => {
  it('runs a threadlet defined with pathToFileURL(__filename).href, inline and on a worker', () => {
    const file = path.join(tmp.dir, 'lib.cjs');
    fs.writeFileSync(path.join(tmp.dir, 'data.txt'), 'x'.repeat(1234));
    fs.writeFileSync(
      file,
      `const fs = require('node:fs');
const { pathToFileURL } = require('node:url');
const { threadlet, Runtime } = require(${JSON.stringify(INDEX)});
const size = threadlet(pathToFileURL(__filename).href, 'size', (p) => fs.readFileSync(p).length);
// fsync always blocks: this one moves to a worker, which loads this file by its URL.
const moved = threadlet(pathToFileURL(__filename).href, 'moved', (p) => {
  const fd = fs.openSync(p, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return fs.statSync(p).size;
});
if (require.main === module) {
  let refused = '';
  try { threadlet(__filename, 'bare', () => 0); } catch (e) { refused = e.message; }
  (async () => {
    const rt = await Runtime.create({ workers: 1 });
    const inline = size.run(rt, ${JSON.stringify(path.join(tmp.dir, 'data.txt'))});
    const a = inline.settled ? inline.result() : await inline;
    const h = moved.run(rt, ${JSON.stringify(path.join(tmp.dir, 'data.txt'))});
    const b = await h;
    console.log(JSON.stringify({ a, b, refused, placement: h.placement }));
    await rt.close();
  })();
}
`,
    );
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { a: number; b: number; refused: string; placement: string };
    expect(out.a).toBe(1234);
    expect(out.b).toBe(1234);
    expect(out.placement).toBe('migrated');
    expect(out.refused).toContain('pathToFileURL(__filename).href');
  });
});
