import { describe, expect, it } from 'vitest';
import { argmaxRows } from '../util/argmax.js';
import {
  computeMetrics,
  confusionMatrix,
  logLoss,
  mcnemar,
  mcnemarFromCounts,
  rocAuc,
  rocCurve,
  topKAccuracy,
} from './metrics.js';

// Hand-worked 3-class case (values derived on paper from sklearn's definitions):
// labels [0,0,0,1,1,2], argmax predictions [0,0,1,1,2,2].
const LABELS = [0, 0, 0, 1, 1, 2];
const PROBS = [
  [0.7, 0.2, 0.1],
  [0.5, 0.3, 0.2],
  [0.3, 0.6, 0.1],
  [0.2, 0.5, 0.3],
  [0.1, 0.4, 0.5],
  [0.1, 0.1, 0.8],
].flat();
const CLASSES = ['a', 'b', 'c'];

describe('computeMetrics on a hand-computed case', () => {
  const m = computeMetrics(LABELS, PROBS, CLASSES);

  it('confusion matrix has true classes as rows', () => {
    expect(m.confusion).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
  });

  it('per-class precision, recall, F1, specificity, support', () => {
    const [a, b, c] = m.perClass;
    expect([a.precision, b.precision, c.precision]).toEqual([1, 0.5, 0.5]);
    expect(a.recall).toBeCloseTo(2 / 3, 12);
    expect(b.recall).toBe(0.5);
    expect(c.recall).toBe(1);
    expect(a.f1).toBeCloseTo(0.8, 12);
    expect(b.f1).toBeCloseTo(0.5, 12);
    expect(c.f1).toBeCloseTo(2 / 3, 12);
    // specificity = tn / (tn + fp): a has no false positives; b: 1 fp of 4 negatives; c: 1 fp of 5.
    expect(a.specificity).toBe(1);
    expect(b.specificity).toBe(3 / 4);
    expect(c.specificity).toBe(4 / 5);
    expect(m.perClass.map((x) => x.support)).toEqual([3, 2, 1]);
    expect(m.perClass.map((x) => [x.tp, x.fp, x.fn, x.tn])).toEqual([
      [2, 0, 1, 3],
      [1, 1, 1, 3],
      [1, 1, 0, 4],
    ]);
  });

  it('macro and weighted averages', () => {
    expect(m.macro.precision).toBeCloseTo(2 / 3, 12);
    expect(m.macro.f1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3, 12);
    expect(m.weighted.precision).toBeCloseTo((3 * 1 + 2 * 0.5 + 1 * 0.5) / 6, 12);
    expect(m.weighted.f1).toBeCloseTo((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6, 12);
    // Support-weighted recall is accuracy by definition.
    expect(m.weighted.recall).toBeCloseTo(m.accuracy, 12);
  });

  it('one-vs-rest AUC per class and macro AUC', () => {
    // Class b: positives score .5 and .4; negatives .2 .3 .6 .1 -> 6 of 8 pairs ranked right.
    expect(m.perClass.map((x) => x.auc)).toEqual([1, 0.75, 1]);
    expect(m.macro.auc).toBeCloseTo(2.75 / 3, 12);
    expect(m.roc[1]?.fpr.at(0)).toBe(0);
    expect(m.roc[1]?.tpr.at(-1)).toBe(1);
  });

  it('top-k accuracy and log-loss', () => {
    expect(m.topK.map((t) => t.accuracy)).toEqual([4 / 6, 1, 1]);
    const expected =
      -(Math.log(0.7) + Math.log(0.5) + Math.log(0.3) + Math.log(0.5) + Math.log(0.4) + Math.log(0.8)) / 6;
    expect(m.logLoss).toBeCloseTo(expected, 6);
    expect(m.notes).toEqual([]);
  });
});

describe('ROC curve', () => {
  it('matches the sklearn roc_curve documentation example', () => {
    const r = rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 1);
    expect(r?.fpr).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(r?.tpr).toEqual([0, 0.5, 0.5, 1, 1]);
    expect(r?.thresholds).toEqual([Number.POSITIVE_INFINITY, 0.8, 0.4, 0.35, 0.1]);
    expect(r?.auc).toBe(0.75);
  });

  it('treats tied scores as one point (counts a tie as half a correct ranking)', () => {
    // Positive .9 beats both negatives; positive .5 ties both negatives at .5: (2 + 2 * 0.5) / 4.
    const r = rocCurve([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.9], 1);
    expect(r?.fpr).toEqual([0, 0, 1]);
    expect(r?.tpr).toEqual([0, 0.5, 1]);
    expect(r?.auc).toBe(0.75);
    // The order of tied samples must not matter.
    expect(rocAuc([1, 0, 0, 1], [0.5, 0.5, 0.5, 0.9], 1)).toBe(0.75);
    expect(rocAuc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.9], 1)).toBe(0.75);
    // All scores tied: a single diagonal segment, AUC one half.
    expect(rocAuc([0, 1, 0, 1], [0.2, 0.2, 0.2, 0.2], 1)).toBe(0.5);
  });

  it('drops collinear points but keeps the area', () => {
    const labels = [1, 1, 1, 0, 0, 0];
    const scores = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1];
    const full = rocCurve(labels, scores, 1, false);
    const thin = rocCurve(labels, scores, 1);
    expect(full?.fpr.length).toBe(7);
    expect(thin?.fpr).toEqual([0, 0, 1]);
    expect(thin?.tpr).toEqual([0, 1, 1]);
    expect(thin?.auc).toBe(1);
    expect(full?.auc).toBe(1);
  });

  it('is undefined without positives or without negatives', () => {
    expect(rocCurve([0, 0, 0], [0.1, 0.2, 0.3], 1)).toBeNull();
    expect(rocAuc([1, 1], [0.1, 0.2], 1)).toBeNull();
  });
});

