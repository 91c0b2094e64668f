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
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
  /** The axes' ends in data units (data-x0 ... on the svg); NaN where absent. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  xTicks: number[];
  yTicks: number[];
  /** Marks (lines, areas, dots, bars) drawn outside the axes' rectangle, by more than a pixel. */
  outside: number;
}

/** Runs in the page (a string: the test's tsconfig has no DOM types). */
const CHECK_PLOTS = `[...document.querySelectorAll('svg.plot')].map((svg) => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('path.line, path.area, circle.dot, rect.bar')].filter((el) => {
    const b = el.getBBox();
    return b.width > 0 || b.height > 0;
  });
  const axes = [...svg.querySelectorAll('line.axis')].map((l) => l.getBBox());
  const left = Math.min(...axes.map((b) => b.x)), right = Math.max(...axes.map((b) => b.x + b.width));
  const top = Math.min(...axes.map((b) => b.y)), bottom = Math.max(...axes.map((b) => b.y + b.height));
  const outside = marks.filter((el) => {
    // A dot's centre is its data point (its radius may cross an axis).
    const b = el.tagName === 'circle' ? { x: el.cx.baseVal.value, y: el.cy.baseVal.value, width: 0, height: 0 } : el.getBBox();
    return b.x < left - 1 || b.x + b.width > right + 1 || b.y < top - 1 || b.y + b.height > bottom + 1;
  }).length;
  const ticks = (cls) => [...svg.querySelectorAll('text.tick.' + cls)].map((t) => Number(t.dataset.v));
  const d = svg.dataset;
  return { id: d.plot ?? '?', width: box.width, height: box.height, marks: marks.length,
    x0: Number(d.x0 ?? NaN), x1: Number(d.x1 ?? NaN), y0: Number(d.y0 ?? NaN), y1: Number(d.y1 ?? NaN),
    xTicks: ticks('x'), yTicks: ticks('y'), outside };
})`;

/** Boxes wider than their container, and the page's own horizontal overflow. */
const CHECK_OVERFLOW = `({
  page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  boxes: [...document.querySelectorAll('.scroll, figure, .plots, section')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.className || el.tagName),
})`;

/** The report's raw figures (the JSON in its <details>): each run's length and capacities. */
const RAW = `JSON.parse(document.querySelector('details pre code').textContent).points.map((p) => ({
  elapsedMs: p.elapsedMs, ring: p.config.ring, workers: p.config.workers }))`;

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
    const { plots, errors, requests, page } = got;

    // Four sweep plots, and eight per run.
    const ids = plots.map((p) => p.id.replace(/-\d+$/, ''));
    expect(ids.filter((id) => id.startsWith('sweep-')).sort()).toEqual([
      'sweep-latency',
      'sweep-retries',
      'sweep-throughput',
      'sweep-waits',
    ]);
    for (const kind of ['occupancy', 'completion', 'free', 'throughput', 'parked', 'pool', 'latency', 'workers']) {
      expect(ids.filter((id) => id === kind), kind).toHaveLength(2);
    }
    expect(plots).toHaveLength(20);
    for (const p of plots) {
      expect(p.width, p.id).toBeGreaterThan(100);
      expect(p.height, p.id).toBeGreaterThan(100);
      expect(p.marks, p.id).toBeGreaterThan(0);
      // Every mark inside the axes; every tick inside the axis it labels.
      expect(p.outside, p.id).toBe(0);
      for (const t of p.xTicks) expect(t >= p.x0 - 1e-9 && t <= p.x1 + 1e-9, `${p.id} x tick ${t} in [${p.x0}, ${p.x1}]`).toBe(true);
      for (const t of p.yTicks) expect(t >= p.y0 - 1e-9 && t <= p.y1 + 1e-9, `${p.id} y tick ${t} in [${p.y0}, ${p.y1}]`).toBe(true);
    }
    // Axes within the data's range: time axes end at the run's length, the free-slots axis at the
    // ring's capacity, parked workers at the number of workers; counts have whole-number ticks.
    const raw = (await page.evaluate(RAW)) as { elapsedMs: number; ring: number; workers: number }[];
    for (const p of plots) {
      const m = /^(occupancy|completion|free|throughput|parked|pool)-(\d+)$/.exec(p.id);
      if (m === null) continue;
      const run = raw[Number(m[2])]!;
      expect(p.x0, p.id).toBe(0);
      expect(p.x1, p.id).toBeCloseTo(run.elapsedMs / 1000, 6);
      if (m[1] === 'free') expect(p.y1, p.id).toBe(run.ring);
      if (m[1] === 'parked') expect(p.y1, p.id).toBe(run.workers);
      if (m[1] !== 'throughput') for (const t of p.yTicks) expect(Number.isInteger(t), `${p.id} tick ${t}`).toBe(true);
    }
    for (const p of plots.filter((q) => q.id.startsWith('workers-'))) {
      for (const t of p.yTicks) expect(Number.isInteger(t), `${p.id} tick ${t}`).toBe(true);
    }
    // No horizontal overflow: no table or figure wider than its box, at two window widths.
    for (const width of [1280, 1024]) {
      await page.setViewportSize({ width, height: 900 });
      const o = (await page.evaluate(CHECK_OVERFLOW)) as { page: number; boxes: string[] };
      expect(o, `at ${width} px`).toEqual({ page: 0, boxes: [] });
    }
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(fs.statSync(path.join(ARTIFACTS, 'profile-report.png')).size).toBeGreaterThan(10_000);
  });
});

/** Open a report in a fresh Chromium profile: its plots, console errors and requests. */
async function openReport(
  report: string,
  profileParent: string,
  screenshot: string,
): Promise<{ plots: PlotCheck[]; errors: string[]; requests: string[]; context: BrowserContext; page: Page }> {
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
  return { plots, errors, requests, context, page };
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
    expect(ids).toEqual(['completion', 'free', 'latency', 'occupancy', 'parked', 'pool', 'throughput', 'workers']);
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
