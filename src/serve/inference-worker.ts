/**
 * The inference thread's side (see ./inference-thread.ts): holds copies of the served models and
 * answers forward passes, so they run beside the event loop instead of on it.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../engine/backend.js';
import { compileFused, type FusedForward } from '../model/fused.js';
import type { Normalization } from '../model/metadata.js';
import type { ToWorker } from './inference-thread.js';
import { forwardProbs } from './predictor.js';

interface Held {
  readonly model: tfl.LayersModel;
  readonly fused: FusedForward | undefined;
  readonly norm: Normalization;
}

const port = parentPort;
if (!port) throw new Error('inference-worker.ts runs as a worker thread');
const models = new Map<string, Held>();
// One wasm thread: the event loop's thread is the other core's user.
const ready = initBackend({ threads: 1 });

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
      const probs = new Float32Array(
        forwardProbs(held.model, held.fused, held.norm, new Uint8Array(msg.pixels), msg.n),
      );
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
