/**
 * The HTML report of `syslet profile`, opened in a real browser.
 *
 * A short sweep (two runs, so that both the sweep plots and the per-run plots are there) writes a
 * report; headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens it from
 * a file:// URL with a fresh profile. Every <svg class="plot"> must have rendered: a non-zero box
 * and drawn marks (lines, areas, dots or bars) with non-zero boxes. No console error, no page
 * error, and no request other than the page itself (the report is self-contained). The full-page
 * screenshot is kept in test-artifacts/.
 *
 * Chromium is installed by `npm test`'s pretest (scripts/ensure-chromium.mjs) when it can; when it
 * is missing this test fails and says how to install it. It never skips.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/cli/main.js');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.SYSLET_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface PlotCheck {
  id: string;
  width: number;
  height: number;
  marks: number;
}

/** Runs in the page (a string: the test's tsconfig has no DOM types). */
const CHECK_PLOTS = `[...document.querySelectorAll('svg.plot')].map((svg) => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('path.line, path.area, circle.dot, rect.bar')].filter((el) => {
    const b = el.getBBox();
    return b.width > 0 || b.height > 0;
  });
  return { id: svg.dataset.plot ?? '?', width: box.width, height: box.height, marks: marks.length };
})`;

describe('syslet profile --html in Chromium', () => {
  const tmp = tempDir('syslet-report-');
  const report = path.join(tmp.dir, 'report.html');
  let context: BrowserContext | undefined;

  beforeAll(() => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: this test opens the HTML report in it. Install Debian's chromium package ` +
          '(as root: `apt-get update && apt-get install -y chromium`, which `npm test` does by itself through ' +
          '`node scripts/ensure-chromium.mjs` when run as root), or set SYSLET_CHROMIUM to a Chromium binary.',
      );
    }
    const r = spawnSync(
      process.execPath,
      [MAIN, 'profile', '--duration', '0.3', '--producers', '1', '--sweep', 'workers=1,2', '--batch', '16', '--html', report, '--json'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).not.toMatch(/failed|Error/);
    expect(r.status).toBe(0);
  });

  afterAll(async () => {
    await context?.close();
    tmp.cleanup();
  });

  it('renders every plot with no console error and no network request', async () => {
    const got = await openReport(report, tmp.dir, 'profile-report.png');
    context = got.context;
    const { plots, errors, requests } = got;

    // Four sweep plots, and six per run.
    const ids = plots.map((p) => p.id.replace(/-\d+$/, ''));
    expect(ids.filter((id) => id.startsWith('sweep-')).sort()).toEqual([
      'sweep-latency',
      'sweep-retries',
      'sweep-throughput',
      'sweep-waits',
    ]);
    for (const kind of ['occupancy', 'free', 'throughput', 'parked', 'latency', 'workers']) {
      expect(ids.filter((id) => id === kind), kind).toHaveLength(2);
    }
    expect(plots).toHaveLength(16);
    for (const p of plots) {
      expect(p.width, p.id).toBeGreaterThan(100);
      expect(p.height, p.id).toBeGreaterThan(100);
      expect(p.marks, p.id).toBeGreaterThan(0);
    }
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(fs.statSync(path.join(ARTIFACTS, 'profile-report.png')).size).toBeGreaterThan(10_000);
  });
});

/** Open a report in a fresh Chromium profile: its plots, console errors and requests. */
async function openReport(report: string, profileParent: string, screenshot: string): Promise<{ plots: PlotCheck[]; errors: string[]; requests: string[]; context: BrowserContext }> {
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(profileParent, 'chromium-profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const requests: string[] = [];
  const url = pathToFileURL(report).href;
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (req) => {
    if (req.url() !== url) requests.push(req.url());
  });
  await page.goto(url, { waitUntil: 'load' });
  const plots = (await page.evaluate(CHECK_PLOTS)) as PlotCheck[];
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, screenshot), fullPage: true });
  return { plots, errors, requests, context };
}

describe('the report of a program recorded with node --import syslet/profile, in Chromium', () => {
  const tmp = tempDir('syslet-record-report-');
  let report = '';
  let context: BrowserContext | undefined;

  beforeAll(() => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (see the test above)`);
    const app = path.join(ROOT, 'test/fixtures/record/app.mjs');
    const r = spawnSync(process.execPath, ['--import', 'syslet/profile', app], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, SYSLET_PROFILE: tmp.dir },
    });
    expect(r.status).toBe(3);
    report = /report: +(\S+\.html)/.exec(r.stderr)![1]!;
  });

  afterAll(async () => {
    await context?.close();
    tmp.cleanup();
  });

  it('renders every plot of the recorded runtime with no console error and no network request', async () => {
    const got = await openReport(report, tmp.dir, 'record-report.png');
    context = got.context;
    const ids = got.plots.map((p) => p.id.replace(/-\d+$/, '')).sort();
    expect(ids).toEqual(['free', 'latency', 'occupancy', 'parked', 'throughput', 'workers']);
    for (const p of got.plots) {
      expect(p.width, p.id).toBeGreaterThan(100);
      expect(p.height, p.id).toBeGreaterThan(100);
      expect(p.marks, p.id).toBeGreaterThan(0);
    }
    expect(got.errors).toEqual([]);
    expect(got.requests).toEqual([]);
    const html = fs.readFileSync(report, 'utf8');
    expect(html).toContain('<h1>syslet record: node --import syslet/profile ');
    expect(html).toContain('What the figures say');
  });
});
