import { describe, expect, it } from 'vitest';
import { DEFAULT_GATE, decideGate, type FusedEvidence, pairedSide, partFigures } from './gate.js';

const repeat = (pattern: boolean[], n: number) =>
  Array.from({ length: n }, (_, i) => pattern[i % pattern.length]);
const flip = (v: boolean[], count: number, to: boolean) => {
  const out = v.slice();
  for (let i = 0, done = 0; i < out.length && done < count; i++)
    if (out[i] !== to) {
      out[i] = to;
      done++;
    }
  return out;
};

describe('decideGate', () => {
  const base = repeat([true, true, true, false], 800);
  const test = pairedSide(base, base);
  const feedback = pairedSide([false, false, true], [true, false, true]);

  function fused(candidate: boolean[]): FusedEvidence {
    const answers = (fusedRight: boolean[]) => ({ image: base, strokes: base, fused: fusedRight });
    return {
      weights: { image: 0.4, strokes: 0.6 },
      validation: pairedSide(base, candidate),
      sets: [
        {
          name: 'validation writers',
          samples: 800,
          base: partFigures(answers(base)),
          candidate: partFigures(answers(candidate)),
        },
      ],
    };
  }

  it('passes a fused candidate no worse on the validation writers and better on the feedback', () => {
    const gate = decideGate({ test, feedback, fused: fused(flip(base, 1, false)) }, DEFAULT_GATE);
    expect(gate.passed).toBe(true);
    expect(gate.checks).toHaveLength(5);
    expect(gate.checks[3]).toBe(
      'ok: fused validation-writer accuracy 75.00% -> 74.88% (delta -0.12 points, tolerance -0.20)',
    );
    expect(gate.notes).toEqual([
      'validation writers (800): base image 75.00%, strokes 75.00%, fused 75.00% -> candidate image 75.00%, strokes 75.00%, fused 74.88%',
    ]);
  });

  it('fails a fused candidate whose fused answers lose more than the tolerance, or significantly', () => {
    const worse = decideGate({ test, feedback, fused: fused(flip(base, 2, false)) }, DEFAULT_GATE);
    expect(worse.passed).toBe(false);
    expect(worse.checks[3]).toMatch(/^FAIL: fused validation-writer accuracy 75.00% -> 74.75%/);
    // Within a 5-point tolerance but 20 drawings lost and none gained: McNemar p < 0.05.
    const significant = decideGate(
      { test, feedback, fused: fused(flip(base, 20, false)) },
      { ...DEFAULT_GATE, tolerance: 0.05 },
    );
    expect(significant.passed).toBe(false);
    expect(significant.checks[3]).toMatch(/^ok/);
    expect(significant.checks[4]).toMatch(
      /^FAIL: McNemar on 800 fused validation-writer samples: only base right 20/,
    );
  });

  it('judges a plain model on the test set and the feedback only', () => {
    const gate = decideGate({ test, feedback }, DEFAULT_GATE);
    expect(gate.passed).toBe(true);
    expect(gate.checks).toHaveLength(3);
    expect(gate.notes).toEqual([]);
    expect(gate.fused).toBeUndefined();
    expect(decideGate({ test, feedback: pairedSide([true], [true]) }).passed).toBe(false);
  });
});
