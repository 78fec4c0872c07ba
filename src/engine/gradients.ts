/**
 * Gradients replaced for speed, registered for every backend (the registry is global).
 *
 * Mean: TF.js multiplies dy by `ones(x.shape)`, an array it fills in JavaScript and uploads on every
 * call. BatchNorm takes two means per layer and step, so that was 8 % of a `fast` training step on wasm
 * (~22 ms a batch). Here dy/n is broadcast with one Tile instead: the same values (dy·1/n = dy/n).
 */
import * as tf from '@tensorflow/tfjs-core';

let registered = false;

export const meanGradient: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.MeanAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const [, reduceShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    const reduceSize = tf.util.sizeFromShape(reduceShape);
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return {
      x: () => tf.broadcastTo(tf.div(tf.reshape(dy as tf.Tensor, kept), reduceSize), x.shape),
    };
  },
};

/** Registers the gradients above; idempotent. Call after TF.js packages are imported. */
export function registerFastGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient(meanGradient);
}
