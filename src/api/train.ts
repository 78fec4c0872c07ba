import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DatasetSplits } from '../data/dataset.js';
import type { ArchName } from '../model/archs.js';
import type { EpochHistory } from '../model/metadata.js';
import { NO_AUGMENT } from '../train/augment.js';
import { progressReporter } from '../train/progress.js';
import { RECIPES, type Schedule } from '../train/recipes.js';
import { type BatchProgress, type TrainedModel, train } from '../train/trainer.js';

export interface TrainOptions {
  readonly arch: ArchName;
  readonly data: DatasetSplits;
  /** Model name (what the API serves it as once published). Default: the arch. */
  readonly name?: string;
  /** Checkpoints go beside this path (default: a folder in the OS temp dir). */
  readonly out?: string;
  /** The arch's recipe (RECIPES) gives every default below. */
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly schedule?: Schedule;
  /** false turns the recipe's image augmentation off. */
  readonly augment?: boolean;
  readonly seed?: number;
  readonly validationSplit?: number;
  /** Start from these weights (fine-tuning; same arch and classes). */
  readonly initialModel?: tfl.LayersModel;
  readonly signal?: AbortSignal;
  /** Progress lines (one per epoch, one per batch every `progressEveryMs`) go here; false: none. */
  readonly progress?: NodeJS.WritableStream | false;
  readonly progressEveryMs?: number;
  readonly onBatch?: (p: BatchProgress) => void;
  readonly onEpoch?: (h: EpochHistory, info: { epochs: number }) => void;
}

/**
 * Trains `arch` on `data` with the recipe the CLI uses (`hwr train`), any field overridable, and
 * prints progress as plain lines (notebook output is not a terminal). Returns the model in memory
 * with its metadata; `publishModel` saves it.
 */
export async function trainModel(options: TrainOptions): Promise<TrainedModel> {
  const recipe = RECIPES[options.arch];
  const name = options.name ?? options.arch;
  const stream = options.progress ?? process.stdout;
  const progress = stream
    ? progressReporter(stream, { lineEveryMs: options.progressEveryMs ?? 10_000 })
    : undefined;
  const epochs = options.epochs ?? recipe.epochs;
  const result = await train({
    name,
    arch: options.arch,
    data: options.data,
    out: options.out ?? join(tmpdir(), `hwr-${name}-${process.pid}`),
    epochs,
    batchSize: options.batchSize ?? recipe.batchSize,
    lr: options.lr ?? recipe.lr,
    schedule: options.schedule ?? recipe.schedule,
    labelSmoothing: recipe.labelSmoothing,
    augment: options.augment === false ? NO_AUGMENT : recipe.augment,
    normalization: recipe.normalization,
    seed: options.seed ?? 1,
    validationSplit: options.validationSplit ?? 0.1,
    initialModel: options.initialModel,
    command: `trainModel(${JSON.stringify({ arch: options.arch, dataset: options.data.name, epochs, train: options.data.train.n })})`,
    signal: options.signal,
    onBatch: (p) => {
      progress?.onBatch(p);
      options.onBatch?.(p);
    },
    onEpoch: (h, info) => {
      progress?.onEpoch(h, info);
      options.onEpoch?.(h, info);
    },
  });
  progress?.stop();
  return result;
}
