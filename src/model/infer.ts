import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Normalization } from './metadata.js';

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** Normalises n 28x28 ink-high byte images into an [n, 28, 28, 1] float tensor, as in training. */
export function toInputTensor(pixels: Uint8Array, n: number, norm: Normalization): tf.Tensor4D {
  if (pixels.length !== n * PIXELS) throw new Error(`expected ${n * PIXELS} pixels, got ${pixels.length}`);
  const out = new Float32Array(pixels.length);
  const a = 1 / (norm.scale * norm.std);
  const b = -norm.mean / norm.std;
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] * a + b;
  return tf.tensor4d(out, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
}

/** Class probabilities for n images, row-major [n, classes], computed in batches to bound memory. */
export function predictProbs(
  model: tfl.LayersModel,
  pixels: Uint8Array,
  n: number,
  norm: Normalization,
  batchSize = 500,
): Float32Array {
  const classes = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const probs = new Float32Array(n * classes);
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const batch = tf.tidy(() => {
      const x = toInputTensor(pixels.subarray(start * PIXELS, end * PIXELS), end - start, norm);
      return model.predict(x) as tf.Tensor;
    });
    probs.set(batch.dataSync() as Float32Array, start * classes);
    batch.dispose();
  }
  return probs;
}

/** Index of the largest value in each row. */
export function argmaxRows(probs: Float32Array, classes: number): Uint8Array {
  const n = probs.length / classes;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** n drawings' stroke features, as src/preprocess/stroke-features.ts lays them out. */
export interface StrokeBatch {
  /** n x points x channels, row-major. */
  readonly seq: Float32Array;
  /** n x side features. */
  readonly side: Float32Array;
  readonly n: number;
}

/**
 * Class probabilities [n, classes] of a stroke part (a two-input model reading `seq` and `side`) for n
 * drawings, in one pass. The shapes come from the model's inputs; a mismatch is an error.
 */
export function predictStrokeProbs(model: tfl.LayersModel, batch: StrokeBatch): Float32Array {
  const { n } = batch;
  const inputs = model.inputNames.map((name, i) => {
    const shape = model.inputs[i].shape.slice(1) as number[];
    const data = name === 'seq' ? batch.seq : name === 'side' ? batch.side : undefined;
    if (!data) throw new Error(`stroke part input "${name}" is neither seq nor side`);
    const per = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n * per) throw new Error(`${name}: expected ${n * per} numbers, got ${data.length}`);
    return tf.tensor(data, [n, ...shape]);
  });
  try {
    const y = model.predict(inputs) as tf.Tensor;
    try {
      return y.dataSync() as Float32Array;
    } finally {
      y.dispose();
    }
  } finally {
    tf.dispose(inputs);
  }
}
