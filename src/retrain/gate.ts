import { type Comparison, mcnemar } from '../eval/index.js';

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

/** Base (A) vs candidate (B) on the same samples. */
export interface Side {
  readonly samples: number;
  readonly baseAccuracy: number;
  readonly candidateAccuracy: number;
  readonly delta: number;
  /** Samples only the base / only the candidate got right. */
  readonly baseOnly: number;
  readonly candidateOnly: number;
  readonly mcnemarP: number;
}

/** Accuracy of each part alone and of the fused answer on one set of drawings. */
export interface PartFigures {
  readonly image: number;
  readonly strokes: number;
  readonly fused: number;
}

/** A fused model's figures on one set of drawings, base and candidate. */
export interface FusedSet {
  readonly name: string;
  readonly samples: number;
  readonly base: PartFigures;
  readonly candidate: PartFigures;
}

/**
 * What a fused model's gate adds: the fused answers (what stroke inputs get) of base and candidate
 * on the validation writers, and each part's figures per set of drawings.
 */
export interface FusedEvidence {
  /** Fusion weights both were judged with (the base's, kept by the candidate). */
  readonly weights: { readonly image: number; readonly strokes: number };
  readonly validation: Side;
  readonly sets: readonly FusedSet[];
}

export interface GateEvidence {
  /** The image CNN on the original test set (what pixel and image inputs get). */
  readonly test: Side;
  /** The held-out corrections as served: fused for those drawn as strokes, the CNN for the others. */
  readonly feedback: Side;
  /** Fused models only. */
  readonly fused?: FusedEvidence;
}

/** The decision and every number it rests on; stored in the candidate's metadata as `extra.gate`. */
export interface GateDecision {
  readonly passed: boolean;
  /** One line per check, each starting with "ok" or "FAIL". */
  readonly checks: string[];
  /** Each part's figures (fused models), one line per set: reported, not checked. */
  readonly notes: string[];
  readonly test: Side;
  readonly feedback: Side;
  readonly fused?: FusedEvidence;
  readonly options: GateOptions;
  readonly decidedAt: string;
}

export function comparisonSide(c: Comparison): Side {
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

const share = (v: readonly boolean[]) => (v.length ? v.filter(Boolean).length / v.length : 0);

/** Base vs candidate from their per-sample correctness on the same samples, in the same order. */
export function pairedSide(base: readonly boolean[], candidate: readonly boolean[]): Side {
  const m = mcnemar(base, candidate);
  const baseAccuracy = share(base);
  const candidateAccuracy = share(candidate);
  return {
    samples: base.length,
    baseAccuracy,
    candidateAccuracy,
    delta: candidateAccuracy - baseAccuracy,
    baseOnly: m.aOnly,
    candidateOnly: m.bOnly,
    mcnemarP: m.pValue,
  };
}

/** Each part's and the fused accuracy from per-drawing correctness (see fused-answers.ts). */
export function partFigures(answers: {
  image: readonly boolean[];
  strokes: readonly boolean[];
  fused: readonly boolean[];
}): PartFigures {
  return { image: share(answers.image), strokes: share(answers.strokes), fused: share(answers.fused) };
}

const pts = (v: number) => `${(v * 100).toFixed(2)}`;

/** "no worse" checks of one side: drop within tolerance, and not significantly worse by McNemar. */
function noWorse(s: Side, what: string, options: GateOptions): { ok: boolean; lines: string[] } {
  const withinTolerance = s.delta >= -options.tolerance - 1e-12;
  const significantlyWorse = s.candidateOnly < s.baseOnly && s.mcnemarP < options.alpha;
  return {
    ok: withinTolerance && !significantlyWorse,
    lines: [
      `${withinTolerance ? 'ok' : 'FAIL'}: ${what} accuracy ${pts(s.baseAccuracy)}% -> ${pts(s.candidateAccuracy)}% (delta ${pts(s.delta)} points, tolerance -${pts(options.tolerance)})`,
      `${significantlyWorse ? 'FAIL' : 'ok'}: McNemar on ${s.samples} ${what} samples: only base right ${s.baseOnly}, only candidate right ${s.candidateOnly}, p = ${s.mcnemarP.toPrecision(3)} (alpha ${options.alpha})`,
    ],
  };
}

function noteOf(set: FusedSet): string {
  const f = (p: PartFigures) => `image ${pts(p.image)}%, strokes ${pts(p.strokes)}%, fused ${pts(p.fused)}%`;
  return `${set.name} (${set.samples}): base ${f(set.base)} -> candidate ${f(set.candidate)}`;
}

/**
 * Promote only a candidate that is no worse on the original test set (drop within tolerance and not
 * significantly worse by McNemar), for a fused model also no worse in its fused answers on the
 * validation writers (same two checks), and better on the held-out feedback as served.
 */
export function decideGate(evidence: GateEvidence, options: GateOptions = DEFAULT_GATE): GateDecision {
  const { test: t, feedback: f, fused } = evidence;
  const test = noWorse(t, 'test', options);
  const better = f.samples > 0 && f.delta > options.minFeedbackGain;
  const checks = [
    ...test.lines,
    `${better ? 'ok' : 'FAIL'}: held-out feedback accuracy${fused ? ' (as served: fused for strokes)' : ''} ${pts(f.baseAccuracy)}% -> ${pts(f.candidateAccuracy)}% on ${f.samples} samples (must gain more than ${pts(options.minFeedbackGain)} points)`,
  ];
  let fusedOk = true;
  if (fused) {
    const v = noWorse(fused.validation, 'fused validation-writer', options);
    fusedOk = v.ok;
    checks.push(...v.lines);
  }
  return {
    passed: test.ok && better && fusedOk,
    checks,
    notes: (fused?.sets ?? []).map(noteOf),
    test: t,
    feedback: f,
    ...(fused ? { fused } : {}),
    options,
    decidedAt: new Date().toISOString(),
  };
}
