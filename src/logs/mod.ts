/**
 * berth's log files: timestamps with nine fractional digits, a line-timestamping byte transform for container
 * output, and the line logger for `crunch-run.txt`.
 * @module
 */
export { formatTimestamp, nowNs, timestamp } from "./timestamp.ts";
export { createTimestamper, type TimestamperOptions, timestampLines } from "./timestamper.ts";
export { Logger, type LoggerOptions } from "./logger.ts";
