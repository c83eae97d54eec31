/**
 * A self-contained SVG chart of a job's CPU and memory use over time (no scripts, fonts or external references),
 * two panels sharing the time axis: cores busy against the CPUs available, and resident memory against the RAM
 * limit.
 * @module
 */

import type { StatsSeries } from "./crunchstat_log.ts";

/** Options for {@link renderChart}. */
export interface ChartOptions {
  /** Title line (the job uuid, for example). */
  title: string;
  /** RAM limit in bytes, drawn as a dashed line; 0 for none. */
  ramLimit: number;
  /** Width in pixels. @default 860 */
  width?: number;
}

const PANEL_H = 170;
const TOP = 48;
const GAP = 56;
const LEFT = 72;
const RIGHT = 24;

/** Renders the chart; see the module doc. Works with any number of samples (none gives an explanatory note). */
export function renderChart(series: StatsSeries, o: ChartOptions): string {
  const width = o.width ?? 860;
  const height = TOP + 2 * PANEL_H + GAP + 44;
  const plotW = width - LEFT - RIGHT;
  const times = [...series.mem.map((p) => p.t), ...series.cpu.map((p) => p.t)];
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold" fill="#222">${esc(o.title)}</text>`,
  );
  if (times.length === 0) {
    parts.push(
      `<text x="${LEFT}" y="${TOP + 40}" fill="#a00">No statistics samples in crunchstat.txt</text></svg>`,
    );
    return parts.join("\n") + "\n";
  }
  const t0 = Math.min(...times);
  const t1 = Math.max(t0 + 1000, ...times);
  const x = (t: number) => LEFT + ((t - t0) / (t1 - t0)) * plotW;

  // CPU panel.
  const busy = series.cpu.filter((p) => p.busy !== undefined);
  const cpus = Math.max(0, ...series.cpu.map((p) => p.cpus));
  const cpuScale = niceScale(1.1 * Math.max(cpus, ...busy.map((p) => p.busy!), 0.1));
  const cpuMax = cpuScale.max;
  const cpuTop = TOP;
  const yCpu = (v: number) => cpuTop + PANEL_H - (v / cpuMax) * PANEL_H;
  parts.push(panel(LEFT, cpuTop, plotW, PANEL_H, "CPU (cores busy)"));
  parts.push(...yTicks(cpuMax, cpuScale.step, (v) => yCpu(v), (v) => trimNum(v), plotW));
  if (cpus > 0) parts.push(hline(yCpu(cpus), plotW, "#888", `${trimNum(cpus)} CPUs available`));
  if (busy.length > 0) {
    // Each value covers the interval that ended at its time: draw steps.
    const pts: string[] = [];
    let prevT = series.cpu[0].t;
    for (const p of series.cpu) {
      if (p.busy !== undefined) {
        pts.push(`${f(x(prevT))},${f(yCpu(p.busy))}`, `${f(x(p.t))},${f(yCpu(p.busy))}`);
      }
      prevT = p.t;
    }
    parts.push(`<polyline fill="none" stroke="#1f6fd1" stroke-width="2" points="${pts.join(" ")}"/>`);
  } else {
    parts.push(note(cpuTop, "Not enough CPU samples for a rate (needs two reports)"));
  }

  // Memory panel.
  const memTop = TOP + PANEL_H + GAP;
  const memPeak = Math.max(0, ...series.mem.map((p) => p.rss), ...series.mem.map((p) => p.cache ?? 0));
  const memTopValue = 1.1 * Math.max(memPeak, o.ramLimit, 1);
  const unit = byteUnit(memTopValue);
  const memScale = niceScale(memTopValue / unit.size);
  const memMax = memScale.max * unit.size;
  const yMem = (v: number) => memTop + PANEL_H - (v / memMax) * PANEL_H;
  parts.push(panel(LEFT, memTop, plotW, PANEL_H, `Memory (${unit.name})`));
  parts.push(
    ...yTicks(memMax, memScale.step * unit.size, (v) => yMem(v), (v) => trimNum(v / unit.size), plotW),
  );
  if (o.ramLimit > 0) parts.push(hline(yMem(o.ramLimit), plotW, "#c0392b", `limit ${fmtBytes(o.ramLimit)}`));
  if (series.mem.some((p) => p.cache !== undefined)) {
    const cache = series.mem.map((p) => `${f(x(p.t))},${f(yMem(p.cache ?? 0))}`).join(" ");
    parts.push(`<polyline fill="none" stroke="#9bbf85" stroke-width="1.5" points="${cache}"/>`);
  }
  const rss = series.mem.map((p) => `${f(x(p.t))},${f(yMem(p.rss))}`).join(" ");
  parts.push(`<polyline fill="none" stroke="#2e8b57" stroke-width="2" points="${rss}"/>`);
  for (const p of series.mem.length === 1 ? series.mem : []) {
    parts.push(`<circle cx="${f(x(p.t))}" cy="${f(yMem(p.rss))}" r="3" fill="#2e8b57"/>`);
  }

  // Time axis and legend.
  const axisY = memTop + PANEL_H;
  for (const v of timeTicks(t1 - t0)) {
    const xx = x(t0 + v);
    parts.push(
      `<line x1="${f(xx)}" y1="${axisY}" x2="${f(xx)}" y2="${axisY + 4}" stroke="#444"/>`,
      `<text x="${f(xx)}" y="${axisY + 17}" text-anchor="middle" fill="#444">${fmtElapsed(v)}</text>`,
    );
  }
  parts.push(
    `<text x="${LEFT + plotW / 2}" y="${axisY + 34}" text-anchor="middle" fill="#444">elapsed time</text>`,
  );
  const ly = 22;
  parts.push(
    legend(width - RIGHT - 330, ly, "#1f6fd1", "CPU busy"),
    legend(width - RIGHT - 230, ly, "#2e8b57", "rss"),
    ...(series.mem.some((p) => p.cache !== undefined)
      ? [legend(width - RIGHT - 170, ly, "#9bbf85", "cache")]
      : []),
    ...(o.ramLimit > 0 ? [legend(width - RIGHT - 100, ly, "#c0392b", "RAM limit", true)] : []),
  );
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function panel(x0: number, y0: number, w: number, h: number, label: string): string {
  return `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fafafa" stroke="#bbb"/>\n` +
    `<text x="${x0}" y="${y0 - 10}" font-weight="bold" fill="#333">${esc(label)}</text>`;
}

