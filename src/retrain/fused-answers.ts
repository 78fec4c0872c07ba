import { fuseLogLinear } from '../model/fusion.js';
import { PIXELS, predictProbs } from '../model/infer.js';
import type { LoadedModel, LoadedPart } from '../model/io.js';
import { predictStrokeProbs } from '../model/stroke-infer.js';
import { PreprocessError, type Stroke, strokesToMnist } from '../preprocess/index.js';
import { strokeFeatureBatch } from '../preprocess/stroke-features.js';
import { argmaxRows } from '../util/argmax.js';

/** Drawings with their 28x28 renderings (as `/api/predict` renders strokes) and class indices. */
export interface DrawingSet {
  readonly drawings: readonly (readonly Stroke[])[];
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

/**
 * Renders drawings as the server does; drawings the preprocessing refuses (no extent) are left out,
 * the same for every model judged on the set.
 */
export function renderDrawings(
  samples: readonly { strokes: readonly Stroke[]; label: number }[],
): DrawingSet {
  const pixels = new Uint8Array(samples.length * PIXELS);
  const kept: { strokes: readonly Stroke[]; label: number }[] = [];
  for (const s of samples) {
    try {
      pixels.set(strokesToMnist(s.strokes), kept.length * PIXELS);
      kept.push(s);
    } catch (err) {
      if (!(err instanceof PreprocessError)) throw err;
    }
  }
  return {
    drawings: kept.map((s) => s.strokes),
    pixels: pixels.slice(0, kept.length * PIXELS),
    labels: Uint8Array.from(kept.map((s) => s.label)),
  };
}

/** Per drawing: whether each part alone, and the fused answer users get, is right. */
export interface PartAnswers {
  readonly image: boolean[];
  readonly strokes: boolean[];
  readonly fused: boolean[];
}

/**
 * Answers a fused model gives on drawings: the image CNN on the renderings, the stroke part on the
 * trajectories, and their log-linear fusion with `weights` (the served model's fusion weights).
 */
export function partAnswers(
  model: LoadedModel,
  part: LoadedPart,
  set: DrawingSet,
  weights: { image: number; strokes: number },
): PartAnswers {
  const n = set.labels.length;
  const classes = model.metadata.classes.length;
  if (n === 0) return { image: [], strokes: [], fused: [] };
  const image = predictProbs(model.model, set.pixels, n, model.metadata.normalization);
  const strokes = predictStrokeProbs(part.model, strokeFeatureBatch(set.drawings, part.spec.features));
  const fused = fuseLogLinear(
    [
      { probs: image, weight: weights.image },
      { probs: strokes, weight: weights.strokes },
    ],
    classes,
  );
  const right = (probs: Float32Array) =>
    Array.from(argmaxRows(probs, classes), (c, i) => c === set.labels[i]);
  return { image: right(image), strokes: right(strokes), fused: right(fused) };
}

/** The fusion weights of the image CNN and a part, from the model's metadata. */
export function fusionWeightsOf(model: LoadedModel, part: LoadedPart): { image: number; strokes: number } {
  const w = model.metadata.fusion?.weights ?? {};
  return { image: w.image ?? 0.5, strokes: w[part.name] ?? 0.5 };
}
