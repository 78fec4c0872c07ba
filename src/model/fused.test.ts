import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { TEST_NORMALIZATION } from '../serve/testing.js';
import { ARCH_NAMES, buildModel } from './archs.js';
import { compileFused } from './fused.js';
import { PIXELS, toInputTensor } from './infer.js';

const N = 12;
let images: Uint8Array;

beforeAll(async () => {
  await initBackend();
  images = subset(await loadSplit('mnist', 'test'), range(0, N)).images;
}, 60_000);

/** Non-trivial BatchNormalization statistics and biases (both start at 0/1), so folding is exercised. */
function randomiseBatchNorms(model: tfl.LayersModel): void {
  for (const layer of model.layers) {
    const isBatchNorm = layer.getClassName() === 'BatchNormalization';
    layer.setWeights(
      layer.weights.map((v, i) => {
        const w = layer.getWeights()[i];
        // variance must stay positive; the rest anywhere around their usual range
        if (isBatchNorm && v.name.includes('variance')) return tf.randomUniform(w.shape, 0.2, 3);
        if (isBatchNorm || v.name.endsWith('/bias')) return tf.randomNormal(w.shape, 0, 0.5);
        return w;
      }),
    );
  }
}

function compare(model: tfl.LayersModel): number {
  const fused = compileFused(model);
  expect(fused).toBeDefined();
  const x = toInputTensor(images, N, TEST_NORMALIZATION);
  const want = (model.predict(x) as tf.Tensor).dataSync();
  const got = fused?.run(x).dataSync() ?? new Float32Array();
  x.dispose();
  fused?.dispose();
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst;
}

describe('compileFused', () => {
  it.each(ARCH_NAMES)('answers the %s architecture as model.predict does (BN folded)', (arch) => {
    const model = buildModel(arch, 10);
    randomiseBatchNorms(model);
    expect(compare(model)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('keeps a BatchNormalization after a ReLU as its own scale step', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
        tfl.layers.batchNormalization(),
        tfl.layers.averagePooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 8 }),
        tfl.layers.batchNormalization(),
        tfl.layers.activation({ activation: 'relu' }),
        tfl.layers.dense({ units: 10 }),
        tfl.layers.activation({ activation: 'softmax' }),
      ],
    });
    randomiseBatchNorms(model);
    expect(compare(model)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('reads pool sizes, pool strides and dilations from the layer config (not the defaults)', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, dilationRate: 2 }),
        tfl.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        tfl.layers.averagePooling2d({ poolSize: 4 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    });
    expect(compare(model)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('declines models it does not cover, so the caller falls back to model.predict', () => {
    const tanh = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [28, 28, 1] }),
        tfl.layers.dense({ units: 10, activation: 'tanh' }),
      ],
    });
    const noSoftmax = tfl.sequential({
      layers: [tfl.layers.flatten({ inputShape: [28, 28, 1] }), tfl.layers.dense({ units: 10 })],
    });
    const input = tfl.input({ shape: [28, 28, 1] });
    const functional = tfl.model({
      inputs: input,
      outputs: tfl.layers
        .dense({ units: 10, activation: 'softmax' })
        .apply(tfl.layers.flatten().apply(input)) as tfl.SymbolicTensor,
    });
    for (const m of [tanh, noSoftmax, functional]) {
      expect(compileFused(m)).toBeUndefined();
      m.dispose();
    }
  });

  it('leaves the model usable after dispose (it frees only its folded copies)', () => {
    const model = buildModel('fast', 10);
    randomiseBatchNorms(model);
    const fused = compileFused(model);
    fused?.dispose();
    const x = toInputTensor(images.subarray(0, PIXELS), 1, TEST_NORMALIZATION);
    expect((model.predict(x) as tf.Tensor).dataSync().length).toBe(10);
    x.dispose();
    model.dispose();
  });
});
