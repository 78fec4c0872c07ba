import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type DataSource, type DatasetSplits, type ImageDataset, range, subset } from '../data/dataset.js';
import { type BackendInfo, initBackend } from '../engine/backend.js';
import { type ArchName, buildModel } from '../model/archs.js';
import { PIXELS, predictProbs } from '../model/infer.js';
import type { EpochHistory, ModelMetadata, Normalization } from '../model/metadata.js';
import { argmaxRows } from '../util/argmax.js';
import { deriveSeed, mulberry32, seedMathRandom } from '../util/random.js';
import { VERSION } from '../version.js';
import { type AugmentOptions, isIdentity, warpInto } from './augment.js';
import {
  checkpointDir,
  checkResumeSettings,
  loadCheckpoint,
  removeCheckpoint,
  saveCheckpoint,
} from './checkpoint.js';
import { type BatchProgress, type EpochRun, runEpoch, trainStep } from './epoch.js';
import type { Schedule } from './recipes.js';
import { useFastTrainingPaths } from './training-paths.js';

export interface TrainConfig {
  readonly name: string;
  readonly arch: ArchName;
  readonly data: DatasetSplits;
  readonly out: string;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly schedule: Schedule;
  readonly labelSmoothing: number;
  readonly augment: AugmentOptions;
  readonly normalization: Normalization;
  readonly seed: number;
  readonly validationSplit: number;
  /** Continue from the checkpoint beside `out` if there is one. */
  readonly resume?: boolean;
  /** The command line that reproduces this run, recorded in metadata. */
  readonly command: string;
  /** Start from this model's weights instead of a fresh init (fine-tuning). */
  readonly initialModel?: tfl.LayersModel;
  /** Stop (with a checkpoint) when aborted, e.g. on SIGINT/SIGTERM. */
  readonly signal?: AbortSignal;
  readonly onBatch?: (p: BatchProgress) => void;
  readonly onEpoch?: (h: EpochHistory, info: { epochs: number }) => void;
  readonly log?: (message: string) => void;
}

export type { BatchProgress };

export interface TrainedModel {
  readonly model: tfl.LayersModel;
  readonly metadata: ModelMetadata;
  /** True when the run was interrupted; a resumable checkpoint was written instead of a model. */
  readonly interrupted: boolean;
  readonly backend: BackendInfo;
}

/** Fills a [n, 28, 28, 1] batch buffer (normalised, optionally augmented) and smoothed one-hot labels. */
function makeBatch(
  ds: ImageDataset,
  indices: ArrayLike<number>,
  numClasses: number,
  cfg: TrainConfig,
  rand: () => number,
): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const n = indices.length;
  const xs = new Float32Array(n * PIXELS);
  const ys = new Float32Array(n * numClasses);
  const a = 1 / (cfg.normalization.scale * cfg.normalization.std);
  const b = -cfg.normalization.mean / cfg.normalization.std;
  const off = cfg.labelSmoothing / numClasses;
  const on = 1 - cfg.labelSmoothing + off;
  const augment = !isIdentity(cfg.augment);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    const img = ds.images.subarray(j * PIXELS, (j + 1) * PIXELS);
    if (augment) warpInto(img, 28, xs, i * PIXELS, a, b, cfg.augment, rand);
    else for (let p = 0; p < PIXELS; p++) xs[i * PIXELS + p] = img[p] * a + b;
    ys.fill(off, i * numClasses, (i + 1) * numClasses);
    ys[i * numClasses + ds.labels[j]] = on;
  }
  return { x: tf.tensor4d(xs, [n, 28, 28, 1]), y: tf.tensor2d(ys, [n, numClasses]) };
}

/** Mean cross-entropy and accuracy of the model on a dataset (inference mode). */
export function lossAndAccuracy(
  model: tfl.LayersModel,
  ds: ImageDataset,
  norm: Normalization,
): { loss: number; acc: number } {
  const k = ds.classes.length;
  const probs = predictProbs(model, ds.images, ds.n, norm);
  const pred = argmaxRows(probs, k);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < ds.n; i++) {
    loss -= Math.log(Math.max(probs[i * k + ds.labels[i]], 1e-7));
    if (pred[i] === ds.labels[i]) correct++;
  }
  return { loss: loss / ds.n, acc: correct / ds.n };
}

