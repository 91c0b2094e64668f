import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tour } from '../../dist/cli/tour.js';
import { tempDir } from '../helpers.js';

describe('syslet tour (npm start)', () => {
  it('measures the dependencies with du, profiles, and writes the report and trace', async () => {
    const tmp = tempDir();
    try {
      let out = '';
      let err = '';
      const code = await tour({
        out: (s) => (out += s),
        err: (s) => (err += s),
        isTTY: false,
        reportDir: tmp.dir,
        duration: '300ms',
      });
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(out).toMatch(/^syslet tour\n\n1\. syslet du on this package's installed dependencies\n/);
      expect(out).toMatch(/ in all \(\d+ top-level entries\)\n/);
      expect(out).toMatch(/GNU du -sk says [\d,]+ KiB \(the same\)/);
      expect(out).toContain('2. syslet profile: 300ms of no-op, stat and 4 KiB read chains');
      expect(out).toMatch(/chains: ([\d,]+) submitted, \1 completed, 0 errors/);
      expect(out).toMatch(/4\. syslet\/fs: .* over 5,000 files of 4 KiB/);
      expect(out).toMatch(/ stat {6}syslet\/fs [\d,]+\/s, node:fs\/promises [\d,]+\/s: \d+\.\d\dx\n/);
      expect(out).toMatch(/ readFile {2}syslet\/fs [\d,]+\/s, node:fs\/promises [\d,]+\/s: \d+\.\d\dx\n/);
      expect(fs.readFileSync(path.join(tmp.dir, 'profile.html'), 'utf8')).toMatch(/^<!doctype html>/i);
      expect(JSON.parse(fs.readFileSync(path.join(tmp.dir, 'profile.trace.json'), 'utf8')).traceEvents.length).toBeGreaterThan(0);
      // 3. The recording of step 1's du run: every chain du submitted, spans in the trace.
      const duChains = Number(/ ([\d,]+) chains carrying /.exec(out)![1]!.replace(/,/g, ''));
      expect(out).toContain("3. the recorder on step 1's own syslet du run");
      expect(out).toContain(`syslet record: syslet du -d 1 `);
      expect(out).toContain(`chains: ${duChains.toLocaleString('en-US')} submitted, ${duChains.toLocaleString('en-US')} completed, 0 errors`);
      expect(fs.readFileSync(path.join(tmp.dir, 'du-record.html'), 'utf8')).toMatch(/^<!doctype html>/i);
      const duTrace = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'du-record.trace.json'), 'utf8')) as { traceEvents: { ph: string; cat?: string }[] };
      expect(duTrace.traceEvents.filter((e) => e.ph === 'b' && e.cat === 'chain')).toHaveLength(duChains);
    } finally {
      tmp.cleanup();
    }
  });
});
