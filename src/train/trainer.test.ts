import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetSplits } from '../data/dataset.js';
import { range, subset } from '../data/dataset.js';
import { loadDataset } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { loadModel, saveModel } from '../model/io.js';
import { checkpointDir } from './checkpoint.js';
import { RECIPES } from './recipes.js';
import { distinctSources, type TrainConfig, train } from './trainer.js';

let data: DatasetSplits;
let dir: string;

beforeAll(async () => {
  await initBackend();
  const full = await loadDataset('mnist');
  data = { name: 'mnist', train: subset(full.train, range(0, 1024)), test: subset(full.test, range(0, 500)) };
  dir = await mkdtemp(join(tmpdir(), 'hwr-train-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// `paper` has no BatchNorm, whose moving averages need far more steps than a test can afford.
function config(out: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  const r = RECIPES.paper;
  return {
    name: 'digits',
    arch: 'paper',
    data,
    out,
    epochs: 2,
    batchSize: 64,
    lr: r.lr,
    schedule: r.schedule,
    labelSmoothing: 0.1,
    augment: { rotate: 8, scale: 0.1, shift: 2, shear: 0.1 },
    normalization: r.normalization,
    seed: 7,
    validationSplit: 0.125,
    command: 'test',
    ...extra,
  };
}

async function weightsOf(m: { getWeights(): tf.Tensor[] }): Promise<Float32Array[]> {
  return Promise.all(m.getWeights().map((w) => w.data() as Promise<Float32Array>));
}

describe('distinctSources', () => {
  it('lists a file once when two splits come from it, keeping first-seen order', () => {
    const a = { path: '/d/upper.gz', sha256: 'a'.repeat(64) };
    const b = { path: '/d/lower.gz', sha256: 'b'.repeat(64) };
    const c = { path: '/d/test.gz', sha256: 'c'.repeat(64) };
    expect(distinctSources([a, b], [a, b, c])).toEqual([a, b, c]);
    // the same path with other contents is another file
    const a2 = { ...a, sha256: 'd'.repeat(64) };
    expect(distinctSources([a], [a2])).toEqual([a, a2]);
  });
});

describe('train', () => {
  it('learns MNIST digits from 900 images, records history and test accuracy, and saves a loadable model', async () => {
    const out = join(dir, 'a');
    const result = await train(config(out));
    expect(result.interrupted).toBe(false);
    const m = result.metadata;
    expect(m.training.history).toHaveLength(2);
    expect(m.training.history[1].valAcc).toBeGreaterThan(0.5);
    expect(m.testAccuracy).toBeGreaterThan(0.6); // chance is 0.1
    expect(m.dataset.trainSamples).toBe(896);
    expect(m.dataset.sources.map((s) => s.path.split('/').pop()?.replace(/\.gz$/, ''))).toEqual([
      'train-images-idx3-ubyte',
      'train-labels-idx1-ubyte',
      't10k-images-idx3-ubyte',
      't10k-labels-idx1-ubyte',
    ]);
    await saveModel(result.model, m, out);
    const loaded = await loadModel(out);
    expect(loaded.metadata.testAccuracy).toBe(m.testAccuracy);
  });

  it('gives the same weights for the same seed, and an interrupted run resumes to the same result', async () => {
    const small = { ...data, train: subset(data.train, range(0, 448)) };
    const config1 = (out: string, extra: Partial<TrainConfig> = {}) =>
      config(out, { data: small, epochs: 1, ...extra });
    const a = await train(config1(join(dir, 'b')));
    const wa = await weightsOf(a.model);
    // Abort after 3 batches, then resume from the checkpoint.
    const controller = new AbortController();
    let batches = 0;
    const stopped = await train(
      config1(join(dir, 'c'), {
        signal: controller.signal,
        onBatch: () => ++batches === 3 && controller.abort(),
      }),
    );
    expect(stopped.interrupted).toBe(true);
    const resumed = await train(config1(join(dir, 'c'), { resume: true }));
    expect(resumed.interrupted).toBe(false);
    const wr = await weightsOf(resumed.model);
    expect(wr.length).toBe(wa.length);
    for (let i = 0; i < wa.length; i++) expect(Array.from(wr[i])).toEqual(Array.from(wa[i]));
    const different = await train(config1(join(dir, 'd'), { seed: 8 }));
    const wd = await weightsOf(different.model);
    expect(Array.from(wd[0])).not.toEqual(Array.from(wa[0]));
  });

  it('refuses to resume a checkpoint made with other settings', async () => {
    const out = join(dir, 'e');
    const controller = new AbortController();
    controller.abort();
    await train(config(out, { epochs: 1, signal: controller.signal }));
    // The message names the differing setting, its flag and both values.
    await expect(train(config(out, { epochs: 1, resume: true, lr: 0.5 }))).rejects.toThrow(
      /other settings[\s\S]*\n {2}lr \(--lr\): [\d.e-]+ in the checkpoint, 0\.5 now$/,
    );
    const fewer = { ...data, train: subset(data.train, range(0, 512)) };
    await expect(train(config(out, { epochs: 1, resume: true, data: fewer }))).rejects.toThrow(
      /other settings[\s\S]*\n {2}dataset \(--dataset \/ --train \/ --limit\): .*"train":\d+.* in the checkpoint, .*"train":512/,
    );
    expect(checkpointDir(out)).toContain('.e.ckpt');
  });
});
