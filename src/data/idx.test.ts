import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataError } from './dataset.js';
import {
  isGzip,
  labelsPathFor,
  loadIdxPair,
  parseIdxImages,
  parseIdxLabels,
  transposeImages,
  writeIdxImages,
  writeIdxLabels,
} from './idx.js';
import { mnistSlice, useTempDir } from './test-helpers.js';

const tempDir = useTempDir();
const digits = { numClasses: 10 };

async function writePair(dir: string, n = 20, gzip = false) {
  const ds = await mnistSlice(n);
  const images = join(dir, 'x-images-idx3-ubyte');
  const labels = join(dir, 'x-labels-idx1-ubyte');
  await writeIdxImages(images, ds.images, ds.n, 28, 28, { gzip });
  await writeIdxLabels(labels, ds.labels, { gzip });
  return { ds, images, labels };
}

describe('IDX round trip', () => {
  it('writes and reads back raw files byte for byte', async () => {
    const { ds, images, labels } = await writePair(await tempDir());
    const loaded = await loadIdxPair(images, labels, digits);
    expect(loaded.n).toBe(20);
    expect(loaded.images).toEqual(ds.images);
    expect(loaded.labels).toEqual(ds.labels);
    expect(loaded.sources.map((s) => s.path)).toEqual([images, labels]);
    const raw = await readFile(images);
    expect(raw.length).toBe(16 + 20 * 784);
    expect(raw.readUInt32BE(0)).toBe(0x803);
  });

  it('detects gzip by content, not by name', async () => {
    const { ds, images, labels } = await writePair(await tempDir(), 20, true);
    expect(isGzip(await readFile(images))).toBe(true);
    const loaded = await loadIdxPair(images, labels, digits);
    expect(loaded.images).toEqual(ds.images);
    expect(loaded.labels).toEqual(ds.labels);
  });

  it('hashes the file as stored', async () => {
    const { images, labels } = await writePair(await tempDir());
    const a = await loadIdxPair(images, labels, digits);
    const bytes = await readFile(images);
    bytes[100] ^= 0xff;
    await writeFile(images, bytes);
    const b = await loadIdxPair(images, labels, digits);
    expect(a.sources[0].sha256).not.toBe(b.sources[0].sha256);
    expect(a.sources[1].sha256).toBe(b.sources[1].sha256);
  });
});

describe('IDX validation', () => {
  it('rejects a label file given as images (bad magic), naming the file', async () => {
    const { labels } = await writePair(await tempDir());
    await expect(loadIdxPair(labels, labels, digits)).rejects.toThrow(
      new RegExp(`${labels}: not an IDX image file \\(magic 0x00000801`),
    );
  });

  it('rejects an image file given as labels', async () => {
    const { images } = await writePair(await tempDir());
    await expect(loadIdxPair(images, images, digits)).rejects.toThrow(
      /not an IDX label file \(magic 0x00000803/,
    );
  });

  it('rejects a truncated image file', async () => {
    const { images, labels } = await writePair(await tempDir());
    const bytes = await readFile(images);
    await writeFile(images, bytes.subarray(0, bytes.length - 100));
    await expect(loadIdxPair(images, labels, digits)).rejects.toThrow(/truncated: header says 20 images/);
  });

  it('rejects a truncated gzip file', async () => {
    const { images, labels } = await writePair(await tempDir(), 20, true);
    const bytes = await readFile(images);
    await writeFile(images, bytes.subarray(0, bytes.length >> 1));
    await expect(loadIdxPair(images, labels, digits)).rejects.toThrow(/corrupt or truncated gzip/);
  });

  it('rejects a header-only stub and a truncated label file', () => {
    expect(() => parseIdxImages(new Uint8Array([0, 0, 8, 3]), 'f')).toThrow(/f: truncated IDX image file/);
    const labels = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]);
    expect(() => parseIdxLabels(labels, 'l')).toThrow(/l: truncated: header says 5 labels/);
  });

  it('rejects images and labels of different counts', async () => {
    const dir = await tempDir();
    const { images, labels, ds } = await writePair(dir);
    await writeIdxLabels(labels, ds.labels.subarray(0, 19));
    await expect(loadIdxPair(images, labels, digits)).rejects.toThrow(/has 20 images but .* has 19 labels/);
  });

  it('rejects images that are not 28x28', async () => {
    const dir = await tempDir();
    const path = join(dir, 'small-images-idx3-ubyte');
    await writeIdxImages(path, new Uint8Array(2 * 14 * 14), 2, 14, 14);
    await expect(loadIdxPair(path, path, digits)).rejects.toThrow(/images are 14x14, expected 28x28/);
  });

  it('rejects labels out of range for the classes', async () => {
    const { images, labels, ds } = await writePair(await tempDir());
    const bad = ds.labels.slice();
    bad[7] = 10;
    await writeIdxLabels(labels, bad);
    await expect(loadIdxPair(images, labels, digits)).rejects.toThrow(/label #7 is 10, outside 0..9/);
  });

  it('hints at CSV when given a text file', () => {
    const text = new TextEncoder().encode(`label,1x1,1x2\n${'0,'.repeat(10)}\n`);
    expect(() => parseIdxImages(text, 'a.txt')).toThrow(/looks like text: CSV files must be named \*\.csv/);
  });

  it('reports a missing file clearly', async () => {
    await expect(loadIdxPair('/nonexistent/a', '/nonexistent/b', digits)).rejects.toThrow(
      new DataError('/nonexistent/a: file not found'),
    );
  });

  it('rejects trailing bytes (a wrong header count)', () => {
    const body = new Uint8Array(8 + 3);
    body.set([0, 0, 8, 1, 0, 0, 0, 2]);
    expect(() => parseIdxLabels(body, 'l')).toThrow(/1 unexpected trailing bytes/);
    expect(() => parseIdxLabels(gzipSync(body), 'l')).toThrow(/not an IDX label file/);
  });
});

describe('helpers', () => {
  it('pairs labels files by the usual names', () => {
    expect(labelsPathFor('/d/train-images-idx3-ubyte')).toBe('/d/train-labels-idx1-ubyte');
    expect(labelsPathFor('/d/t10k-images.idx3-ubyte')).toBe('/d/t10k-labels.idx1-ubyte');
    expect(labelsPathFor('/d/emnist-letters-test-images-idx3-ubyte.gz')).toBe(
      '/d/emnist-letters-test-labels-idx1-ubyte.gz',
    );
    expect(labelsPathFor('/d/digits.bin')).toBeUndefined();
  });

  it('transposes each image', async () => {
    const ds = await mnistSlice(3);
    const t = transposeImages(ds.images, 28, 28);
    expect(t).not.toEqual(ds.images);
    expect(t[784 + 5 * 28 + 17]).toBe(ds.images[784 + 17 * 28 + 5]);
    expect(transposeImages(t, 28, 28)).toEqual(ds.images);
  });
});