/** Keras semantics: the validation set is the last `fraction` of the training data, before shuffling. */
export function splitValidation(
  train: ImageDataset,
  fraction: number,
): { fit: ImageDataset; val?: ImageDataset } {
  const nVal = Math.round(train.n * fraction);
  if (nVal === 0) return { fit: train };
  return { fit: subset(train, range(0, train.n - nVal)), val: subset(train, range(train.n - nVal, train.n)) };
}

/**
 * Adam.setWeights recomputes beta^t with pow(), while training multiplies by beta once per step; in
 * float32 the two differ in the last bits. Replaying the per-step products makes a resumed run
 * bit-identical to an uninterrupted one.
 */
export function restoreAdamBetaPowers(optimizer: tf.AdamOptimizer): void {
  const o = optimizer as unknown as {
    beta1: number;
    beta2: number;
    iterations_: number;
    accBeta1: tf.Variable;
    accBeta2: tf.Variable;
  };
  const replay = (beta: number) => {
    let acc = Math.fround(beta);
    for (let i = 0; i < o.iterations_; i++) acc = Math.fround(acc * Math.fround(beta));
    return acc;
  };
  o.accBeta1.assign(tf.scalar(replay(o.beta1)));
  o.accBeta2.assign(tf.scalar(replay(o.beta2)));
}

function runConfig(cfg: TrainConfig): Record<string, unknown> {
  const { name, arch, epochs, batchSize, lr, schedule, labelSmoothing, augment, seed, validationSplit } = cfg;
  // Which data: a resume on other samples would silently train a different model.
  const dataset = {
    name: cfg.data.name,
    train: cfg.data.train.n,
    sources: cfg.data.train.sources.map((x) => x.sha256),
  };
  return {
    name,
    arch,
    dataset,
    epochs,
    batchSize,
    lr,
    schedule,
    labelSmoothing,
    augment,
    seed,
    validationSplit,
  };
}

/** Where a run starts: a checkpoint's model, history and position, or a fresh (or given) model. */
interface RunStart {
  readonly model: tfl.LayersModel;
  readonly optimizer: tf.AdamOptimizer;
  readonly history: EpochHistory[];
  readonly epoch: number;
  readonly batch: number;
  /** Wall time of the run before this process, seconds. */
  readonly wallBefore: number;
}

/** Resumes from the checkpoint in `ckptDir` when asked and present, else builds the model; compiles it. */
async function startRun(cfg: TrainConfig, ckptDir: string, log: (m: string) => void): Promise<RunStart> {
  const ckpt = cfg.resume ? await loadCheckpoint(ckptDir) : undefined;
  if (cfg.resume && !ckpt) log(`no checkpoint at ${ckptDir}; starting from scratch`);
  let model: tfl.LayersModel;
  if (ckpt) {
    checkResumeSettings(ckptDir, ckpt.state.config, runConfig(cfg));
    model = ckpt.model;
    log(`resuming from ${ckptDir} at epoch ${ckpt.state.epoch + 1}, batch ${ckpt.state.batch}`);
  } else {
    const restore = seedMathRandom(deriveSeed(cfg.seed, 'init'));
    try {
      model = cfg.initialModel ?? buildModel(cfg.arch, cfg.data.train.classes.length);
    } finally {
      restore();
    }
  }
  const optimizer = tf.train.adam(cfg.lr);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  useFastTrainingPaths(model);
  if (ckpt) {
    await optimizer.setWeights(ckpt.optimizerWeights);
    tf.dispose(ckpt.optimizerWeights.map((w) => w.tensor));
    restoreAdamBetaPowers(optimizer);
  }
  return {
    model,
    optimizer,
    history: ckpt?.state.history ?? [],
    epoch: ckpt?.state.epoch ?? 0,
    batch: ckpt?.state.batch ?? 0,
    wallBefore: ckpt?.state.wallSeconds ?? 0,
  };
}

/** One seeded batch step of the image CNN: augmented (seeded by epoch and batch), then trained. */
function imageStep(cfg: TrainConfig, model: tfl.LayersModel, optimizer: tf.AdamOptimizer, fit: ImageDataset) {
  const numClasses = fit.classes.length;
  return (idx: Uint32Array, epoch: number, b: number, lr: number) => {
    const rand = mulberry32(deriveSeed(cfg.seed, 'augment', epoch, b));
    const batch = makeBatch(fit, idx, numClasses, cfg, rand);
    return trainStep(model, optimizer, batch, { seed: cfg.seed, epoch, batch: b, lr });
  };
}

