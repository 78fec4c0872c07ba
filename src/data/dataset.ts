import { type ErrorCode, HwrError } from '../util/errors.js';

/** An in-memory image classification dataset: grayscale images, ink high (0 = background, 255 = ink). */
export interface ImageDataset {
  /** n * rows * cols bytes, row-major, image after image, upright. */
  readonly images: Uint8Array;
  /** n class indices, 0-based, each < classes.length. */
  readonly labels: Uint8Array;
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  /** Display label of every class index ("0".."9", "a".."z", ...). */
  readonly classes: readonly string[];
  /** Where the data came from: file paths and their sha256, for model metadata. */
  readonly sources: readonly DataSource[];
}

export interface DataSource {
  readonly path: string;
  readonly sha256: string;
}

export interface DatasetSplits {
  readonly name: string;
  readonly train: ImageDataset;
  readonly test: ImageDataset;
}

export type Split = 'train' | 'test';

export interface DatasetOptions {
  /** Folder holding the dataset's files under their official names. */
  dataDir?: string;
  /** Folder of one subfolder per dataset (mnist/, unipen/, emnist/...), tried when dataDir is unset (HWR_DATA_DIR). */
  dataRoot?: string;
  /** Folder of the rendered-data caches (HWR_CACHE_DIR; default .cache under the project). */
  cacheRoot?: string;
  /** UNIPEN: train on the samples flagged suspect too (HWR_UNIPEN_SUSPECT=keep; default: dropped). */
  keepSuspect?: boolean;
  /** Explicit train data (generic form): IDX image file (labels beside it), CSV file, or exported folder. */
  train?: string;
  /** Explicit test data, as `train`. */
  test?: string;
  /** Stroke datasets only: stroke-augmented copies rendered per training sample (default 0). */
  strokeCopies?: number;
}

/** Loads one split of a named dataset. */
export type DatasetLoader = (split: Split, options: DatasetOptions) => Promise<ImageDataset>;

/** A loader error the CLI prints as is (exit 1), without a stack trace. */
export class DataError extends HwrError {
  override readonly name = 'DataError';

  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(options.code ?? 'data', message, { cause: options.cause });
  }
}

export const DIGIT_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const LETTER_CLASSES: readonly string[] = 'abcdefghijklmnopqrstuvwxyz'.split('');

/** Copies rows [start, end) of a dataset (or the given indices) into a new dataset. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const size = ds.rows * ds.cols;
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    images.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = ds.labels[j];
  }
  return { ...ds, images, labels, n: indices.length };
}

export function range(start: number, end: number): number[] {
  return Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
}

/** a's images, then b's: same image size and classes required. */
export function concatDatasets(a: ImageDataset, b: ImageDataset): ImageDataset {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new DataError(`cannot join ${a.rows}x${a.cols} images with ${b.rows}x${b.cols} images`);
  }
  if (a.classes.join('\u0000') !== b.classes.join('\u0000')) {
    throw new DataError(
      `cannot join datasets with classes [${a.classes.join(' ')}] and [${b.classes.join(' ')}]`,
    );
  }
  const images = new Uint8Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Uint8Array(a.n + b.n);
  labels.set(a.labels);
  labels.set(b.labels, a.n);
  return { ...a, images, labels, n: a.n + b.n, sources: [...a.sources, ...b.sources] };
}
