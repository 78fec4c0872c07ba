import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataError, DIGIT_CLASSES, range, subset } from '../data/dataset.js';
import { loadPath, loadSplit } from '../data/datasets.js';
import { PIXELS } from '../model/infer.js';
import { FeedbackStore } from '../store/feedback-store.js';
import { exportFeedback } from './export.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hwr-export-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fillStore(n: number) {
  const mnist = subset(await loadSplit('mnist', 'test'), range(0, n));
  const store = new FeedbackStore(join(dir, 'data'));
  for (let i = 0; i < n; i++) {
    const pixels = mnist.images.slice(i * PIXELS, (i + 1) * PIXELS);
    store.add({
      pixels,
      inputKind: 'pixels',
      rawInput: Array.from(pixels),
      label: String(mnist.labels[i]),
      predicted: i % 3 === 0 ? '0' : String(mnist.labels[i]),
      modelName: 'digits',
      modelVersion: 'v1',
      classes: DIGIT_CLASSES,
    });
  }
  // Another model's rows must not leak into the digits export.
  store.add({
    pixels: new Uint8Array(PIXELS),
    inputKind: 'strokes',
    rawInput: [[[0, 0]]],
    label: 'q',
    modelName: 'letters',
    modelVersion: 'l1',
    classes: ['p', 'q'],
  });
  store.close();
  return mnist;
}

describe('hwr feedback export', () => {
  for (const format of ['idx', 'csv'] as const) {
    it(`writes ${format} the dataset loaders read back, byte for byte`, async () => {
      const mnist = await fillStore(40);
      const out = join(dir, `out-${format}`);
      const result = await exportFeedback({ dataDir: join(dir, 'data'), out, model: 'digits', format });
      expect(result.samples).toBe(40);
      expect(result.skipped).toBe(0);
      const ds = await loadPath(result.path);
      expect(ds.n).toBe(40);
      expect(ds.classes).toEqual(DIGIT_CLASSES);
      expect(Array.from(ds.labels)).toEqual(Array.from(mnist.labels));
      expect(Buffer.from(ds.images).equals(Buffer.from(mnist.images))).toBe(true);
    });
  }

  it('stats count labels and how often the model was right', async () => {
    const mnist = await fillStore(30);
    const store = new FeedbackStore(join(dir, 'data'));
    try {
      const stats = store.stats('digits');
      expect(stats.total).toBe(30);
      // Rows 0, 3, 6, ... were "predicted" as 0: right only when the truth is 0.
      let correct = 0;
      for (let i = 0; i < 30; i++) if (i % 3 !== 0 || mnist.labels[i] === 0) correct++;
      expect(stats.correct).toBe(correct);
      expect(stats.accuracy).toBeCloseTo(correct / 30, 10);
      const sevens = Array.from(mnist.labels).filter((l) => l === 7).length;
      expect(stats.byLabel['7']?.count ?? 0).toBe(sevens);
      expect(store.stats().total).toBe(31);
    } finally {
      store.close();
    }
  });

  it('says clearly when there is nothing to export', async () => {
    await expect(
      exportFeedback({ dataDir: join(dir, 'none'), out: join(dir, 'o'), model: 'digits', format: 'idx' }),
    ).rejects.toThrow(/no feedback database at .*feedback\.sqlite/);
    await fillStore(2);
    const err = await exportFeedback({
      dataDir: join(dir, 'data'),
      out: join(dir, 'o'),
      model: 'fashion',
      format: 'idx',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/no feedback for model "fashion".*models with feedback: digits, letters/);
  });
});
