/**
 * The README's example runs as written: its `js` block is split at its `// name.mjs` comment lines
 * into files in a temp directory where `atomics-sync` resolves to this package (built), and the
 * program's output is the one the example states.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomics-sync-readme-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('README example', () => {
  it('passes 10,000 values through a ring to a worker and prints their sum', () => {
    const readme = fs.readFileSync(path.join(PKG, 'README.md'), 'utf8');
    const block = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const files = block!.split(/^\/\/ ([\w.-]+\.mjs)\n/m).slice(1);
    expect(files.filter((_, i) => i % 2 === 0)).toEqual(['main.mjs', 'worker.mjs']);
    for (let i = 0; i < files.length; i += 2) fs.writeFileSync(path.join(dir, files[i]!), files[i + 1]!);
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(PKG, path.join(dir, 'node_modules', 'atomics-sync'), 'dir');
    const r = spawnSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    // The example's comment states the sum: 0 + 1 + ... + 9,999.
    expect(r.stdout).toBe(`${(9_999 * 10_000) / 2}\n`);
    expect(block).toContain(`// ${(9_999 * 10_000) / 2}`);
  });
});
