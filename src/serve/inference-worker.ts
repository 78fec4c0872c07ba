/**
 * The inference thread's side (see ./inference-thread.ts): holds copies of the served models and
 * answers forward passes, so they run beside the event loop instead of on it.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../engine/backend.js';
import { predictProbs, toInputTensor } from '../model/infer.js';
import type { Normalization } from '../model/metadata.js';
import { compileFused, type FusedForward } from './fused.js';
import type { ToWorker } from './inference-thread.js';

interface Held {
  readonly model: tfl.LayersModel;
  readonly fused: FusedForward | undefined;
  readonly norm: Normalization;
}

/** Larger passes go through model.predict in chunks, as on the main thread (./predictor.ts). */
const MAX_FUSED_BATCH = 64;

const port = parentPort;
if (!port) throw new Error('inference-worker.ts runs as a worker thread');
const models = new Map<string, Held>();
// One wasm thread: the event loop's thread is the other core's user.
const ready = initBackend({ threads: 1 });

function forward(held: Held, pixels: Uint8Array, n: number): Float32Array {
  if (!held.fused || n > MAX_FUSED_BATCH) return predictProbs(held.model, pixels, n, held.norm, 64);
  const x = toInputTensor(pixels, n, held.norm);
  try {
    const y = held.fused.run(x);
    try {
      return y.dataSync() as Float32Array;
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

async function handle(msg: ToWorker): Promise<void> {
  await ready;
  switch (msg.type) {
    case 'load': {
      const model = await tfl.loadLayersModel(tf.io.fromMemory(msg.artifacts));
      models.set(msg.key, { model, fused: compileFused(model), norm: msg.norm });
      port?.postMessage({ type: 'done', id: msg.id });
      return;
    }
    case 'run': {
      const held = models.get(msg.key);
      if (!held) throw new Error(`model ${msg.key} is not loaded in the inference thread`);
      // A fresh buffer: a backend may hand out a view of its heap, which must not be transferred.
      const probs = new Float32Array(forward(held, new Uint8Array(msg.pixels), msg.n));
      port?.postMessage({ type: 'probs', id: msg.id, probs }, [probs.buffer as ArrayBuffer]);
      return;
    }
    case 'unload': {
      const held = models.get(msg.key);
      models.delete(msg.key);
      held?.fused?.dispose();
      held?.model.dispose();
      return;
    }
  }
}

port.on('message', (msg: ToWorker) => {
  handle(msg).catch((err: Error) => {
    if ('id' in msg) port.postMessage({ type: 'error', id: msg.id, message: err.message });
  });
});
