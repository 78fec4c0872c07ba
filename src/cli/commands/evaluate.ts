import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';

// Placeholder until the owning module lands; replaced, never shipped as is.
export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description('(not implemented yet)')
    .action(() => {
      throw new UsageError('hwr evaluate is not implemented yet');
    });
}