/** The finished run's metadata.json. */
function trainedMetadata(
  cfg: TrainConfig,
  run: { params: number; trainSamples: number; backend: BackendInfo; wallSeconds: number },
  history: EpochHistory[],
  test: { loss: number; acc: number } | undefined,
): ModelMetadata {
  const { backend } = run;
  return {
    name: cfg.name,
    version: new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z'),
    arch: cfg.arch,
    classes: [...cfg.data.train.classes],
    inputShape: [28, 28, 1],
    normalization: cfg.normalization,
    params: run.params,
    dataset: {
      name: cfg.data.name,
      sources: distinctSources(cfg.data.train.sources, cfg.data.test.sources),
      trainSamples: run.trainSamples,
      testSamples: cfg.data.test.n,
    },
    training: {
      command: cfg.command,
      seed: cfg.seed,
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      validationSplit: cfg.validationSplit,
      backend: backend.name,
      threads: backend.threads,
      ...(backend.gemm ? { gemm: backend.gemm } : {}),
      wallSeconds: run.wallSeconds,
      history,
    },
    testAccuracy: test?.acc,
    hwrVersion: VERSION,
    createdAt: new Date().toISOString(),
    extra: {
      schedule: cfg.schedule,
      labelSmoothing: cfg.labelSmoothing,
      augment: cfg.augment,
      testLoss: test?.loss,
    },
  };
}

/**
 * Trains a model and returns it with its metadata (test accuracy included). Deterministic for a
 * given seed and backend; checkpoints after every epoch and on abort.
 */
export async function train(cfg: TrainConfig): Promise<TrainedModel> {
  const log = cfg.log ?? (() => {});
  const backend = await initBackend({ log });
  const { fit, val } = splitValidation(cfg.data.train, cfg.validationSplit);
  const ckptDir = checkpointDir(cfg.out);
  const start = await startRun(cfg, ckptDir, log);
  const { model } = start;
  let history = start.history;
  const started = performance.now();
  const elapsed = () => start.wallBefore + (performance.now() - started) / 1000;
  const checkpoint = (epoch: number, batch: number) =>
    saveCheckpoint(ckptDir, model, { epoch, batch, history, wallSeconds: elapsed(), config: runConfig(cfg) });
  const run: EpochRun = {
    settings: cfg,
    n: fit.n,
    batches: Math.ceil(fit.n / cfg.batchSize),
    step: imageStep(cfg, model, start.optimizer, fit),
    onAbort: async (epoch, batch) => {
      await checkpoint(epoch, batch);
      log(`interrupted: checkpoint saved to ${ckptDir} (resume with --resume)`);
    },
  };
  let interrupted = false;
  for (let epoch = start.epoch; epoch < cfg.epochs; epoch++) {
    const t = await runEpoch(run, epoch, epoch === start.epoch ? start.batch : 0);
    if (!t) {
      interrupted = true;
      break;
    }
    const h: EpochHistory = { epoch: epoch + 1, ...t };
    if (val) {
      const v = lossAndAccuracy(model, val, cfg.normalization);
      Object.assign(h, { valLoss: v.loss, valAcc: v.acc });
    }
    history = [...history, h];
    cfg.onEpoch?.(h, { epochs: cfg.epochs });
    if (epoch + 1 < cfg.epochs) await checkpoint(epoch + 1, 0);
  }
  const test = interrupted ? undefined : lossAndAccuracy(model, cfg.data.test, cfg.normalization);
  const facts = { params: model.countParams(), trainSamples: fit.n, backend, wallSeconds: elapsed() };
  const metadata = trainedMetadata(cfg, facts, history, test);
  if (!interrupted) await removeCheckpoint(ckptDir);
  return { model, metadata, interrupted, backend };
}

/**
 * The files a model was made from, each once: splits cut from the same files (the `letters` writers'
 * split, a validation tail) would otherwise list them twice.
 */
export function distinctSources(...lists: readonly (readonly DataSource[])[]): DataSource[] {
  const seen = new Map<string, DataSource>();
  for (const s of lists.flat()) seen.set(`${s.path}\0${s.sha256}`, { ...s });
  return [...seen.values()];
}
