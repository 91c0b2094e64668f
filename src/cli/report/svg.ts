/**
 * Small inline-SVG charts for the HTML report: line charts (linear or log y, numeric or
 * categorical x) and grouped bar charts. No scripts, no external resources: every chart is an
 * <svg class="plot"> with axes, grid, legend and a <title> on every mark for hover read-outs.
 */

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

export interface Series {
  name: string;
  /** [x, y] points; x in data units (or the category's index for categorical x). */
  points: [number, number][];
  color?: string;
  /** Draw markers at each point. @default true when there are at most 40 points */
  markers?: boolean;
  /** Fill under the line. @default false */
  area?: boolean;
  dashed?: boolean;
  /** Listed in the legend. @default true */
  legend?: boolean;
}

export interface LineChartOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Categorical x axis: the label of each index. */
  categories?: string[];
  /** Log-scale y axis (values <= 0 are clamped to the smallest positive one). */
  logY?: boolean;
  /** Step-after lines (for sampled counts). */
  step?: boolean;
  width?: number;
  height?: number;
  /** Formats y tick labels and read-outs. */
  fmtY?: (y: number) => string;
  fmtX?: (x: number) => string;
  /**
   * Where the x axis ends, in data units (a time axis: the run's length). @default the largest x.
   * The axis never ends short of the data.
   */
  xMax?: number;
  /** Where the y axis ends (a bounded quantity: its capacity). @default a round value above the largest y */
  yMax?: number;
  /** The y values are counts: whole-number ticks only. @default false */
  integerY?: boolean;
}

const M = { right: 24, bottom: 46, left: 62 };

/** Round tick values inside [lo, hi] (none past either end). */
export function ticksWithin(lo: number, hi: number, count = 5, integer = false): number[] {
  const eps = (hi - lo) * 1e-9;
  return niceTicks(lo, hi, count, integer).filter((t) => t >= lo - eps && t <= hi + eps);
}

/** About `count` round tick values covering [lo, hi]; whole numbers only when `integer`. */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const steps = [1, 2, 2.5, 5, 10, 20].map((m) => m * mag).filter((s) => !integer || (s >= 1 && Number.isInteger(s)));
  const step = steps.find((s) => s >= raw) ?? (integer ? Math.max(1, Math.ceil(raw)) : raw);
  const out: number[] = [];
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let k = first; k <= last; k++) out.push(k * step);
  return out;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

function defaultFmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return String(+v.toPrecision(3));
}

/** The axes' ends in data units, as data-* attributes (for tests and readers of the SVG). */
interface AxisEnds {
  x0?: number;
  x1?: number;
  y0: number;
  y1: number;
}

function frame(id: string, title: string, w: number, h: number, body: string[], ends: AxisEnds): string {
  const data = Object.entries(ends)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` data-${k}="${v}"`)
    .join('');
  return [
    `<svg class="plot" data-plot="${esc(id)}"${data} role="img" aria-label="${esc(title)}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">`,
    `<title>${esc(title)}</title>`,
    `<text class="title" x="${M.left}" y="17">${esc(title)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

interface Legend {
  rows: number;
  /** The legend's elements, its first row's baseline at `y`. */
  draw(y: number): string[];
}

/** Legend entries laid out left to right from `x`, wrapping before `right`. */
function legend(series: { name: string; color: string }[], x: number, right: number): Legend {
  const placed: { name: string; color: string; x: number; row: number }[] = [];
  let cx = x;
  let row = 0;
  for (const s of series) {
    const w = 24 + s.name.length * 6.2;
    if (cx > x && cx + w > right) {
      row++;
      cx = x;
    }
    placed.push({ ...s, x: cx, row });
    cx += w;
  }
  return {
    rows: series.length === 0 ? 0 : row + 1,
    draw: (y) =>
      placed.flatMap((s) => [
        `<rect class="key" x="${s.x.toFixed(1)}" y="${y + s.row * 14 - 9}" width="10" height="10" fill="${s.color}"/>`,
        `<text class="legend" x="${(s.x + 14).toFixed(1)}" y="${y + s.row * 14}">${esc(s.name)}</text>`,
      ]),
  };
}

/**
 * A log-scale y axis over whole decades, from the one below the smallest positive value (1 at the
 * most) to the one above the largest (10 at least); values <= 0 sit on the bottom edge.
 */
function logScale(positive: readonly number[], top: number, ph: number): { ticks: number[]; ty: (y: number) => number } {
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
  let hi = 10 ** Math.ceil(Math.log10(Math.max(...positive, 10)));
  if (hi <= lo) hi = lo * 10;
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  return { ticks: logTicks(lo, hi), ty: (y) => top + ph - ((Math.log10(Math.max(y, lo)) - l0) / (l1 - l0)) * ph };
}

/** A horizontal grid line across the plot and a label left of the axis, per y tick. */
function yGrid(ticks: readonly number[], ty: (y: number) => number, pw: number, fmtY: (y: number) => string): string[] {
  return ticks.flatMap((t) => {
    const y = ty(t).toFixed(1);
    return [
      `<line class="grid" x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}"/>`,
      `<text class="tick y" data-v="${t}" x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fmtY(t))}</text>`,
    ];
  });
}

