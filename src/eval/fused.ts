import { readFile } from 'node:fs/promises';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { DataError } from '../data/dataset.js';
import type { StrokeSample } from '../data/unipen-strokes.js';
import { accuracyOf, fuseLogLinear } from '../model/fusion.js';
import { PIXELS, predictProbs } from '../model/infer.js';
import type { LoadedModel } from '../model/io.js';
import type { StrokeFeatureSpec } from '../model/metadata.js';
import { predictStrokeProbs } from '../model/stroke-infer.js';
import { PreprocessError, type Stroke, strokesToMnist } from '../preprocess/index.js';
import { strokeFeatureBatch } from '../preprocess/stroke-features.js';
import { argmaxRows } from '../util/argmax.js';

/** Drawings with class indices, as the API receives them (any units, y down). */
export interface LabelledDrawings {
  readonly name: string;
  readonly drawings: readonly (readonly Stroke[])[];
  readonly labels: Uint8Array;
}

/** Each part's class probabilities on the drawings both parts could read. */
export interface PartProbs {
  readonly name: string;
  readonly image: Float32Array;
  readonly strokes: Float32Array;
  readonly labels: Uint8Array;
  readonly classes: number;
  /** Drawings the preprocessing refused (e.g. no extent): left out of every figure. */
  readonly skipped: number;
  /** The 28x28 renderings the image part read (784 bytes per kept drawing). */
  readonly pixels: Uint8Array;
  /** For each kept drawing, its index in the set. */
  readonly kept: readonly number[];
}

export interface StrokeNet {
  readonly model: tfl.LayersModel;
  readonly features: StrokeFeatureSpec;
}

export function samplesAsDrawings(name: string, samples: readonly StrokeSample[]): LabelledDrawings {
  return {
    name,
    drawings: samples.map((s) => s.strokes),
    labels: Uint8Array.from(samples.map((s) => s.label)),
  };
}

/**
 * Runs the image CNN on each drawing rendered exactly as `/api/predict` renders strokes
 * (strokesToMnist) and the stroke net on its strokeFeatures.
 */
export function partProbabilities(
  image: LoadedModel,
  strokes: StrokeNet | undefined,
  set: LabelledDrawings,
): PartProbs {
  const pixels = new Uint8Array(set.drawings.length * PIXELS);
  const kept: number[] = [];
  for (let i = 0; i < set.drawings.length; i++) {
    try {
      pixels.set(strokesToMnist(set.drawings[i]), kept.length * PIXELS);
      kept.push(i);
    } catch (err) {
      if (!(err instanceof PreprocessError)) throw err;
    }
  }
  const n = kept.length;
  const imageProbs = predictProbs(
    image.model,
    pixels.subarray(0, n * PIXELS),
    n,
    image.metadata.normalization,
  );
  const strokeProbs = strokes
    ? predictStrokeProbs(
        strokes.model,
        strokeFeatureBatch(
          kept.map((i) => set.drawings[i]),
          strokes.features,
        ),
      )
    : new Float32Array(imageProbs.length);
  return {
    name: set.name,
    image: imageProbs,
    strokes: strokeProbs,
    labels: Uint8Array.from(kept.map((i) => set.labels[i])),
    classes: image.metadata.classes.length,
    skipped: set.drawings.length - n,
    pixels: pixels.subarray(0, n * PIXELS),
    kept,
  };
}

export interface FusionScore {
  readonly image: number;
  readonly strokes: number;
  readonly fused: number;
  readonly samples: number;
}

export function fusedProbs(p: PartProbs, weights: { image: number; strokes: number }): Float32Array {
  return fuseLogLinear(
    [
      { probs: p.image, weight: weights.image },
      { probs: p.strokes, weight: weights.strokes },
    ],
    p.classes,
  );
}

export function scoreFusion(p: PartProbs, weights: { image: number; strokes: number }): FusionScore {
  return {
    image: accuracyOf(p.image, p.labels, p.classes),
    strokes: accuracyOf(p.strokes, p.labels, p.classes),
    fused: accuracyOf(fusedProbs(p, weights), p.labels, p.classes),
    samples: p.labels.length,
  };
}

function logLoss(probs: Float32Array, labels: Uint8Array, classes: number): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) s -= Math.log(Math.max(probs[i * classes + labels[i]], 1e-7));
  return s / Math.max(1, labels.length);
}

/**
 * The log-linear weight fitted on `validation`: w_strokes = w on a grid of `steps` + 1 points in
 * [0, 1], w_image = 1 - w; the most accurate wins, ties go to the lower log-loss.
 */
export function fitFusionWeight(
  validation: PartProbs,
  steps = 20,
): {
  weights: { image: number; strokes: number };
  grid: { strokes: number; accuracy: number; logLoss: number }[];
} {
  const grid = Array.from({ length: steps + 1 }, (_, i) => {
    const w = Math.round((i / steps) * 1e6) / 1e6;
    const probs = fusedProbs(validation, { image: 1 - w, strokes: w });
    return {
      strokes: w,
      accuracy: accuracyOf(probs, validation.labels, validation.classes),
      logLoss: logLoss(probs, validation.labels, validation.classes),
    };
  });
  const best = grid.reduce((a, b) =>
    b.accuracy > a.accuracy || (b.accuracy === a.accuracy && b.logLoss < a.logLoss) ? b : a,
  );
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  return { weights: { image: round(1 - best.strokes), strokes: best.strokes }, grid };
}

