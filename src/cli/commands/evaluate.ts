import type { Command } from 'commander';
import { DataError, type ImageDataset, range, subset } from '../../data/dataset.js';
import { type DatasetOptions, datasetNames, loadSplit, type Split } from '../../data/datasets.js';
import { unipenDir } from '../../data/unipen-dataset.js';
import { loadUnipenStrokes, strokeDatasetKind } from '../../data/unipen-strokes.js';
import { initBackend } from '../../engine/backend.js';
import { evaluateModel, summarize } from '../../eval/evaluate.js';
import {
  evaluateParts,
  formatPartsEvaluation,
  type PartsEvaluation,
  samplesAsDrawings,
} from '../../eval/fused.js';
import { partsJson, writeReport } from '../../eval/report.js';
import { type LoadedModel, loadModel } from '../../model/io.js';
import { type CliEdge, dataSettings, engineSettings, type HwrConfig } from '../config.js';
import { parseIntOption, UsageError } from '../usage-error.js';

export interface DataOpts {
  dataset: string;
  split: string;
  dataDir?: string;
  train?: string;
  test?: string;
  limit?: string;
}

/** Dataset options shared by evaluate and compare. */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', `dataset (${datasetNames().join(', ')}, or one registered later)`, 'mnist')
    .option('--split <name>', 'split to evaluate on: test | train', 'test')
    .option('--data-dir <dir>', 'folder with the dataset files')
    .option('--train <path>', 'generic form: training data (IDX, CSV or exported folder)')
    .option('--test <path>', 'generic form: test data')
    .option('--limit <n>', 'evaluate the first n images only');
}

/** Loads the requested split (first --limit images), turning file errors into DataErrors. */
export async function loadEvalData(opts: DataOpts, config: HwrConfig): Promise<ImageDataset> {
  if (opts.split !== 'test' && opts.split !== 'train')
    throw new UsageError(`--split must be test or train, got "${opts.split}"`);
  const limit = opts.limit === undefined ? undefined : parseIntOption('limit', opts.limit, 1);
  const options: DatasetOptions = {
    ...dataSettings(config),
    dataDir: opts.dataDir,
    train: opts.train,
    test: opts.test,
  };
  let ds: ImageDataset;
  try {
    ds = await loadSplit(opts.dataset, opts.split as Split, options);
  } catch (err) {
    if (err instanceof Error && err.name !== 'DataError')
      throw new DataError(`cannot read dataset ${opts.dataset} (${opts.split}): ${err.message}`);
    throw err;
  }
  return limit !== undefined && limit < ds.n ? subset(ds, range(0, limit)) : ds;
}

/**
 * On a pen-stroke dataset's test split, a model with parts is also scored as `/api/predict` answers
 * strokes: each part and the fusion on the same writers' drawings (undefined otherwise).
 */
export async function evaluateStrokeParts(
  model: LoadedModel,
  opts: DataOpts,
  config: HwrConfig,
): Promise<PartsEvaluation | undefined> {
  const kind = strokeDatasetKind(opts.dataset);
  if (!kind || opts.split !== 'test') return undefined;
  const data = await loadUnipenStrokes(
    unipenDir({ dataDir: opts.dataDir, dataRoot: config.dataRoot }),
    kind,
    {
      dropSuspect: config.unipenSuspect !== 'keep',
    },
  );
  const limit = opts.limit === undefined ? data.test.length : parseIntOption('limit', opts.limit, 1);
  return evaluateParts(model, samplesAsDrawings(`${opts.dataset} test`, data.test.slice(0, limit)));
}

interface EvaluateOpts extends DataOpts {
  model: string;
  report?: string;
  json?: boolean;
}

export function registerEvaluate(program: Command, edge: CliEdge): void {
  addDataOptions(
    program
      .command('evaluate')
      .description(
        'score a model on a dataset split: accuracy, per-class metrics, ROC/AUC; optional HTML report',
      )
      .requiredOption('--model <dir>', 'model directory (model.json + weights.bin + metadata.json)'),
  )
    .option('--report <dir>', 'write report.json, report.html and PNG plots to this folder')
    .option('--json', 'print the metrics as JSON instead of a summary')
    .action(async (opts: EvaluateOpts) => {
      await initBackend(engineSettings(edge.config));
      const loaded = await loadModel(opts.model);
      const ds = await loadEvalData(opts, edge.config);
      const result = evaluateModel(loaded, ds, { datasetName: `${opts.dataset} ${opts.split}` });
      const parts = loaded.metadata.parts ? await evaluateStrokeParts(loaded, opts, edge.config) : undefined;
      let reportSeconds: number | undefined;
      if (opts.report) {
        const t0 = performance.now();
        await writeReport(result, opts.report, { metadata: loaded.metadata, parts });
        reportSeconds = (performance.now() - t0) / 1000;
      }
      if (opts.json) {
        const { predictions: _p, mistakes, ...metrics } = result;
        const partsOut = parts && partsJson(parts, result.classes);
        const out = {
          ...metrics,
          mistakes: mistakes.map(({ pixels: _px, ...m }) => m),
          reportSeconds,
          ...(partsOut ? { parts: partsOut } : {}),
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      let text = summarize(result);
      if (opts.report) text += `\nreport     ${opts.report}/report.html (${reportSeconds?.toFixed(2)} s)`;
      if (parts) text += `\n\n${formatPartsEvaluation(parts, loaded.metadata.name)}`;
      process.stdout.write(`${text}\n`);
    });
}
