import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { StrokeSample, UnipenStrokeSplits } from '../data/unipen-strokes.js';
import { type BackendInfo, initBackend } from '../engine/backend.js';
import { buildStrokeModel, isStrokeArchName } from '../model/archs.js';
import { accuracyOf } from '../model/fusion.js';
import type { EpochHistory, StrokeFeatureSpec, StrokePartMetadata } from '../model/metadata.js';
import { predictStrokeProbs, type StrokeInputs } from '../model/stroke-infer.js';
import { augmentTrajectory, type TrajectoryAugmentOptions } from '../preprocess/stroke-augment.js';
import { STROKE_CHANNELS, STROKE_SIDE_FEATURES, strokeFeatureBatch } from '../preprocess/stroke-features.js';
import { deriveSeed, mulberry32, seedMathRandom } from '../util/random.js';
import { VERSION } from '../version.js';
import {
  checkpointDir,
  checkResumeSettings,
  loadCheckpoint,
  removeCheckpoint,
  saveCheckpoint,
} from './checkpoint.js';
import { type BatchProgress, type EpochRun, runEpoch, trainStep } from './epoch.js';
import type { Schedule } from './recipes.js';
import { restoreAdamBetaPowers } from './trainer.js';
import { useFastTrainingPaths } from './training-paths.js';

export interface StrokeTrainConfig {
  readonly name: string;
  /** The net built from scratch; with `initialModel`, only recorded (that model's arch). */
  readonly arch: string;
  /** Fine-tune this (trained) net instead of building one: it is updated in place. */
  readonly initialModel?: tfl.LayersModel;
  readonly data: UnipenStrokeSplits;
  readonly out: string;
  readonly spec: StrokeFeatureSpec;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly schedule: Schedule;
  readonly labelSmoothing: number;
  /** undefined: train on the drawings as written. */
  readonly augment?: TrajectoryAugmentOptions;
  readonly seed: number;
  readonly resume?: boolean;
  readonly command: string;
  readonly signal?: AbortSignal;
  readonly onBatch?: (p: BatchProgress) => void;
  readonly onEpoch?: (h: EpochHistory, info: { epochs: number }) => void;
  readonly log?: (message: string) => void;
}

/** How stroke parts train by default; flags override single fields. */
export const STROKE_RECIPE = {
  epochs: 30,
  batchSize: 128,
  lr: 3e-3,
  schedule: 'onecycle' as Schedule,
  labelSmoothing: 0.1,
  points: 64,
};

export interface TrainedStrokePart {
  readonly model: tfl.LayersModel;
  readonly metadata: StrokePartMetadata;
  readonly interrupted: boolean;
  readonly backend: BackendInfo;
}

/** Features of drawings as written (validation, test, evaluation). */
export function strokeInputsOf(samples: readonly StrokeSample[], spec: StrokeFeatureSpec): StrokeInputs {
  return strokeFeatureBatch(
    samples.map((s) => s.strokes),
    spec,
  );
}

function labelsOf(samples: readonly StrokeSample[]): Uint8Array {
  return Uint8Array.from(samples.map((s) => s.label));
}

/** Mean cross-entropy and accuracy on drawings as written. */
export function strokeLossAndAccuracy(
  model: tfl.LayersModel,
  x: StrokeInputs,
  labels: Uint8Array,
): { loss: number; acc: number } {
  const probs = predictStrokeProbs(model, x);
  const k = probs.length / Math.max(1, x.n);
  let loss = 0;
  for (let i = 0; i < x.n; i++) loss -= Math.log(Math.max(probs[i * k + labels[i]], 1e-7));
  return { loss: loss / Math.max(1, x.n), acc: accuracyOf(probs, labels, k) };
}

function makeBatch(
  cfg: StrokeTrainConfig,
  indices: ArrayLike<number>,
  numClasses: number,
  rand: () => number,
): { x: [tf.Tensor3D, tf.Tensor2D]; y: tf.Tensor2D } {
  const drawings = Array.from(indices, (j) => {
    const s = cfg.data.train[j].strokes;
    return cfg.augment ? augmentTrajectory(s, rand, cfg.augment) : s;
  });
  const f = strokeFeatureBatch(drawings, cfg.spec);
  const n = indices.length;
  const ys = new Float32Array(n * numClasses);
  const off = cfg.labelSmoothing / numClasses;
  for (let i = 0; i < n; i++) {
    ys.fill(off, i * numClasses, (i + 1) * numClasses);
    ys[i * numClasses + cfg.data.train[indices[i]].label] = 1 - cfg.labelSmoothing + off;
  }
  return {
    x: [
      tf.tensor3d(f.seq, [n, cfg.spec.points, STROKE_CHANNELS]),
      tf.tensor2d(f.side, [n, STROKE_SIDE_FEATURES]),
    ],
    y: tf.tensor2d(ys, [n, numClasses]),
  };
}

function runConfig(cfg: StrokeTrainConfig): Record<string, unknown> {
  const { name, arch, spec, epochs, batchSize, lr, schedule, labelSmoothing, augment, seed } = cfg;
  const dataset = {
    name: cfg.data.name,
    train: cfg.data.train.length,
    sources: cfg.data.sources.map((s) => s.sha256),
  };
  return { name, arch, spec, dataset, epochs, batchSize, lr, schedule, labelSmoothing, augment, seed };
}

