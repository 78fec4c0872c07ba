import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeCsv } from './csv.js';
import { LETTER_CLASSES } from './dataset.js';
import { loadDataset } from './datasets.js';
import { emnistFileNames, loadEmnistSplit } from './emnist.js';
import { transposeImages, writeIdxImages, writeIdxLabels } from './idx.js';
import { mnistSlice, useTempDir } from './test-helpers.js';

const tempDir = useTempDir();

/** Real MNIST digits stored the EMNIST way: transposed, with letter labels 1..26. */
async function emnistLike(n: number) {
  const ds = await mnistSlice(n);
  const stored = transposeImages(ds.images, 28, 28);
  const fileLabels = Uint8Array.from({ length: n }, (_, i) => (i % 26) + 1);
  return { upright: ds.images, stored, fileLabels };
}

async function writeEmnistIdx(
  dir: string,
  variant: 'letters' | 'digits',
  split: 'train' | 'test',
  n: number,
) {
  const data = await emnistLike(n);
  const labels = variant === 'letters' ? data.fileLabels : data.fileLabels.map((l) => l % 10);
  const names = emnistFileNames(variant, split);
  await writeIdxImages(join(dir, `${names.images}.gz`), data.stored, n, 28, 28);
  await writeIdxLabels(join(dir, `${names.labels}.gz`), labels);
  return { ...data, labels };
}

describe('EMNIST letters', () => {
  it('reads official IDX files upright with labels shifted to 0..25', async () => {
    const dir = await tempDir();
    const written = await writeEmnistIdx(dir, 'letters', 'train', 30);
    const ds = await loadEmnistSplit(dir, 'letters', 'train');
    expect(ds.n).toBe(30);
    expect(ds.images).toEqual(written.upright);
    expect(ds.images).not.toEqual(written.stored);
    expect([...ds.labels]).toEqual([...written.fileLabels].map((l) => l - 1));
    expect(ds.classes).toEqual(LETTER_CLASSES);
    expect(ds.classes[ds.labels[27]]).toBe('b');
    expect(ds.sources[0].path).toBe(join(dir, 'emnist-letters-train-images-idx3-ubyte.gz'));
  });

  it('reads the Kaggle CSV variant (no header, labels 1..26, transposed)', async () => {
    const dir = await tempDir();
    const data = await emnistLike(12);
    await writeCsv(join(dir, 'emnist-letters-test.csv'), data.stored, data.fileLabels, { header: false });
    const ds = await loadEmnistSplit(dir, 'letters', 'test');
    expect(ds.images).toEqual(data.upright);
    expect([...ds.labels]).toEqual([...data.fileLabels].map((l) => l - 1));
  });

  it('loads both splits by name, also from the gzip/ subfolder', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'gzip'));
    await writeEmnistIdx(join(dir, 'gzip'), 'letters', 'train', 8);
    const test = await writeEmnistIdx(join(dir, 'gzip'), 'letters', 'test', 5);
    const ds = await loadDataset('emnist-letters', { dataDir: dir });
    expect([ds.train.n, ds.test.n]).toEqual([8, 5]);
    expect(ds.test.images).toEqual(test.upright);
  });

  it('rejects label 0 (unused in EMNIST letters)', async () => {
    const dir = await tempDir();
    const names = emnistFileNames('letters', 'train');
    const { stored, fileLabels } = await emnistLike(3);
    fileLabels[2] = 0;
    await writeIdxImages(join(dir, names.images), stored, 3, 28, 28);
    await writeIdxLabels(join(dir, names.labels), fileLabels);
    await expect(loadEmnistSplit(dir, 'letters', 'train')).rejects.toThrow(/label #2 is 0, outside 1..26/);
  });

  it('lists the expected file names when they are missing', async () => {
    const dir = await tempDir();
    await expect(loadEmnistSplit(dir, 'letters', 'test')).rejects.toThrow(
      /emnist-letters-test-images-idx3-ubyte\(.gz\) with emnist-letters-test-labels-idx1-ubyte\(.gz\), or emnist-letters-test.csv/,
    );
    await expect(loadDataset('emnist-letters')).rejects.toThrow(/needs --data-dir/);
  });

  it('accepts explicit --train/--test files with EMNIST conventions', async () => {
    const dir = await tempDir();
    const train = await writeEmnistIdx(dir, 'letters', 'train', 6);
    const data = await emnistLike(4);
    const csv = join(dir, 'my-test.csv');
    await writeCsv(csv, data.stored, data.fileLabels);
    const ds = await loadDataset('emnist-letters', {
      train: join(dir, 'emnist-letters-train-images-idx3-ubyte.gz'),
      test: csv,
    });
    expect(ds.train.images).toEqual(train.upright);
    expect(ds.test.images).toEqual(data.upright);
    expect([...ds.test.labels]).toEqual([0, 1, 2, 3]);
  });
});

describe('EMNIST digits', () => {
  it('keeps labels 0..9 and transposes', async () => {
    const dir = await tempDir();
    const written = await writeEmnistIdx(dir, 'digits', 'test', 20);
    const ds = await loadEmnistSplit(dir, 'digits', 'test');
    expect(ds.images).toEqual(written.upright);
    expect(ds.labels).toEqual(written.labels);
    expect(ds.classes[9]).toBe('9');
  });
});
