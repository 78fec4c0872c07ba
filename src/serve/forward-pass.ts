import type * as tfl from '@tensorflow/tfjs-layers';
import type { FusedForward } from '../model/fused.js';
import { compileFusedStrokes, type FusedStrokeForward } from '../model/fused-strokes.js';
import { predictProbs, toInputTensor } from '../model/infer.js';
import type { Normalization } from '../model/metadata.js';
import { predictStrokeProbs, type StrokeInputs } from '../model/stroke-infer.js';

/** Larger passes (batch requests) go through model.predict in chunks of 64, bounding memory; stroke
 * parts run their compiled plan in chunks of 64. */
const MAX_FUSED_BATCH = 64;

/**
 * Probabilities [n, classes] for n images (n * 784 bytes) in one pass: through the fused plan when
 * there is one and the batch is small, else `model.predict` in chunks. Used on the event loop's thread
 * and in the inference thread alike.
 */
export function forwardProbs(
  model: tfl.LayersModel,
  fused: FusedForward | undefined,
  norm: Normalization,
  pixels: Uint8Array,
  n: number,
): Float32Array {
  if (!fused || n > MAX_FUSED_BATCH) return predictProbs(model, pixels, n, norm, MAX_FUSED_BATCH);
  const x = toInputTensor(pixels, n, norm);
  try {
    const y = fused.run(x);
    try {
      return y.dataSync() as Float32Array;
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

/** The stroke features of the drawings of a pass one part reads (the pass's stroke inputs only). */
export interface PartBatch extends StrokeInputs {
  readonly part: string;
}

/** One forward pass of a (possibly fused) model: the image CNN over every input, each part over its own. */
export interface PassInput {
  readonly pixels: Uint8Array;
  readonly n: number;
  readonly parts: readonly PartBatch[];
}

export interface PassOutput {
  /** The image CNN's probabilities [n, classes]. */
  readonly probs: Float32Array;
  /** Each part's probabilities [its batch's n, classes], by part name. */
  readonly parts: Readonly<Record<string, Float32Array>>;
}

/** A stroke part's network and its compiled plan (undefined for nets it does not cover: GRU). */
export interface PartNet {
  readonly model: tfl.LayersModel;
  readonly fused: FusedStrokeForward | undefined;
}

/** A part's network with its plan compiled; `disposePartNet` frees the plan (the model stays the caller's). */
export function partNet(model: tfl.LayersModel): PartNet {
  return { model, fused: compileFusedStrokes(model) };
}

export function disposePartNet(net: PartNet): void {
  net.fused?.dispose();
}

/** What a pass runs on: the root CNN (with its fused plan) and the part networks by name. */
export interface PassModels {
  readonly model: tfl.LayersModel;
  readonly fused: FusedForward | undefined;
  readonly norm: Normalization;
  readonly parts: ReadonlyMap<string, PartNet>;
}

/** Runs one pass; both threads use this, so a pass answers the same wherever it runs. */
export function runPass(models: PassModels, input: PassInput): PassOutput {
  const probs = forwardProbs(models.model, models.fused, models.norm, input.pixels, input.n);
  return { probs, parts: runParts(models.parts, input.parts) };
}

/** The parts' side of a pass: each part over its own batch of stroke features. */
export function runParts(
  nets: ReadonlyMap<string, PartNet>,
  batches: readonly PartBatch[],
): Record<string, Float32Array> {
  const parts: Record<string, Float32Array> = {};
  for (const batch of batches) {
    const net = nets.get(batch.part);
    if (!net) throw new Error(`the model has no part "${batch.part}"`);
    parts[batch.part] = net.fused
      ? predictStrokeProbs(net.model, batch, MAX_FUSED_BATCH, net.fused)
      : predictStrokeProbs(net.model, batch);
  }
  return parts;
}
