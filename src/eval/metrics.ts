/**
 * Classification metrics over integer labels and row-major class probabilities. Pure TypeScript,
 * no TF: the same code scores a model, a feedback set or a hand-written test case.
 *
 * Definitions follow scikit-learn (confusion rows = true class, columns = predicted class;
 * roc_curve / roc_auc_score one-vs-rest; top_k_accuracy_score; log_loss) with these conventions
 * for the undefined cases, where a value is `null` rather than a misleading 0 or a NaN that breaks JSON:
 * - precision of a class that has support but is never predicted: 0 (sklearn's zero_division=0);
 *   precision of a class neither present nor predicted: null (the class plays no part).
 * - recall, F1 and AUC of a class absent from the labels: null; AUC also null when every sample
 *   is of that class (no negatives); specificity null when there are no negatives.
 * - F1 = 0 when precision + recall = 0.
 * - macro averages are the mean over the classes whose value is not null; weighted averages weight
 *   by support (so absent classes weigh 0). Each exclusion is listed in `notes`.
 */
import { argmaxRows } from '../util/argmax.js';

export interface ClassMetrics {
  readonly label: string;
  /** Samples of this class in the labels. */
  readonly support: number;
  /** Samples predicted as this class. */
  readonly predicted: number;
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
  readonly specificity: number | null;
  /** One-vs-rest ROC AUC from the class's probability column. */
  readonly auc: number | null;
}

export interface Averages {
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
  readonly specificity: number | null;
  readonly auc: number | null;
}

/** One ROC curve: points from (0, 0) to (1, 1), one per distinct threshold (collinear ones dropped). */
export interface RocCurve {
  readonly fpr: number[];
  readonly tpr: number[];
  /** Score threshold of each point; the first is +Infinity (stored as null in JSON). */
  readonly thresholds: number[];
  readonly auc: number;
}

export interface Metrics {
  readonly n: number;
  readonly classes: readonly string[];
  readonly accuracy: number;
  /** Top-k accuracy for k = 1..min(5, classes). */
  readonly topK: readonly { readonly k: number; readonly accuracy: number }[];
  readonly logLoss: number;
  /** confusion[t][p]: samples of true class t predicted as p. */
  readonly confusion: number[][];
  readonly perClass: readonly ClassMetrics[];
  readonly macro: Averages;
  readonly weighted: Averages;
  /** Per class; null where the AUC is undefined. */
  readonly roc: readonly (RocCurve | null)[];
  readonly notes: readonly string[];
}

/** Probabilities are clipped to [eps, 1 - eps] before the log, as sklearn does (float32 eps scale). */
export const LOG_LOSS_EPS = 1e-7;

function checkInputs(labels: ArrayLike<number>, probs: ArrayLike<number>, numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 2)
    throw new RangeError(`need at least 2 classes, got ${numClasses}`);
  if (probs.length !== labels.length * numClasses)
    throw new RangeError(
      `probs has ${probs.length} values, expected ${labels.length} samples x ${numClasses} classes`,
    );
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses)
      throw new RangeError(`label ${y} at sample ${i} is outside 0..${numClasses - 1}`);
  }
}

