import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EngineSettings } from '../engine/backend.js';
import type { LoadedPart } from '../model/io.js';
import type { Normalization } from '../model/metadata.js';
import type { PartBatch, PassOutput } from './forward-pass.js';

/** Messages to the worker (./inference-worker.ts). */
export type ToWorker =
  | {
      type: 'load';
      id: number;
      key: string;
      artifacts: tf.io.ModelArtifacts;
      norm: Normalization;
      parts: { name: string; artifacts: tf.io.ModelArtifacts }[];
    }
  | { type: 'run'; id: number; key: string; pixels: ArrayBuffer; n: number; parts: PartMessage[] }
  | { type: 'unload'; key: string };

/** A part's stroke features in a run message (transferred buffers). */
export interface PartMessage {
  part: string;
  seq: ArrayBuffer;
  side: ArrayBuffer;
  n: number;
  points: number;
  channels: number;
}

type FromWorker =
  | { type: 'done'; id: number }
  | ({ type: 'probs'; id: number } & PassOutput)
  | { type: 'error'; id: number; message: string };

interface Waiting {
  resolve(value: PassOutput | undefined): void;
  reject(err: Error): void;
}

/**
 * The worker's module next to this one: compiled .js, or, when this file runs as TypeScript source
 * (tests, tsx), the .ts one behind tsx's loader, registered inside the worker (a worker does not
 * inherit the test runner's transform).
 */
function startWorker(engine: EngineSettings): Worker {
  // The backend and BLAS the server was configured with; one wasm thread (the worker's own settings).
  const workerData = { backend: engine.backend, blas: engine.blas } satisfies EngineSettings;
  if (!fileURLToPath(import.meta.url).endsWith('.ts'))
    return new Worker(new URL('./inference-worker.js', import.meta.url), { workerData });
  const source = new URL('./inference-worker.ts', import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); })`,
    { eval: true, workerData },
  );
}

/**
 * A worker thread that runs forward passes for the server, so request handling (HTTP, JSON, image
 * decoding, preprocessing, logging) and inference use both cores of one process. Models are sent as
 * in-memory artifacts (the exact weights the main thread loaded, whatever happened to the folder since).
 * After a failure (the worker died or cannot load a model) callers fall back to their own copy.
 */
export class InferenceThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private failure: Error | undefined;

  private constructor(
    private readonly log: (msg: string) => void,
    engine: EngineSettings,
  ) {
    this.worker = startWorker(engine);
    this.worker.unref(); // never what keeps the process alive
    this.worker.on('message', (msg: FromWorker) => this.settle(msg));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`inference thread exited (${code})`)));
  }

  static start(log: (msg: string) => void = () => {}, engine: EngineSettings = {}): InferenceThread {
    return new InferenceThread(log, engine);
  }

  /** Whether the thread still runs; false after a crash or close(). */
  get alive(): boolean {
    return this.failure === undefined;
  }

  private settle(msg: FromWorker): void {
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    if (msg.type === 'error') w.reject(new Error(msg.message));
    else w.resolve(msg.type === 'probs' ? { probs: msg.probs, parts: msg.parts } : undefined);
  }

  private fail(err: Error): void {
    if (this.stop(err))
      this.log(`inference thread stopped: ${err.message}; predictions run on the main thread`);
  }

  /** Marks the thread stopped and rejects what waits on it; false when it was stopped already. */
  private stop(err: Error): boolean {
    if (this.failure) return false;
    this.failure = err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    return true;
  }

  private send(
    msg: ToWorker & { id: number },
    transfer: ArrayBuffer[] = [],
  ): Promise<PassOutput | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(msg.id, { resolve, reject });
      this.worker.postMessage(msg, transfer);
    });
  }

  /** Copies a loaded model and its parts into the thread under `key`. */
  async load(
    key: string,
    model: tfl.LayersModel,
    norm: Normalization,
    parts: readonly LoadedPart[] = [],
  ): Promise<void> {
    const artifacts = await artifactsOf(model);
    const partArtifacts = [];
    for (const p of parts) partArtifacts.push({ name: p.name, artifacts: await artifactsOf(p.model) });
    await this.send({ type: 'load', id: this.nextId++, key, artifacts, norm, parts: partArtifacts });
  }

  /**
   * One pass: the image CNN's probabilities [n, classes] for n images (n·784 bytes) and each given
   * part's for its stroke features (inputs are copied).
   */
  async run(
    key: string,
    pixels: Uint8Array,
    n: number,
    parts: readonly PartBatch[] = [],
  ): Promise<PassOutput> {
    const copy = pixels.slice().buffer;
    const transfer: ArrayBuffer[] = [copy];
    const partMessages = parts.map((p): PartMessage => {
      const seq = p.seq.slice().buffer;
      const side = p.side.slice().buffer;
      transfer.push(seq, side);
      return { part: p.part, seq, side, n: p.n, points: p.points, channels: p.channels };
    });
    const out = await this.send(
      { type: 'run', id: this.nextId++, key, pixels: copy, n, parts: partMessages },
      transfer,
    );
    if (!out) throw new Error('inference thread answered without probabilities');
    return out;
  }

  unload(key: string): void {
    if (!this.failure) this.worker.postMessage({ type: 'unload', key } satisfies ToWorker);
  }

  async close(): Promise<void> {
    this.stop(new Error('inference thread closed'));
    await this.worker.terminate();
  }
}

async function artifactsOf(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('model.save produced no artifacts');
  return artifacts;
}
