import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';

// Placeholder until the owning module lands; replaced, never shipped as is.
export function registerModel(program: Command): void {
  program
    .command('model')
    .description('(not implemented yet)')
    .action(() => {
      throw new UsageError('hwr model is not implemented yet');
    });
}
