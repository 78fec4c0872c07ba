import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';

// Placeholder until the owning module lands; replaced, never shipped as is.
export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('(not implemented yet)')
    .action(() => {
      throw new UsageError('hwr predict is not implemented yet');
    });
}