describe('edge cases', () => {
  const onehot = (pred: number[], k: number) =>
    pred.flatMap((p) => Array.from({ length: k }, (_, c) => (c === p ? 0.9 : 0.1 / (k - 1))));

  it('a class absent from the labels: recall/F1/AUC null, excluded from macro with a note', () => {
    // labels [0,0,1,1]; predictions [0,2,1,1]: class 2 is predicted once but never true.
    const m = computeMetrics([0, 0, 1, 1], onehot([0, 2, 1, 1], 3), ['0', '1', '2']);
    const c2 = m.perClass[2];
    expect(c2.support).toBe(0);
    expect(c2.precision).toBe(0);
    expect(c2.recall).toBeNull();
    expect(c2.f1).toBeNull();
    expect(c2.auc).toBeNull();
    expect(m.roc[2]).toBeNull();
    expect(m.macro.recall).toBeCloseTo((0.5 + 1) / 2, 12);
    expect(m.macro.precision).toBeCloseTo((1 + 1 + 0) / 3, 12);
    expect(m.macro.auc).not.toBeNull();
    expect(m.notes.join('\n')).toMatch(/"2" is absent from the labels.*excluded from macro/);
    // Result must survive JSON (no NaN, no undefined).
    expect(JSON.parse(JSON.stringify(m)).perClass[2].recall).toBeNull();
  });

  it('a class never predicted: precision 0 by convention, F1 0, noted', () => {
    const m = computeMetrics([0, 1, 2, 2], onehot([0, 1, 0, 0], 3), ['0', '1', '2']);
    const c2 = m.perClass[2];
    expect(c2.predicted).toBe(0);
    expect(c2.precision).toBe(0);
    expect(c2.recall).toBe(0);
    expect(c2.f1).toBe(0);
    expect(m.notes.join('\n')).toMatch(/"2" is never predicted: precision 0/);
  });

  it('a class neither present nor predicted plays no part', () => {
    const m = computeMetrics([0, 1], onehot([0, 1], 3), ['0', '1', '2']);
    expect(m.perClass[2].precision).toBeNull();
    expect(m.macro.precision).toBe(1);
    expect(m.macro.f1).toBe(1);
  });

  it('argmax and top-k break ties towards the lower class index', () => {
    expect(Array.from(argmaxRows([0.5, 0.5, 0.2, 0.2, 0.6, 0.2], 3))).toEqual([0, 1]);
    // True class 1 ties with class 0: ranked second.
    expect(topKAccuracy([1], [0.4, 0.4, 0.2], 3, 1)).toBe(0);
    expect(topKAccuracy([1], [0.4, 0.4, 0.2], 3, 2)).toBe(1);
    expect(topKAccuracy([0], [0.4, 0.4, 0.2], 3, 1)).toBe(1);
  });

  it('log-loss clips probabilities of 0 and 1', () => {
    expect(logLoss([0], [0, 1], 2)).toBeCloseTo(-Math.log(1e-7), 6);
    expect(logLoss([1], [0, 1], 2)).toBeCloseTo(-Math.log(1 - 1e-7), 12);
    expect(Number.isFinite(logLoss([0], [0, 1], 2))).toBe(true);
  });

  it('rejects malformed inputs', () => {
    expect(() => computeMetrics([0, 3], onehot([0, 1], 3), ['0', '1', '2'])).toThrow(/label 3/);
    expect(() => computeMetrics([0], [0.5, 0.5, 0], ['0', '1'])).toThrow(/expected 1 samples x 2/);
    expect(() => computeMetrics([], [], ['0', '1'])).toThrow(/0 samples/);
    expect(() => confusionMatrix([0], [0, 1], 2)).toThrow(/1 labels but 2/);
  });
});

describe("McNemar's test", () => {
  it('uses the exact binomial test for few discordant pairs', () => {
    // b = 1, c = 9: p = 2 * (C(10,0) + C(10,1)) / 2^10.
    const r = mcnemarFromCounts(1, 9);
    expect(r.method).toBe('exact');
    expect(r.pValue).toBeCloseTo(22 / 1024, 12);
    // b = 3, c = 20: 2 * (1 + 23 + 253 + 1771) / 2^23.
    expect(mcnemarFromCounts(20, 3).pValue).toBeCloseTo((2 * 2048) / 2 ** 23, 14);
    expect(mcnemarFromCounts(0, 0).pValue).toBe(1);
    expect(mcnemarFromCounts(5, 5).pValue).toBe(1);
  });

  it('uses chi-square with continuity correction for many', () => {
    // (|30 - 10| - 1)^2 / 40 = 9.025; P(chi2_1 > 9.025) = erfc(sqrt(9.025 / 2)) = 0.0026631...
    const r = mcnemarFromCounts(30, 10);
    expect(r.method).toBe('chi2');
    expect(r.statistic).toBeCloseTo(9.025, 12);
    expect(r.pValue).toBeCloseTo(0.002663119259, 8);
    expect(mcnemarFromCounts(15, 15).pValue).toBe(1);
  });

  it('counts discordant pairs from correctness vectors', () => {
    const a = [true, true, false, false, true, true];
    const b = [true, false, true, false, false, true];
    const r = mcnemar(a, b);
    expect([r.aOnly, r.bOnly]).toEqual([2, 1]);
    expect(r.pValue).toBe(1); // 2 * P(X <= 1 | n = 3) = 2 * 4 / 8, capped at 1
    expect(() => mcnemar([true], [])).toThrow(/differ in length/);
  });
});