/** The y axis's label, rotated to read upwards along the axis. */
function yAxisLabel(label: string, top: number, ph: number): string {
  return `<text class="label" transform="translate(14 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`;
}

/** Top margin: the title, then the legend's rows. */
function topFor(l: Legend): number {
  return 30 + Math.max(1, l.rows) * 14;
}

export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 260;
  const pw = W - M.left - M.right;
  const colored = o.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const lg = legend(colored.filter((s) => s.legend !== false), M.left, W - M.right);
  const top = topFor(lg);
  const ph = H - top - M.bottom;
  const fmtY = o.fmtY ?? defaultFmt;
  const fmtX = o.fmtX ?? defaultFmt;
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  let x0 = o.categories !== undefined ? 0 : Math.min(...xs, 0);
  // The x axis ends where the data (or xMax, a run's length) ends, not at the next round value.
  let x1 = o.categories !== undefined ? Math.max(1, o.categories.length - 1) : Math.max(...xs, o.xMax ?? -Infinity, x0 + 1e-9);
  if (o.categories !== undefined && o.categories.length === 1) {
    x0 = -0.5;
    x1 = 0.5;
  }
  const positive = all.map((p) => p[1]).filter((y) => y > 0);
  let yTicks: number[];
  let ty: (y: number) => number;
  let yEnd: number;
  if (o.logY === true) {
    ({ ticks: yTicks, ty } = logScale(positive, top, ph));
    yEnd = yTicks.at(-1)!;
  } else {
    const y0 = 0;
    const max = Math.max(...all.map((p) => p[1]), 0);
    const integer = o.integerY === true;
    let y1: number;
    if (o.yMax !== undefined && o.yMax >= max) {
      // A bounded quantity: the axis ends at its bound, ticks inside it and the bound itself.
      y1 = o.yMax;
      yTicks = ticksWithin(0, y1, 5, integer);
      if (yTicks.at(-1)! < y1 && (y1 - yTicks.at(-1)!) / y1 > 0.08) yTicks.push(y1);
      else yTicks[yTicks.length - 1] = y1;
    } else {
      yTicks = niceTicks(0, max > 0 ? max : 1, 5, integer);
      y1 = yTicks[yTicks.length - 1]!;
    }
    yEnd = y1;
    ty = (y) => top + ph - ((y - y0) / (y1 - y0)) * ph;
  }
  const tx = (x: number): number => M.left + ((x - x0) / (x1 - x0)) * pw;
  const body: string[] = yGrid(yTicks, ty, pw, fmtY);
  const xTicks = o.categories !== undefined ? o.categories.map((_, i) => i) : ticksWithin(x0, x1, 6);
  for (const t of xTicks) {
    const x = tx(t).toFixed(1);
    const label = o.categories !== undefined ? o.categories[t]! : fmtX(t);
    body.push(`<line class="tickmark" x1="${x}" x2="${x}" y1="${top + ph}" y2="${top + ph + 4}"/>`);
    body.push(`<text class="tick x" data-v="${t}" x="${x}" y="${top + ph + 16}" text-anchor="middle">${esc(label)}</text>`);
  }
  body.push(`<line class="axis" x1="${M.left}" x2="${M.left + pw}" y1="${top + ph}" y2="${top + ph}"/>`);
  body.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${top}" y2="${top + ph}"/>`);
  body.push(`<text class="label" x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  body.push(yAxisLabel(o.yLabel, top, ph));
  for (const s of colored) {
    if (s.points.length === 0) continue;
    const pts: string[] = [];
    s.points.forEach(([x, y], i) => {
      const X = tx(x).toFixed(1);
      const Y = ty(y).toFixed(1);
      if (o.step === true && i > 0) pts.push(`${X},${ty(s.points[i - 1]![1]).toFixed(1)}`);
      pts.push(`${X},${Y}`);
    });
    if (s.area === true) {
      const base = (top + ph).toFixed(1);
      const first = tx(s.points[0]![0]).toFixed(1);
      const last = tx(s.points[s.points.length - 1]![0]).toFixed(1);
      body.push(`<path class="area" fill="${s.color}" d="M${first},${base} L${pts.join(' L')} L${last},${base} Z"/>`);
    }
    const dash = s.dashed === true ? ' stroke-dasharray="5 3"' : '';
    body.push(`<path class="line" stroke="${s.color}"${dash} d="M${pts.join(' L')}"><title>${esc(s.name)}</title></path>`);
    if (s.markers ?? s.points.length <= 40) {
      for (const [x, y] of s.points) {
        const xl = o.categories !== undefined ? o.categories[x] ?? String(x) : fmtX(x);
        body.push(
          `<circle class="dot" cx="${tx(x).toFixed(1)}" cy="${ty(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name} at ${xl}: ${fmtY(y)}`)}</title></circle>`,
        );
      }
    }
  }
  body.push(...lg.draw(top - lg.rows * 14 + 10));
  const logLo = o.logY === true ? yTicks[0]! : 0;
  return frame(o.id, o.title, W, H, body, { x0, x1, y0: logLo, y1: yEnd });
}