const StrokeFixture = z.object({
  samples: z.array(
    z.object({ label: z.string().min(1), strokes: z.array(z.array(z.tuple([z.number(), z.number()]))) }),
  ),
});

/** A committed stroke fixture (test/fixtures/strokes/*.json): drawings in canvas units, labels mapped to `classes` (case folded for letters). */
export async function readStrokeFixture(path: string, classes: readonly string[]): Promise<LabelledDrawings> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new DataError(`cannot read stroke fixture ${path}: ${(err as Error).message}`);
  }
  const parsed = StrokeFixture.safeParse(json);
  if (!parsed.success)
    throw new DataError(`${path} is not a stroke fixture: ${parsed.error.issues[0].message}`);
  const fold = classes.every((c) => c === c.toLowerCase());
  const labels = parsed.data.samples.map((s) => {
    const k = classes.indexOf(fold ? s.label.toLowerCase() : s.label);
    if (k < 0) throw new DataError(`${path}: label '${s.label}' is not one of the model's classes`);
    return k;
  });
  return {
    name: 'fixture',
    drawings: parsed.data.samples.map((s) => s.strokes as Stroke[]),
    labels: Uint8Array.from(labels),
  };
}

/** A drawing the model answered wrongly, with what each part said (class indices). */
export interface PartMistake {
  /** The drawing's index in the evaluated set. */
  readonly index: number;
  readonly label: number;
  readonly answer: number;
  readonly confidence: number;
  readonly image: number;
  readonly strokes: number;
  /** The 28x28 rendering the image part read. */
  readonly pixels: Uint8Array;
}

/** A fused model's parts and its fusion on a set of drawings. */
export interface PartsEvaluation extends FusionScore {
  readonly set: string;
  readonly weights: { image: number; strokes: number };
  /** Per drawing: the model's final answer (fused when it has a stroke part) was right. */
  readonly correct: boolean[];
  readonly skipped: number;
  /** Every wrong final answer, most confident first. */
  readonly mistakes: PartMistake[];
}

/** The wrong final answers (`best`, the argmax of `fused`) with each part's own answer, most confident first. */
function partMistakes(probs: PartProbs, fused: Float32Array, best: Uint16Array): PartMistake[] {
  const c = probs.classes;
  const imageBest = argmaxRows(probs.image, c);
  const strokesBest = argmaxRows(probs.strokes, c);
  const out: PartMistake[] = [];
  probs.labels.forEach((label, i) => {
    if (best[i] === label) return;
    out.push({
      index: probs.kept[i],
      label,
      answer: best[i],
      confidence: fused[i * c + best[i]],
      image: imageBest[i],
      strokes: strokesBest[i],
      pixels: probs.pixels.slice(i * PIXELS, (i + 1) * PIXELS),
    });
  });
  return out.sort((a, b) => b.confidence - a.confidence);
}

/**
 * Evaluates a model directory on drawings the way `/api/predict` answers strokes: the image CNN on the
 * rendering, the stroke part on the trajectory, fused with the model's fitted weights. A model without
 * a stroke part answers with the CNN alone (strokes and fused then repeat the image figure).
 */
export async function evaluateParts(image: LoadedModel, set: LabelledDrawings): Promise<PartsEvaluation> {
  const strokes = image.parts.find((p) => p.spec.input === 'strokes');
  const classes = image.metadata.classes.length;
  const fitted = image.metadata.fusion?.weights;
  const weights = strokes
    ? { image: fitted?.image ?? 0.5, strokes: fitted?.[strokes.name] ?? 0.5 }
    : { image: 1, strokes: 0 };
  // Without a stroke part, both "parts" are the CNN: the fusion then is the CNN's answer.
  const probs = strokes
    ? partProbabilities(image, { model: strokes.model, features: strokes.spec.features }, set)
    : (() => {
        const p = partProbabilities(image, undefined, set);
        return { ...p, strokes: p.image };
      })();
  const fused = fusedProbs(probs, weights);
  const best = argmaxRows(fused, classes);
  const correct = Array.from(probs.labels, (label, i) => best[i] === label);
  return {
    set: set.name,
    weights,
    correct,
    skipped: probs.skipped,
    mistakes: partMistakes(probs, fused, best),
    ...scoreFusion(probs, weights),
  };
}

export function formatPartsEvaluation(e: PartsEvaluation, modelName: string): string {
  return [
    `${modelName} on ${e.samples} ${e.set} drawings, as /api/predict answers strokes${e.skipped ? ` (${e.skipped} unreadable left out)` : ''}:`,
    `  image part    ${pct(e.image)}`,
    `  stroke part   ${pct(e.strokes)}`,
    `  fused         ${pct(e.fused)}  (log-linear weights: image ${e.weights.image}, strokes ${e.weights.strokes})`,
  ].join('\n');
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
