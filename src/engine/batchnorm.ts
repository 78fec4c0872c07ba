/**
 * BatchNormalization in training as one kernel and one gradient kernel.
 *
 * tfjs-layers normalises a training batch with `moments` (Mean, SquaredDifference, Mean) and
 * `batchNorm`; the backward pass of that composition is ~20 full-size elementwise kernels (measured:
 * ~45 ms of a 208 ms `fast` training step on wasm, more than its first convolution). Here the forward
 * pass is two passes over the data (moments, then normalise) and the backward pass two (the per-channel
 * sums, then dx), with the moments differentiated through in closed form. Kernels for wasm (C/SIMD,
 * ./native/kernels.c) and cpu (JavaScript, the reference the wasm kernels are tested against); on other
 * backends `hasBatchNormTraining()` is false and callers keep the stock composition.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, nativeKernels } from './native-kernels.js';

/** Inputs {x, scale, offset}, attrs {varianceEpsilon} -> [y, mean, variance]. */
export const BATCH_NORM_TRAINING = 'HwrBatchNormTraining';
/** Inputs {dy, x, mean, variance, scale}, attrs {varianceEpsilon} -> [dx, dScale, dOffset]. */
export const BATCH_NORM_TRAINING_GRAD = 'HwrBatchNormTrainingGrad';

type Info = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

interface Attrs {
  varianceEpsilon: number;
}

/** Rows and channels of x normalised over every axis but the last (channels last). */
function layout(x: Info): { rows: number; c: number } {
  if (x.dtype !== 'float32') throw new Error(`batch norm in training needs float32, got ${x.dtype}`);
  if (x.shape.length < 2) throw new Error(`batch norm in training needs rank >= 2, got shape [${x.shape}]`);
  const c = x.shape[x.shape.length - 1];
  return { rows: tf.util.sizeFromShape(x.shape) / c, c };
}

function checkChannels(c: number, named: Record<string, Info>): void {
  for (const [name, t] of Object.entries(named))
    if (t.shape.length !== 1 || t.shape[0] !== c)
      throw new Error(`batch norm in training: ${name} must have shape [${c}], got [${t.shape}]`);
}

// ---- wasm ----

function wasmForward({ inputs, backend, attrs }: KernelArgs): Info[] {
  const wasm = backend as BackendWasm;
  const { x, scale, offset } = inputs as { x: Info; scale: Info; offset: Info };
  const { varianceEpsilon } = attrs as unknown as Attrs;
  const { rows, c } = layout(x);
  checkChannels(c, { scale, offset });
  const at = (t: Info) => heapOffset(wasm, t.dataId);
  const y = wasm.makeOutput(x.shape, 'float32');
  const mean = wasm.makeOutput([c], 'float32');
  const variance = wasm.makeOutput([c], 'float32');
  const factor = wasm.makeOutput([c], 'float32');
  const k = nativeKernels(wasm);
  k.bn_moments(at(x), at(mean), at(variance), rows, c);
  k.bn_forward(
    at(x),
    at(mean),
    at(variance),
    at(scale),
    at(offset),
    at(factor),
    at(y),
    rows,
    c,
    varianceEpsilon,
  );
  wasm.disposeData(factor.dataId);
  return [y, mean, variance];
}

function wasmBackward({ inputs, backend, attrs }: KernelArgs): Info[] {
  const wasm = backend as BackendWasm;
  const { dy, x, mean, variance, scale } = inputs as Record<'dy' | 'x' | 'mean' | 'variance' | 'scale', Info>;
  const { varianceEpsilon } = attrs as unknown as Attrs;
  const { rows, c } = layout(x);
  checkChannels(c, { mean, variance, scale });
  const at = (t: Info) => heapOffset(wasm, t.dataId);
  const dx = wasm.makeOutput(x.shape, 'float32');
  const dScale = wasm.makeOutput([c], 'float32');
  const dOffset = wasm.makeOutput([c], 'float32');
  const factors = wasm.makeOutput([2 * c], 'float32');
  nativeKernels(wasm).bn_backward(
    at(dy),
    at(x),
    at(mean),
    at(variance),
    at(scale),
    at(dx),
    at(dScale),
    at(dOffset),
    at(factors),
    rows,
    c,
    varianceEpsilon,
  );
  wasm.disposeData(factors.dataId);
  return [dx, dScale, dOffset];
}

// ---- cpu: the same arithmetic in JavaScript (float32 accumulators, rows in order) ----

function values(backend: tf.KernelBackend, t: Info): Float32Array {
  return backend.readSync(t.dataId) as Float32Array;
}

function output(backend: tf.KernelBackend, shape: number[], data: Float32Array): Info {
  return { dataId: backend.write(data, shape, 'float32'), shape, dtype: 'float32' };
}

