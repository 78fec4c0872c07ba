import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ImageDataset, range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { buildModel } from '../model/archs.js';
import { PIXELS } from '../model/infer.js';
import { type LoadedModel, loadModel } from '../model/io.js';
import { InferenceThread } from './inference-thread.js';
import { Predictor } from './predictor.js';
import { saveTestModel } from './testing.js';

let dir: string;
let loaded: LoadedModel;
let ds: ImageDataset;
/** Each test image's probabilities computed on this thread: what the inference thread must answer. */
let expected: Float32Array[];
const image = (i: number) => ds.images.subarray(i * PIXELS, (i + 1) * PIXELS);

function expectSameAsHere(got: Float32Array[]): void {
  for (let i = 0; i < got.length; i++) {
    expect(got[i].length).toBe(10);
    for (let c = 0; c < 10; c++) expect(got[i][c]).toBeCloseTo(expected[i][c], 6);
  }
}

beforeAll(async () => {
  await initBackend({ threads: 1 });
  dir = await mkdtemp(join(tmpdir(), 'hwr-inference-thread-'));
  // The `fast` CNN (conv + BatchNorm: the fused plan) with its random initial weights.
  await saveTestModel(join(dir, 'digits'), { model: buildModel('fast', 10), arch: 'fast' });
  loaded = await loadModel(join(dir, 'digits'));
  ds = subset(await loadSplit('mnist', 'test'), range(0, 40));
  const here = new Predictor(loaded);
  expected = range(0, 40).map((i) => here.predictNow(image(i), 1));
}, 60_000);

afterAll(async () => {
  loaded?.model.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('inference thread', () => {
  it('answers concurrent predictions with the same probabilities as this thread, in passes of at most maxBatch', async () => {
    const thread = InferenceThread.start();
    // close() frees its model: each predictor that is closed gets its own copy.
    const offloaded = new Predictor(await loadModel(join(dir, 'digits')), { maxBatch: 16, maxWaitMs: 0 });
    await offloaded.useThread(thread, 'digits#1');
    expect(offloaded.offloaded).toBe(true);
    const passes = vi.spyOn(thread, 'run');
    const got = await Promise.all(range(0, 40).map((i) => offloaded.predict(image(i))));
    const sizes = passes.mock.calls.map(([, , n]) => n);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(40);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
    expect(got.length).toBe(40);
    expectSameAsHere(got);
    offloaded.close();
    await thread.close();
  });

  it('keeps at most maxInFlight passes on the thread at once, and fills them', async () => {
    const thread = InferenceThread.start();
    for (const maxInFlight of [1, 2]) {
      const predictor = new Predictor(await loadModel(join(dir, 'digits')), {
        maxBatch: 4,
        maxWaitMs: 0,
        maxInFlight,
      });
      await predictor.useThread(thread, `digits#inflight${maxInFlight}`);
      const run = thread.run.bind(thread);
      let open = 0;
      let mostOpen = 0;
      const sizes: number[] = [];
      const spy = vi.spyOn(thread, 'run').mockImplementation(async (key, pixels, n) => {
        sizes.push(n);
        mostOpen = Math.max(mostOpen, ++open);
        try {
          return await run(key, pixels, n);
        } finally {
          open--;
        }
      });
      const got = await Promise.all(range(0, 40).map((i) => predictor.predict(image(i))));
      expect(mostOpen).toBe(maxInFlight);
      expect(Math.max(...sizes)).toBe(4);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(40);
      expectSameAsHere(got);
      spy.mockRestore();
      predictor.close();
    }
    await thread.close();
  });

  it('falls back to this thread once the inference thread is gone, without failing a request', async () => {
    const thread = InferenceThread.start();
    const predictor = new Predictor(await loadModel(join(dir, 'digits')), { maxBatch: 8, maxWaitMs: 0 });
    await predictor.useThread(thread, 'digits#2');
    const first = await predictor.predict(image(0));
    await thread.close();
    expect(predictor.offloaded).toBe(false);
    const after = await Promise.all(range(0, 5).map((i) => predictor.predict(image(i))));
    for (let c = 0; c < 10; c++) expect(after[0][c]).toBeCloseTo(first[c], 6);
    predictor.close();
  });

  it('rejects a run for a model it does not hold, with a message', async () => {
    const thread = InferenceThread.start();
    await expect(thread.run('nothing', new Uint8Array(PIXELS), 1)).rejects.toThrow(/not loaded/);
    expect(thread.alive).toBe(true);
    await thread.close();
  });
});
