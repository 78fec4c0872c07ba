import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTempDir } from '../data/test-helpers.js';
import { loadUnipenStrokes, type UnipenStrokeSplits } from '../data/unipen-strokes.js';
import { initBackend } from '../engine/backend.js';
import { loadStrokePart, saveStrokePart } from '../model/stroke-part-io.js';
import { DEFAULT_TRAJECTORY_AUGMENT } from '../preprocess/stroke-augment.js';
import { STROKE_FEATURES_VERSION } from '../preprocess/stroke-features.js';
import { checkpointDir } from './checkpoint.js';
import { type StrokeTrainConfig, trainStrokePart } from './stroke-trainer.js';

// Small slices of the real UNIPEN files (8 writers, 3 of them held out).
const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'letters');
const tempDir = useTempDir();
let data: UnipenStrokeSplits;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
  data = await loadUnipenStrokes(FIXTURES, 'digits');
});

function config(out: string, over: Partial<StrokeTrainConfig> = {}): StrokeTrainConfig {
  return {
    name: 'strokes',
    arch: 'strokes-conv',
    data,
    out,
    spec: { version: STROKE_FEATURES_VERSION, points: 32 },
    epochs: 3,
    batchSize: 16,
    lr: 3e-3,
    schedule: 'onecycle',
    labelSmoothing: 0.1,
    augment: DEFAULT_TRAJECTORY_AUGMENT,
    seed: 5,
    command: 'test',
    ...over,
  };
}

const weightsOf = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

describe('trainStrokePart', () => {
  it('trains on real pen digits, records history and accuracies, and saves a part that loads back', async () => {
    const dir = await tempDir();
    // Batches of 8 for 20 epochs: enough steps for BatchNorm's moving statistics (momentum 0.99) to settle.
    const r = await trainStrokePart(config(join(dir, 'a'), { epochs: 20, batchSize: 8 }));
    expect(r.interrupted).toBe(false);
    const m = r.metadata;
    expect(m.history.map((h) => h.epoch)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(m.history.every((h) => h.valAcc !== undefined && Number.isFinite(h.valLoss))).toBe(true);
    // Learns something from ~50 drawings: training loss falls, and it beats chance (10 %) on unseen writers.
    expect(m.history[19].loss).toBeLessThan(m.history[0].loss);
    expect(m.testAccuracy).toBeGreaterThan(0.2);
    expect(m.dataset).toMatchObject({ trainSamples: data.train.length, testSamples: data.test.length });
    expect(m.classes).toEqual(data.classes);
    const saved = await saveStrokePart(r.model, m, join(dir, 'part'), 'float16');
    const loaded = await loadStrokePart(join(dir, 'part'));
    expect(loaded.metadata.weights).toEqual(saved.weights);
    expect(loaded.metadata.weights?.dtype).toBe('float16');
    expect(existsSync(checkpointDir(join(dir, 'a')))).toBe(false);
  });

  it('gives the same weights for the same seed, and an interrupted run resumes to the same result', async () => {
    const dir = await tempDir();
    const a = await trainStrokePart(config(join(dir, 'a')));
    const b = await trainStrokePart(config(join(dir, 'b')));
    expect(weightsOf(b.model)).toEqual(weightsOf(a.model));
    const controller = new AbortController();
    let batches = 0;
    const cut = await trainStrokePart(
      config(join(dir, 'c'), {
        signal: controller.signal,
        onBatch: () => ++batches === 5 && controller.abort(),
      }),
    );
    expect(cut.interrupted).toBe(true);
    expect(existsSync(checkpointDir(join(dir, 'c')))).toBe(true);
    const resumed = await trainStrokePart(config(join(dir, 'c'), { resume: true }));
    expect(resumed.interrupted).toBe(false);
    expect(weightsOf(resumed.model)).toEqual(weightsOf(a.model));
    await expect(trainStrokePart(config(join(dir, 'c'), { resume: true, lr: 0.1 }))).resolves.toBeDefined();
  });

  it('refuses to resume a checkpoint made with other settings', async () => {
    const dir = await tempDir();
    const controller = new AbortController();
    controller.abort();
    await trainStrokePart(config(join(dir, 'd'), { signal: controller.signal }));
    await expect(trainStrokePart(config(join(dir, 'd'), { resume: true, lr: 0.5 }))).rejects.toThrow(
      /other settings/,
    );
  });
});
