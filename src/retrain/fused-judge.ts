import type { StrokeSample } from '../data/unipen-strokes.js';
import type { EvalResult } from '../eval/index.js';
import { PIXELS } from '../model/infer.js';
import type { LoadedModel, LoadedPart } from '../model/io.js';
import type { Fusion, ModelMetadata } from '../model/metadata.js';
import type { Stroke } from '../preprocess/index.js';
import type { LoadedFeedback } from './feedback.js';
import {
  type DrawingSet,
  fusionWeightsOf,
  type PartAnswers,
  partAnswers,
  renderDrawings,
} from './fused-answers.js';
import { type FusedEvidence, pairedSide, partFigures } from './gate.js';
import { loadStrokeReplayData, spread, strokePartOf } from './stroke-finetune.js';

/**
 * What a fused model is judged on, fixed before any training: the validation writers' drawings, the
 * held-out corrections drawn as strokes (their stored renderings: what the server fed the CNN), the
 * base's answers on both, and the training share of the stroke corrections.
 */
export interface FusedJudging {
  readonly weights: { image: number; strokes: number };
  readonly data: Awaited<ReturnType<typeof loadStrokeReplayData>>;
  readonly validation: DrawingSet;
  /** The validation writers' drawings `validation` was rendered from (--test-limit spreads them). */
  readonly validationSamples: StrokeSample[];
  /** Held-out corrections with strokes, and their positions in the held-out set. */
  readonly feedback: DrawingSet;
  readonly feedbackPositions: number[];
  readonly trainStrokes: { strokes: Stroke[]; label: number }[];
  readonly base: { validation: PartAnswers; feedback: PartAnswers };
}

function feedbackDrawings(fb: LoadedFeedback, indices: readonly number[]): DrawingSet {
  const drawings = indices.map((i) => fb.strokes[i] as Stroke[]);
  const pixels = new Uint8Array(indices.length * PIXELS);
  indices.forEach((i, k) => {
    pixels.set(fb.data.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
  });
  return { drawings, pixels, labels: Uint8Array.from(indices, (i) => fb.data.labels[i]) };
}

/** Sets up the fused judging of `base` (undefined when it has no stroke part). */
export async function prepareFusedJudging(
  base: LoadedModel,
  fb: LoadedFeedback,
  split: { train: number[]; holdout: number[] },
  options: { strokeDataDir?: string; testLimit?: number },
): Promise<FusedJudging | undefined> {
  const part = strokePartOf(base.parts);
  if (!part) return undefined;
  const weights = fusionWeightsOf(base, part);
  const data = await loadStrokeReplayData(base.metadata, part.spec, options.strokeDataDir);
  const validationSamples = spread(data.validation, options.testLimit);
  const validation = renderDrawings(validationSamples);
  const feedbackPositions = split.holdout.flatMap((i, k) => (fb.strokes[i] ? [k] : []));
  const feedback = feedbackDrawings(
    fb,
    feedbackPositions.map((k) => split.holdout[k]),
  );
  const trainStrokes = split.train.flatMap((i) => {
    const strokes = fb.strokes[i];
    return strokes ? [{ strokes, label: fb.data.labels[i] }] : [];
  });
  return {
    weights,
    data,
    validation,
    validationSamples,
    feedback,
    feedbackPositions,
    trainStrokes,
    base: {
      validation: partAnswers(base, part, validation, weights),
      feedback: partAnswers(base, part, feedback, weights),
    },
  };
}

/** The held-out corrections as the server answers them: fused for the stroke ones, the CNN for the rest. */
export function servedCorrect(
  image: EvalResult,
  judging: FusedJudging | undefined,
  fused?: PartAnswers,
): boolean[] {
  const { labels, predicted } = image.predictions;
  const correct = Array.from(labels, (y, i) => predicted[i] === y);
  if (judging && fused)
    judging.feedbackPositions.forEach((k, j) => {
      correct[k] = fused.fused[j];
    });
  return correct;
}

/** The candidate's answers, and the evidence the gate weighs for a fused model. */
export function judgeFused(
  judging: FusedJudging,
  candidate: LoadedModel,
): { answers: { validation: PartAnswers; feedback: PartAnswers }; evidence: FusedEvidence } {
  const part = strokePartOf(candidate.parts) as LoadedPart;
  const answers = {
    validation: partAnswers(candidate, part, judging.validation, judging.weights),
    feedback: partAnswers(candidate, part, judging.feedback, judging.weights),
  };
  const set = (name: string, key: 'validation' | 'feedback') => ({
    name,
    samples: judging[key].labels.length,
    base: partFigures(judging.base[key]),
    candidate: partFigures(answers[key]),
  });
  return {
    answers,
    evidence: {
      weights: judging.weights,
      validation: pairedSide(judging.base.validation.fused, answers.validation.fused),
      sets: [
        set(`${judging.data.name} validation writers`, 'validation'),
        set('held-out stroke corrections', 'feedback'),
      ],
    },
  };
}

/**
 * The candidate's fusion record: the base's weights, kept (refitting them on the validation writers
 * would tune on the very drawings the gate judges by), with the accuracies measured by the gate.
 */
export function candidateFusion(base: ModelMetadata, evidence: FusedEvidence): Fusion | undefined {
  if (!base.fusion) return undefined;
  // Sets without drawings have no accuracy: left out rather than recorded as 0.
  const sets = evidence.sets
    .map((s, i) => ({ ...s, key: i === 0 ? 'validation' : 'feedbackHoldout' }))
    .filter((s) => s.samples > 0);
  const figure = (pick: (s: (typeof sets)[number]) => number) =>
    Object.fromEntries(sets.map((s) => [s.key, pick(s)]));
  return {
    method: base.fusion.method,
    weights: base.fusion.weights,
    fittedOn: `${base.fusion.fittedOn}; weights kept from ${base.version} by retrain (both parts fine-tuned)`,
    accuracy: figure((s) => s.candidate.fused),
    partAccuracy: { image: figure((s) => s.candidate.image), strokes: figure((s) => s.candidate.strokes) },
    samples: figure((s) => s.samples),
  };
}
