/**
 * Faster training-mode paths for tfjs-layers' layers, applied to a model's layer objects (their `call`
 * only: weights, inference and the saved model are untouched). Each computes what the stock layer
 * computes, up to float rounding; the tests train both ways and compare.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTraining, hasBatchNormTraining } from '../engine/batchnorm.js';

/** The fields of tfjs-layers' BatchNormalization this module reads (they are not in its typings). */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(v: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(v: tf.Tensor): void };
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor | tf.Tensor[];
}

/** The fields of tfjs-layers' Conv2D this module reads. */
interface ConvLayer {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  strides: [number, number];
  padding: string;
  dataFormat: string;
  dilationRate: [number, number];
  activation: { apply(x: tf.Tensor): tf.Tensor };
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor | tf.Tensor[];
}

/** tfjs-layers' moving-average update, the same ops in the same order (so the statistics match). */
function movingAverage(variable: BatchNormLayer['movingMean'], value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const orig = variable.read();
    variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - momentum)));
  });
}

/**
 * Makes the model's BatchNormalization layers normalise training batches with the engine's fused
 * kernels (src/engine/batchnorm.ts) instead of tfjs-layers' op-by-op composition, where the active
 * backend has them. Same arithmetic up to float rounding, same moving-average updates; inference,
 * weights and the saved model are untouched (only these layer objects' `call` changes). Layers it cannot
 * serve (normalising another axis than the last, without gamma or beta) keep the stock path.
 * Returns how many layers were switched.
 */
export function useFusedBatchNorm(model: tfl.LayersModel): number {
  if (!hasBatchNormTraining()) return 0;
  let switched = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const bn = layer as unknown as BatchNormLayer;
    const rank = (layer.input as tfl.SymbolicTensor).shape.length;
    const lastAxis = bn.axis === -1 || bn.axis === rank - 1;
    if (!lastAxis || rank < 2 || !bn.gamma || !bn.beta) continue;
    const stock = bn.call.bind(layer);
    bn.call = (inputs, kwargs) => {
      if (!kwargs?.training) return stock(inputs, kwargs);
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        const { y, mean, variance } = batchNormTraining(
          x,
          (bn.gamma as NonNullable<BatchNormLayer['gamma']>).read() as tf.Tensor1D,
          (bn.beta as NonNullable<BatchNormLayer['beta']>).read() as tf.Tensor1D,
          bn.epsilon,
        );
        movingAverage(bn.movingMean, mean, bn.momentum);
        movingAverage(bn.movingVariance, variance, bn.momentum);
        return y;
      });
    };
    switched++;
  }
  return switched;
}

/**
 * A Conv2D fed by the model's input trains without computing the gradient for that input. tfjs-layers
 * runs a linear (no-activation) conv as `fused.conv2d`, whose gradient computes dx for every input
 * eagerly, though nothing needs the image's gradient: a `Conv2DBackpropInput` over the whole first layer
 * per step (7 ms of a 200 ms `fast` step on wasm). `tf.conv2d` + bias + activation is the same function,
 * and TF.js skips gradients no variable depends on. Returns how many layers were switched.
 */
export function skipInputGradient(model: tfl.LayersModel): number {
  let switched = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D' || !model.inputs.includes(layer.input as tfl.SymbolicTensor))
      continue;
    const conv = layer as unknown as ConvLayer;
    if (conv.dataFormat !== 'channelsLast' || (conv.padding !== 'same' && conv.padding !== 'valid')) continue;
    const stock = conv.call.bind(layer);
    conv.call = (inputs, kwargs) => {
      if (!kwargs?.training) return stock(inputs, kwargs);
      return tf.tidy(() => {
        const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
        const kernel = conv.kernel.read() as tf.Tensor4D;
        const pad = conv.padding as 'same' | 'valid';
        let y: tf.Tensor = tf.conv2d(x, kernel, conv.strides, pad, 'NHWC', conv.dilationRate);
        if (conv.bias) y = tf.add(y, conv.bias.read());
        return conv.activation.apply(y);
      });
    };
    switched++;
  }
  return switched;
}

/** Every path above, for a model about to be trained. */
export function useFastTrainingPaths(model: tfl.LayersModel): { batchNorm: number; firstConv: number } {
  return { batchNorm: useFusedBatchNorm(model), firstConv: skipInputGradient(model) };
}
