import type { Command } from 'commander';
import { EXPORT_FORMATS, type ExportFormat, exportFeedback } from '../../serve/export.js';
import { UsageError } from '../usage-error.js';

interface ExportCliOptions {
  dataDir: string;
  out: string;
  model: string;
  format: string;
}

export function registerFeedback(program: Command): void {
  const feedback = program.command('feedback').description('User corrections collected by hwr serve');
  feedback
    .command('export')
    .description('Write the stored corrections of one model as a dataset (for hwr train --train PATH)')
    .option('--data-dir <dir>', 'folder of the feedback database (as given to hwr serve)', 'data')
    .requiredOption('--out <dir>', 'output folder')
    .option('--model <name>', 'model whose feedback to export', 'digits')
    .option('--format <fmt>', `idx | csv (each with classes.json)`, 'idx')
    .action(async (opts: ExportCliOptions) => {
      if (!EXPORT_FORMATS.includes(opts.format as ExportFormat))
        throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got "${opts.format}"`);
      const result = await exportFeedback({
        dataDir: opts.dataDir,
        out: opts.out,
        model: opts.model,
        format: opts.format as ExportFormat,
      });
      const counts = Object.entries(result.perLabel)
        .map(([label, n]) => `${label}:${n}`)
        .join(' ');
      console.log(
        `exported ${result.samples} samples of model "${opts.model}" to ${result.path} (${counts})`,
      );
      if (result.skipped)
        console.log(
          `skipped ${result.skipped} samples whose label is not a class of the latest model version`,
        );
    });
}
