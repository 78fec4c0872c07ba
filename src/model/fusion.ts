import type { Fusion } from './metadata.js';

/** Probabilities below this count as this when taking logs, so one part's hard zero cannot veto a class. */
const PROB_FLOOR = 1e-7;

/**
 * The log-linear fusion of metadata `fusion`: log P(c) = sum over parts p of w_p * log P_p(c), then
 * renormalised (a softmax of the weighted log sum). `answers` maps part names (`image` for the root
 * CNN) to one row of probabilities each; parts without an answer are left out, so the weights of the
 * parts that did answer decide.
 */
export function fuseLogLinear(
  fusion: Pick<Fusion, 'weights'>,
  answers: Readonly<Record<string, Float32Array>>,
  classes: number,
): Float32Array {
  const logits = new Float64Array(classes);
  for (const [part, probs] of Object.entries(answers)) {
    const w = fusion.weights[part];
    if (w === undefined) throw new Error(`fusion has no weight for part "${part}"`);
    if (w === 0) continue;
    for (let c = 0; c < classes; c++) logits[c] += w * Math.log(Math.max(probs[c], PROB_FLOOR));
  }
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[c]);
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    logits[c] = Math.exp(logits[c] - max);
    sum += logits[c];
  }
  const out = new Float32Array(classes);
  for (let c = 0; c < classes; c++) out[c] = logits[c] / sum;
  return out;
}
