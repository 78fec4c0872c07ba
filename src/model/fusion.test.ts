import { describe, expect, it } from 'vitest';
import { accuracyOf, fuseLogLinear } from './fusion.js';

describe('fuseLogLinear', () => {
  const a = Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.3, 0.6]);
  const b = Float32Array.from([0.2, 0.7, 0.1, 0.3, 0.3, 0.4]);

  it('with one part at weight 1 gives that part back', () => {
    const f = fuseLogLinear(
      [
        { probs: a, weight: 1 },
        { probs: b, weight: 0 },
      ],
      3,
    );
    for (let i = 0; i < 6; i++) expect(f[i]).toBeCloseTo(a[i], 6);
  });

  it('with equal weights is the renormalised geometric mean', () => {
    const f = fuseLogLinear(
      [
        { probs: a, weight: 0.5 },
        { probs: b, weight: 0.5 },
      ],
      3,
    );
    for (let r = 0; r < 2; r++) {
      const g = [0, 1, 2].map((c) => Math.sqrt(a[r * 3 + c] * b[r * 3 + c]));
      const z = g.reduce((s, v) => s + v, 0);
      for (let c = 0; c < 3; c++) expect(f[r * 3 + c]).toBeCloseTo(g[c] / z, 6);
    }
  });

  it('stays finite when a part gives a class probability 0, and rejects mismatched parts', () => {
    const zero = Float32Array.from([1, 0, 0]);
    const f = fuseLogLinear(
      [
        { probs: zero, weight: 0.5 },
        { probs: Float32Array.from([0, 0.5, 0.5]), weight: 0.5 },
      ],
      3,
    );
    expect(f.every(Number.isFinite)).toBe(true);
    expect(f.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    expect(() =>
      fuseLogLinear(
        [
          { probs: a, weight: 1 },
          { probs: zero, weight: 1 },
        ],
        3,
      ),
    ).toThrow(/rows/);
  });

  it('accuracyOf counts rows whose largest probability is the label', () => {
    expect(accuracyOf(a, [0, 2], 3)).toBe(1);
    expect(accuracyOf(b, [0, 2], 3)).toBe(0.5);
  });
});
