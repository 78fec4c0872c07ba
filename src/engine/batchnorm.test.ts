import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers TF.js's gradients (Sum, Mul, ...) for the stock composition
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  batchNormTraining,
  hasBatchNormTraining,
} from './batchnorm.js';

const EPS = 1e-3;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
});

/** The stock composition tfjs-layers uses in training: moments, then batchNorm. */
function stock(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return { y: tf.batchNorm(x, mean, variance, beta, gamma, EPS), mean, variance };
}

/** Forward values and the gradients of sum(y * w) by x, gamma and beta. */
async function run(fused: boolean, shape: number[], seed: number) {
  const c = shape[shape.length - 1];
  return tf.tidy(() => {
    // Inputs off zero mean and unit scale, as conv outputs are, so the centring matters.
    const x = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), 3), 1.5);
    const gamma = tf.randomUniform([c], 0.5, 1.5, 'float32', seed + 1) as tf.Tensor1D;
    const beta = tf.randomNormal([c], 0, 1, 'float32', seed + 2) as tf.Tensor1D;
    const w = tf.randomNormal(shape, 0, 1, 'float32', seed + 3);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      fused
        ? batchNormTraining(a, g as tf.Tensor1D, b as tf.Tensor1D, EPS)
        : stock(a, g as tf.Tensor1D, b as tf.Tensor1D);
    const out = f(x, gamma, beta);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b).y, w)))([
      x,
      gamma,
      beta,
    ]);
    return [out.y, out.mean, out.variance, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** Largest difference relative to the largest expected magnitude. */
function worstRelative(got: Float32Array, want: Float32Array): number {
  let scale = 1e-6;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst / scale;
}

const NAMES = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
// Conv activations (NHWC), a dense layer's [batch, units], odd channel counts (SIMD tails), two rows.
const SHAPES: number[][] = [
  [4, 6, 5, 8],
  [3, 7, 7, 13],
  [2, 3, 3, 1],
  [16, 10],
  [2, 5],
  [128, 24, 24, 4],
];

describe.each(['cpu', 'wasm'])('batchNormTraining on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    expect(hasBatchNormTraining()).toBe(true);
  });

  it.each(SHAPES)('matches moments + batchNorm and their autodiff gradients, shape %j', async (...shape) => {
    const got = await run(true, shape, 11);
    const want = await run(false, shape, 11);
    got.forEach((values, i) => {
      expect(values.length, NAMES[i]).toBe(want[i].length);
      expect(worstRelative(values, want[i]), NAMES[i]).toBeLessThan(2e-4);
    });
  });

  it('gives beta and a zero gradient for a single row (its variance is 0)', async () => {
    const x = tf.tensor2d([[3, -1, 0.5, 8, 2]]);
    const g = tf.tensor1d([1, 2, 0.5, 1, 3]);
    const b = tf.tensor1d([0.1, 0.2, 0.3, 0.4, 0.5]);
    const w = tf.tensor2d([[1, -2, 3, 0.5, 1]]);
    const y = batchNormTraining(x, g, b, EPS).y;
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(t, g, b, EPS).y, w)))(x);
    expect(Array.from(await y.data())).toEqual(Array.from(await b.data()));
    for (const v of await dx.data()) expect(Math.abs(v)).toBeLessThan(1e-6);
    tf.dispose([x, g, b, w, y, dx]);
  });

  it('frees everything it allocates', () => {
    const x = tf.randomNormal([2, 4, 4, 3]);
    const g = tf.ones([3]) as tf.Tensor1D;
    const b = tf.zeros([3]) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const dx = tf.grad((t: tf.Tensor) => tf.sum(batchNormTraining(t, g, b, EPS).y))(x);
    dx.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, g, b]);
  });

  it('rejects a scale of the wrong length with a message', () => {
    const x = tf.zeros([2, 3]);
    const g = tf.ones([4]) as tf.Tensor1D;
    expect(() => batchNormTraining(x, g, g, EPS)).toThrow(/scale must have shape \[3\]/);
    tf.dispose([x, g]);
  });
});

describe('wasm kernels against the cpu kernels', () => {
  it.each(SHAPES)('give the same forward and backward results, shape %j', async (...shape) => {
    const c = shape[shape.length - 1];
    const inputs = {
      x: tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 5), 2), -0.7),
      scale: tf.randomUniform([c], 0.5, 1.5, 'float32', 6),
      offset: tf.randomNormal([c], 0, 1, 'float32', 7),
      dy: tf.randomNormal(shape, 0, 1, 'float32', 8),
    };
    const raw = Object.fromEntries(
      await Promise.all(
        Object.entries(inputs).map(async ([k, t]) => [k, [await t.data(), t.shape]] as const),
      ),
    );
    tf.dispose(Object.values(inputs));
    const onBackend = async (name: string) => {
      await tf.setBackend(name);
      const t = Object.fromEntries(
        Object.entries(raw).map(([k, [v, s]]) => [k, tf.tensor(v as Float32Array, s as number[])]),
      );
      const attrs = { varianceEpsilon: EPS };
      const fwd = tf
        .engine()
        .runKernel(BATCH_NORM_TRAINING, { x: t.x, scale: t.scale, offset: t.offset }, attrs);
      const [, mean, variance] = fwd as tf.Tensor[];
      const bwd = tf
        .engine()
        .runKernel(BATCH_NORM_TRAINING_GRAD, { dy: t.dy, x: t.x, mean, variance, scale: t.scale }, attrs);
      const all = [...(fwd as tf.Tensor[]), ...(bwd as tf.Tensor[])];
      const values = await Promise.all(all.map((o) => o.data() as Promise<Float32Array>));
      tf.dispose([...all, ...Object.values(t)]);
      return values;
    };
    const want = await onBackend('cpu');
    const got = await onBackend('wasm');
    const names = ['y', 'mean', 'variance', 'dx', 'dscale', 'doffset'];
    for (const [i, v] of got.entries()) expect(worstRelative(v, want[i]), names[i]).toBeLessThan(1e-5);
  });
});
