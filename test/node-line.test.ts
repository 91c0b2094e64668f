/**
 * CI runs the suite once per Node line (.ci/run) with that line's binary first on PATH and its
 * version in SYSLET_CI_NODE: the forks that run the tests must be that binary, or a line would pass
 * without having been tested. Outside CI (no SYSLET_CI_NODE), it checks the package's engines range
 * admits the running node.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

describe('the node running the tests', () => {
  it('is the one CI meant for this line', () => {
    const wanted = process.env.SYSLET_CI_NODE;
    if (wanted !== undefined && wanted !== '') expect(process.version).toBe(wanted);
  });

  it("is a line package.json's engines admits", () => {
    const major = Number(process.versions.node.split('.')[0]);
    const lines = pkg.engines.node.split('||').map((r) => Number(/^\s*\^?(\d+)/.exec(r)?.[1]));
    expect(lines).toContain(major);
  });
});
