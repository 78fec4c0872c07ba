import { compileFused, type FusedForward } from '../model/fused.js';
import { fuseLogLinear } from '../model/fusion.js';
import { PIXELS } from '../model/infer.js';
import { disposeLoaded, type LoadedModel, type LoadedPart } from '../model/io.js';
import type { Fusion } from '../model/metadata.js';
import { type StrokeFeatures, strokeFeatures } from '../preprocess/stroke-features.js';
import type { Stroke } from '../preprocess/types.js';
import {
  disposePartNet,
  forwardProbs,
  type PartBatch,
  type PartNet,
  type PassInput,
  type PassOutput,
  partNet,
  runParts,
} from './forward-pass.js';
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

/** One input to classify: its 28x28 image (784 bytes), and its pen strokes when it was drawn. */
export interface PredictInput {
  readonly pixels: Uint8Array;
  readonly strokes?: readonly Stroke[];
}

/** What a model answered for one input. */
export interface Answer {
  /** The served probabilities: the fusion of every part when several answered, else the image CNN's. */
  readonly probs: Float32Array;
  /** Each part's own probabilities (`image` is the root CNN), present when the answer is fused. */
  readonly parts?: Readonly<Record<string, Float32Array>>;
}

/** An input with the features each stroke part reads (only for strokes input on a model with parts). */
interface Prepared {
  readonly pixels: Uint8Array;
  readonly features?: ReadonlyMap<string, StrokeFeatures>;
}

interface Pending extends Prepared {
  readonly resolve: (answer: Answer) => void;
  readonly reject: (err: unknown) => void;
}

/** One pass's input: every image, and per part the features of the inputs that have them, in batch order. */
function passInput(batch: readonly Prepared[], parts: readonly LoadedPart[]): PassInput {
  const pixels = new Uint8Array(batch.length * PIXELS);
  batch.forEach((p, i) => {
    pixels.set(p.pixels, i * PIXELS);
  });
  const partBatches: PartBatch[] = [];
  for (const { name } of parts) {
    const rows = batch.flatMap((p) => p.features?.get(name) ?? []);
    if (rows.length === 0) continue;
    const seq = new Float32Array(rows.length * rows[0].seq.length);
    const side = new Float32Array(rows.length * rows[0].side.length);
    rows.forEach((f, i) => {
      seq.set(f.seq, i * f.seq.length);
      side.set(f.side, i * f.side.length);
    });
    const { channels } = rows[0];
    partBatches.push({
      part: name,
      seq,
      side,
      n: rows.length,
      points: rows[0].seq.length / channels,
      channels,
    });
  }
  return { pixels, n: batch.length, parts: partBatches };
}

/**
 * Runs one model and its parts. With micro-batching, concurrent predictions are collected for at most
 * `maxWaitMs` (or until `maxBatch` are queued) and answered from one forward pass: the image CNN over
 * every input, each stroke part over the inputs drawn as strokes. With an inference thread
 * (`useThread`), those passes run there while requests keep queueing here: the next pass starts as
 * soon as a pass slot frees. Fusing the parts' answers (a few dozen numbers) happens here.
 */
