/** Index of the largest value in each row of `classes` values; ties go to the lowest index (as numpy). */
export function argmaxRows(probs: ArrayLike<number>, classes: number): Uint16Array {
  const n = probs.length / classes;
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    const o = i * classes;
    for (let c = 1; c < classes; c++) if (probs[o + c] > probs[o + best]) best = c;
    out[i] = best;
  }
  return out;
}
