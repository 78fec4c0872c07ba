import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';

// Placeholder until the owning module lands; replaced, never shipped as is.
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('(not implemented yet)')
    .action(() => {
      throw new UsageError('hwr train is not implemented yet');
    });
}
