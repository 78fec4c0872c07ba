/**
 * Time to a target MNIST test accuracy (default the published 99.24 %) for a recipe, on this machine.
 *
 *   npm run bench:tta -- [--arch fast] [--epochs 5] [--evals-per-epoch 4] [--target 0.9924] [--threads 2]
 *                        [--lr X] [--batch-size N] [--label-smoothing X] [--augment X]
 *
 * Trains with the arch's recipe (`hwr train`'s trainer, on all 60,000 training images) over an
 * `--epochs`-long schedule, measures the 10,000-image test accuracy `--evals-per-epoch` times per
 * epoch, and stops at the first measurement that reaches the target. --lr, --batch-size and
 * --label-smoothing override the recipe's; --augment scales its augmentation ranges (0 = none). The time printed is training
 * time only: the clock is paused while the test set is evaluated.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE_CONFIG, engineSettings, parseConfig } from '../src/cli/config.js';
import { loadDataset } from '../src/data/datasets.js';
import { initBackend } from '../src/engine/backend.js';
import { type ArchName, buildModel, isArchName } from '../src/model/archs.js';
import { RECIPES } from '../src/train/recipes.js';
import { lossAndAccuracy, train } from '../src/train/trainer.js';
import { deriveSeed, seedMathRandom } from '../src/util/random.js';

const { values: args } = parseArgs({
  options: {
    arch: { type: 'string', default: 'fast' },
    epochs: { type: 'string', default: '5' },
    'evals-per-epoch': { type: 'string', default: '4' },
    target: { type: 'string', default: '0.9924' },
    threads: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    lr: { type: 'string' },
    'batch-size': { type: 'string' },
    'label-smoothing': { type: 'string' },
    augment: { type: 'string', default: '1' },
  },
});

const arch = args.arch as string;
if (!isArchName(arch)) throw new Error(`unknown --arch "${arch}"`);
const epochs = Number(args.epochs);
const evalsPerEpoch = Number(args['evals-per-epoch']);
const target = Number(args.target);
const seed = Number(args.seed);
if (!(epochs >= 1 && evalsPerEpoch >= 1 && target > 0 && target < 1)) {
  throw new Error('--epochs and --evals-per-epoch must be >= 1, --target in (0, 1)');
}

const backend = await initBackend({
  ...engineSettings(parseConfig(process.env, {}, ENGINE_CONFIG)),
  threads: Number(args.threads),
});
const data = await loadDataset('mnist');
const base = RECIPES[arch as ArchName];
const augmentScale = Number(args.augment);
const recipe = {
  ...base,
  lr: args.lr !== undefined ? Number(args.lr) : base.lr,
  batchSize: args['batch-size'] !== undefined ? Number(args['batch-size']) : base.batchSize,
  labelSmoothing:
    args['label-smoothing'] !== undefined ? Number(args['label-smoothing']) : base.labelSmoothing,
  augment: {
    rotate: base.augment.rotate * augmentScale,
    scale: base.augment.scale * augmentScale,
    shift: base.augment.shift * augmentScale,
    shear: base.augment.shear * augmentScale,
  },
};
if (
  !(recipe.lr > 0 && Number.isInteger(recipe.batchSize) && recipe.batchSize >= 1) ||
  !(recipe.labelSmoothing >= 0 && augmentScale >= 0)
) {
  throw new Error('--lr must be > 0, --batch-size an integer >= 1, --label-smoothing and --augment >= 0');
}
const classes = data.train.classes.length;
const restore = seedMathRandom(deriveSeed(seed, 'init'));
const model = buildModel(arch as ArchName, classes);
restore();

const batches = Math.ceil(data.train.n / recipe.batchSize);
const evalAt = new Set(
  Array.from({ length: evalsPerEpoch }, (_, i) => Math.round(((i + 1) * batches) / evalsPerEpoch)),
);
const controller = new AbortController();
const out = await mkdtemp(join(tmpdir(), 'hwr-tta-'));
let trainSeconds = 0;
let lastStart = performance.now();
let reached: { seconds: number; images: number; acc: number } | undefined;
const curve: string[] = [];

console.log(
  `time to ${(target * 100).toFixed(2)} % MNIST test accuracy: ${arch} recipe, ${epochs}-epoch ` +
    `${recipe.schedule} schedule, batch ${recipe.batchSize}, lr ${recipe.lr}, label smoothing ` +
    `${recipe.labelSmoothing}, augmentation x${augmentScale}, ${backend.name} ${backend.threads} thread(s)`,
);
await train({
  name: 'tta',
  arch: arch as ArchName,
  data,
  out: join(out, 'model'),
  epochs,
  batchSize: recipe.batchSize,
  lr: recipe.lr,
  schedule: recipe.schedule,
  labelSmoothing: recipe.labelSmoothing,
  augment: recipe.augment,
  normalization: recipe.normalization,
  seed,
  validationSplit: 0,
  initialModel: model,
  command: 'bench time-to-accuracy',
  signal: controller.signal,
  onBatch: (p) => {
    if (reached || !evalAt.has(p.batch)) return;
    trainSeconds += (performance.now() - lastStart) / 1000;
    const { acc } = lossAndAccuracy(model, data.test, recipe.normalization);
    const images = (p.epoch * batches + p.batch) * recipe.batchSize;
    const line = `epoch ${(p.epoch + p.batch / batches).toFixed(2)}: test ${(acc * 100).toFixed(2)} % after ${trainSeconds.toFixed(0)} s of training (${images} images)`;
    curve.push(line);
    console.log(line);
    if (acc >= target) {
      reached = { seconds: trainSeconds, images, acc };
      controller.abort();
    }
    lastStart = performance.now();
  },
});
await rm(out, { recursive: true, force: true });
if (reached) {
  console.log(
    `reached ${(reached.acc * 100).toFixed(2)} % after ${reached.seconds.toFixed(0)} s of training ` +
      `(${reached.images} images, ${(reached.images / reached.seconds).toFixed(0)} img/s)`,
  );
} else {
  console.log(`not reached within ${epochs} epochs (${trainSeconds.toFixed(0)} s of training)`);
  process.exitCode = 1;
}
