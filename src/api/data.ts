import { type DatasetSplits, type ImageDataset, range, subset } from '../data/dataset.js';

/** The first `n` samples of a dataset (all of it when it has fewer). */
export function head(ds: ImageDataset, n: number): ImageDataset {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`head: n must be a positive integer, got ${n}`);
  return n >= ds.n ? ds : subset(ds, range(0, n));
}

/**
 * A smaller copy of both splits for quick runs (the first `train` / `test` samples; omitted means
 * all). The CLI's `--limit` / `--test-limit` do the same.
 */
export function shrink(data: DatasetSplits, limits: { train?: number; test?: number }): DatasetSplits {
  return {
    ...data,
    train: limits.train === undefined ? data.train : head(data.train, limits.train),
    test: limits.test === undefined ? data.test : head(data.test, limits.test),
  };
}
