import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers TF.js's own gradients too: ours must win
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { meanGradient, registerFastGradients } from './gradients.js';

beforeAll(async () => {
  registerFastGradients();
  await tf.setBackend('cpu');
});

describe('Mean gradient', () => {
  // [x shape, axes, keepDims]: BatchNorm's moments reduce [N, H, W]; the others are general.
  const cases: [number[], number[] | number, boolean][] = [
    [[3, 4, 5, 6], [0, 1, 2], false],
    [[3, 4, 5, 6], [0, 1, 2], true],
    [[4, 7], 1, false],
    [[2, 3, 4], [0, 2], true],
    [[5], 0, false],
  ];
  it.each(cases)('x %j axes %j keepDims %s is dy / n, broadcast back', async (shape, axes, keepDims) => {
    const axisList = typeof axes === 'number' ? [axes] : axes;
    const reduced = axisList.reduce((p, a) => p * shape[a], 1);
    const kept = shape.map((d, i) => (axisList.includes(i) ? 1 : d));
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
    const dy = tf.randomNormal(
      keepDims ? kept : shape.filter((_, i) => !axisList.includes(i)),
      0,
      1,
      'float32',
      2,
    );
    const dx = tf.grad((t: tf.Tensor) => tf.mean(t, axes, keepDims))(x, dy);
    expect(dx.shape).toEqual(shape);
    const want = tf.broadcastTo(tf.reshape(dy, kept), shape);
    const got = await dx.data();
    const expected = await want.data();
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i] / reduced, 6);
    tf.dispose([x, dy, dx, want]);
  });

  it('is the registered one, over the gradient tfjs-layers registers on import', () => {
    expect(tf.getGradient(tf.Mean)).toBe(meanGradient);
  });
});
