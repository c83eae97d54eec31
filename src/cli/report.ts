/** `berth report`: a job's summary and resource chart from its work dir. @module */

import { join } from "node:path";
import { BerthError, errorLine, UsageError } from "../errors.ts";
import { renderChart } from "../report/chart.ts";
import { formatReport } from "../report/format.ts";
import { readRunReport } from "../report/summary.ts";
import { type Command, parseCommandArgs } from "./command.ts";

const HELP = `Usage: berth report WORKDIR [--chart PATH | --no-chart] [--json]

Summarizes the job whose work dir is WORKDIR (finished or still running): state, exit code, times, engine,
image, peak memory against the RAM limit, CPU use, output size, and how long each phase of the run took
(engine negotiation, mounts, image, create, start, first output byte, wait, stop, output collection, manifest). Also writes a self-contained SVG chart of CPU
and memory use over time, from logs/crunchstat.txt, to logs/crunchstat.svg (open it in any web browser).

Options:
  --chart PATH   write the chart here instead
  --no-chart     do not write a chart
  --json         print the summary as JSON
  -h, --help     show this help

Exit status: 0; 2 when WORKDIR is not a berth work dir; 125 when the chart cannot be written.`;

/** The `report` command. */
export const reportCommand: Command = {
  name: "report",
  summary: "summarize a job's run and chart its CPU and memory use",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs("report", args, {
      chart: { type: "string" },
      "no-chart": { type: "boolean" },
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(`report: expected one work dir (try "berth report --help")`);
    }
    if (values.chart !== undefined && values["no-chart"]) {
      throw new UsageError(`report: --chart and --no-chart cannot be used together`);
    }
    const workDir = positionals[0];
    const report = await readRunReport(workDir);
    let chartPath: string | null = null;
    if (!values["no-chart"]) {
      chartPath = values.chart ?? join(workDir, "logs", "crunchstat.svg");
      const svg = renderChart(report.series, {
        title: `berth job ${report.uuid || workDir}`,
        ramLimit: report.ramLimit ?? 0,
      });
      try {
        await Deno.writeTextFile(chartPath, svg);
      } catch (err) {
        if (err instanceof Deno.errors.NotCapable) throw err;
        throw new BerthError(`Cannot write chart "${chartPath}": ${errorLine(err)}`, { cause: err });
      }
    }
    if (values.json) {
      const { series, ...rest } = report;
      console.log(
        JSON.stringify({
          ...rest,
          samples: { mem: series.mem.length, cpu: series.cpu.length },
          chart: chartPath,
        }),
      );
    } else {
      for (const line of formatReport(report, chartPath)) console.log(line);
    }
    return 0;
  },
};
