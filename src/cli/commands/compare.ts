import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import { compareModels, formatComparison } from '../../eval/compare.js';
import { loadModel } from '../../model/io.js';
import { UsageError } from '../usage-error.js';
import { addDataOptions, type DataOpts, loadEvalData } from './evaluate.js';

interface CompareOpts extends DataOpts {
  model: string[];
  json?: boolean;
}

export function registerCompare(program: Command): void {
  addDataOptions(
    program
      .command('compare')
      .description("compare two models on the same samples: accuracy, macro F1/AUC and McNemar's test")
      .requiredOption(
        '--model <dir>',
        'model directory; give it twice: --model A --model B',
        (value: string, prev: string[] = []) => [...prev, value],
      ),
  )
    .option('--json', 'print the comparison as JSON')
    .action(async (opts: CompareOpts) => {
      if (opts.model.length !== 2)
        throw new UsageError(`give exactly two models (--model A --model B), got ${opts.model.length}`);
      await initBackend();
      const [a, b] = [await loadModel(opts.model[0]), await loadModel(opts.model[1])];
      const ds = await loadEvalData(opts);
      const c = compareModels(a, b, ds, { datasetName: `${opts.dataset} ${opts.split}` });
      process.stdout.write(opts.json ? `${JSON.stringify(c, null, 2)}\n` : `${formatComparison(c)}\n`);
    });
}
