import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FusedStrokeForward } from './fused-strokes.js';

/** Stroke-net inputs for n drawings (the shape strokeFeatureBatch in src/preprocess returns). */
export interface StrokeInputs {
  /** n x points x channels, row-major. */
  readonly seq: Float32Array;
  /** n x side features. */
  readonly side: Float32Array;
  readonly n: number;
  readonly points: number;
  readonly channels: number;
}

/** The [seq, side] tensors of rows [start, end). */
export function strokeInputTensors(x: StrokeInputs, start = 0, end = x.n): [tf.Tensor3D, tf.Tensor2D] {
  const per = x.points * x.channels;
  const sideLen = x.n > 0 ? x.side.length / x.n : 0;
  return [
    tf.tensor3d(x.seq.subarray(start * per, end * per), [end - start, x.points, x.channels]),
    tf.tensor2d(x.side.subarray(start * sideLen, end * sideLen), [end - start, sideLen]),
  ];
}

/**
 * Class probabilities of a stroke net for n drawings, row-major [n, classes], in batches: through its
 * compiled plan (./fused-strokes.ts) when given, else `model.predict`.
 */
export function predictStrokeProbs(
  model: tfl.LayersModel,
  x: StrokeInputs,
  batchSize = 500,
  plan?: FusedStrokeForward,
): Float32Array {
  const classes = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const probs = new Float32Array(x.n * classes);
  for (let start = 0; start < x.n; start += batchSize) {
    const end = Math.min(x.n, start + batchSize);
    const out = tf.tidy(() => {
      const inputs = strokeInputTensors(x, start, end);
      return plan ? plan.run(inputs) : (model.predict(inputs) as tf.Tensor);
    });
    probs.set(out.dataSync() as Float32Array, start * classes);
    out.dispose();
  }
  return probs;
}
