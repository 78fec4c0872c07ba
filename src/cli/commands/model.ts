import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import { ARCH_NAMES, buildModel, isArchName } from '../../model/archs.js';
import { formatSummary, summarize } from '../../model/summary.js';
import { parseIntOption, UsageError } from '../usage-error.js';

export function registerModel(program: Command): void {
  const model = program.command('model').description('inspect model architectures');
  model
    .command('summary')
    .description('print a Keras-style layer table (output shapes, parameter counts)')
    .requiredOption('--arch <name>', `architecture: ${ARCH_NAMES.join(' | ')}`)
    .option('--classes <n>', 'number of output classes', '10')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { arch: string; classes: string; json?: boolean }) => {
      if (!isArchName(opts.arch))
        throw new UsageError(`unknown --arch "${opts.arch}" (expected ${ARCH_NAMES.join(', ')})`);
      await initBackend({ backend: 'cpu' }); // building a model only needs weights initialised
      const summary = summarize(buildModel(opts.arch, parseIntOption('classes', opts.classes, 2)));
      console.log(opts.json ? JSON.stringify(summary, null, 2) : formatSummary(opts.arch, summary));
    });
}
