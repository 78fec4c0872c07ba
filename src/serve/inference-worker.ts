/**
 * The inference thread's side (see ./inference-thread.ts): holds copies of the served models and
 * answers forward passes, so they run beside the event loop instead of on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type EngineSettings, initBackend } from '../engine/backend.js';
import { compileFused } from '../model/fused.js';
import { disposePartNet, type PartNet, type PassModels, partNet, runPass } from './forward-pass.js';
import type { ToWorker } from './inference-thread.js';

const port = parentPort;
if (!port) throw new Error('inference-worker.ts runs as a worker thread');
const models = new Map<string, PassModels>();
// One wasm thread: the event loop's thread is the other core's user.
const ready = initBackend({ ...(workerData as EngineSettings | null), threads: 1 });

async function handle(msg: ToWorker): Promise<void> {
  await ready;
  switch (msg.type) {
    case 'load': {
      const model = await tfl.loadLayersModel(tf.io.fromMemory(msg.artifacts));
      const parts = new Map<string, PartNet>();
      for (const p of msg.parts)
        parts.set(p.name, partNet(await tfl.loadLayersModel(tf.io.fromMemory(p.artifacts))));
      models.set(msg.key, { model, fused: compileFused(model), norm: msg.norm, parts });
      port?.postMessage({ type: 'done', id: msg.id });
      return;
    }
    case 'run': {
      const held = models.get(msg.key);
      if (!held) throw new Error(`model ${msg.key} is not loaded in the inference thread`);
      const out = runPass(held, {
        pixels: new Uint8Array(msg.pixels),
        n: msg.n,
        parts: msg.parts.map((p) => ({
          part: p.part,
          seq: new Float32Array(p.seq),
          side: new Float32Array(p.side),
          n: p.n,
          points: p.points,
          channels: p.channels,
        })),
      });
      // Fresh buffers: a backend may hand out a view of its heap, which must not be transferred.
      const probs = new Float32Array(out.probs);
      const parts: Record<string, Float32Array> = {};
      const transfer: ArrayBuffer[] = [probs.buffer as ArrayBuffer];
      for (const [name, p] of Object.entries(out.parts)) {
        parts[name] = new Float32Array(p);
        transfer.push(parts[name].buffer as ArrayBuffer);
      }
      port?.postMessage({ type: 'probs', id: msg.id, probs, parts }, transfer);
      return;
    }
    case 'unload': {
      const held = models.get(msg.key);
      models.delete(msg.key);
      held?.fused?.dispose();
      held?.model.dispose();
      for (const net of held?.parts.values() ?? []) {
        disposePartNet(net);
        net.model.dispose();
      }
      return;
    }
  }
}

port.on('message', (msg: ToWorker) => {
  handle(msg).catch((err: Error) => {
    if ('id' in msg) port.postMessage({ type: 'error', id: msg.id, message: err.message });
  });
});
