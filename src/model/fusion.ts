/** Log-probabilities are floored here so one part's confident zero cannot veto every other part. */
export const FUSION_LOG_FLOOR = Math.log(1e-7);

/**
 * Log-linear fusion of several parts' class probabilities (each row-major [n, classes]): the fused
 * log-probability of class c is sum_p w_p log P_p(c), renormalised with a softmax. Weights need not
 * sum to 1 (their sum acts as an inverse temperature).
 */
export function fuseLogLinear(
  parts: readonly { probs: Float32Array; weight: number }[],
  classes: number,
): Float32Array {
  if (parts.length === 0) throw new Error('fusion needs at least one part');
  const n = parts[0].probs.length / classes;
  for (const p of parts)
    if (p.probs.length !== n * classes) throw new Error('fusion: parts disagree on the number of rows');
  const out = new Float32Array(n * classes);
  const row = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (const p of parts) s += p.weight * Math.max(FUSION_LOG_FLOOR, Math.log(p.probs[i * classes + c]));
      row[c] = s;
      max = Math.max(max, s);
    }
    let z = 0;
    for (let c = 0; c < classes; c++) {
      row[c] = Math.exp(row[c] - max);
      z += row[c];
    }
    for (let c = 0; c < classes; c++) out[i * classes + c] = row[c] / z;
  }
  return out;
}

/** Share of rows whose largest probability is at the label. */
export function accuracyOf(probs: Float32Array, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    if (best === labels[i]) correct++;
  }
  return labels.length ? correct / labels.length : 0;
}
