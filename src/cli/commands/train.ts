import { basename } from 'node:path';
import type { Command } from 'commander';
import { type ImageDataset, range, subset } from '../../data/dataset.js';
import { datasetNames, loadDataset } from '../../data/datasets.js';
import { unipenDatasetName } from '../../data/unipen-dataset.js';
import { initBackend } from '../../engine/backend.js';
import { publishModel } from '../../eval/publish.js';
import {
  ARCH_NAMES,
  type ArchName,
  isArchName,
  isStrokeArchName,
  STROKE_ARCH_NAMES,
} from '../../model/archs.js';
import { loadModel } from '../../model/io.js';
import { NO_AUGMENT } from '../../train/augment.js';
import { RECIPES, type Schedule } from '../../train/recipes.js';
import { train } from '../../train/trainer.js';
import { type CliEdge, dataSettings, engineSettings, type HwrConfig } from '../config.js';
import { parseFloatOption, parseIntOption, UsageError } from '../usage-error.js';
import { trainWithProgress } from './train-run.js';
import { trainStrokesCommand } from './train-strokes.js';

// Datasets rendered from pen strokes, whose drawings --stroke-copies can multiply (for
// mnist+unipen-digits: its pen part).
const STROKE_DATASETS = [unipenDatasetName('letters'), unipenDatasetName('digits'), 'mnist+unipen-digits'];

interface TrainOpts {
  dataset: string;
  dataDir?: string;
  train?: string;
  test?: string;
  arch: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  schedule?: string;
  augment: boolean;
  seed: string;
  validationSplit: string;
  out: string;
  name?: string;
  resume?: boolean;
  weights: string;
  report: boolean;
  limit?: string;
  testLimit?: string;
  init?: string;
  strokeCopies?: string;
  points?: string;
}

export function registerTrain(program: Command, edge: CliEdge): void {
  program
    .command('train')
    .description(
      'train a CNN and write model.json + weights.bin + metadata.json (+ report) atomically to --out',
    )
    .option('--dataset <name>', `dataset (${datasetNames().join(', ')}, or one registered later)`, 'mnist')
    .option('--data-dir <dir>', 'folder with the dataset files')
    .option('--train <path>', 'generic form: training data (IDX, CSV or exported folder)')
    .option('--test <path>', 'generic form: test data')
    .option(
      '--arch <name>',
      `architecture: ${ARCH_NAMES.join(' | ')}; stroke parts (unipen-digits, letters): ${STROKE_ARCH_NAMES.join(' | ')}`,
      'fast',
    )
    .option('--points <n>', 'stroke parts: points the trajectory is resampled to (default 64)')
    .option('--epochs <n>', "number of epochs (default: the arch's recipe)")
    .option('--batch-size <n>', "batch size (default: the arch's recipe)")
    .option('--lr <x>', "peak learning rate for Adam (default: the arch's recipe)")
    .option('--schedule <name>', 'learning rate schedule: constant | cosine | onecycle')
    .option('--no-augment', "turn off the recipe's image augmentation")
    .option('--seed <n>', 'random seed (same seed + backend = same model)', '1')
    .option('--validation-split <x>', 'fraction of the training data held out for validation', '0.1')
    .option('--out <dir>', 'output model directory', 'out/model')
    .option('--name <name>', 'model name served by the API (default: basename of --out)')
    .option('--resume', 'continue from the checkpoint left by an interrupted run')
    .option('--init <dir>', "start from this model's weights (fine-tuning; same arch and classes)")
    .option('--weights <dtype>', 'weight file dtype: float32 | float16', 'float32')
    .option(
      '--stroke-copies <n>',
      'pen-stroke datasets (letters, unipen-digits, the pen part of mnist+unipen-digits): add n stroke-augmented renders of each training drawing',
    )
    .option('--limit <n>', 'train on the first n training images only (quick runs)')
    .option('--test-limit <n>', 'test on the first n test images only (quick runs)')
    .option('--no-report', 'skip the evaluation report')
    .action((opts: TrainOpts) => runTrain(opts, edge.config));
}

/** Checks the flags that do not depend on the arch's kind. */
function checkCommonOpts(opts: TrainOpts): asserts opts is TrainOpts & { weights: 'float32' | 'float16' } {
  if (opts.weights !== 'float32' && opts.weights !== 'float16')
    throw new UsageError(`--weights must be float32 or float16, got "${opts.weights}"`);
  const schedules: Schedule[] = ['constant', 'cosine', 'onecycle'];
  if (opts.schedule && !schedules.includes(opts.schedule as Schedule))
    throw new UsageError(`--schedule must be one of ${schedules.join(', ')}`);
}

