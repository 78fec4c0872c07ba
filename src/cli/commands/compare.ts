import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import { compareModels, formatComparison } from '../../eval/compare.js';
import { formatPartsEvaluation } from '../../eval/fused.js';
import { mcnemar } from '../../eval/metrics.js';
import { loadModel } from '../../model/io.js';
import { type CliEdge, engineSettings } from '../config.js';
import { UsageError } from '../usage-error.js';
import { addDataOptions, type DataOpts, evaluateStrokeParts, loadEvalData } from './evaluate.js';

interface CompareOpts extends DataOpts {
  model: string[];
  json?: boolean;
}

export function registerCompare(program: Command, edge: CliEdge): void {
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
      await initBackend(engineSettings(edge.config));
      const [a, b] = [await loadModel(opts.model[0]), await loadModel(opts.model[1])];
      const ds = await loadEvalData(opts, edge.config);
      const c = compareModels(a, b, ds, { datasetName: `${opts.dataset} ${opts.split}` });
      // Models with parts on a pen-stroke dataset: also the answers /api/predict gives for strokes.
      const withParts = a.metadata.parts || b.metadata.parts;
      const pa = withParts ? await evaluateStrokeParts(a, opts, edge.config) : undefined;
      const pb = pa ? await evaluateStrokeParts(b, opts, edge.config) : undefined;
      const strokes =
        pa && pb
          ? { a: pa.fused, b: pb.fused, n: pa.samples, mcnemar: mcnemar(pa.correct, pb.correct) }
          : undefined;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(strokes ? { ...c, strokes } : c, null, 2)}\n`);
        return;
      }
      let text = formatComparison(c);
      if (pa && pb && strokes)
        text +=
          `\n\n${formatPartsEvaluation(pa, a.metadata.name)}\n${formatPartsEvaluation(pb, b.metadata.name)}\n` +
          `answers to strokes: McNemar p = ${strokes.mcnemar.pValue.toPrecision(3)} on ${strokes.n} drawings`;
      process.stdout.write(`${text}\n`);
    });
}
