import type { EvalResult } from '../eval/evaluate.js';
import type { ReportOptions } from '../eval/report.js';

// report.ts is imported on first use (it renders with vega, whose module graph has a top-level
// await; see plots.ts).

/** report.json, report.html and the PNG plots in memory (name -> content), as `hwr evaluate --report` writes them. */
export async function buildReport(
  result: EvalResult,
  options: ReportOptions = {},
): Promise<Record<string, string | Uint8Array>> {
  return (await import('../eval/report.js')).buildReport(result, options);
}

/** Writes the evaluation report into `outDir` (created if needed); returns the paths written. */
export async function writeReport(
  result: EvalResult,
  outDir: string,
  options: ReportOptions = {},
): Promise<string[]> {
  return (await import('../eval/report.js')).writeReport(result, outDir, options);
}
