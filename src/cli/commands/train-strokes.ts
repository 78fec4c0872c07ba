import { basename } from 'node:path';
import { unipenDir } from '../../data/unipen-dataset.js';
import { loadUnipenStrokes, strokeDatasetKind } from '../../data/unipen-strokes.js';
import { initBackend } from '../../engine/backend.js';
import type { StrokeArchName } from '../../model/archs.js';
import { saveStrokePart } from '../../model/stroke-part-io.js';
import { DEFAULT_TRAJECTORY_AUGMENT } from '../../preprocess/stroke-augment.js';
import { STROKE_FEATURES_VERSION } from '../../preprocess/stroke-features.js';
import type { Schedule } from '../../train/recipes.js';
import { STROKE_RECIPE, trainStrokePart } from '../../train/stroke-trainer.js';
import { engineSettings, type HwrConfig } from '../config.js';
import { parseFloatOption, parseIntOption, UsageError } from '../usage-error.js';
import { trainWithProgress } from './train-run.js';

/** The `hwr train` options a stroke part reads. */
export interface StrokeTrainOpts {
  dataset: string;
  dataDir?: string;
  arch: StrokeArchName;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  schedule?: string;
  augment: boolean;
  seed: string;
  out: string;
  name?: string;
  resume?: boolean;
  weights: 'float32' | 'float16';
  limit?: string;
  points?: string;
}

/** STROKE_RECIPE with the flags that override it. */
function strokeTrainSettings(opts: StrokeTrainOpts) {
  return {
    spec: {
      version: STROKE_FEATURES_VERSION,
      points: opts.points ? parseIntOption('points', opts.points, 8) : STROKE_RECIPE.points,
    },
    epochs: opts.epochs ? parseIntOption('epochs', opts.epochs, 1) : STROKE_RECIPE.epochs,
    batchSize: opts.batchSize ? parseIntOption('batch-size', opts.batchSize, 1) : STROKE_RECIPE.batchSize,
    lr: opts.lr ? parseFloatOption('lr', opts.lr, 1e-8, 10) : STROKE_RECIPE.lr,
    schedule: (opts.schedule as Schedule | undefined) ?? STROKE_RECIPE.schedule,
    labelSmoothing: STROKE_RECIPE.labelSmoothing,
    augment: opts.augment ? DEFAULT_TRAJECTORY_AUGMENT : undefined,
    seed: parseIntOption('seed', opts.seed),
  };
}

/**
 * `hwr train --arch strokes-*`: trains a stroke part on UNIPEN pen trajectories and writes
 * model.json + weights.bin + part.json to --out (put it into a model directory with `hwr fuse`).
 */
export async function trainStrokesCommand(opts: StrokeTrainOpts, config: HwrConfig): Promise<void> {
  const kind = strokeDatasetKind(opts.dataset);
  if (!kind)
    throw new UsageError(
      `--arch ${opts.arch} trains on pen strokes: --dataset must be unipen-digits or letters`,
    );
  const log = (m: string) => process.stderr.write(`${m}\n`);
  await initBackend({ ...engineSettings(config), log });
  const data = await loadUnipenStrokes(
    unipenDir({ dataDir: opts.dataDir, dataRoot: config.dataRoot }),
    kind,
    {
      dropSuspect: config.unipenSuspect !== 'keep',
    },
  );
  if (opts.limit !== undefined) data.train.splice(parseIntOption('limit', opts.limit, 1));
  log(
    `${data.name}: ${data.train.length} training, ${data.validation.length} validation, ` +
      `${data.test.length} test drawings (split by writer)`,
  );
  const result = await trainWithProgress(log, (hooks) =>
    trainStrokePart({
      name: opts.name ?? basename(opts.out),
      arch: opts.arch,
      data,
      out: opts.out,
      ...strokeTrainSettings(opts),
      resume: opts.resume,
      ...hooks,
    }),
  );
  if (!result) return;
  const meta = await saveStrokePart(result.model, result.metadata, opts.out, opts.weights);
  log(
    `stroke part: validation ${((meta.validationAccuracy ?? 0) * 100).toFixed(2)}%, test ` +
      `${((meta.testAccuracy ?? 0) * 100).toFixed(2)}% on ${meta.dataset.testSamples} drawings of unseen writers | ` +
      `${meta.params} params | saved ${opts.out} (float32 accuracy; \`hwr fuse\` re-measures the saved weights)`,
  );
}
