import { PIXELS, predictProbs, toInputTensor } from '../model/infer.js';
import type { LoadedModel } from '../model/io.js';
import { compileFused, type FusedForward } from './fused.js';

export interface BatchingOptions {
  /** Largest number of images in one forward pass; 1 turns micro-batching off. */
  readonly maxBatch: number;
  /** How long the first queued image waits for company, in ms; 0 = until the current I/O turn ends. */
  readonly maxWaitMs: number;
}

export const NO_BATCHING: BatchingOptions = { maxBatch: 1, maxWaitMs: 0 };
/** The default: measured 2.8-4.6x the throughput of single passes with a lower p99 (bench/README.md). */
export const DEFAULT_BATCHING: BatchingOptions = { maxBatch: 16, maxWaitMs: 0 };

/** Larger passes (batch requests) go through model.predict in chunks of 64, bounding memory. */
const MAX_FUSED_BATCH = 64;

interface Pending {
  readonly pixels: Uint8Array;
  readonly resolve: (probs: Float32Array) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Runs one model. With micro-batching, concurrent single-image predictions are collected for at most
 * `maxWaitMs` (or until `maxBatch` are queued) and answered from one forward pass.
 */
export class Predictor {
  readonly numClasses: number;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  /** Fused inference plan (./fused.ts), or undefined for models it does not cover. */
  private readonly fused: FusedForward | undefined;

  constructor(
    readonly loaded: LoadedModel,
    private readonly batching: BatchingOptions = NO_BATCHING,
  ) {
    this.numClasses = loaded.metadata.classes.length;
    this.fused = compileFused(loaded.model);
  }

  /** True when predictions run through the fused plan rather than `model.predict`. */
  get isFused(): boolean {
    return this.fused !== undefined;
  }

  /** Probabilities for n images (n * 784 bytes), computed now, in one pass. */
  predictNow(pixels: Uint8Array, n: number): Float32Array {
    if (this.closed) throw new Error('model was unloaded');
    const norm = this.loaded.metadata.normalization;
    if (!this.fused || n > MAX_FUSED_BATCH) return predictProbs(this.loaded.model, pixels, n, norm, 64);
    const x = toInputTensor(pixels, n, norm);
    try {
      const y = this.fused.run(x);
      try {
        return y.dataSync() as Float32Array;
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
  }

  /** Probabilities for one image (784 bytes). */
  predict(pixels: Uint8Array): Promise<Float32Array> {
    if (this.batching.maxBatch <= 1) {
      try {
        return Promise.resolve(this.predictNow(pixels, 1));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ pixels, resolve, reject });
      if (this.queue.length >= this.batching.maxBatch) this.flush();
      else if (!this.timer)
        this.timer =
          this.batching.maxWaitMs > 0
            ? setTimeout(() => this.flush(), this.batching.maxWaitMs)
            : setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      const input = new Uint8Array(batch.length * PIXELS);
      batch.forEach((p, i) => {
        input.set(p.pixels, i * PIXELS);
      });
      const probs = this.predictNow(input, batch.length);
      const k = this.numClasses;
      batch.forEach((p, i) => {
        p.resolve(probs.slice(i * k, (i + 1) * k));
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  /** Answers what is queued, then frees the model's tensors. */
  close(): void {
    this.flush();
    this.closed = true;
    this.fused?.dispose();
    this.loaded.model.dispose();
  }
}