/** Builds the net, or resumes it and its optimizer from the checkpoint beside `out`. */
async function startModel(cfg: StrokeTrainConfig, numClasses: number, log: (m: string) => void) {
  const ckptDir = checkpointDir(cfg.out);
  const ckpt = cfg.resume ? await loadCheckpoint(ckptDir) : undefined;
  if (cfg.resume && !ckpt) log(`no checkpoint at ${ckptDir}; starting from scratch`);
  let model: tfl.LayersModel;
  if (ckpt) {
    checkResumeSettings(ckptDir, ckpt.state.config, runConfig(cfg));
    model = ckpt.model;
    log(`resuming from ${ckptDir} at epoch ${ckpt.state.epoch + 1}, batch ${ckpt.state.batch}`);
  } else if (cfg.initialModel) {
    model = cfg.initialModel;
  } else {
    if (!isStrokeArchName(cfg.arch)) throw new RangeError(`unknown stroke arch "${cfg.arch}"`);
    const arch = cfg.arch;
    const restore = seedMathRandom(deriveSeed(cfg.seed, 'init'));
    try {
      const shape = { points: cfg.spec.points, channels: STROKE_CHANNELS, side: STROKE_SIDE_FEATURES };
      model = buildStrokeModel(arch, shape, numClasses);
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
  return { model, optimizer, ckpt, ckptDir };
}

/** One seeded batch step of the stroke net: drawings augmented (seeded by epoch and batch), then trained. */
function strokeStep(cfg: StrokeTrainConfig, model: tfl.LayersModel, optimizer: tf.AdamOptimizer) {
  const numClasses = cfg.data.classes.length;
  return (idx: Uint32Array, epoch: number, b: number, lr: number) => {
    const rand = mulberry32(deriveSeed(cfg.seed, 'augment', epoch, b));
    const batch = makeBatch(cfg, idx, numClasses, rand);
    return trainStep(model, optimizer, batch, { seed: cfg.seed, epoch, batch: b, lr });
  };
}

/** The finished part's metadata.json. */
function strokePartMetadata(
  cfg: StrokeTrainConfig,
  run: { params: number; backend: BackendInfo; wallSeconds: number },
  history: EpochHistory[],
  test: { loss: number; acc: number } | undefined,
): StrokePartMetadata {
  const { backend } = run;
  return {
    name: cfg.name,
    dir: 'strokes',
    input: 'strokes',
    arch: cfg.arch,
    params: run.params,
    features: cfg.spec,
    classes: [...cfg.data.classes],
    inputs: { channels: STROKE_CHANNELS, side: STROKE_SIDE_FEATURES },
    dataset: {
      name: cfg.data.name,
      sources: cfg.data.sources,
      trainSamples: cfg.data.train.length,
      validationSamples: cfg.data.validation.length,
      testSamples: cfg.data.test.length,
    },
    testAccuracy: test?.acc,
    validationAccuracy: history.at(-1)?.valAcc,
    training: {
      command: cfg.command,
      seed: cfg.seed,
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      schedule: cfg.schedule,
      labelSmoothing: cfg.labelSmoothing,
      augment: cfg.augment ?? null,
      backend: backend.name,
      threads: backend.threads,
      gemm: backend.gemm,
      wallSeconds: run.wallSeconds,
    },
    history,
    hwrVersion: VERSION,
    createdAt: new Date().toISOString(),
  };
}

/**
 * Trains a stroke part: seeded (same seed + backend = same net), a checkpoint after every epoch and
 * on abort (resume with the same settings), validation on the validation writers after every epoch.
 */
export async function trainStrokePart(cfg: StrokeTrainConfig): Promise<TrainedStrokePart> {
  const log = cfg.log ?? (() => {});
  const backend = await initBackend({ log });
  const numClasses = cfg.data.classes.length;
  const { model, optimizer, ckpt, ckptDir } = await startModel(cfg, numClasses, log);
  let history: EpochHistory[] = ckpt ? ckpt.state.history : [];
  const startEpoch = ckpt ? ckpt.state.epoch : 0;
  const startBatch = ckpt ? ckpt.state.batch : 0;
  const wallBefore = ckpt ? ckpt.state.wallSeconds : 0;
  const val = strokeInputsOf(cfg.data.validation, cfg.spec);
  const valLabels = labelsOf(cfg.data.validation);
  const started = performance.now();
  const elapsed = () => wallBefore + (performance.now() - started) / 1000;
  const checkpoint = (epoch: number, batch: number) =>
    saveCheckpoint(ckptDir, model, { epoch, batch, history, wallSeconds: elapsed(), config: runConfig(cfg) });
  const run: EpochRun = {
    settings: cfg,
    n: cfg.data.train.length,
    batches: Math.ceil(cfg.data.train.length / cfg.batchSize),
    step: strokeStep(cfg, model, optimizer),
    onAbort: async (epoch, batch) => {
      await checkpoint(epoch, batch);
      log(`interrupted: checkpoint saved to ${ckptDir} (resume with --resume)`);
    },
  };
  let interrupted = false;
  for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
    const t = await runEpoch(run, epoch, epoch === startEpoch ? startBatch : 0);
    if (!t) {
      interrupted = true;
      break;
    }
    const v = strokeLossAndAccuracy(model, val, valLabels);
    const h: EpochHistory = {
      epoch: epoch + 1,
      loss: t.loss,
      acc: t.acc,
      valLoss: v.loss,
      valAcc: v.acc,
      lr: t.lr,
      seconds: t.seconds,
    };
    history = [...history, h];
    cfg.onEpoch?.(h, { epochs: cfg.epochs });
    if (epoch + 1 < cfg.epochs) await checkpoint(epoch + 1, 0);
  }
  const test =
    interrupted || cfg.data.test.length === 0
      ? undefined
      : strokeLossAndAccuracy(model, strokeInputsOf(cfg.data.test, cfg.spec), labelsOf(cfg.data.test));
  const metadata = strokePartMetadata(
    cfg,
    { params: model.countParams(), backend, wallSeconds: elapsed() },
    history,
    test,
  );
  if (!interrupted) await removeCheckpoint(ckptDir);
  return { model, metadata, interrupted, backend };
}