export function confusionMatrix(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
): number[][] {
  if (labels.length !== predicted.length)
    throw new RangeError(`${labels.length} labels but ${predicted.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][predicted[i]]++;
  return m;
}

/**
 * sklearn.metrics.roc_curve for one class (positives: labels === cls, scores: probs column), with
 * tied scores forming a single point. Returns null when the class has no positives or no negatives.
 */
export function rocCurve(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  cls: number,
  dropIntermediate = true,
): RocCurve | null {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let positives = 0;
  for (let i = 0; i < n; i++) if (labels[i] === cls) positives++;
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  // Cumulative counts at the end of each run of equal scores: one ROC point per distinct threshold.
  const tps: number[] = [0];
  const fps: number[] = [0];
  const thresholds: number[] = [Number.POSITIVE_INFINITY];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; i++) {
    const j = order[i];
    if (labels[j] === cls) tp++;
    else fp++;
    if (i === n - 1 || scores[order[i + 1]] !== scores[j]) {
      tps.push(tp);
      fps.push(fp);
      thresholds.push(scores[j]);
    }
  }
  // Trapezoid area on the full curve (integer counts, exact until the final division).
  let area2 = 0;
  for (let k = 1; k < tps.length; k++) area2 += (fps[k] - fps[k - 1]) * (tps[k] + tps[k - 1]);
  const auc = area2 / (2 * positives * negatives);
  let keep = tps.map((_, k) => k);
  if (dropIntermediate && tps.length > 2) {
    // Points on a straight segment add nothing to the curve or its area (sklearn drop_intermediate).
    keep = [0];
    for (let k = 1; k < tps.length - 1; k++) {
      const a = keep[keep.length - 1];
      const cross = (fps[k] - fps[a]) * (tps[k + 1] - tps[a]) - (tps[k] - tps[a]) * (fps[k + 1] - fps[a]);
      if (cross !== 0) keep.push(k);
    }
    keep.push(tps.length - 1);
  }
  return {
    fpr: keep.map((k) => fps[k] / negatives),
    tpr: keep.map((k) => tps[k] / positives),
    thresholds: keep.map((k) => thresholds[k]),
    auc,
  };
}

/** Area under the one-vs-rest ROC curve of class `cls`; null when undefined (no positives/negatives). */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>, cls: number): number | null {
  return rocCurve(labels, scores, cls, false)?.auc ?? null;
}

/**
 * Fraction of samples whose true class is among the k highest scores. A tie with the true class's
 * score is broken by class index (lower first), the same rule as argmax, so top-1 equals accuracy.
 */
export function topKAccuracy(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  numClasses: number,
  k: number,
): number {
  checkInputs(labels, probs, numClasses);
  if (labels.length === 0) return Number.NaN;
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    const o = i * numClasses;
    const y = labels[i];
    const s = probs[o + y];
    let rank = 0;
    for (let c = 0; c < numClasses; c++) {
      const v = probs[o + c];
      if (v > s || (v === s && c < y)) rank++;
    }
    if (rank < k) hits++;
  }
  return hits / labels.length;
}

/** Mean negative log-probability of the true class, probabilities clipped to [eps, 1 - eps]. */
export function logLoss(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  numClasses: number,
  eps = LOG_LOSS_EPS,
): number {
  checkInputs(labels, probs, numClasses);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, probs[i * numClasses + labels[i]]));
    sum -= Math.log(p);
  }
  return sum / labels.length;
}

function column(probs: ArrayLike<number>, numClasses: number, c: number): Float64Array {
  const n = probs.length / numClasses;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = probs[i * numClasses + c];
  return out;
}

function mean(values: readonly (number | null)[]): number | null {
  const defined = values.filter((v): v is number => v !== null);
  return defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null;
}

function weightedMean(values: readonly (number | null)[], weights: readonly number[]): number | null {
  let sum = 0;
  let total = 0;
  values.forEach((v, i) => {
    if (v !== null && weights[i] > 0) {
      sum += v * weights[i];
      total += weights[i];
    }
  });
  return total > 0 ? sum / total : null;
}

export interface ComputeOptions {
  /** Predictions to score instead of the probabilities' argmax. */
  readonly predicted?: ArrayLike<number>;
}

/** Every metric for n samples: `labels` (n class indices) and `probs` (n x classes, row-major). */
export function computeMetrics(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classes: readonly string[],
  options: ComputeOptions = {},
): Metrics {
  const k = classes.length;
  checkInputs(labels, probs, k);
  const n = labels.length;
  if (n === 0) throw new RangeError('cannot compute metrics on 0 samples');
  const predicted = options.predicted ?? argmaxRows(probs, k);
  const confusion = confusionMatrix(labels, predicted, k);
  const notes: string[] = [];
  const roc = classes.map((_, c) => rocCurve(labels, column(probs, k, c), c));
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c][c];

  const perClass: ClassMetrics[] = classes.map((label, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predictedCount = confusion.reduce((a, row) => a + row[c], 0);
    const fp = predictedCount - tp;
    const fn = support - tp;
    const tn = n - tp - fp - fn;
    const precision = predictedCount > 0 ? tp / predictedCount : support > 0 ? 0 : null;
    const recall = support > 0 ? tp / support : null;
    const f1 =
      precision === null || recall === null
        ? null
        : precision + recall === 0
          ? 0
          : (2 * precision * recall) / (precision + recall);
    const specificity = tn + fp > 0 ? tn / (tn + fp) : null;
    if (support === 0)
      notes.push(
        `class "${label}" is absent from the labels: recall, F1 and AUC undefined, excluded from macro averages`,
      );
    else if (support === n)
      notes.push(`class "${label}" is the only class in the labels: AUC undefined, excluded from macro AUC`);
    if (predictedCount === 0 && support > 0)
      notes.push(`class "${label}" is never predicted: precision 0 by convention`);
    return {
      label,
      support,
      predicted: predictedCount,
      tp,
      fp,
      fn,
      tn,
      precision,
      recall,
      f1,
      specificity,
      auc: roc[c]?.auc ?? null,
    };
  });

  const pick = (key: keyof Averages) => perClass.map((m) => m[key]);
  const supports = perClass.map((m) => m.support);
  const averages = (avg: (v: (number | null)[]) => number | null): Averages => ({
    precision: avg(pick('precision')),
    recall: avg(pick('recall')),
    f1: avg(pick('f1')),
    specificity: avg(pick('specificity')),
    auc: avg(pick('auc')),
  });

  return {
    n,
    classes: [...classes],
    accuracy: correct / n,
    topK: Array.from({ length: Math.min(5, k) }, (_, i) => ({
      k: i + 1,
      accuracy: topKAccuracy(labels, probs, k, i + 1),
    })),
    logLoss: logLoss(labels, probs, k),
    confusion,
    perClass,
    macro: averages(mean),
    weighted: averages((v) => weightedMean(v, supports)),
    roc,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// McNemar's test on paired predictions

export interface McNemarResult {
  /** Samples model A got right and model B got wrong. */
  readonly aOnly: number;
  /** Samples model B got right and model A got wrong. */
  readonly bOnly: number;
  readonly method: 'exact' | 'chi2';
  /** Chi-square statistic (continuity-corrected); null for the exact test. */
  readonly statistic: number | null;
  /** Two-sided p-value for "both models have the same error rate". */
  readonly pValue: number;
}

/** Below this many discordant pairs the chi-square approximation is poor: use the exact binomial test. */
export const MCNEMAR_EXACT_BELOW = 25;

/** Complementary error function (Numerical Recipes erfcc, fractional error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(X <= k) for X ~ Binomial(n, 1/2), summed in log space so large n does not underflow. */
function binomialHalfCdf(k: number, n: number): number {
  let logTerm = -n * Math.LN2; // log C(n, 0) / 2^n
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += Math.exp(logTerm);
    logTerm += Math.log(n - i) - Math.log(i + 1);
  }
  return sum;
}

/** McNemar's test from the discordant counts b (A right, B wrong) and c (A wrong, B right). */
export function mcnemarFromCounts(b: number, c: number): McNemarResult {
  const n = b + c;
  if (n < MCNEMAR_EXACT_BELOW) {
    const pValue = n === 0 ? 1 : Math.min(1, 2 * binomialHalfCdf(Math.min(b, c), n));
    return { aOnly: b, bOnly: c, method: 'exact', statistic: null, pValue };
  }
  // Edwards' continuity correction; |b - c| < 1 means no evidence at all (statistic 0, p = 1).
  const d = Math.max(0, Math.abs(b - c) - 1);
  const statistic = (d * d) / n;
  // Chi-square with 1 degree of freedom: P(X > s) = erfc(sqrt(s / 2)).
  return {
    aOnly: b,
    bOnly: c,
    method: 'chi2',
    statistic,
    pValue: Math.min(1, erfc(Math.sqrt(statistic / 2))),
  };
}

/** McNemar's test on paired correctness vectors of two models over the same samples. */
export function mcnemar(aCorrect: ArrayLike<boolean>, bCorrect: ArrayLike<boolean>): McNemarResult {
  if (aCorrect.length !== bCorrect.length)
    throw new RangeError(`paired vectors differ in length: ${aCorrect.length} vs ${bCorrect.length}`);
  let b = 0;
  let c = 0;
  for (let i = 0; i < aCorrect.length; i++) {
    if (aCorrect[i] && !bCorrect[i]) b++;
    else if (!aCorrect[i] && bCorrect[i]) c++;
  }
  return mcnemarFromCounts(b, c);
}
