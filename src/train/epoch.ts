import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { deriveSeed, mulberry32, permutation, seedMathRandom } from '../util/random.js';
import { learningRateAt, type Schedule } from './recipes.js';

/** Progress after each batch: the epoch's running loss and accuracy. */
export interface BatchProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
  readonly loss: number;
  readonly acc: number;
  readonly imagesPerSecond: number;
}

/** The settings of a run that its epochs follow (the image trainer's and the stroke trainer's alike). */
export interface EpochSettings {
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly schedule: Schedule;
  readonly signal?: AbortSignal;
  readonly onBatch?: (p: BatchProgress) => void;
}

/** What one epoch's batches share. */
export interface EpochRun {
  readonly settings: EpochSettings;
  /** Training samples. */
  readonly n: number;
  readonly batches: number;
  /** One batch step on the samples `idx` (batch `b` of `epoch`) at learning rate `lr`. */
  readonly step: (
    idx: Uint32Array,
    epoch: number,
    b: number,
    lr: number,
  ) => Promise<{ loss: number; acc: number }>;
  /** Called when the abort signal is seen before batch `batch`: saves the checkpoint. */
  readonly onAbort: (epoch: number, batch: number) => Promise<void>;
}

/** An epoch's training figures (validation comes after, from the caller). */
export interface EpochFigures {
  readonly loss: number;
  readonly acc: number;
  readonly lr: number;
  readonly seconds: number;
}

/**
 * The batches of one epoch from `firstBatch` in its seeded order: the epoch's figures, or undefined
 * when the run was aborted (checkpoint saved).
 */
export async function runEpoch(
  run: EpochRun,
  epoch: number,
  firstBatch: number,
): Promise<EpochFigures | undefined> {
  const { settings: cfg, n, batches } = run;
  const order = permutation(n, mulberry32(deriveSeed(cfg.seed, 'shuffle', epoch)));
  const totalSteps = cfg.epochs * batches;
  const epochStart = performance.now();
  let seen = 0;
  let lossSum = 0;
  let accSum = 0;
  let lr = cfg.lr;
  for (let b = firstBatch; b < batches; b++) {
    if (cfg.signal?.aborted) {
      await run.onAbort(epoch, b);
      return undefined;
    }
    lr = learningRateAt(cfg.schedule, cfg.lr, (epoch * batches + b) / totalSteps);
    const idx = order.subarray(b * cfg.batchSize, Math.min(n, (b + 1) * cfg.batchSize));
    const { loss, acc } = await run.step(idx, epoch, b, lr);
    seen += idx.length;
    lossSum += loss * idx.length;
    accSum += acc * idx.length;
    cfg.onBatch?.({
      epoch,
      epochs: cfg.epochs,
      batch: b + 1,
      batches,
      loss: lossSum / seen,
      acc: accSum / seen,
      imagesPerSecond: seen / ((performance.now() - epochStart) / 1000),
    });
  }
  const seconds = (performance.now() - epochStart) / 1000;
  return { loss: lossSum / Math.max(1, seen), acc: accSum / Math.max(1, seen), lr, seconds };
}

/**
 * One optimizer step on a batch at learning rate `lr`, dropout seeded by (seed, epoch, batch); the
 * batch's tensors are disposed. Its loss and accuracy.
 */
export async function trainStep(
  model: tfl.LayersModel,
  optimizer: tf.AdamOptimizer,
  batch: { x: tf.Tensor | tf.Tensor[]; y: tf.Tensor },
  at: { seed: number; epoch: number; batch: number; lr: number },
): Promise<{ loss: number; acc: number }> {
  // Adam reads its learning rate on every step; the field is not in the public typings.
  (optimizer as unknown as { learningRate: number }).learningRate = at.lr;
  const restore = seedMathRandom(deriveSeed(at.seed, 'dropout', at.epoch, at.batch));
  let out: number | number[];
  try {
    out = await model.trainOnBatch(batch.x, batch.y);
  } finally {
    restore();
    tf.dispose([...(Array.isArray(batch.x) ? batch.x : [batch.x]), batch.y]);
  }
  // trainOnBatch only awaits promises (microtasks); let signal handlers and timers run.
  await new Promise((resolve) => setImmediate(resolve));
  const [loss, acc] = out as number[];
  return { loss, acc };
}
