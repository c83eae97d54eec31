/**
 * `berth report`: a finished (or running) job's summary from its work dir, and an SVG chart of its CPU and memory
 * use over time.
 * @module
 */
export { readRunReport, type RunReport } from "./summary.ts";
export { formatBytes, formatDuration, formatReport } from "./format.ts";
export { type ChartOptions, renderChart } from "./chart.ts";
export { type CpuPoint, type MemPoint, parseCrunchstatLog, type StatsSeries } from "./crunchstat_log.ts";
