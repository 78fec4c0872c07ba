import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ImageDataset } from '../data/dataset.js';
import { type ArchName, buildModel } from '../model/archs.js';
import { PIXELS, toInputTensor } from '../model/infer.js';
import { type LoadedModel, loadModel, saveModel } from '../model/io.js';
import type { EpochHistory, ModelMetadata } from '../model/metadata.js';
import { VERSION } from '../version.js';

/**
 * Test and benchmark helper: a real model trained for a few seconds with model.fit (or not at all),
 * saved and loaded back through the model I/O, so evaluation code is exercised on genuine models and
 * genuine training history without waiting for a full training run. Needs an initialised backend.
 */
export interface QuickModelOptions {
  readonly train: ImageDataset;
  /** 0 = untrained (random weights). */
  readonly epochs: number;
  /** A real architecture, or 'tiny' (default): a small dense net that trains in seconds on any backend. */
  readonly arch?: ArchName | 'tiny';
  readonly name?: string;
  readonly dir?: string;
  readonly validationSplit?: number;
}

export async function quickModel(
  options: QuickModelOptions,
): Promise<LoadedModel & { history: EpochHistory[] }> {
  const { train, epochs } = options;
  const arch = options.arch ?? 'tiny';
  const normalization = { scale: 255 as const, mean: 0, std: 1 };
  const model = arch === 'tiny' ? tiny(train.classes.length) : buildModel(arch, train.classes.length);
  model.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const history: EpochHistory[] = [];
  const t0 = performance.now();
  if (epochs > 0) {
    const x = toInputTensor(train.images.subarray(0, train.n * PIXELS), train.n, normalization);
    const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), train.classes.length);
    const h = await model.fit(x, y, {
      epochs,
      batchSize: 32,
      validationSplit: options.validationSplit ?? 0.2,
      shuffle: true,
      verbose: 0,
    });
    x.dispose();
    y.dispose();
    const series = (key: string) => h.history[key] as number[] | undefined;
    for (let e = 0; e < epochs; e++) {
      history.push({
        epoch: e + 1,
        loss: series('loss')?.[e] ?? Number.NaN,
        acc: series('acc')?.[e] ?? series('accuracy')?.[e] ?? Number.NaN,
        valLoss: series('val_loss')?.[e],
        valAcc: series('val_acc')?.[e] ?? series('val_accuracy')?.[e],
      });
    }
  }
  const metadata: ModelMetadata = {
    name: options.name ?? `quick-${arch}`,
    version: '0.0.1',
    arch,
    classes: [...train.classes],
    inputShape: [28, 28, 1],
    normalization,
    params: model.countParams(),
    dataset: { name: 'slice', sources: [...train.sources], trainSamples: train.n, testSamples: 0 },
    training: {
      command: 'quickModel (test helper)',
      seed: 0,
      epochs,
      batchSize: 32,
      lr: 0.003,
      validationSplit: options.validationSplit ?? 0.2,
      backend: tf.getBackend(),
      threads: 1,
      wallSeconds: (performance.now() - t0) / 1000,
      history,
    },
    hwrVersion: VERSION,
    createdAt: new Date().toISOString(),
  };
  const dir = options.dir ?? join(await mkdtemp(join(tmpdir(), 'hwr-eval-')), 'model');
  await saveModel(model, metadata, dir);
  model.dispose();
  return { ...(await loadModel(dir)), history };
}

function tiny(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'tiny',
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 32, activation: 'relu' }),
      tfl.layers.dense({ units: numClasses, activation: 'softmax' }),
    ],
  });
}
