import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * What the compiled inference plans (./fused.ts for the image CNN, ./fused-strokes.ts for the stroke
 * nets) read from tfjs-layers layers, and the BatchNorm folding they share.
 */

export type Activation = 'linear' | 'relu' | 'softmax';

/** Config fields read below (tfjs-layers' getConfig() values are loosely typed). */
export interface LayerConfig {
  activation?: string;
  padding?: string;
  strides?: number | number[];
  dilationRate?: number | number[];
  poolSize?: number | number[];
  dataFormat?: string;
  axis?: number | number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
}

export const pair = (v: number | number[] | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v, v];

export function activationOf(name: string | undefined): Activation | undefined {
  if (name === undefined || name === 'linear') return 'linear';
  if (name === 'relu' || name === 'softmax') return name;
  return undefined;
}

export function paddingOf(name: string | undefined): 'valid' | 'same' | undefined {
  return name === 'valid' || name === 'same' ? name : undefined;
}

export function weight(layer: tfl.layers.Layer, suffix: string): tf.Tensor | undefined {
  return layer.weights
    .find((w) => w.originalName.endsWith(`/${suffix}`) || w.name.endsWith(`/${suffix}`))
    ?.read();
}

/** BatchNormalization (inference) as y = x * mul + add, per channel. */
export function batchNormAffine(
  layer: tfl.layers.Layer,
  cfg: LayerConfig,
): { mul: tf.Tensor1D; add: tf.Tensor1D } {
  return tf.tidy(() => {
    const mean = weight(layer, 'moving_mean') as tf.Tensor1D;
    const variance = weight(layer, 'moving_variance') as tf.Tensor1D;
    const gamma = cfg.scale === false ? tf.onesLike(mean) : (weight(layer, 'gamma') as tf.Tensor1D);
    const beta = cfg.center === false ? tf.zerosLike(mean) : (weight(layer, 'beta') as tf.Tensor1D);
    const mul = tf.div(gamma, tf.sqrt(tf.add(variance, cfg.epsilon ?? 1e-3))) as tf.Tensor1D;
    const add = tf.sub(beta, tf.mul(mean, mul)) as tf.Tensor1D;
    return { mul, add };
  });
}

export function isChannelsLastBatchNorm(layer: tfl.layers.Layer, cfg: LayerConfig): boolean {
  const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
  const rank = layer.inputSpec?.[0]?.ndim ?? (layer.batchInputShape?.length || undefined);
  return (
    axis.length === 1 &&
    (axis[0] === -1 || (rank !== undefined && axis[0] === rank - 1)) &&
    weight(layer, 'moving_mean') !== undefined &&
    weight(layer, 'moving_variance') !== undefined
  );
}

/**
 * A linear layer's weights with the BatchNormalization after it folded in: W' = W * mul (per output
 * channel, the last axis), b' = b * mul + add. New tensors; the caller keeps and disposes them.
 */
export function foldBatchNorm<T extends tf.Tensor>(
  w: T,
  bias: tf.Tensor1D | undefined,
  affine: { mul: tf.Tensor1D; add: tf.Tensor1D },
): { w: T; b: tf.Tensor1D } {
  return tf.tidy(() => {
    const { mul, add } = affine;
    const b = bias ? tf.add(tf.mul(bias, mul), add) : tf.clone(add);
    return { w: tf.mul(w, mul) as T, b: b as tf.Tensor1D };
  });
}

/** The activation a fused conv/matmul kernel applies itself (softmax follows as its own op). */
export const fusedActivation = (a: Activation): 'linear' | 'relu' => (a === 'relu' ? 'relu' : 'linear');
