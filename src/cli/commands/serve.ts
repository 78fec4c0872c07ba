import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';

// Placeholder until the owning module lands; replaced, never shipped as is.
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('(not implemented yet)')
    .action(() => {
      throw new UsageError('hwr serve is not implemented yet');
    });
}
