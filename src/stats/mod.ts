/**
 * Resource statistics, as crunch-run's crunchstat: the container's (`crunchstat.txt`) and the host's
 * (`hoststat.txt`), from cgroup v1 or v2, with memory warnings and end-of-job totals in berth's own log.
 * @module
 */
export { type CrunchstatOptions, startCrunchstat, type StatsHandle } from "./crunchstat.ts";
export { type HoststatOptions, startHoststat } from "./hoststat.ts";
export { StatsReporter, type StatsReporterOptions } from "./reporter.ts";
export { type CgroupFiles, findCgroupFiles } from "./cgroup_files.ts";
export { DEFAULT_MEMORY_THRESHOLDS, MemoryThresholds } from "./thresholds.ts";
export { type DiskSpace, diskSpace } from "./statfs.ts";
