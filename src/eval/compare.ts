import type { ImageDataset } from '../data/dataset.js';
import type { LoadedModel } from '../model/io.js';
import { type EvalResult, type EvaluateOptions, evaluateModel } from './evaluate.js';
import { type McNemarResult, mcnemar } from './metrics.js';

export interface ModelScore {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly accuracy: number;
  readonly macroF1: number | null;
  readonly macroAuc: number | null;
  readonly errors: number;
}

export interface Comparison {
  readonly n: number;
  readonly a: ModelScore;
  readonly b: ModelScore;
  /** Samples both got right / both got wrong. */
  readonly bothCorrect: number;
  readonly bothWrong: number;
  /** McNemar on the discordant pairs: aOnly = A right & B wrong, bOnly = A wrong & B right. */
  readonly mcnemar: McNemarResult;
  /** accuracy(B) - accuracy(A). */
  readonly accuracyDelta: number;
}

function score(r: EvalResult): ModelScore {
  let errors = 0;
  for (let i = 0; i < r.n; i++) if (r.predictions.predicted[i] !== r.predictions.labels[i]) errors++;
  return {
    name: r.model.name,
    version: r.model.version,
    dir: r.model.dir,
    accuracy: r.accuracy,
    macroF1: r.macro.f1,
    macroAuc: r.macro.auc,
    errors,
  };
}

/** Compares two evaluations of the same samples (same order); throws if they are not paired. */
export function compareResults(a: EvalResult, b: EvalResult): Comparison {
  const la = a.predictions.labels;
  const lb = b.predictions.labels;
  if (la.length !== lb.length || la.some((y, i) => y !== lb[i]))
    throw new RangeError('the two evaluations are not on the same samples in the same order');
  const aCorrect = Array.from(la, (y, i) => a.predictions.predicted[i] === y);
  const bCorrect = Array.from(la, (y, i) => b.predictions.predicted[i] === y);
  let bothCorrect = 0;
  let bothWrong = 0;
  for (let i = 0; i < la.length; i++) {
    if (aCorrect[i] && bCorrect[i]) bothCorrect++;
    else if (!aCorrect[i] && !bCorrect[i]) bothWrong++;
  }
  return {
    n: la.length,
    a: score(a),
    b: score(b),
    bothCorrect,
    bothWrong,
    mcnemar: mcnemar(aCorrect, bCorrect),
    accuracyDelta: b.accuracy - a.accuracy,
  };
}

/**
 * Evaluates models A and B on the same dataset and tests whether their error rates differ
 * (McNemar on paired predictions). The retraining gate promotes B only when it is better.
 */
export function compareModels(
  a: LoadedModel,
  b: LoadedModel,
  ds: ImageDataset,
  options: EvaluateOptions = {},
): Comparison {
  const opts = { ...options, mistakes: 0 };
  return compareResults(evaluateModel(a, ds, opts), evaluateModel(b, ds, opts));
}

/** Side-by-side text table of a comparison. */
export function formatComparison(c: Comparison): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const num = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));
  const nameA = `A ${c.a.name} v${c.a.version}`;
  const nameB = `B ${c.b.name} v${c.b.version}`;
  const w = Math.max(nameA.length, nameB.length, 12);
  const row = (label: string, x: string, y: string) => `${label.padEnd(12)} ${x.padEnd(w)} ${y}`;
  const m = c.mcnemar;
  return [
    row('', nameA, nameB),
    row('accuracy', pct(c.a.accuracy), pct(c.b.accuracy)),
    row('macro F1', num(c.a.macroF1), num(c.b.macroF1)),
    row('macro AUC', num(c.a.macroAuc), num(c.b.macroAuc)),
    row('errors', String(c.a.errors), String(c.b.errors)),
    `samples ${c.n}: both right ${c.bothCorrect}, both wrong ${c.bothWrong}, only A right ${m.aOnly}, only B right ${m.bOnly}`,
    `McNemar (${m.method === 'exact' ? 'exact binomial' : `chi-square ${num(m.statistic)}, continuity-corrected`}): p = ${m.pValue.toPrecision(4)}`,
  ].join('\n');
}
