// Helpers for the serve tests and the serve benchmark: small real models saved as model directories.
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DIGIT_CLASSES, type ImageDataset } from '../data/dataset.js';
import { initBackend } from '../engine/backend.js';
import { toInputTensor } from '../model/infer.js';
import { saveModel } from '../model/io.js';
import type { ModelMetadata, ModelPart, Normalization, StrokeFeatureSpec } from '../model/metadata.js';
import {
  STROKE_CHANNELS,
  STROKE_FEATURES_VERSION,
  STROKE_SIDE_FEATURES,
} from '../preprocess/stroke-features.js';
import { VERSION } from '../version.js';
import { buildApp, type HwrApp, type ServeOptions } from './app.js';

export const TEST_NORMALIZATION: Normalization = { scale: 255, mean: 0, std: 1 };

/**
 * The serve tests' app: models from `<root>/models`, the database in `<root>/data`, no page, no
 * folder watcher, the first scan done before it resolves, one wasm thread (the machine is shared).
 * `options` override any of these.
 */
export function buildTestApp(root: string, options: ServeOptions = {}): Promise<HwrApp> {
  return buildApp({
    modelsDir: join(root, 'models'),
    dataDir: join(root, 'data'),
    webDir: false,
    watch: false,
    waitForModels: true,
    engine: { threads: 1 },
    ...options,
  });
}

export interface TestModelOptions {
  readonly name?: string;
  readonly version?: string;
  readonly classes?: readonly string[];
  /** Train on these images for a few epochs (a dense net reaches ~85 % on MNIST in a second). */
  readonly trainOn?: ImageDataset;
  /** Use this model instead of the small dense one (e.g. buildModel('paper', 10)). */
  readonly model?: tfl.LayersModel;
  readonly arch?: string;
  /**
   * Adds a stroke part (a small seeded-random 1-D conv net over the stroke features, see
   * testStrokeNet) fused with these weights, making a fused model directory.
   */
  readonly strokes?: { readonly fusion: { image: number; strokes: number }; readonly seed?: number };
}

/** The feature spec of the test stroke parts. */
export const TEST_STROKE_FEATURES: StrokeFeatureSpec = { version: STROKE_FEATURES_VERSION, points: 32 };

/**
 * A real two-input stroke net (inputs `seq` and `side`, as the stroke parts have), small and seeded:
 * conv1d over the resampled points, global average pooling, joined with the side features, softmax.
 */
export function testStrokeNet(classes: number, seed = 3, spec = TEST_STROKE_FEATURES): tfl.LayersModel {
  const seq = tfl.input({ shape: [spec.points, STROKE_CHANNELS], name: 'seq' });
  const side = tfl.input({ shape: [STROKE_SIDE_FEATURES], name: 'side' });
  const conv = tfl.layers
    .conv1d({
      filters: 16,
      kernelSize: 5,
      activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    })
    .apply(seq) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling1d().apply(conv) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate().apply([pooled, side]) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({
      units: classes,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }),
    })
    .apply(joined) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [seq, side], outputs: out });
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
  await initBackend({ threads: 1 }); // when it is the first: one wasm thread, the machine is shared
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
  const metadata = metadataFor(model, options, ds?.n ?? 0);
  if (!options.strokes) {
    const meta = await saveModel(model, metadata, dir);
    model.dispose();
    return meta;
  }
  const net = testStrokeNet(classes.length, options.strokes.seed);
  const part: ModelPart = {
    dir: 'strokes',
    input: 'strokes',
    arch: 'test-conv1d',
    params: net.countParams(),
    features: TEST_STROKE_FEATURES,
  };
  const meta = await saveModel(
    model,
    {
      ...metadata,
      parts: { strokes: part },
      fusion: { method: 'log-linear', weights: options.strokes.fusion, fittedOn: 'test (seeded weights)' },
    },
    dir,
    { parts: { strokes: net } },
  );
  model.dispose();
  net.dispose();
  return meta;
}