async function runTrain(opts: TrainOpts, config: HwrConfig): Promise<void> {
  checkCommonOpts(opts);
  if (isStrokeArchName(opts.arch)) {
    if (opts.train || opts.test || opts.init || opts.strokeCopies || opts.testLimit)
      throw new UsageError(
        'stroke parts take neither --train/--test, --init, --stroke-copies nor --test-limit',
      );
    await trainStrokesCommand({ ...opts, arch: opts.arch, weights: opts.weights }, config);
    return;
  }
  if (!isArchName(opts.arch))
    throw new UsageError(
      `unknown --arch "${opts.arch}" (expected ${[...ARCH_NAMES, ...STROKE_ARCH_NAMES].join(', ')})`,
    );
  if (opts.points) throw new UsageError('--points is for stroke parts (--arch strokes-*)');
  await trainImageModel({ ...opts, arch: opts.arch }, config);
}

/** The dataset of --dataset (or --train/--test), cut to --limit / --test-limit. */
async function loadTrainData(opts: TrainOpts, config: HwrConfig) {
  const strokeCopies =
    opts.strokeCopies === undefined ? undefined : parseIntOption('stroke-copies', opts.strokeCopies, 0);
  if (strokeCopies && !STROKE_DATASETS.includes(opts.dataset))
    throw new UsageError(
      `--stroke-copies needs a pen-stroke dataset (${STROKE_DATASETS.join(', ')}), not "${opts.dataset}"`,
    );
  const loaded = await loadDataset(opts.dataset, {
    ...dataSettings(config),
    dataDir: opts.dataDir,
    train: opts.train,
    test: opts.test,
    strokeCopies,
  });
  // --limit / --test-limit: the first n images of a split (quick runs, CI smoke tests).
  const head = (ds: ImageDataset, limit: string | undefined, flag: string): ImageDataset =>
    limit === undefined ? ds : subset(ds, range(0, Math.min(parseIntOption(flag, limit, 1), ds.n)));
  return {
    ...loaded,
    train: head(loaded.train, opts.limit, 'limit'),
    test: head(loaded.test, opts.testLimit, 'test-limit'),
  };
}

/** The --init model, checked to be the same arch with the dataset's classes. */
async function loadInit(opts: TrainOpts, classes: readonly string[]) {
  if (!opts.init) return undefined;
  const init = await loadModel(opts.init);
  if (init.metadata.arch !== opts.arch)
    throw new UsageError(`--init model is a "${init.metadata.arch}" net, not --arch "${opts.arch}"`);
  if (init.metadata.classes.join(',') !== classes.join(','))
    throw new UsageError(`--init model's classes do not match dataset "${opts.dataset}"`);
  return init;
}

/** The recipe of the arch with the flags that override it. */
function trainSettings(opts: TrainOpts, recipe: (typeof RECIPES)[keyof typeof RECIPES]) {
  return {
    epochs: opts.epochs ? parseIntOption('epochs', opts.epochs, 1) : recipe.epochs,
    batchSize: opts.batchSize ? parseIntOption('batch-size', opts.batchSize, 1) : recipe.batchSize,
    lr: opts.lr ? parseFloatOption('lr', opts.lr, 1e-8, 10) : recipe.lr,
    schedule: (opts.schedule as Schedule | undefined) ?? recipe.schedule,
    labelSmoothing: recipe.labelSmoothing,
    augment: opts.augment ? recipe.augment : NO_AUGMENT,
    normalization: recipe.normalization,
    seed: parseIntOption('seed', opts.seed),
    validationSplit: parseFloatOption('validation-split', opts.validationSplit, 0, 0.9),
  };
}

/** Trains an image CNN, then publishes it (judged as it ships) with its report. */
async function trainImageModel(
  opts: TrainOpts & { arch: ArchName; weights: 'float32' | 'float16' },
  config: HwrConfig,
) {
  const recipe = RECIPES[opts.arch];
  const data = await loadTrainData(opts, config);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  await initBackend({ ...engineSettings(config), log });
  const init = await loadInit(opts, data.train.classes);
  const result = await trainWithProgress(log, (hooks) =>
    train({
      name: opts.name ?? basename(opts.out),
      arch: opts.arch,
      data,
      out: opts.out,
      ...trainSettings(opts, recipe),
      resume: opts.resume,
      initialModel: init?.model,
      ...hooks,
    }),
  );
  if (!result) return;
  // Judged as it ships (reloaded from disk, float16 rounding included); report beside it.
  const { metadata: meta } = await publishModel(result.model, result.metadata, opts.out, data.test, {
    weights: opts.weights,
    report: opts.report,
    datasetName: `${data.name} test`,
  });
  log(
    `test accuracy ${((meta.testAccuracy ?? 0) * 100).toFixed(2)}% on ${meta.dataset.testSamples} images | ` +
      `${meta.training.wallSeconds.toFixed(0)} s on ${meta.training.backend} | saved ${opts.out} (${meta.weights?.bytes} bytes of weights)`,
  );
}
