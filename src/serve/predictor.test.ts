import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { buildModel } from '../model/archs.js';
import { PIXELS } from '../model/infer.js';
import { type LoadedModel, loadModel } from '../model/io.js';
import { Predictor } from './predictor.js';
import { saveTestModel } from './testing.js';

let dir: string;
let loaded: LoadedModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hwr-predictor-'));
  await saveTestModel(join(dir, 'digits'));
  loaded = await loadModel(join(dir, 'digits'));
}, 60_000);

afterAll(async () => {
  loaded?.model.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('micro-batching', () => {
  it('answers concurrent predictions from one forward pass, each with its own probabilities', async () => {
    const ds = subset(await loadSplit('mnist', 'test'), range(0, 10));
    const single = new Predictor(loaded);
    const expected = range(0, 10).map((i) =>
      single.predictNow(ds.images.subarray(i * PIXELS, (i + 1) * PIXELS), 1),
    );
    const batched = new Predictor(loaded, { maxBatch: 16, maxWaitMs: 0 });
    const passes = vi.spyOn(batched, 'predictNow');
    const got = await Promise.all(
      range(0, 10).map((i) => batched.predict(ds.images.subarray(i * PIXELS, (i + 1) * PIXELS))),
    );
    expect(passes).toHaveBeenCalledTimes(1);
    expect(passes.mock.calls[0][1]).toBe(10);
    for (let i = 0; i < 10; i++)
      for (let c = 0; c < 10; c++) expect(got[i][c]).toBeCloseTo(expected[i][c], 5);
  });

  it('splits at maxBatch and waits at most maxWaitMs for company', async () => {
    const batched = new Predictor(loaded, { maxBatch: 4, maxWaitMs: 2 });
    const passes = vi.spyOn(batched, 'predictNow');
    const img = new Uint8Array(PIXELS);
    await Promise.all(range(0, 10).map(() => batched.predict(img)));
    expect(passes.mock.calls.map((c) => c[1])).toEqual([4, 4, 2]);
    const t = performance.now();
    await batched.predict(img);
    expect(performance.now() - t).toBeLessThan(200); // the lone request is not left waiting
  });
});

describe('fused plan', () => {
  it('serves a BatchNorm CNN through the fused plan and frees every tensor on close', async () => {
    await saveTestModel(join(dir, 'fast'), { model: buildModel('fast', 10), arch: 'fast' });
    const before = tf.memory().numTensors;
    const fast = await loadModel(join(dir, 'fast'));
    const predictor = new Predictor(fast, { maxBatch: 16, maxWaitMs: 0 });
    expect(predictor.isFused).toBe(true);
    const probs = await predictor.predict(new Uint8Array(PIXELS));
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    predictor.close();
    expect(tf.memory().numTensors).toBe(before);
  });
});
