import type * as tfl from '@tensorflow/tfjs-layers';
import { compileFused, type FusedForward } from '../model/fused.js';
import { PIXELS, predictProbs, toInputTensor } from '../model/infer.js';
import type { LoadedModel } from '../model/io.js';
import type { Normalization } from '../model/metadata.js';
import type { InferenceThread } from './inference-thread.js';

export interface BatchingOptions {
  /** Largest number of images in one forward pass; 1 turns micro-batching off. */
  readonly maxBatch: number;
  /** How long the first queued image waits for company, in ms; 0 = until the current I/O turn ends. */
  readonly maxWaitMs: number;
  /**
   * Passes sent to the inference thread before the first answers (1 when omitted; 2 in
   * DEFAULT_BATCHING). With 2, the thread starts the next pass as soon as one ends, while the event
   * loop answers the last one and parses new requests; with 1 the two threads take turns.
   */
  readonly maxInFlight?: number;
}

export const NO_BATCHING: BatchingOptions = { maxBatch: 1, maxWaitMs: 0 };
/**
 * The default. Per image, a pass of 4 costs about what a pass of 8 or 16 does (bench/README.md);
 * smaller passes, two in flight, keep both threads busy instead of making them wait for each other:
 * 1.2-1.7x the pixels req/s of { maxBatch: 16, one in flight } with 8 clients.
 */
export const DEFAULT_BATCHING: BatchingOptions = { maxBatch: 4, maxWaitMs: 0, maxInFlight: 2 };

/** Larger passes (batch requests) go through model.predict in chunks of 64, bounding memory. */
const MAX_FUSED_BATCH = 64;

/**
 * Probabilities [n, classes] for n images (n * 784 bytes) in one pass: through the fused plan when
 * there is one and the batch is small, else `model.predict` in chunks. Used on the event loop's thread
 * and in the inference thread alike.
 */
export function forwardProbs(
  model: tfl.LayersModel,
  fused: FusedForward | undefined,
  norm: Normalization,
  pixels: Uint8Array,
  n: number,
): Float32Array {
  if (!fused || n > MAX_FUSED_BATCH) return predictProbs(model, pixels, n, norm, MAX_FUSED_BATCH);
  const x = toInputTensor(pixels, n, norm);
  try {
    const y = fused.run(x);
    try {
      return y.dataSync() as Float32Array;
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

/** The images of queued predictions, one after another. */
function concatPixels(batch: readonly Pending[]): Uint8Array {
  const input = new Uint8Array(batch.length * PIXELS);
  batch.forEach((p, i) => {
    input.set(p.pixels, i * PIXELS);
  });
  return input;
}

interface Pending {
  readonly pixels: Uint8Array;
  readonly resolve: (probs: Float32Array) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Runs one model. With micro-batching, concurrent single-image predictions are collected for at most
 * `maxWaitMs` (or until `maxBatch` are queued) and answered from one forward pass. With an inference
 * thread (`useThread`), those passes run there, one at a time, while requests keep queueing here: the
 * next pass starts as soon as the previous one answers.
 */
export class Predictor {
  readonly numClasses: number;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  /** Fused inference plan (./fused.ts), or undefined for models it does not cover. */
  private readonly fused: FusedForward | undefined;
  /** The inference thread holding a copy of this model under `key`, once loaded there. */
  private offload: { thread: InferenceThread; key: string } | undefined;
  /** Passes sent to the inference thread and not answered yet. */
  private inFlight = 0;

  constructor(
    readonly loaded: LoadedModel,
    private readonly batching: BatchingOptions = NO_BATCHING,
  ) {
    this.numClasses = loaded.metadata.classes.length;
    this.fused = compileFused(loaded.model);
  }

  /**
   * Copies the model into an inference thread and runs queued predictions there from now on. Throws
   * (and keeps predicting on this thread) if the copy fails.
   */
  async useThread(thread: InferenceThread, key: string): Promise<void> {
    await thread.load(key, this.loaded.model, this.loaded.metadata.normalization);
    this.offload = { thread, key };
  }

  /** True while predictions go to an inference thread. */
  get offloaded(): boolean {
    return this.offload?.thread.alive === true;
  }

  /** True when predictions run through the fused plan rather than `model.predict`. */
  get isFused(): boolean {
    return this.fused !== undefined;
  }

  /** Probabilities for n images (n * 784 bytes), computed now, in one pass. */
  predictNow(pixels: Uint8Array, n: number): Float32Array {
    if (this.closed) throw new Error('model was unloaded');
    return forwardProbs(this.loaded.model, this.fused, this.loaded.metadata.normalization, pixels, n);
  }

  /** Probabilities for one image (784 bytes). */
  predict(pixels: Uint8Array): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('model was unloaded'));
    if (!this.offloaded && this.batching.maxBatch <= 1) {
      try {
        return Promise.resolve(this.predictNow(pixels, 1));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ pixels, resolve, reject });
      // With every pass slot taken, the next answer flushes the queue.
      if (this.inFlight >= this.maxInFlight) return;
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
    if (this.offloaded) {
      this.flushToThread();
      return;
    }
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      this.answer(batch, this.predictNow(concatPixels(batch), batch.length));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  /** Resolves each queued prediction with its row of probs. */
  private answer(batch: readonly Pending[], probs: Float32Array): void {
    const k = this.numClasses;
    batch.forEach((p, i) => {
      p.resolve(probs.slice(i * k, (i + 1) * k));
    });
  }

  private get maxInFlight(): number {
    return Math.max(1, this.batching.maxInFlight ?? 1);
  }

  private flushToThread(): void {
    const offload = this.offload;
    if (!offload) return;
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) this.sendPass(offload);
  }

  private sendPass(offload: { thread: InferenceThread; key: string }): void {
    const batch = this.queue.splice(0, Math.max(1, this.batching.maxBatch));
    const input = concatPixels(batch);
    this.inFlight++;
    offload.thread
      .run(offload.key, input, batch.length)
      .catch((err: Error) => {
        if (this.closed) throw err;
        // The thread failed (it logs why): answer this batch here; `offloaded` is false from now on
        // if the thread is gone.
        return this.predictNow(input, batch.length);
      })
      .then(
        (probs) => this.answer(batch, probs),
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.flush();
      });
  }

  /** Answers what is queued, then frees the model's tensors. */
  close(): void {
    // Queued work goes to this thread: the inference thread's copy is unloaded below.
    const offload = this.offload;
    this.offload = undefined;
    this.flush();
    this.closed = true;
    if (offload) offload.thread.unload(offload.key);
    this.fused?.dispose();
    this.loaded.model.dispose();
  }
}
