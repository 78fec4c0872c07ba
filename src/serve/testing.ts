// Helpers for the serve tests and the serve benchmark: small real models saved as model directories.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DIGIT_CLASSES, type ImageDataset } from '../data/dataset.js';
import { initBackend } from '../engine/backend.js';
import { toInputTensor } from '../model/infer.js';
import { saveModel } from '../model/io.js';
import type { ModelMetadata, Normalization } from '../model/metadata.js';
import { VERSION } from '../version.js';

export const TEST_NORMALIZATION: Normalization = { scale: 255, mean: 0, std: 1 };

export interface TestModelOptions {
  readonly name?: string;
  readonly version?: string;
  readonly classes?: readonly string[];
  /** Train on these images for a few epochs (a dense net reaches ~85 % on MNIST in a second). */
  readonly trainOn?: ImageDataset;
  /** Use this model instead of the small dense one (e.g. buildModel('paper', 10)). */
  readonly model?: tfl.LayersModel;
  readonly arch?: string;
}

function metadataFor(model: tfl.LayersModel, options: TestModelOptions, trainSamples: number): ModelMetadata {
  return {
    name: options.name ?? 'digits',
    version: options.version ?? 'test-1',
    arch: options.arch ?? 'test-dense',
    classes: [...(options.classes ?? DIGIT_CLASSES)],
    inputShape: [28, 28, 1],
    normalization: TEST_NORMALIZATION,
    params: model.countParams(),
    dataset: { name: 'mnist', sources: [], trainSamples, testSamples: 0 },
    training: {
      command: 'test',
      seed: 1,
      epochs: trainSamples ? 8 : 0,
      batchSize: 64,
      lr: 0.01,
      validationSplit: 0,
      backend: tf.getBackend(),
      threads: 1,
      wallSeconds: 0,
      history: [],
    },
    hwrVersion: VERSION,
    createdAt: new Date().toISOString(),
  };
}

/** Builds (and optionally trains briefly) a small model and saves it as a model directory. */
export async function saveTestModel(dir: string, options: TestModelOptions = {}): Promise<ModelMetadata> {
  await initBackend();
  const classes = options.classes ?? DIGIT_CLASSES;
  const model =
    options.model ??
    tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [28, 28, 1] }),
        tfl.layers.dense({
          units: 32,
          activation: 'relu',
          kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
        }),
        tfl.layers.dense({
          units: classes.length,
          activation: 'softmax',
          kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
        }),
      ],
    });
  const ds = options.trainOn;
  if (ds) {
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
    const x = toInputTensor(ds.images, ds.n, TEST_NORMALIZATION);
    const y = tf.tensor1d(Array.from(ds.labels), 'float32');
    await model.fit(x, y, { epochs: 8, batchSize: 64, shuffle: false, verbose: 0 });
    tf.dispose([x, y]);
  }
  const meta = await saveModel(model, metadataFor(model, options, ds?.n ?? 0), dir);
  model.dispose();
  return meta;
}