function cpuForward({ inputs, backend: anyBackend, attrs }: KernelArgs): Info[] {
  const backend = anyBackend as tf.KernelBackend;
  const { x, scale, offset } = inputs as { x: Info; scale: Info; offset: Info };
  const { varianceEpsilon } = attrs as unknown as Attrs;
  const { rows, c } = layout(x);
  checkChannels(c, { scale, offset });
  const xs = values(backend, x);
  const gamma = values(backend, scale);
  const beta = values(backend, offset);
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) mean[ch] += xs[r * c + ch];
  for (let ch = 0; ch < c; ch++) mean[ch] *= Math.fround(1 / rows);
  for (let r = 0; r < rows; r++)
    for (let ch = 0; ch < c; ch++) {
      const d = Math.fround(xs[r * c + ch] - mean[ch]);
      variance[ch] += Math.fround(d * d);
    }
  for (let ch = 0; ch < c; ch++) variance[ch] *= Math.fround(1 / rows);
  const factor = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) factor[ch] = gamma[ch] / Math.sqrt(variance[ch] + varianceEpsilon);
  const y = new Float32Array(rows * c);
  for (let i = 0; i < rows * c; i++) {
    const ch = i % c;
    y[i] = (xs[i] - mean[ch]) * factor[ch] + beta[ch];
  }
  return [output(backend, x.shape, y), output(backend, [c], mean), output(backend, [c], variance)];
}

function cpuBackward({ inputs, backend: anyBackend, attrs }: KernelArgs): Info[] {
  const backend = anyBackend as tf.KernelBackend;
  const { dy, x, mean, variance, scale } = inputs as Record<'dy' | 'x' | 'mean' | 'variance' | 'scale', Info>;
  const { varianceEpsilon } = attrs as unknown as Attrs;
  const { rows, c } = layout(x);
  checkChannels(c, { mean, variance, scale });
  const g = values(backend, dy);
  const xs = values(backend, x);
  const mu = values(backend, mean);
  const vars = values(backend, variance);
  const gamma = values(backend, scale);
  const dScale = new Float32Array(c);
  const dOffset = new Float32Array(c);
  for (let i = 0; i < rows * c; i++) {
    const ch = i % c;
    dOffset[ch] += g[i];
    dScale[ch] += Math.fround(g[i] * Math.fround(xs[i] - mu[ch]));
  }
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    const istd = 1 / Math.sqrt(vars[ch] + varianceEpsilon);
    a[ch] = gamma[ch] * istd;
    b[ch] = (a[ch] * istd * istd * dScale[ch]) / rows;
    dScale[ch] *= istd;
  }
  const dx = new Float32Array(rows * c);
  for (let i = 0; i < rows * c; i++) {
    const ch = i % c;
    dx[i] = a[ch] * (g[i] - dOffset[ch] / rows) - b[ch] * (xs[i] - mu[ch]);
  }
  return [output(backend, x.shape, dx), output(backend, [c], dScale), output(backend, [c], dOffset)];
}

// ---- op and gradient ----

/**
 * Only y's gradient flows back: mean and variance are the batch statistics a layer feeds its moving
 * averages with, which no loss depends on (their incoming gradients are zeros and are not read).
 */
export const batchNormTrainingGradient: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, scale, mean, variance] = saved;
    const dyY = Array.isArray(dy) ? dy[0] : dy;
    const [dx, dScale, dOffset] = tf
      .engine()
      .runKernel(BATCH_NORM_TRAINING_GRAD, { dy: dyY, x, mean, variance, scale }, attrs) as tf.Tensor[];
    return { x: () => dx, scale: () => dScale, offset: () => dOffset };
  },
};

/** x normalised over every axis but the last with the batch's own moments, then scaled and shifted. */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  varianceEpsilon: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const [y, mean, variance] = tf
    .engine()
    .runKernel(BATCH_NORM_TRAINING, { x, scale, offset }, { varianceEpsilon }) as tf.Tensor[];
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** Whether the active backend has the kernels (wasm and cpu once registered; not tfjs-node). */
export function hasBatchNormTraining(): boolean {
  const backend = tf.getBackend();
  return (
    tf.getKernel(BATCH_NORM_TRAINING, backend) !== undefined &&
    tf.getKernel(BATCH_NORM_TRAINING_GRAD, backend) !== undefined
  );
}

let registered = false;

/** Registers the kernels on wasm and cpu and the gradient; idempotent. */
export function registerBatchNormTraining(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: BATCH_NORM_TRAINING, backendName: 'wasm', kernelFunc: wasmForward });
  tf.registerKernel({ kernelName: BATCH_NORM_TRAINING_GRAD, backendName: 'wasm', kernelFunc: wasmBackward });
  tf.registerKernel({ kernelName: BATCH_NORM_TRAINING, backendName: 'cpu', kernelFunc: cpuForward });
  tf.registerKernel({ kernelName: BATCH_NORM_TRAINING_GRAD, backendName: 'cpu', kernelFunc: cpuBackward });
  tf.registerGradient(batchNormTrainingGradient);
}