function yTicks(
  max: number,
  step: number,
  y: (v: number) => number,
  label: (v: number) => string,
  plotW: number,
): string[] {
  const out: string[] = [];
  const n = Math.round(max / step);
  for (let i = 0; i <= n; i++) {
    const v = step * i;
    const yy = f(y(v));
    out.push(
      `<line x1="${LEFT}" y1="${yy}" x2="${LEFT + plotW}" y2="${yy}" stroke="#e4e4e4"/>`,
      `<text x="${LEFT - 6}" y="${yy}" dy="4" text-anchor="end" fill="#444">${label(v)}</text>`,
    );
  }
  return out;
}

function hline(y: number, plotW: number, color: string, label: string): string {
  return `<line x1="${LEFT}" y1="${f(y)}" x2="${LEFT + plotW}" y2="${
    f(y)
  }" stroke="${color}" stroke-dasharray="6 4"/>\n` +
    `<text x="${LEFT + plotW - 4}" y="${f(y - 4)}" text-anchor="end" fill="${color}">${esc(label)}</text>`;
}

function note(top: number, text: string): string {
  return `<text x="${LEFT + 12}" y="${top + 24}" fill="#a00">${esc(text)}</text>`;
}

function legend(x0: number, y0: number, color: string, label: string, dashed = false): string {
  return `<line x1="${x0}" y1="${y0 - 4}" x2="${x0 + 18}" y2="${y0 - 4}" stroke="${color}" stroke-width="2"` +
    `${dashed ? ' stroke-dasharray="4 3"' : ""}/>\n<text x="${x0 + 22}" y="${y0}" fill="#333">${
      esc(label)
    }</text>`;
}

/**
 * An axis for values up to `v`: a "nice" step (1, 2, 2.5 or 5 times a power of ten) giving at most 6 intervals,
 * and the maximum (a whole number of steps at or above `v`).
 */
export function niceScale(v: number): { max: number; step: number } {
  const top = v > 0 ? v : 1;
  let p = 10 ** Math.floor(Math.log10(top / 6));
  for (;;) {
    for (const m of [1, 2, 2.5, 5]) {
      const step = m * p;
      const n = Math.ceil(top / step - 1e-9);
      if (n <= 6) return { max: Number((n * step).toPrecision(12)), step: Number(step.toPrecision(12)) };
    }
    p *= 10;
  }
}

function timeTicks(spanMs: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
  const step = (steps.find((s) => spanMs / (s * 1000) <= 8) ?? 86400) * 1000;
  const out: number[] = [];
  for (let v = 0; v <= spanMs + 1; v += step) out.push(v);
  return out;
}

function fmtElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`
    : `${m}:${String(sec).padStart(2, "0")}`;
}

function byteUnit(max: number): { name: string; size: number } {
  if (max >= 2 ** 30) return { name: "GiB", size: 2 ** 30 };
  if (max >= 2 ** 20) return { name: "MiB", size: 2 ** 20 };
  if (max >= 2 ** 10) return { name: "KiB", size: 2 ** 10 };
  return { name: "bytes", size: 1 };
}

function fmtBytes(n: number): string {
  const u = byteUnit(n);
  return `${trimNum(n / u.size)} ${u.name}`;
}

function trimNum(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, "");
}

function f(v: number): string {
  return v.toFixed(1);
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
