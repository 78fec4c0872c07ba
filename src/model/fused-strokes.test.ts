import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTempDir } from '../data/test-helpers.js';
import { loadUnipenStrokes, type UnipenStrokeSplits } from '../data/unipen-strokes.js';
import { initBackend } from '../engine/backend.js';
import { DEFAULT_TRAJECTORY_AUGMENT } from '../preprocess/stroke-augment.js';
import { STROKE_FEATURES_VERSION, strokeFeatureBatch } from '../preprocess/stroke-features.js';
import type { Stroke } from '../preprocess/types.js';
import { testStrokeNet } from '../serve/testing.js';
import { trainStrokePart } from '../train/stroke-trainer.js';
import { buildStrokeModel, type StrokeArchName } from './archs.js';
import { compileFusedStrokes } from './fused-strokes.js';
import { loadModel } from './io.js';
import { predictStrokeProbs, type StrokeInputs } from './stroke-infer.js';

const ROOT = join(import.meta.dirname, '..', '..');
// Real pen digits of writers held out of every training set (test/fixtures/strokes/digits.json).
const drawings = (
  JSON.parse(readFileSync(join(ROOT, 'test/fixtures/strokes/digits.json'), 'utf8')) as {
    samples: { strokes: Stroke[] }[];
  }
).samples.map((s) => s.strokes);
let data: UnipenStrokeSplits;
const tempDir = useTempDir();

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
  data = await loadUnipenStrokes(join(ROOT, 'test/fixtures/letters'), 'digits');
}, 60_000);

/** The largest |plan - model.predict| over every probability, and whether every row's argmax agrees. */
function compare(model: tfl.LayersModel, x: StrokeInputs): { worst: number; sameTop: boolean } {
  const plan = compileFusedStrokes(model);
  expect(plan).toBeDefined();
  const before = tf.memory().numTensors;
  const want = predictStrokeProbs(model, x);
  const got = predictStrokeProbs(model, x, 64, plan);
  expect(tf.memory().numTensors).toBe(before); // the plan's passes leave no tensor behind
  plan?.dispose();
  expect(got.length).toBe(want.length);
  const k = want.length / x.n;
  let worst = 0;
  let sameTop = true;
  for (let i = 0; i < x.n; i++) {
    let a = 0;
    let b = 0;
    for (let c = 0; c < k; c++) {
      worst = Math.max(worst, Math.abs(got[i * k + c] - want[i * k + c]));
      if (want[i * k + c] > want[i * k + a]) a = c;
      if (got[i * k + c] > got[i * k + b]) b = c;
    }
    sameTop &&= a === b;
  }
  return { worst, sameTop };
}

describe('compileFusedStrokes', () => {
  it('answers the shipped digits stroke part (strokes-conv) as model.predict does on all 600 fixture drawings', async () => {
    const loaded = await loadModel(join(ROOT, 'models/digits'));
    const part = loaded.parts.find((p) => p.name === 'strokes');
    expect(part?.spec.arch).toBe('strokes-conv');
    if (!part) return;
    const x = strokeFeatureBatch(drawings, part.spec.features);
    const { worst, sameTop } = compare(part.model, x);
    expect(worst).toBeLessThan(1e-5);
    expect(sameTop).toBe(true);
    loaded.model.dispose();
    part.model.dispose();
  }, 60_000);

  it.each(['strokes-conv', 'strokes-conv-wide'] as StrokeArchName[])(
    'answers a %s part trained briefly on real pen digits as model.predict does (BN folded)',
    async (arch) => {
      const spec = { version: STROKE_FEATURES_VERSION, points: 32 };
      // Batches of 8 for 4 epochs: the BatchNorms' scales, shifts and moving statistics leave their
      // initial values, so folding them into the convolutions is exercised.
      const r = await trainStrokePart({
        name: 'strokes',
        arch,
        data,
        out: join(await tempDir(), 'part'),
        spec,
        epochs: 4,
        batchSize: 8,
        lr: 3e-3,
        schedule: 'onecycle',
        labelSmoothing: 0.1,
        augment: DEFAULT_TRAJECTORY_AUGMENT,
        seed: 5,
        command: 'test',
      });
      const x = strokeFeatureBatch(drawings.slice(0, 200), spec);
      const { worst, sameTop } = compare(r.model, x);
      expect(worst).toBeLessThan(1e-5);
      expect(sameTop).toBe(true);
      r.model.dispose();
    },
    120_000,
  );

  it('covers a conv with its own bias and ReLU, valid padding and global average pooling', () => {
    const model = testStrokeNet(10);
    const x = strokeFeatureBatch(drawings.slice(0, 50), { version: STROKE_FEATURES_VERSION, points: 32 });
    expect(compare(model, x).worst).toBeLessThan(1e-5);
    model.dispose();
  });

  it('keeps a BatchNormalization it cannot fold (after a ReLU) as its own scale step', () => {
    const seq = tfl.input({ shape: [32, 7], name: 'seq' });
    const side = tfl.input({ shape: [7], name: 'side' });
    let h = tfl.layers
      .conv1d({ filters: 8, kernelSize: 3, activation: 'relu' })
      .apply(seq) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization();
    h = bn.apply(h) as tfl.SymbolicTensor;
    h = tfl.layers.globalMaxPooling1d({}).apply(h) as tfl.SymbolicTensor;
    const joined = tfl.layers.concatenate().apply([h, side]) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 10, activation: 'softmax' }).apply(joined) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: [seq, side], outputs: out });
    // Moving statistics away from 0 / 1, as training leaves them.
    bn.setWeights(
      bn.getWeights().map((w, i) => (i === 3 ? tf.fill(w.shape, 2.5) : tf.fill(w.shape, 0.3 * (i + 1)))),
    );
    const x = strokeFeatureBatch(drawings.slice(0, 50), { version: STROKE_FEATURES_VERSION, points: 32 });
    expect(compare(model, x).worst).toBeLessThan(1e-5);
    model.dispose();
  });

  it('declines the GRU net, so the caller keeps model.predict', () => {
    const model = buildStrokeModel('strokes-gru', { points: 32, channels: 7, side: 7 }, 10);
    const before = tf.memory().numTensors;
    expect(compileFusedStrokes(model)).toBeUndefined();
    expect(tf.memory().numTensors).toBe(before); // nothing folded is left behind
    model.dispose();
  });
});