export interface BarGroup {
  label: string;
  values: { name: string; value: number }[];
}

export interface BarChartOptions {
  id: string;
  title: string;
  yLabel: string;
  groups: BarGroup[];
  logY?: boolean;
  width?: number;
  height?: number;
  fmtY?: (y: number) => string;
  /** The values are counts: whole-number ticks only. @default false */
  integerY?: boolean;
}

/** Grouped vertical bars: one group per label, one bar per value name (same colour across groups). */
export function barChart(o: BarChartOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 260;
  const pw = W - M.left - M.right;
  const fmtY = o.fmtY ?? defaultFmt;
  const names = [...new Set(o.groups.flatMap((g) => g.values.map((v) => v.name)))];
  const lg = legend(names.map((n, i) => ({ name: n, color: PALETTE[i % PALETTE.length]! })), M.left, W - M.right);
  const top = topFor(lg);
  const ph = H - top - M.bottom;
  const values = o.groups.flatMap((g) => g.values.map((v) => v.value));
  const positive = values.filter((v) => v > 0);
  let ty: (y: number) => number;
  let ticks: number[];
  if (o.logY === true) {
    ({ ticks, ty } = logScale(positive, top, ph));
  } else {
    ticks = niceTicks(0, Math.max(...values, 1), 5, o.integerY === true);
    const hi = ticks[ticks.length - 1]!;
    ty = (y) => top + ph - (y / hi) * ph;
  }
  const body: string[] = yGrid(ticks, ty, pw, fmtY);
  const gw = pw / Math.max(1, o.groups.length);
  const bw = Math.max(2, (gw * 0.8) / Math.max(1, names.length));
  const base = top + ph;
  o.groups.forEach((g, gi) => {
    const gx = M.left + gi * gw + gw * 0.1;
    for (const v of g.values) {
      const k = names.indexOf(v.name);
      const barTop = Math.min(base - 1, ty(v.value));
      body.push(
        `<rect class="bar" x="${(gx + k * bw).toFixed(1)}" y="${barTop.toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(base - barTop).toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}"><title>${esc(`${g.label}, ${v.name}: ${fmtY(v.value)}`)}</title></rect>`,
      );
    }
    body.push(`<text class="tick" x="${(M.left + gi * gw + gw / 2).toFixed(1)}" y="${base + 16}" text-anchor="middle">${esc(g.label)}</text>`);
  });
  body.push(`<line class="axis" x1="${M.left}" x2="${M.left + pw}" y1="${base}" y2="${base}"/>`);
  body.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${top}" y2="${base}"/>`);
  body.push(yAxisLabel(o.yLabel, top, ph));
  body.push(...lg.draw(top - lg.rows * 14 + 10));
  return frame(o.id, o.title, W, H, body, { y0: o.logY === true ? ticks[0]! : 0, y1: ticks.at(-1)! });
}
