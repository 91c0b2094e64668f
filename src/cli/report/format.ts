/**
 * Number formatting shared by the profile's terminal, HTML and trace output. Latencies arrive in
 * nanoseconds (the histograms' unit) and are shown in microseconds.
 */

/** 1234567 -> "1,234,567". */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A rate or count with about three significant digits: 1234567 -> "1.23M", 12.3 -> "12.3". */
export function si(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}G`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e4) return `${trim(n / 1e3)}k`;
  if (a >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return trim(n);
}

function trim(x: number): string {
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Nanoseconds shown in microseconds, three significant digits. */
export function us(ns: number): string {
  const u = ns / 1000;
  if (u === 0) return '0';
  if (u >= 1000) return int(u);
  if (u >= 100) return u.toFixed(0);
  if (u >= 10) return u.toFixed(1);
  return u.toFixed(2);
}

/** A ratio such as CAS retries per operation. */
export function ratio(x: number): string {
  if (x === 0) return '0';
  if (x >= 100) return x.toFixed(0);
  if (x >= 0.01) return x.toFixed(3);
  return x.toExponential(1);
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(x >= 0.1 ? 0 : 1)}%`;
}

/** To three decimals, for figures in JSON (ms with µs precision, µs with ns precision). */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Milliseconds as "3.00 s" or "250 ms". */
export function duration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}
