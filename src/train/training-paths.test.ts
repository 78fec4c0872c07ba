import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadDataset } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { buildModel } from '../model/archs.js';
import { seedMathRandom } from '../util/random.js';
import { skipInputGradient, useFastTrainingPaths, useFusedBatchNorm } from './training-paths.js';

let x: tf.Tensor4D;
let y: tf.Tensor2D;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
  const mnist = await loadDataset('mnist');
  const part = subset(mnist.train, range(0, 256));
  x = tf.tidy(() => tf.div(tf.tensor4d(part.images, [part.n, 28, 28, 1], 'float32'), 255));
  y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(part.labels, 'int32'), 10), 'float32') as tf.Tensor2D);
});

/**
 * The `fast` CNN with fixed initial weights, trained `steps` batches of 64 with plain SGD: weight
 * differences then stay proportional to gradient differences (Adam's normalised first steps would turn
 * rounding in near-zero gradients into whole-step differences).
 */
async function trained(
  fused: boolean,
  steps: number,
  arch: 'fast' | 'paper' = 'fast',
): Promise<{ model: tfl.LayersModel; switched: { batchNorm: number; firstConv: number } }> {
  const restore = seedMathRandom(3);
  const model = buildModel(arch, 10);
  restore();
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
  const switched = fused ? useFastTrainingPaths(model) : { batchNorm: 0, firstConv: 0 };
  const restoreDropout = seedMathRandom(4); // the same dropout masks in both runs
  for (let i = 0; i < steps; i++) {
    const xb = tf.slice(x, [(i % 4) * 64, 0, 0, 0], [64, 28, 28, 1]);
    const yb = tf.slice(y, [(i % 4) * 64, 0], [64, 10]);
    await model.trainOnBatch(xb, yb);
    tf.dispose([xb, yb]);
  }
  restoreDropout();
  return { model, switched };
}

describe('useFastTrainingPaths', () => {
  it.each(['fast', 'paper'] as const)(
    'trains the %s CNN to the same weights (and moving statistics) as the stock layers',
    async (arch) => {
      // Each of the 4 batches once. Longer runs are chaotic, not wrong: once the two paths' rounding
      // flips a near-tie in a max-pool window, the gradient goes to another position (seen with the
      // OpenBLAS GEMMs at step 5: 1e-4 on the first layers, 1e-7 up to step 4).
      const stock = await trained(false, 4, arch);
      const fused = await trained(true, 4, arch);
      expect(fused.switched).toEqual({ batchNorm: arch === 'fast' ? 2 : 0, firstConv: 1 });
      const a = stock.model.getWeights();
      const b = fused.model.getWeights();
      expect(b.map((w) => w.shape)).toEqual(a.map((w) => w.shape));
      for (let i = 0; i < a.length; i++) {
        const want = a[i].dataSync();
        const got = b[i].dataSync();
        let scale = 1e-3;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        let worst = 0;
        for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]));
        // Float rounding only; a wrong gradient or moving-average update is off by orders of magnitude more.
        expect(worst / scale, stock.model.weights[i].name).toBeLessThan(2e-5); // measured: 2e-6 at most
      }
      // Training moved the moving statistics away from their initial 0 and 1.
      const movingMean = b.find((_, i) => fused.model.weights[i].name.includes('moving_mean'));
      if (arch === 'fast')
        expect(movingMean && Math.max(...Array.from(movingMean.dataSync()).map(Math.abs))).toBeGreaterThan(
          1e-3,
        );
      stock.model.dispose();
      fused.model.dispose();
    },
  );

  it('leaves inference untouched and frees what a training step allocates', async () => {
    const { model } = await trained(false, 2);
    const xb = tf.slice(x, [0, 0, 0, 0], [32, 28, 28, 1]);
    const before = (model.predict(xb) as tf.Tensor).dataSync().slice();
    expect(useFastTrainingPaths(model)).toEqual({ batchNorm: 2, firstConv: 1 });
    const after = (model.predict(xb) as tf.Tensor).dataSync();
    expect(Array.from(after)).toEqual(Array.from(before));
    const yb = tf.slice(y, [0, 0], [32, 10]);
    await model.trainOnBatch(xb, yb);
    const tensors = tf.memory().numTensors;
    await model.trainOnBatch(xb, yb);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([xb, yb]);
    model.dispose();
  });

  it('computes no gradient for the input image', async () => {
    const { model } = await trained(false, 0);
    const xb = tf.slice(x, [0, 0, 0, 0], [8, 28, 28, 1]);
    const yb = tf.slice(y, [0, 0], [8, 10]);
    const inputGradients = async () => {
      const p = await tf.profile(async () => {
        await model.trainOnBatch(xb, yb);
      });
      return p.kernels.filter(
        (k) => k.name === 'Conv2DBackpropInput' && k.outputShapes[0]?.join() === '8,28,28,1',
      ).length;
    };
    expect(await inputGradients()).toBe(1); // stock: the fused conv's gradient computes it anyway
    expect(skipInputGradient(model)).toBe(1);
    expect(await inputGradients()).toBe(0);
    tf.dispose([xb, yb]);
    model.dispose();
  });

  it('keeps the stock path for a batch norm without beta', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [4], units: 3 }),
        tfl.layers.batchNormalization({ center: false }),
        tfl.layers.batchNormalization(),
      ],
    });
    expect(useFusedBatchNorm(model)).toBe(1);
    model.dispose();
  });
});
