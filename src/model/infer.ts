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
