import { beforeAll, describe, expect, it } from 'vitest';
import { type ImageDataset, LETTER_CLASSES, range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { PIXELS, predictProbs } from '../model/infer.js';
import type { LoadedModel } from '../model/io.js';
import { argmaxRows } from '../util/argmax.js';
import { compareModels, compareResults, formatComparison } from './compare.js';
import { evaluateModel, summarize, worstClasses } from './evaluate.js';
import { quickModel } from './testing.js';

let trained: LoadedModel;
let untrained: LoadedModel;
let test: ImageDataset;

beforeAll(async () => {
  await initBackend();
  const train = subset(await loadSplit('mnist', 'train'), range(0, 800));
  test = subset(await loadSplit('mnist', 'test'), range(0, 400));
  trained = await quickModel({ train, epochs: 3, name: 'trained' });
  untrained = await quickModel({ train, epochs: 0, name: 'untrained' });
});

describe('evaluateModel', () => {
  it('scores the model predictions on real MNIST images', () => {
    const r = evaluateModel(trained, test, { datasetName: 'mnist test[0:400]' });
    const probs = predictProbs(trained.model, test.images, test.n, trained.metadata.normalization);
    const pred = argmaxRows(probs, 10);
    const correct = pred.filter((p, i) => p === test.labels[i]).length;
    expect(r.n).toBe(400);
    expect(r.accuracy).toBeCloseTo(correct / 400, 12);
    expect(r.accuracy).toBeGreaterThan(0.6); // 3 epochs on 800 images: well above chance
    expect(r.confusion.flat().reduce((a, b) => a + b, 0)).toBe(400);
    expect(r.perClass.reduce((a, c) => a + c.support, 0)).toBe(400);
    expect(r.macro.auc).toBeGreaterThan(0.8);
    expect(r.topK[2].accuracy).toBeGreaterThanOrEqual(r.accuracy);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.dataset.name).toBe('mnist test[0:400]');
  });

  it('keeps the most confident mistakes with their pixels, most confident first', () => {
    const r = evaluateModel(trained, test);
    const wrong = r.n - Math.round(r.accuracy * r.n);
    expect(r.mistakes.length).toBe(Math.min(24, wrong));
    for (const m of r.mistakes) {
      expect(m.predicted).not.toBe(m.label);
      expect(m.label).toBe(test.labels[m.index]);
      expect(m.pixels).toEqual(test.images.subarray(m.index * PIXELS, (m.index + 1) * PIXELS));
      expect(m.confidence).toBeCloseTo(r.predictions.probs[m.index * 10 + m.predicted], 6);
    }
    const conf = r.mistakes.map((m) => m.confidence);
    expect(conf).toEqual([...conf].sort((a, b) => b - a));
    // No excluded mistake is more confident than the last one kept.
    const last = conf[conf.length - 1];
    for (let i = 0; i < r.n; i++)
      if (r.predictions.predicted[i] !== test.labels[i] && !r.mistakes.some((m) => m.index === i))
        expect(r.predictions.probs[i * 10 + r.predictions.predicted[i]]).toBeLessThanOrEqual(last);
  });

  it('rejects a dataset whose classes differ from the model', () => {
    const letters: ImageDataset = { ...test, classes: LETTER_CLASSES.slice(0, 10) };
    expect(() => evaluateModel(trained, letters)).toThrow(
      /has classes \[0 1 2 .*but the dataset has \[a b c/,
    );
    const fewer: ImageDataset = { ...test, classes: test.classes.slice(0, 9) };
    expect(() => evaluateModel(trained, fewer)).toThrow(expect.objectContaining({ name: 'ModelError' }));
    const bigger: ImageDataset = { ...test, rows: 32, cols: 32 };
    expect(() => evaluateModel(trained, bigger)).toThrow(expect.objectContaining({ name: 'DataError' }));
  });

  it('summarises accuracy, macro F1/AUC, worst classes and time', () => {
    const r = evaluateModel(trained, test);
    const text = summarize(r);
    expect(text).toContain(`${(r.accuracy * 100).toFixed(2)}%`);
    expect(text).toMatch(/macro F1 +0\.\d{4} +macro AUC 0\.\d{4}/);
    const worst = worstClasses(r);
    expect(worst).toHaveLength(3);
    expect(worst[0].f1).toBeLessThanOrEqual(worst[1].f1);
    const best = Math.max(...r.perClass.map((c) => c.f1 ?? 0));
    expect(worst[2].f1).toBeLessThanOrEqual(best);
    expect(text).toContain(`worst F1   ${worst[0].label} (F1 ${worst[0].f1.toFixed(4)})`);
  });
});

describe('compareModels', () => {
  it('finds no difference between a model and itself', () => {
    const c = compareModels(trained, trained, test);
    expect(c.mcnemar.aOnly).toBe(0);
    expect(c.mcnemar.bOnly).toBe(0);
    expect(c.mcnemar.pValue).toBe(1);
    expect(c.accuracyDelta).toBe(0);
    expect(c.bothCorrect + c.bothWrong).toBe(400);
  });

  it('detects that a trained model beats an untrained one', () => {
    const c = compareModels(untrained, trained, test);
    expect(c.accuracyDelta).toBeGreaterThan(0.3);
    expect(c.mcnemar.bOnly).toBeGreaterThan(c.mcnemar.aOnly);
    expect(c.mcnemar.method).toBe('chi2');
    expect(c.mcnemar.pValue).toBeLessThan(1e-6);
    // The four cells of the paired table cover every sample.
    expect(c.bothCorrect + c.bothWrong + c.mcnemar.aOnly + c.mcnemar.bOnly).toBe(400);
    expect(c.a.errors).toBe(c.mcnemar.bOnly + c.bothWrong);
    expect(formatComparison(c)).toMatch(/McNemar \(chi-square [\d.]+, continuity-corrected\): p = /);
  });

  it('refuses to pair evaluations of different samples', () => {
    const a = evaluateModel(trained, subset(test, range(0, 100)));
    const b = evaluateModel(trained, subset(test, range(100, 200)));
    expect(() => compareResults(a, b)).toThrow(/not on the same samples/);
  });
});
