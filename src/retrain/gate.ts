import type { Comparison } from '../eval/index.js';

export interface GateOptions {
  /** Largest accepted test accuracy drop (absolute, e.g. 0.002 = 0.2 points). */
  readonly tolerance: number;
  /** McNemar significance level: a candidate significantly worse on the test set fails. */
  readonly alpha: number;
  /** Smallest accuracy gain on the held-out feedback that counts as better (default: any gain). */
  readonly minFeedbackGain: number;
}

/** Exit code of `hwr retrain` when the gate rejects the candidate (an error exits 1). */
export const GATE_FAILED_EXIT = 2;

export const DEFAULT_GATE: GateOptions = { tolerance: 0.002, alpha: 0.05, minFeedbackGain: 0 };

interface Side {
  readonly samples: number;
  readonly baseAccuracy: number;
  readonly candidateAccuracy: number;
  readonly delta: number;
  /** Samples only the base / only the candidate got right. */
  readonly baseOnly: number;
  readonly candidateOnly: number;
  readonly mcnemarP: number;
}

/** The decision and every number it rests on; stored in the candidate's metadata as `extra.gate`. */
export interface GateDecision {
  readonly passed: boolean;
  /** One line per check, each starting with "ok" or "FAIL". */
  readonly checks: string[];
  readonly test: Side;
  readonly feedback: Side;
  readonly options: GateOptions;
  readonly decidedAt: string;
}

function side(c: Comparison): Side {
  return {
    samples: c.n,
    baseAccuracy: c.a.accuracy,
    candidateAccuracy: c.b.accuracy,
    delta: c.accuracyDelta,
    baseOnly: c.mcnemar.aOnly,
    candidateOnly: c.mcnemar.bOnly,
    mcnemarP: c.mcnemar.pValue,
  };
}

const pts = (v: number) => `${(v * 100).toFixed(2)}`;

/**
 * Promote only a candidate that is no worse on the original test set (drop within tolerance and not
 * significantly worse by McNemar) and better on the held-out feedback. Comparisons are base (A) vs
 * candidate (B) on the same samples.
 */
export function decideGate(
  test: Comparison,
  feedback: Comparison,
  options: GateOptions = DEFAULT_GATE,
): GateDecision {
  const t = side(test);
  const f = side(feedback);
  const withinTolerance = t.delta >= -options.tolerance - 1e-12;
  const significantlyWorse = t.candidateOnly < t.baseOnly && t.mcnemarP < options.alpha;
  const better = f.samples > 0 && f.delta > options.minFeedbackGain;
  const checks = [
    `${withinTolerance ? 'ok' : 'FAIL'}: test accuracy ${pts(t.baseAccuracy)}% -> ${pts(t.candidateAccuracy)}% (delta ${pts(t.delta)} points, tolerance -${pts(options.tolerance)})`,
    `${significantlyWorse ? 'FAIL' : 'ok'}: McNemar on ${t.samples} test samples: only base right ${t.baseOnly}, only candidate right ${t.candidateOnly}, p = ${t.mcnemarP.toPrecision(3)} (alpha ${options.alpha})`,
    `${better ? 'ok' : 'FAIL'}: held-out feedback accuracy ${pts(f.baseAccuracy)}% -> ${pts(f.candidateAccuracy)}% on ${f.samples} samples (must gain more than ${pts(options.minFeedbackGain)} points)`,
  ];
  return {
    passed: withinTolerance && !significantlyWorse && better,
    checks,
    test: t,
    feedback: f,
    options,
    decidedAt: new Date().toISOString(),
  };
}
