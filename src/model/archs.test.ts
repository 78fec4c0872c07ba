import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCH_NAMES, buildModel, buildStrokeModel, STROKE_ARCH_NAMES } from './archs.js';
import { summarize } from './summary.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('architectures', () => {
  it('paper is the published CNN: 995,060 params and the published output shapes', () => {
    const s = summarize(buildModel('paper', 10));
    expect(s.totalParams).toBe(995_060);
    expect(s.trainableParams).toBe(995_060);
    expect(s.layers.map((l) => l.outputShape)).toEqual([
      '(None, 24, 24, 75)',
      '(None, 12, 12, 75)',
      '(None, 12, 12, 75)',
      '(None, 8, 8, 100)',
      '(None, 4, 4, 100)',
      '(None, 4, 4, 100)',
      '(None, 1600)',
      '(None, 500)',
      '(None, 500)',
      '(None, 10)',
    ]);
  });

  it('compact follows the second published CNN layer order', () => {
    const s = summarize(buildModel('compact', 10));
    expect(s.layers.map((l) => l.type)).toEqual([
      'Conv2D',
      'Dropout',
      'BatchNormalization',
      'MaxPooling2D',
      'Conv2D',
      'Dropout',
      'BatchNormalization',
      'MaxPooling2D',
      'Flatten',
      'Dense',
      'Dense',
    ]);
  });

  it.each(ARCH_NAMES)('%s maps a 28x28x1 batch to class probabilities', (arch) => {
    const model = buildModel(arch, 26);
    const p = tf.tidy(() => model.predict(tf.randomUniform([2, 28, 28, 1])) as tf.Tensor);
    expect(p.shape).toEqual([2, 26]);
    const sums = tf.sum(p, 1).dataSync();
    for (const v of sums) expect(v).toBeCloseTo(1, 5);
  });

  it.each(STROKE_ARCH_NAMES)('%s maps a (seq, side) batch to class probabilities', (arch) => {
    const model = buildStrokeModel(arch, { points: 64, channels: 7, side: 7 }, 26);
    // tfjs-layers numbers repeated layer names within a process (seq_1): order and stem are the contract.
    expect(model.inputs.map((i) => i.name.replace(/_\d+$/, ''))).toEqual(['seq', 'side']);
    const p = tf.tidy(
      () => model.predict([tf.randomNormal([3, 64, 7]), tf.randomNormal([3, 7])]) as tf.Tensor,
    );
    expect(p.shape).toEqual([3, 26]);
    for (const v of tf.sum(p, 1).dataSync()) expect(v).toBeCloseTo(1, 5);
  });
});