export class Predictor {
  readonly numClasses: number;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  /** Fused inference plan of the image CNN (./fused.ts), or undefined for models it does not cover. */
  private readonly fused: FusedForward | undefined;
  private readonly fusion: Pick<Fusion, 'weights'>;
  /** Each stroke part's network with its compiled plan (./forward-pass.ts partNet). */
  private readonly partNets: ReadonlyMap<string, PartNet>;
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
    // loadModel refuses parts without fusion weights; an image-only model never fuses.
    this.fusion = loaded.metadata.fusion ?? { weights: { image: 1 } };
    this.partNets = new Map(loaded.parts.map((p) => [p.name, partNet(p.model)]));
  }

  /**
   * Copies the model and its parts into an inference thread and runs queued predictions there from
   * now on. Throws (and keeps predicting on this thread) if the copy fails.
   */
  async useThread(thread: InferenceThread, key: string): Promise<void> {
    await thread.load(key, this.loaded.model, this.loaded.metadata.normalization, this.loaded.parts);
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

  /** The stroke parts that run through a compiled plan (the others use `model.predict`). */
  get fusedParts(): string[] {
    return [...this.partNets].filter(([, net]) => net.fused).map(([name]) => name);
  }

  /** The image CNN's probabilities for n images (n * 784 bytes), computed now, in one pass. */
  predictNow(pixels: Uint8Array, n: number): Float32Array {
    if (this.closed) throw new Error('model was unloaded');
    return forwardProbs(this.loaded.model, this.fused, this.loaded.metadata.normalization, pixels, n);
  }

  /** Answers for many inputs, computed now, in one pass (stroke features are computed first). */
  answerNow(inputs: readonly PredictInput[]): Answer[] {
    const batch = inputs.map((input) => this.prepare(input));
    return this.answers(batch, this.passNow(passInput(batch, this.loaded.parts)));
  }

  /** The image CNN's probabilities for one image (784 bytes). */
  async predict(pixels: Uint8Array): Promise<Float32Array> {
    return (await this.classify({ pixels })).probs;
  }

  /**
   * The answer for one input: fused over the image CNN and the stroke parts when it has strokes and
   * the model has parts, else the CNN's. Bad strokes reject with the PreprocessError naming the problem.
   */
  classify(input: PredictInput): Promise<Answer> {
    if (this.closed) return Promise.reject(new Error('model was unloaded'));
    let prepared: Prepared;
    try {
      prepared = this.prepare(input);
      if (!this.offloaded && this.batching.maxBatch <= 1)
        return Promise.resolve(
          this.answers([prepared], this.passNow(passInput([prepared], this.loaded.parts)))[0],
        );
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ...prepared, resolve, reject });
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

  /** The stroke features each part reads, computed on this thread (cheap beside a forward pass). */
  private prepare(input: PredictInput): Prepared {
    const { strokes } = input;
    if (!strokes || this.loaded.parts.length === 0) return { pixels: input.pixels };
    const features = new Map<string, StrokeFeatures>();
    for (const part of this.loaded.parts)
      features.set(part.name, strokeFeatures(strokes, part.spec.features));
    return { pixels: input.pixels, features };
  }

  /** One pass on this thread: the image CNN (through predictNow) and the parts. */
  private passNow(input: PassInput): PassOutput {
    return { probs: this.predictNow(input.pixels, input.n), parts: runParts(this.partNets, input.parts) };
  }

  /** Each input's answer from a pass's rows: fused where parts answered it, else the CNN's row. */
  private answers(batch: readonly Prepared[], out: PassOutput): Answer[] {
    const k = this.numClasses;
    const nextRow = new Map<string, number>();
    return batch.map((p, i) => {
      const image = out.probs.slice(i * k, (i + 1) * k);
      if (!p.features) return { probs: image };
      const parts: Record<string, Float32Array> = { image };
      for (const name of p.features.keys()) {
        const r = nextRow.get(name) ?? 0;
        nextRow.set(name, r + 1);
        parts[name] = out.parts[name].slice(r * k, (r + 1) * k);
      }
      const weighted = Object.entries(parts).map(([name, probs]) => ({
        probs,
        weight: this.fusion.weights[name],
      }));
      return { probs: fuseLogLinear(weighted, k), parts };
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
      this.resolveAll(batch, this.passNow(passInput(batch, this.loaded.parts)));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  private resolveAll(batch: readonly Pending[], out: PassOutput): void {
    const answers = this.answers(batch, out);
    batch.forEach((p, i) => {
      p.resolve(answers[i]);
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
    const input = passInput(batch, this.loaded.parts);
    this.inFlight++;
    offload.thread
      .run(offload.key, input.pixels, input.n, input.parts)
      .catch((err: Error) => {
        if (this.closed) throw err;
        // The thread failed (it logs why): answer this batch here; `offloaded` is false from now on
        // if the thread is gone.
        return this.passNow(input);
      })
      .then(
        (out) => this.resolveAll(batch, out),
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.flush();
      });
  }

  /** Answers what is queued, then frees the model's tensors (the CNN's and every part's). */
  close(): void {
    // Queued work goes to this thread: the inference thread's copy is unloaded below.
    const offload = this.offload;
    this.offload = undefined;
    this.flush();
    this.closed = true;
    if (offload) offload.thread.unload(offload.key);
    this.fused?.dispose();
    for (const net of this.partNets.values()) disposePartNet(net);
    disposeLoaded(this.loaded);
  }
}
